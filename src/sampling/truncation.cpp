#include "sampling/truncation.h"

#include <algorithm>
#include <cmath>

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
  candidates.SortDescending();
  candidates.Softmax();
  const size_t min_keep = std::max<size_t>(1, min_keep_);
  double cumulative = 0.0;
  size_t keep = candidates.data.size();
  for (size_t i = 0; i < candidates.data.size(); ++i) {
    cumulative += candidates.data[i].p;
    if (cumulative >= top_p_ && i + 1 >= min_keep) {
      keep = i + 1;
      break;
    }
  }
  candidates.data.resize(keep);
  candidates.probs_valid = false;
}

void MinPProcessor::Apply(TokenCandidates& candidates) {
  if (min_p_ <= 0.0f || candidates.data.empty()) return;
  candidates.SortDescending();
  // p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p): no softmax
  // needed, and no precision lost on tiny probabilities.
  const float threshold = candidates.data.front().logit + std::log(min_p_);
  const size_t min_keep = std::max<size_t>(1, min_keep_);
  size_t keep = 0;
  while (keep < candidates.data.size() && candidates.data[keep].logit >= threshold) ++keep;
  keep = std::max(keep, std::min(min_keep, candidates.data.size()));
  candidates.data.resize(keep);
  candidates.probs_valid = false;
}

void TemperatureProcessor::Apply(TokenCandidates& candidates) {
  const float inv = 1.0f / temperature_;
  for (TokenCandidate& c : candidates.data) c.logit *= inv;
  candidates.probs_valid = false;  // order is unchanged: temperature > 0
}

}  // namespace chunkserve::sampling
