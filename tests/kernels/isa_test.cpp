// ISA choice (CHUNKSERVE_ISA only lowers the level) and the bandwidth probe.
#include <gtest/gtest.h>

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/bandwidth.h"
#include "kernels/isa.h"

namespace chunkserve::kernels {
namespace {

TEST(IsaTest, OverrideOnlyLowers) {
  EXPECT_EQ(ApplyIsaOverride(Isa::kAvx512, nullptr), Isa::kAvx512);
  EXPECT_EQ(ApplyIsaOverride(Isa::kAvx512, "scalar"), Isa::kScalar);
  EXPECT_EQ(ApplyIsaOverride(Isa::kAvx512, "avx2"), Isa::kAvx2);
  EXPECT_EQ(ApplyIsaOverride(Isa::kAvx2, "avx512"), Isa::kAvx2);
  EXPECT_EQ(ApplyIsaOverride(Isa::kScalar, "avx2"), Isa::kScalar);
  EXPECT_EQ(ApplyIsaOverride(Isa::kAvx2, "sse9"), Isa::kAvx2);
  EXPECT_EQ(ApplyIsaOverride(Isa::kAmx, "avx512"), Isa::kAvx512);
  EXPECT_EQ(ApplyIsaOverride(Isa::kAvx512, "amx"), Isa::kAvx512);
}

TEST(IsaTest, NamesRoundTrip) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx}) EXPECT_EQ(ParseIsaName(IsaName(isa)), isa);
  EXPECT_EQ(ParseIsaName("AVX2"), std::nullopt);
  EXPECT_EQ(ParseIsaName(""), std::nullopt);
  EXPECT_EQ(ParseIsaName("avx512f"), std::nullopt);
}

TEST(IsaTest, SupportedLevelsAreTheAvailableOnes) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx}) {
    EXPECT_EQ(IsaSupported(isa), isa <= DetectedIsa());
  }
  EXPECT_TRUE(IsaSupported(Isa::kScalar));
  EXPECT_TRUE(IsaSupported(ActiveIsa()));
}

TEST(IsaTest, ActiveIsaIsAvailable) {
  const auto isas = AvailableIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::kScalar);
  EXPECT_EQ(isas.back(), DetectedIsa());
  EXPECT_LE(ActiveIsa(), DetectedIsa());
  EXPECT_EQ(IsaName(Isa::kAvx512), "avx512");
}

TEST(BandwidthTest, ProbeReturnsAPlausibleRate) {
  ThreadPool pool(2);
  const BandwidthResult bw = MeasureReadBandwidth(&pool, BandwidthParams{.buffer_bytes = size_t{64} << 20,
                                                                         .timed_passes = 5});
  ASSERT_EQ(bw.pass_gbs.size(), 5u);
  for (double gbs : bw.pass_gbs) {
    EXPECT_TRUE(std::isfinite(gbs));
    // Any machine we run on reads memory faster than 0.5 GB/s and slower than
    // 10 TB/s; outside that the timing or the byte count is wrong.
    EXPECT_GT(gbs, 0.5);
    EXPECT_LT(gbs, 10000.0);
  }
  EXPECT_LE(bw.min_gbs, bw.median_gbs);
  EXPECT_LE(bw.median_gbs, bw.max_gbs);
}

TEST(BandwidthTest, CombineTakesTheMedianOfEveryPass) {
  BandwidthResult a, b;
  a.pass_gbs = {10, 50, 20};
  b.pass_gbs = {40, 30};
  const BandwidthResult c = CombineBandwidth({a, b});
  EXPECT_EQ(c.pass_gbs.size(), 5u);
  EXPECT_DOUBLE_EQ(c.median_gbs, 30);
  EXPECT_DOUBLE_EQ(c.min_gbs, 10);
  EXPECT_DOUBLE_EQ(c.max_gbs, 50);
  EXPECT_DOUBLE_EQ(CombineBandwidth({}).median_gbs, 0);
}

}  // namespace
}  // namespace chunkserve::kernels
