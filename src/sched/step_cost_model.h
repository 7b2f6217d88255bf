// StepCostModel: learns how long a forward step takes as a function of its
// token count, so the scheduler can size prefill slices to a latency limit
// (Sarathi-Serve picks its token budget from a profiled step-time SLO; this
// learns the profile online, on whatever machine it runs).
//
// Observations go into buckets by floor(log2(n_tokens)); each bucket keeps an
// exponential moving average of its token count and step time. Predict()
// interpolates linearly between the bucket points around n (below the
// smallest point: that point's time; above the largest: the slope of the
// last two points, never negative). Fewer than one point: unknown.
//
// Thread safety: none (the scheduler thread's).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace chunkserve::sched {

class StepCostModel {
 public:
  void Observe(int64_t n_tokens, double ms);
  // Predicted step time in ms, nullopt when nothing was observed near n
  // (nothing at all, or n past the only point known).
  std::optional<double> Predict(int64_t n_tokens) const;
  // Largest n in [lo, hi] whose prediction is <= limit_ms; an unknown
  // prediction counts as within (so the model explores and learns). Returns
  // lo when even lo is predicted over the limit.
  int64_t MaxTokensWithin(double limit_ms, int64_t lo, int64_t hi) const;

 private:
  struct Bucket {
    double n = 0;
    double ms = 0;
    int64_t count = 0;
  };
  static constexpr int kBuckets = 24;
  static constexpr double kAlpha = 0.25;  // EWMA weight of a new observation
  std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace chunkserve::sched
