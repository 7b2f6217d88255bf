#include "sampling/logit_bias.h"

#include <algorithm>

namespace chunkserve::sampling {

TokenCandidate* FindCandidate(TokenCandidates& candidates, int32_t id) {
  auto& data = candidates.data;
  if (id >= 0 && static_cast<size_t>(id) < data.size() && data[static_cast<size_t>(id)].id == id) {
    return &data[static_cast<size_t>(id)];
  }
  for (TokenCandidate& c : data) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

LogitBiasProcessor::LogitBiasProcessor(std::string name,
                                       std::vector<std::pair<int32_t, float>> bias, int n_vocab)
    : name_(std::move(name)) {
  for (const auto& [id, value] : bias) {
    if (id >= 0 && id < n_vocab) bias_.emplace_back(id, value);
  }
}

void LogitBiasProcessor::Apply(TokenCandidates& candidates) {
  if (bias_.empty() || candidates.data.empty()) return;
  for (const auto& [id, value] : bias_) {
    if (TokenCandidate* c = FindCandidate(candidates, id)) c->logit += value;
  }
  candidates.sorted = false;
  candidates.probs_valid = false;
}

}  // namespace chunkserve::sampling
