// Every SIMD distance kernel against the scalar reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernels/isa.h"
#include "rag/index/distance.h"

namespace chunkserve::rag {
namespace {

using kernels::Isa;

constexpr float kRelTol = 1e-5f;

TEST(DistanceKernels, EverySimdLevelMatchesScalar) {
  const DistanceKernels& ref = DistanceKernelsFor(Isa::kScalar);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  const auto isas = kernels::AvailableIsas();
  ASSERT_FALSE(isas.empty());
  for (Isa isa : isas) {
    const DistanceKernels& k = DistanceKernelsFor(isa);
    // The AMX level computes vector distances with the AVX-512 kernels.
    EXPECT_EQ(k.isa, std::min(isa, Isa::kAvx512));
    for (size_t n : {0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 100, 384, 784, 785}) {
      std::vector<float> a(n), b(n);
      std::vector<uint8_t> c(n);
      for (size_t i = 0; i < n; ++i) {
        a[i] = u(rng);
        b[i] = u(rng);
        c[i] = static_cast<uint8_t>(rng() & 255);
      }
      float mag_dot = 0, mag_l2 = 0, mag_u8 = 0;
      for (size_t i = 0; i < n; ++i) {
        mag_dot += std::fabs(a[i] * b[i]);
        mag_l2 += (a[i] - b[i]) * (a[i] - b[i]);
        mag_u8 += std::fabs(a[i]) * c[i];
      }
      SCOPED_TRACE(std::string(kernels::IsaName(isa)) + " n=" + std::to_string(n));
      EXPECT_NEAR(k.dot_f32(a.data(), b.data(), n), ref.dot_f32(a.data(), b.data(), n), kRelTol * (mag_dot + 1));
      EXPECT_NEAR(k.l2sqr_f32(a.data(), b.data(), n), ref.l2sqr_f32(a.data(), b.data(), n), kRelTol * (mag_l2 + 1));
      EXPECT_NEAR(k.dot_f32_u8(a.data(), c.data(), n), ref.dot_f32_u8(a.data(), c.data(), n), kRelTol * (mag_u8 + 1));
    }
  }
}

TEST(DistanceKernels, ScalarIsExact) {
  const DistanceKernels& ref = DistanceKernelsFor(Isa::kScalar);
  const float a[] = {1, 2, 3}, b[] = {4, -5, 6};
  const uint8_t c[] = {0, 255, 2};
  EXPECT_FLOAT_EQ(ref.dot_f32(a, b, 3), 4 - 10 + 18);
  EXPECT_FLOAT_EQ(ref.l2sqr_f32(a, b, 3), 9 + 49 + 9);
  EXPECT_FLOAT_EQ(ref.dot_f32_u8(a, c, 3), 510 + 6);
}

// Distances obey the one level choice gemm and attention use.
TEST(DistanceKernels, ActiveFollowsTheKernelsIsa) {
  EXPECT_EQ(ActiveDistanceKernels().isa, std::min(kernels::ActiveIsa(), Isa::kAvx512));
  EXPECT_TRUE(kernels::IsaSupported(ActiveDistanceKernels().isa));
}

}  // namespace
}  // namespace chunkserve::rag
