// Pure ranking steps of hybrid retrieval, kept free of I/O so each is tested
// on hand-made lists:
//
//   FuseReciprocalRank  weighted reciprocal rank fusion (Cormack et al.):
//                       score(c) = sum_lists w_l / (rrf_k + rank_l(c)),
//                       ranks from 1; a chunk absent from a list adds 0.
//   DropOverlapping     keeps, of chunks of the same document whose byte
//                       ranges overlap (neighbouring chunks share their
//                       overlap tokens), only the best-ranked one.
//   SelectByScoreDrop   SAGE-style selection: walks the ranking, stops
//                       (a) before a chunk that does not fit the token
//                       budget, (b) where the score falls sharply: a gap to
//                       the next chunk of at least drop_fraction of the
//                       score range of all candidates given and at least
//                       min_gap_of_best * best (so a short, flat list is
//                       not "cut" by its only gap), or a score under
//                       min_relative_score * best. Always keeps min_chunks
//                       (if they fit) and never more than max_chunks.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chunkserve::rag {

struct RankedId {
  int64_t id = 0;
  double score = 0;  // larger is better
};

struct FusedId {
  int64_t id = 0;
  double score = 0;
  std::vector<int> ranks;  // per input list: 1-based rank, 0 when absent
};

// lists[l] is best first; weights[l] its weight. Ties by smaller id.
std::vector<FusedId> FuseReciprocalRank(const std::vector<std::vector<RankedId>>& lists,
                                        const std::vector<double>& weights, double rrf_k = 60.0);

struct Span {
  int64_t document_id = 0;
  int64_t begin = 0, end = 0;  // [begin, end) bytes
};

// spans[i] describes ranked item i (best first). Returns the indexes kept,
// in rank order.
std::vector<size_t> DropOverlapping(const std::vector<Span>& spans);

struct SelectionParams {
  int64_t token_budget = 0;          // 0: no budget
  double drop_fraction = 0.35;       // 0 disables the gap rule
  double min_gap_of_best = 0.1;
  double min_relative_score = 0.0;   // 0 disables the floor
  int min_chunks = 1;
  int max_chunks = 10;
};

// scores best first, n_tokens per item. Returns how many leading items to
// keep: at least one when there is any (the best is kept even when alone it
// exceeds the budget).
size_t SelectByScoreDrop(const std::vector<double>& scores, const std::vector<int64_t>& n_tokens,
                         const SelectionParams& params);

}  // namespace chunkserve::rag
