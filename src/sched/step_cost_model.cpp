#include "sched/step_cost_model.h"

#include <algorithm>
#include <bit>
#include <vector>

namespace chunkserve::sched {

void StepCostModel::Observe(int64_t n_tokens, double ms) {
  if (n_tokens < 1 || !(ms >= 0)) return;
  const int b = std::min(kBuckets - 1, static_cast<int>(std::bit_width(static_cast<uint64_t>(n_tokens))) - 1);
  Bucket& k = buckets_[static_cast<size_t>(b)];
  if (k.count == 0) {
    k.n = static_cast<double>(n_tokens);
    k.ms = ms;
  } else {
    k.n += kAlpha * (static_cast<double>(n_tokens) - k.n);
    k.ms += kAlpha * (ms - k.ms);
  }
  ++k.count;
}

std::optional<double> StepCostModel::Predict(int64_t n_tokens) const {
  std::vector<const Bucket*> pts;
  for (const Bucket& b : buckets_)
    if (b.count > 0) pts.push_back(&b);
  if (pts.empty()) return std::nullopt;
  const auto n = static_cast<double>(n_tokens);
  if (n <= pts.front()->n) return pts.front()->ms;
  for (size_t i = 1; i < pts.size(); ++i) {
    if (n <= pts[i]->n) {
      const Bucket& a = *pts[i - 1];
      const Bucket& b = *pts[i];
      const double t = (n - a.n) / std::max(1e-9, b.n - a.n);
      return a.ms + t * (b.ms - a.ms);
    }
  }
  if (pts.size() < 2) return std::nullopt;
  const Bucket& a = *pts[pts.size() - 2];
  const Bucket& b = *pts.back();
  const double slope = std::max(0.0, (b.ms - a.ms) / std::max(1e-9, b.n - a.n));
  return b.ms + slope * (n - b.n);
}

int64_t StepCostModel::MaxTokensWithin(double limit_ms, int64_t lo, int64_t hi) const {
  if (hi <= lo) return lo;
  auto within = [&](int64_t n) {
    const std::optional<double> p = Predict(n);
    return !p || *p <= limit_ms;
  };
  if (!within(lo)) return lo;
  // Predictions grow with n (monotone interpolation/extrapolation), so
  // binary search for the last n within the limit.
  int64_t good = lo, bad = hi + 1;
  while (bad - good > 1) {
    const int64_t mid = good + (bad - good) / 2;
    (within(mid) ? good : bad) = mid;
  }
  return good;
}

}  // namespace chunkserve::sched
