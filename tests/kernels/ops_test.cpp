// Tests of kernels/ops.h against straightforward twins: textbook RMSNorm /
// LayerNorm / softmax / SiLU / GELU / RoPE formulas in double precision.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace chunkserve::kernels {
namespace {

// Named tolerances: ops in f32 vs double-precision twins.
constexpr float kElementwiseTol = 1e-5f;
constexpr float kRopeTol = 2e-5f;

std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(OpsTest, RmsNormMatchesFormula) {
  const int64_t n = 896;
  auto x = RandomVector(n, 1, 3.0f);
  auto w = RandomVector(n, 2);
  std::vector<float> out(n);
  RmsNorm(x.data(), w.data(), n, 1e-6f, out.data());
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double inv = 1.0 / std::sqrt(ss / n + 1e-6);
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(out[i], x[i] * inv * w[i], kElementwiseTol * 4) << i;
}

TEST(OpsTest, RmsNormInPlace) {
  auto x = RandomVector(64, 3);
  auto w = RandomVector(64, 4);
  std::vector<float> expected(64);
  RmsNorm(x.data(), w.data(), 64, 1e-5f, expected.data());
  RmsNorm(x.data(), w.data(), 64, 1e-5f, x.data());
  EXPECT_EQ(x, expected);
}

TEST(OpsTest, LayerNormMatchesFormula) {
  const int64_t n = 384;
  auto x = RandomVector(n, 5, 2.0f);
  for (auto& v : x) v += 1.5f;
  auto w = RandomVector(n, 6);
  auto b = RandomVector(n, 7);
  std::vector<float> out(n), out_nobias(n);
  LayerNorm(x.data(), w.data(), b.data(), n, 1e-12f, out.data());
  LayerNorm(x.data(), w.data(), nullptr, n, 1e-12f, out_nobias.data());
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= n;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= n;
  for (int64_t i = 0; i < n; ++i) {
    const double y = (x[i] - mean) / std::sqrt(var + 1e-12) * w[i];
    EXPECT_NEAR(out[i], y + b[i], kElementwiseTol * 4);
    EXPECT_NEAR(out_nobias[i], y, kElementwiseTol * 4);
  }
}

TEST(OpsTest, SoftmaxSumsToOneAndIsStable) {
  std::vector<float> x = {1000.0f, 1001.0f, 999.0f, -1e30f};
  Softmax(x.data(), 4);
  const double e0 = std::exp(-1.0), e2 = std::exp(-2.0);
  const double z = e0 + 1 + e2;
  EXPECT_NEAR(x[0], e0 / z, kElementwiseTol);
  EXPECT_NEAR(x[1], 1 / z, kElementwiseTol);
  EXPECT_NEAR(x[2], e2 / z, kElementwiseTol);
  EXPECT_EQ(x[3], 0.0f);
}

TEST(OpsTest, SiluMulGeluAdd) {
  auto g = RandomVector(100, 8, 4.0f);
  auto u = RandomVector(100, 9);
  g[3] = 100.0f, g[4] = -100.0f, g[5] = 0.0f;  // saturated and zero gates
  std::vector<float> out(100);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (int n : {100, 7}) {  // vector body + tail, tail only
      std::fill(out.begin(), out.end(), 0.0f);
      SiluMulWithIsa(isa, g.data(), u.data(), n, out.data());
      for (int i = 0; i < n; ++i)
        ASSERT_NEAR(out[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i], kElementwiseTol * (1 + std::abs(g[i] * u[i])))
            << "isa " << int(isa) << " i " << i;
    }
  }
  SiluMul(g.data(), u.data(), 100, out.data());
  auto x = g;
  Gelu(x.data(), 100);
  for (int i = 0; i < 100; ++i) {
    const double v = g[i];
    const double y = 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    EXPECT_NEAR(x[i], y, kElementwiseTol * 4);
  }
  auto y = u;
  AddInPlace(y.data(), g.data(), 100);
  for (int i = 0; i < 100; ++i) EXPECT_FLOAT_EQ(y[i], u[i] + g[i]);
}

// Textbook RoPE in double: pairs chosen by style, angle pos*scale*theta^(-2i/n_rot).
std::vector<float> NaiveRope(std::vector<float> x, int n_heads, int64_t pos, const RopeParams& p) {
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < p.n_rot / 2; ++i) {
      double freq = std::pow(double(p.theta), -2.0 * i / p.n_rot);
      if (p.freq_factors) freq /= p.freq_factors[i];
      const double a = double(pos) * p.freq_scale * freq;
      const int i0 = p.style == RopeStyle::kNormal ? 2 * i : i;
      const int i1 = p.style == RopeStyle::kNormal ? 2 * i + 1 : i + p.n_rot / 2;
      float* hd = x.data() + h * p.head_dim;
      const double v0 = hd[i0], v1 = hd[i1];
      const double c = p.mscale * std::cos(a), sn = p.mscale * std::sin(a);
      hd[i0] = float(v0 * c - v1 * sn);
      hd[i1] = float(v0 * sn + v1 * c);
    }
  }
  return x;
}

TEST(OpsTest, RopeNormalNeoxPartialScaled) {
  std::vector<float> factors = {1, 1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
  for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox}) {
    for (int n_rot : {32, 16}) {  // full and partial rotation
      for (float scale : {1.0f, 0.25f}) {
        for (bool use_factors : {false, true}) {
          // LongRoPE's attention factor with its factor set: rotated dims
          // scale by it, the partial rotation's others do not.
          RopeParams p{.head_dim = 32, .n_rot = n_rot, .theta = 10000.0f, .freq_scale = scale,
                       .style = style, .freq_factors = use_factors ? factors.data() : nullptr,
                       .mscale = use_factors ? 1.19f : 1.0f};
          auto x = RandomVector(3 * 32, 10);
          for (int64_t pos : {0, 1, 7, 300}) {
            auto expected = NaiveRope(x, 3, pos, p);
            auto got = x;
            ApplyRope(got.data(), 3, pos, p);
            for (size_t i = 0; i < x.size(); ++i)
              ASSERT_NEAR(got[i], expected[i], kRopeTol * (1 + std::abs(expected[i])))
                  << "style " << int(style) << " n_rot " << n_rot << " pos " << pos << " i " << i;
          }
        }
      }
    }
  }
}

TEST(OpsTest, RopePreservesNormAndPositionZeroIsIdentity) {
  RopeParams p{.head_dim = 64, .n_rot = 64, .theta = 1e6f, .style = RopeStyle::kNeox};
  auto x = RandomVector(2 * 64, 11);
  auto y = x;
  ApplyRope(y.data(), 2, 0, p);
  EXPECT_EQ(x, y);
  ApplyRope(y.data(), 2, 12345, p);
  double nx = 0, ny = 0;
  for (size_t i = 0; i < x.size(); ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(nx, ny, 1e-3 * nx);
  EXPECT_NE(x, y);
}

}  // namespace
}  // namespace chunkserve::kernels
