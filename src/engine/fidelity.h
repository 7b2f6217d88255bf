// Fidelity of an approximate answer against its exact twin: per-row top-1
// agreement and KL divergence of the next-token distributions.
//
// Used by `chunkserve bench-rag` to compare chunk-cache answers with a full
// prefill over the same rows (tail tokens and teacher-forced generated
// tokens), and by tests.
//
// Thread safety: a plain accumulator; one owner.
#pragma once

#include <cstdint>
#include <span>

namespace chunkserve::engine {

class FidelityAccumulator {
 public:
  // Adds rows of logits, (n_rows, n_vocab) each, compared row by row.
  // KL(p_ref || p_approx) in nats, from a float64 log-softmax of each row.
  // REQUIRES: equal sizes, a multiple of n_vocab.
  void Add(std::span<const float> reference, std::span<const float> approx, int64_t n_vocab);

  int64_t n_rows() const { return n_rows_; }
  double top1_agreement() const { return n_rows_ ? static_cast<double>(n_top1_equal_) / n_rows_ : 0; }
  double kl_mean() const { return n_rows_ ? kl_sum_ / n_rows_ : 0; }
  double kl_max() const { return kl_max_; }

 private:
  int64_t n_rows_ = 0;
  int64_t n_top1_equal_ = 0;
  double kl_sum_ = 0;
  double kl_max_ = 0;
};

}  // namespace chunkserve::engine
