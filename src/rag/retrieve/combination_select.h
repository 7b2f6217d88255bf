// Budgeted chunk combinations (after CORAG): the chunks for a token budget
// are chosen by the value of the set, not one by one down the ranking.
//
//   value(S) = sum_{c in S} rel(c) * (1 - redundancy * max_{c' chosen before c} sim(c, c'))
//            + coverage_weight * (query terms that some chunk of S contains)
//                              / (query terms that some candidate contains)
//
// rel = score / best score of the first `pool` candidates (scores > 0
// expected); sim = cosine of the chunks' word-count vectors (words of 3+
// letters or digits, lowercased, common stop words dropped). The first term
// takes relevance but discounts a chunk for what an earlier one already
// said (redundancy); the second rewards chunks that bring query terms the
// set lacks (complementarity). Greedy: each step adds the candidate of the
// largest marginal value that still fits the budget; it stops when the best
// gain is under min_gain * (the best single chunk's value) or max_chunks
// are chosen. The best-ranked chunk that fits is always a candidate, so
// the result is never empty when any chunk fits (the first chunk is kept
// even when alone it exceeds the budget, as SelectByScoreDrop does).
//
// Returns the chosen indices in rank order.
//
// Thread safety: pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace chunkserve::rag {

struct CombinationParams {
  int64_t token_budget = 0;  // 0: no budget
  int max_chunks = 10;
  int pool = 30;             // candidates considered (the first ones)
  double redundancy = 1.0;
  double coverage_weight = 0.5;
  double min_gain = 0.25;
};

std::vector<size_t> SelectCombination(std::string_view query, const std::vector<std::string_view>& texts,
                                      const std::vector<double>& scores, const std::vector<int64_t>& n_tokens,
                                      const CombinationParams& params);

}  // namespace chunkserve::rag
