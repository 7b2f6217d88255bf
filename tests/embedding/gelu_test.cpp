// kernels::GeluWithIsa: every SIMD level against its scalar twin
// kernels::Gelu (tanh form), on values spanning the whole float range the
// FFN sees, odd lengths (tails) included.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace chunkserve::kernels {
namespace {

TEST(GeluSimd, EveryIsaMatchesScalarTwin) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> base;
  for (int i = 0; i < 4099; ++i) base.push_back(normal(rng));
  // Extremes: exp clamping on both sides, zeros, tiny values.
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-4f, -1e-4f, 20.0f, -20.0f, 100.0f, -100.0f, 1e6f, -1e6f})
    base.push_back(v);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (size_t n : {size_t{1}, size_t{7}, size_t{15}, size_t{17}, base.size()}) {
      std::vector<float> want(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(n));
      std::vector<float> got = want;
      Gelu(want.data(), static_cast<int64_t>(n));
      GeluWithIsa(isa, got.data(), static_cast<int64_t>(n));
      for (size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << "isa " << static_cast<int>(isa) << " x=" << base[i];
        // 1e-6 relative to max(|x|, 1): exp's polynomial error plus the
        // different but equivalent formula.
        const float tol = 1e-6f * std::max(1.0f, std::abs(base[i]));
        EXPECT_NEAR(got[i], want[i], tol) << "isa " << static_cast<int>(isa) << " x=" << base[i];
      }
    }
  }
}

}  // namespace
}  // namespace chunkserve::kernels
