// QuantizeRow round trips, the canonical integer form (weight_block.h) against
// DequantizeRow, and the activation quantizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/activation_quant.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/weight_block.h"
#include "test_util.h"

namespace chunkserve::kernels {
namespace {

using testing::RandomFloats;

// Worst error of round-to-nearest relative to the largest |x| of a block:
// half a step of (2 * amax) / (2^bits - 1) for the affine types, amax /
// 2^(bits-1) for symmetric ones, plus slack for the 6-bit (K) or f16 (simple)
// quantization of scales and mins.
double ErrorBound(DType type) {
  switch (type) {
    case DType::kQ4_0: return 0.14;
    case DType::kQ4_1: return 0.10;
    case DType::kQ5_0: return 0.07;
    case DType::kQ5_1: return 0.05;
    case DType::kQ8_0: return 0.005;
    case DType::kQ4_K: return 0.16;
    case DType::kQ5_K: return 0.09;
    case DType::kQ6_K: return 0.06;
    case DType::kQ2_K: return 0.40;
    case DType::kQ3_K: return 0.28;
    case DType::kIQ4_NL: return 0.12;
    case DType::kIQ4_XS: return 0.13;
    case DType::kF16: return 1e-3;
    case DType::kBF16: return 8e-3;
    default: return 0.0;
  }
}

TEST(QuantizeTest, RoundTripWithinBound) {
  std::vector<DType> types = testing::QuantTypes();
  types.push_back(DType::kF16);
  types.push_back(DType::kBF16);
  types.push_back(DType::kF32);
  constexpr int64_t kN = 1024;
  const auto x = RandomFloats(kN, 1);
  for (DType type : types) {
    std::vector<uint8_t> q(*RowBytes(type, kN));
    ASSERT_TRUE(QuantizeRow(type, x.data(), q.data(), kN).ok()) << DTypeName(type);
    std::vector<float> y(kN);
    DequantizeRow(type, q.data(), y.data(), kN);
    const int64_t bs = std::max<int64_t>(32, Traits(type).block_size);
    for (int64_t b = 0; b < kN / bs; ++b) {
      float amax = 0;
      for (int64_t j = 0; j < bs; ++j) amax = std::max(amax, std::fabs(x[b * bs + j]));
      for (int64_t j = 0; j < bs; ++j) {
        const int64_t i = b * bs + j;
        ASSERT_LE(std::fabs(y[i] - x[i]), ErrorBound(type) * amax) << DTypeName(type) << " element " << i;
      }
    }
  }
}

TEST(QuantizeTest, ZeroRowsStayZero) {
  std::vector<float> x(512, 0.0f);
  for (DType type : testing::QuantTypes()) {
    std::vector<uint8_t> q(*RowBytes(type, 512));
    ASSERT_TRUE(QuantizeRow(type, x.data(), q.data(), 512).ok());
    std::vector<float> y(512, 1.0f);
    DequantizeRow(type, q.data(), y.data(), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << DTypeName(type);
  }
}

TEST(QuantizeTest, RejectsPartialBlocksAndUnknownTypes) {
  std::vector<float> x(100, 1.0f);
  std::vector<uint8_t> q(1024);
  EXPECT_EQ(QuantizeRow(DType::kQ8_0, x.data(), q.data(), 100).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(DType::kQ4_K, x.data(), q.data(), 64).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(DType::kIQ4_XS, x.data(), q.data(), 64).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(DType::kI8, x.data(), q.data(), 16).code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(CanDequantize(DType::kI8));
  EXPECT_TRUE(CanDequantize(DType::kQ2_K));
  EXPECT_TRUE(CanDequantize(DType::kQ6_K));
}

// The canonical form must reproduce DequantizeRow bit for bit: the packed
// fast layouts are written from it.
TEST(QuantizeTest, CanonicalFormIsBitExact) {
  constexpr int64_t kN = 512;
  for (DType type : testing::QuantTypes()) {
    const auto x = RandomFloats(kN, 3);
    std::vector<uint8_t> q(*RowBytes(type, kN));
    ASSERT_TRUE(QuantizeRow(type, x.data(), q.data(), kN).ok());
    std::vector<float> y(kN);
    DequantizeRow(type, q.data(), y.data(), kN);
    const WeightFormat f = WeightFormatOf(type);
    WeightBlock32 w;
    for (int64_t b = 0; b < kN / 32; ++b) {
      DecodeBlock32(type, q.data(), b, &w);
      for (int j = 0; j < 32; ++j) {
        ASSERT_LT(w.u[j], 1 << f.bits);
        float v = w.scale[f.per_half ? j / 16 : 0] * static_cast<float>(w.u[j] - f.offset);
        if (f.has_min) v = v + w.min[f.half_mins ? j / 16 : 0];
        ASSERT_EQ(v, y[b * 32 + j]) << DTypeName(type) << " element " << b * 32 + j;
      }
    }
  }
}

TEST(ActivationQuantTest, DefinitionAndEveryIsaAgree) {
  constexpr int64_t kN = 4864;
  auto x = RandomFloats(kN, 5);
  for (int j = 64; j < 96; ++j) x[j] = 0.0f;  // an all-zero block
  x[200] = 127.5f;                           // exact ties after scaling
  std::vector<ActBlock> want(kN / 32);
  const ActBias bias{32, true};
  QuantizeActivationRow(x.data(), kN, bias, want.data());
  for (int64_t b = 0; b < kN / 32; ++b) {
    const ActBlock& a = want[b];
    int lo = 0, hi = 0;
    for (int j = 0; j < 32; ++j) {
      ASSERT_LE(std::abs(a.qs[j]), 127);
      ASSERT_LE(std::fabs(a.d * a.qs[j] - x[b * 32 + j]), a.d * 0.501f + 1e-6f);
      (j < 16 ? lo : hi) += a.qs[j];
    }
    ASSERT_EQ(a.bias_lo, -32 * lo);
    ASSERT_EQ(a.bias_hi, -32 * hi);
  }
  EXPECT_EQ(want[2].d, 0.0f);
  for (Isa isa : AvailableIsas()) {
    const KernelTable* table = GetKernelTable(isa);
    ASSERT_NE(table, nullptr);
    for (ActBias b : {ActBias{128, false}, ActBias{32, true}, ActBias{0, false}, ActBias{0, true, true}}) {
      std::vector<ActBlock> got(kN / 32);
      std::vector<ActBlock> ref(kN / 32);
      table->quantize_activations(x.data(), kN, b, got.data());
      QuantizeActivationRow(x.data(), kN, b, ref.data());
      ASSERT_EQ(std::memcmp(got.data(), ref.data(), got.size() * sizeof(ActBlock)), 0) << IsaName(isa);
    }
  }
}

}  // namespace
}  // namespace chunkserve::kernels
