// TokenCandidates: the working set a logits-processor chain narrows down.
//
// Holds (id, logit, p) triples for the tokens still in play. Processors may
// reorder, shrink and rewrite logits; `sorted` says the entries are in
// descending logit order (set by whoever sorts, cleared by whoever breaks it),
// and `probs_valid` says `p` is the softmax of the current logits. Softmax()
// recomputes p over the current entries; the result sums to 1.
//
// Thread safety: a plain value; one sampler uses it at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace chunkserve::sampling {

struct TokenCandidate {
  int32_t id;
  float logit;
  float p;
};

struct TokenCandidates {
  std::vector<TokenCandidate> data;
  bool sorted = false;
  bool probs_valid = false;

  // Resets to one entry per logit, ids 0..n-1, unsorted.
  void Fill(std::span<const float> logits);
  // Sorts by descending logit (ties: lower id first, for determinism).
  void SortDescending();
  // Sorts only the first k entries, leaving the rest unspecified; k clamped.
  void PartialSortDescending(size_t k);
  // p = softmax(logit) over the current entries; -inf logits get p = 0.
  // If every logit is -inf, p is uniform (nothing better is defined).
  void Softmax();
  size_t size() const { return data.size(); }

  // The softmax normaliser over the current entries without touching them:
  // p_i = exp(logit_i - max_logit) * inv_sum (uniform when all are -inf).
  struct Normalizer {
    double max_logit = 0;
    double inv_sum = 0;
    bool uniform = false;  // every logit is -inf
    double P(const TokenCandidate& c, size_t n) const;
  };
  Normalizer ComputeNormalizer() const;

  // Walks the entries in descending order (ties: lower id first), sorting
  // only as far as needed, and returns the index of the first entry at which
  // the running probability sum reaches `mass` (>= when !strict, > when
  // strict), or size() if it never does. Afterwards entries [0, result] (all
  // of them when size() is returned) are the true top entries, sorted.
  // Cost: O(n log k) for a prefix of k entries, instead of a full sort.
  size_t FindCumulative(double mass, bool strict, const Normalizer& norm);
};

}  // namespace chunkserve::sampling
