// PenaltiesProcessor: repetition, presence and frequency penalties over the
// last `repeat_last_n` accepted tokens (llama.cpp semantics):
//   count = occurrences of the token in the window; if count > 0:
//     logit = logit > 0 ? logit / repeat_penalty : logit * repeat_penalty
//     logit -= count * frequency_penalty + presence_penalty
// repeat_last_n == -1 keeps the whole history; 0 disables the processor.
// Thread safety: not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>

#include "sampling/logits_processor.h"

namespace chunkserve::sampling {

class PenaltiesProcessor final : public LogitsProcessor {
 public:
  PenaltiesProcessor(int repeat_last_n, float repeat_penalty, float frequency_penalty,
                     float presence_penalty);
  std::string_view name() const override { return "penalties"; }
  void Apply(TokenCandidates& candidates) override;
  void Accept(int32_t token) override;
  void Reset() override;

  // True when the parameters make this a no-op (the Sampler then omits it).
  static bool IsNoOp(int repeat_last_n, float repeat_penalty, float frequency_penalty,
                     float presence_penalty);

 private:
  int repeat_last_n_;
  float repeat_penalty_;
  float frequency_penalty_;
  float presence_penalty_;
  std::deque<int32_t> window_;
  std::unordered_map<int32_t, int> counts_;
};

}  // namespace chunkserve::sampling
