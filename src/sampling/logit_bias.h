// LogitBiasProcessor: adds a fixed bias to chosen token ids (-inf bans).
// Used for the user's logit_bias and, with -inf entries, for banning the
// end-of-generation ids under ignore_eos. Ids outside [0, n_vocab) are
// dropped at construction; repeated ids add up.
// Thread safety: not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sampling/logits_processor.h"

namespace chunkserve::sampling {

class LogitBiasProcessor final : public LogitsProcessor {
 public:
  LogitBiasProcessor(std::string name, std::vector<std::pair<int32_t, float>> bias, int n_vocab);
  std::string_view name() const override { return name_; }
  void Apply(TokenCandidates& candidates) override;
  bool empty() const { return bias_.empty(); }

 private:
  std::string name_;
  std::vector<std::pair<int32_t, float>> bias_;
};

// Finds the entry for `id`: O(1) while the candidates are still the full
// vocabulary in id order (the case before any truncation), else a scan.
TokenCandidate* FindCandidate(TokenCandidates& candidates, int32_t id);

}  // namespace chunkserve::sampling
