// MatMul on every available ISA level against the scalar reference
// (ref::MatMul), the reference against f32 math on dequantized weights, and
// PackedMatrix's input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/aligned_buffer.h"
#include "kernels/matmul.h"
#include "kernels/ref/dot_ref.h"
#include "kernels/weight_block.h"
#include "test_util.h"

namespace chunkserve::kernels {
namespace {

using testing::RandomFloats;
using testing::RandomWeights;

// Fast vs reference: integer parts are exact, only the f32 summation order
// may differ, so the error is a few ulps of the sum of |terms|.
constexpr double kFastVsRefRelTol = 1e-5;
// Reference vs f32 on dequantized weights: the 8-bit activation quantization
// error, at most half a step (max|x| / 254) per element.
constexpr double kActivationQuantRelTol = 1.0 / 254.0;

struct Shape {
  int64_t rows, cols, n;
};

// sum over k of |w| * |x|: the scale an error of one summation is relative to.
std::vector<double> AbsProducts(DType type, const std::vector<uint8_t>& w, const std::vector<float>& x,
                                const Shape& s) {
  std::vector<float> wf(static_cast<size_t>(s.rows * s.cols));
  const size_t row_bytes = *RowBytes(type, s.cols);
  for (int64_t r = 0; r < s.rows; ++r) DequantizeRow(type, w.data() + r * row_bytes, wf.data() + r * s.cols, s.cols);
  std::vector<double> out(static_cast<size_t>(s.n * s.rows));
  for (int64_t t = 0; t < s.n; ++t) {
    for (int64_t r = 0; r < s.rows; ++r) {
      double acc = 0;
      for (int64_t k = 0; k < s.cols; ++k) acc += std::fabs(double(wf[r * s.cols + k]) * x[t * s.cols + k]);
      out[t * s.rows + r] = acc;
    }
  }
  return out;
}

void CheckAgainstReference(DType type, const Shape& s, Isa isa, ThreadPool* pool) {
  SCOPED_TRACE(::testing::Message() << DTypeName(type) << " " << IsaName(isa) << " rows=" << s.rows
                                    << " cols=" << s.cols << " n=" << s.n);
  const auto w = RandomWeights(type, s.rows, s.cols, static_cast<uint32_t>(s.rows * 31 + s.cols));
  ASSERT_FALSE(w.empty());
  const auto x = RandomFloats(s.n * s.cols, static_cast<uint32_t>(s.n + 17));
  const WeightView view{type, s.rows, s.cols, w.data()};
  std::vector<float> want(static_cast<size_t>(s.n * s.rows));
  ASSERT_TRUE(ref::MatMul(view, x.data(), s.n, want.data()).ok());
  auto packed = PackedMatrix::Pack(view, isa);
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  // Every level below must really run its own kernels, not fall back.
  ASSERT_EQ(packed->isa(), isa);
  // Outputs 64-byte aligned (kernels may stream them) and one float off.
  AlignedVector<float> out(static_cast<size_t>(s.n * s.rows) + 1, -12345.0f);
  const auto mag = AbsProducts(type, w, x, s);
  for (const size_t offset : {size_t{0}, size_t{1}}) {
    float* got = out.data() + offset;
    MatMul(*packed, x.data(), s.n, got, pool);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], kFastVsRefRelTol * mag[i] + 1e-30) << "output " << i;
      // Quantized kernels scale and sum in the reference's order: bit-exact.
      if (IsQuantWeightType(type)) {
        ASSERT_EQ(got[i], want[i]) << "output " << i << " offset " << offset;
      }
    }
  }
}

TEST(MatMulTest, EveryIsaMatchesReference) {
  ThreadPool pool(2);
  const std::vector<Shape> shapes = {{1, 256, 1}, {17, 256, 1}, {33, 512, 3}, {16, 768, 8}, {50, 256, 13},
                                     {20, 512, 21},   // two full tiles (the first prefetching) + a tail
                                     {70, 512, 31},   // >= 24 tokens: pairs of row groups + a lone partial group
                                     {96, 256, 24},   // pair tiles with no tail
                                     {40, 512, 48},   // AMX: three 16-token tiles
                                     {18, 768, 37},   // AMX: two tiles + a 5-token tail, a partial row group
                                     {20, 4096, 100},   // token chunks of whole tiles, then a tail
                                     {64, 512, 64}};    // AMX: whole row groups, streamed outputs
  std::vector<DType> types = testing::QuantTypes();
  for (DType t : testing::FloatTypes()) types.push_back(t);
  for (Isa isa : AvailableIsas()) {
    for (DType type : types) {
      for (const Shape& s : shapes) CheckAgainstReference(type, s, isa, &pool);
    }
  }
}

TEST(MatMulTest, SimpleTypesAcceptOddBlockCounts) {
  ThreadPool pool(2);
  for (Isa isa : AvailableIsas()) {
    for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_1, DType::kIQ4_NL, DType::kF16}) {
      CheckAgainstReference(type, {19, 96, 5}, isa, &pool);
      CheckAgainstReference(type, {19, 96, 21}, isa, &pool);  // AMX: an odd block count under a tile
    }
  }
}

TEST(MatMulTest, WithoutPoolEqualsWithPool) {
  ThreadPool pool(2);
  const Shape s{40, 512, 9};
  for (DType type : {DType::kQ8_0, DType::kQ4_K, DType::kQ2_K, DType::kIQ4_XS, DType::kF32}) {
    const auto w = RandomWeights(type, s.rows, s.cols, 9);
    const auto x = RandomFloats(s.n * s.cols, 10);
    auto packed = PackedMatrix::Pack({type, s.rows, s.cols, w.data()});
    ASSERT_TRUE(packed.ok());
    std::vector<float> a(static_cast<size_t>(s.n * s.rows)), b(a.size());
    MatMul(*packed, x.data(), s.n, a.data(), nullptr);
    MatMul(*packed, x.data(), s.n, b.data(), &pool);
    EXPECT_EQ(a, b) << DTypeName(type);
  }
}

// The reference itself against plain f32 math on dequantized weights.
TEST(MatMulTest, ReferenceMatchesDequantizedF32) {
  const Shape s{7, 512, 2};
  std::vector<DType> types = testing::QuantTypes();
  for (DType t : testing::FloatTypes()) types.push_back(t);
  for (DType type : types) {
    const auto w = RandomWeights(type, s.rows, s.cols, 21);
    const auto x = RandomFloats(s.n * s.cols, 22);
    std::vector<float> got(static_cast<size_t>(s.n * s.rows));
    ASSERT_TRUE(ref::MatMul({type, s.rows, s.cols, w.data()}, x.data(), s.n, got.data()).ok());
    const size_t row_bytes = *RowBytes(type, s.cols);
    std::vector<float> wf(static_cast<size_t>(s.cols));
    for (int64_t r = 0; r < s.rows; ++r) {
      DequantizeRow(type, w.data() + r * row_bytes, wf.data(), s.cols);
      for (int64_t t = 0; t < s.n; ++t) {
        double want = 0, mag = 0;
        for (int64_t k = 0; k < s.cols; ++k) {
          want += double(wf[k]) * x[t * s.cols + k];
          mag += std::fabs(double(wf[k])) * std::fabs(x[t * s.cols + k]);
        }
        // Activation quantization error is relative to each block's max |x|,
        // bounded by max|x| over the row; 8x covers the outliers.
        const double tol = IsFloatWeightType(type) ? 1e-5 * mag : 8 * kActivationQuantRelTol * mag;
        ASSERT_NEAR(got[t * s.rows + r], want, tol) << DTypeName(type) << " r=" << r << " t=" << t;
      }
    }
  }
}

TEST(MatMulTest, PackRejectsBadInput) {
  std::vector<uint8_t> w(4096);
  EXPECT_EQ(PackedMatrix::Pack({DType::kQ8_0, 2, 48, w.data()}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PackedMatrix::Pack({DType::kQ4_K, 2, 128, w.data()}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PackedMatrix::Pack({DType::kQ8_K, 2, 256, w.data()}).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(PackedMatrix::Pack({DType::kIQ4_XS, 2, 128, w.data()}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PackedMatrix::Pack({DType::kF32, 2, 0, w.data()}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PackedMatrix::Pack({DType::kF32, 2, 16, nullptr}).status().code(), StatusCode::kInvalidArgument);
  auto ok = PackedMatrix::Pack({DType::kF32, 3, 16, w.data()});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->rows(), 3);
  EXPECT_EQ(ok->cols(), 16);
  EXPECT_GE(ok->bytes(), size_t{3 * 16 * 4});
}

}  // namespace
}  // namespace chunkserve::kernels
