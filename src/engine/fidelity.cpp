#include "engine/fidelity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/logging.h"

namespace chunkserve::engine {
namespace {

void LogSoftmax(const float* x, int64_t n, std::vector<double>* out) {
  out->resize(static_cast<size_t>(n));
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  const double lse = mx + std::log(sum);
  for (int64_t i = 0; i < n; ++i) (*out)[static_cast<size_t>(i)] = static_cast<double>(x[i]) - lse;
}

}  // namespace

void FidelityAccumulator::Add(std::span<const float> reference, std::span<const float> approx, int64_t n_vocab) {
  CHECK(n_vocab > 0 && reference.size() == approx.size() && reference.size() % static_cast<size_t>(n_vocab) == 0);
  const auto rows = static_cast<int64_t>(reference.size()) / n_vocab;
  std::vector<double> lp, lq;
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = reference.data() + r * n_vocab;
    const float* q = approx.data() + r * n_vocab;
    if (std::max_element(p, p + n_vocab) - p == std::max_element(q, q + n_vocab) - q) ++n_top1_equal_;
    LogSoftmax(p, n_vocab, &lp);
    LogSoftmax(q, n_vocab, &lq);
    double kl = 0;
    for (int64_t i = 0; i < n_vocab; ++i) kl += std::exp(lp[static_cast<size_t>(i)]) * (lp[static_cast<size_t>(i)] - lq[static_cast<size_t>(i)]);
    kl = std::max(0.0, kl);  // rounding can make a zero KL slightly negative
    kl_sum_ += kl;
    kl_max_ = std::max(kl_max_, kl);
    ++n_rows_;
  }
}

}  // namespace chunkserve::engine
