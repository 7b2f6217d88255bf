#include "sampling/truncation.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chunkserve::sampling {

void TopKProcessor::Apply(TokenCandidates& candidates) {
  if (k_ <= 0) return;
  const size_t k = std::min(static_cast<size_t>(k_), candidates.data.size());
  candidates.PartialSortDescending(k);
  candidates.data.resize(k);
  candidates.sorted = true;
  candidates.probs_valid = false;
}

void TopPProcessor::Apply(TokenCandidates& candidates) {
  if (top_p_ >= 1.0f || candidates.data.empty()) return;
  const size_t min_keep = std::min(std::max<size_t>(1, min_keep_), candidates.data.size());
  const TokenCandidates::Normalizer norm = candidates.ComputeNormalizer();
  // Entries [0, hit] are sorted and hold cumulative p >= top_p.
  const size_t hit = candidates.FindCumulative(top_p_, /*strict=*/false, norm);
  size_t keep = hit == candidates.data.size() ? hit : hit + 1;
  if (keep < min_keep) {
    candidates.PartialSortDescending(min_keep);
    keep = min_keep;
  }
  candidates.data.resize(keep);
  candidates.sorted = true;
  candidates.probs_valid = false;
}

void MinPProcessor::Apply(TokenCandidates& candidates) {
  if (min_p_ <= 0.0f || candidates.data.empty()) return;
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const TokenCandidate& c : candidates.data) max_logit = std::max(max_logit, c.logit);
  // p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p): no softmax
  // needed, and no precision lost on tiny probabilities. Survivors are moved
  // to the front in one pass and only they get sorted.
  const float threshold = max_logit + std::log(min_p_);
  const size_t min_keep = std::min(std::max<size_t>(1, min_keep_), candidates.data.size());
  const auto survivors_end = std::partition(candidates.data.begin(), candidates.data.end(),
                                            [&](const TokenCandidate& c) { return c.logit >= threshold; });
  size_t keep = static_cast<size_t>(survivors_end - candidates.data.begin());
  candidates.sorted = false;
  if (keep < min_keep) {
    candidates.PartialSortDescending(min_keep);
    keep = min_keep;
  } else {
    candidates.data.resize(keep);
    candidates.SortDescending();
  }
  candidates.data.resize(keep);
  candidates.sorted = true;
  candidates.probs_valid = false;
}

void TemperatureProcessor::Apply(TokenCandidates& candidates) {
  const float inv = 1.0f / temperature_;
  for (TokenCandidate& c : candidates.data) c.logit *= inv;
  candidates.probs_valid = false;  // order is unchanged: temperature > 0
}

}  // namespace chunkserve::sampling
