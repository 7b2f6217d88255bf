// Shared helpers of the kernel tests: deterministic random data and the list
// of weight types with kernels.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "tensor/dtype.h"

namespace chunkserve::kernels::testing {

inline const std::vector<DType>& QuantTypes() {
  static const std::vector<DType> types = {DType::kQ4_0, DType::kQ4_1,  DType::kQ5_0,   DType::kQ5_1,
                                           DType::kQ8_0, DType::kQ2_K,  DType::kQ3_K,   DType::kQ4_K,
                                           DType::kQ5_K, DType::kQ6_K,  DType::kIQ4_NL, DType::kIQ4_XS};
  return types;
}
inline const std::vector<DType>& FloatTypes() {
  static const std::vector<DType> types = {DType::kF32, DType::kF16, DType::kBF16};
  return types;
}

// Gaussian values with a few outliers, like real weights and activations.
inline std::vector<float> RandomFloats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::uniform_int_distribution<int> pick(0, 99);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    x = normal(rng);
    if (pick(rng) == 0) x *= 8.0f;
  }
  return v;
}

// Rows x cols of random weights quantized to `type`.
inline std::vector<uint8_t> RandomWeights(DType type, int64_t rows, int64_t cols, uint32_t seed) {
  const size_t row_bytes = *RowBytes(type, cols);
  std::vector<uint8_t> w(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const auto f = RandomFloats(cols, seed * 7919u + static_cast<uint32_t>(r), 0.05f);
    if (!QuantizeRow(type, f.data(), w.data() + static_cast<size_t>(r) * row_bytes, cols).ok()) return {};
  }
  return w;
}

}  // namespace chunkserve::kernels::testing
