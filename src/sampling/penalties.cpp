#include "sampling/penalties.h"

#include "sampling/logit_bias.h"

namespace chunkserve::sampling {

PenaltiesProcessor::PenaltiesProcessor(int repeat_last_n, float repeat_penalty,
                                       float frequency_penalty, float presence_penalty)
    : repeat_last_n_(repeat_last_n),
      repeat_penalty_(repeat_penalty),
      frequency_penalty_(frequency_penalty),
      presence_penalty_(presence_penalty) {}

bool PenaltiesProcessor::IsNoOp(int repeat_last_n, float repeat_penalty, float frequency_penalty,
                                float presence_penalty) {
  return repeat_last_n == 0 ||
         (repeat_penalty == 1.0f && frequency_penalty == 0.0f && presence_penalty == 0.0f);
}

void PenaltiesProcessor::Accept(int32_t token) {
  if (repeat_last_n_ == 0) return;
  window_.push_back(token);
  ++counts_[token];
  if (repeat_last_n_ > 0 && window_.size() > static_cast<size_t>(repeat_last_n_)) {
    const int32_t old = window_.front();
    window_.pop_front();
    auto it = counts_.find(old);
    if (--it->second == 0) counts_.erase(it);
  }
}

void PenaltiesProcessor::Reset() {
  window_.clear();
  counts_.clear();
}

void PenaltiesProcessor::Apply(TokenCandidates& candidates) {
  if (counts_.empty() || candidates.data.empty()) return;
  for (const auto& [id, count] : counts_) {
    TokenCandidate* c = FindCandidate(candidates, id);
    if (c == nullptr) continue;
    if (c->logit > 0.0f) {
      c->logit /= repeat_penalty_;
    } else {
      c->logit *= repeat_penalty_;
    }
    c->logit -= static_cast<float>(count) * frequency_penalty_ + presence_penalty_;
  }
  candidates.sorted = false;
  candidates.probs_valid = false;
}

}  // namespace chunkserve::sampling
