// Truncation processors: top-k, top-p (nucleus) and min-p. Each keeps the
// most likely tokens and drops the rest; none ever keeps fewer than
// max(1, min_keep) tokens (top-k keeps exactly min(k, n) when k > 0).
// Probabilities are the softmax of the current logits (temperature comes
// later in the chain, as in llama.cpp). After Apply the survivors are sorted
// by descending logit.
// Thread safety: not thread-safe.
#pragma once

#include <cstddef>

#include "sampling/logits_processor.h"

namespace chunkserve::sampling {

// Keeps the k highest logits (ties: lower id first). k <= 0: no-op.
class TopKProcessor final : public LogitsProcessor {
 public:
  explicit TopKProcessor(int k) : k_(k) {}
  std::string_view name() const override { return "top_k"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  int k_;
};

// Keeps the smallest prefix (by descending p) whose cumulative p >= top_p.
class TopPProcessor final : public LogitsProcessor {
 public:
  TopPProcessor(float top_p, size_t min_keep) : top_p_(top_p), min_keep_(min_keep) {}
  std::string_view name() const override { return "top_p"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  float top_p_;
  size_t min_keep_;
};

// Keeps tokens with p >= min_p * p_max.
class MinPProcessor final : public LogitsProcessor {
 public:
  MinPProcessor(float min_p, size_t min_keep) : min_p_(min_p), min_keep_(min_keep) {}
  std::string_view name() const override { return "min_p"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  float min_p_;
  size_t min_keep_;
};

// Divides every logit by the temperature. REQUIRES: temperature > 0.
class TemperatureProcessor final : public LogitsProcessor {
 public:
  explicit TemperatureProcessor(float temperature) : temperature_(temperature) {}
  std::string_view name() const override { return "temperature"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  float temperature_;
};

}  // namespace chunkserve::sampling
