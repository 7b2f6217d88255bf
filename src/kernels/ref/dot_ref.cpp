#include "kernels/ref/dot_ref.h"

#include <cmath>
#include <string>
#include <vector>

#include "base/logging.h"
#include "kernels/activation_quant.h"
#include "kernels/weight_block.h"
#include "tensor/half.h"

namespace chunkserve::kernels::ref {

float DotQuant(DType type, const uint8_t* w_row, const ActBlock* x, int64_t cols) {
  const WeightFormat f = WeightFormatOf(type);
  float acc = 0.0f;
  WeightBlock32 w;
  for (int64_t b = 0; b < cols / kQK; ++b) {
    DecodeBlock32(type, w_row, b, &w);
    const ActBlock& a = x[b];
    int32_t isum_lo = 0, isum_hi = 0;
    for (int j = 0; j < kQK / 2; ++j) isum_lo += (w.u[j] - f.offset) * a.qs[j];
    for (int j = kQK / 2; j < kQK; ++j) isum_hi += (w.u[j] - f.offset) * a.qs[j];
    if (f.half_mins) {
      // q2_K: a min per 16 elements meets the sum of each half's
      // activations. Each half's terms are summed off the accumulator and
      // the block joins it with one add, so a one-token kernel's chain per
      // block is one add, not four fmas (decode ran latency-bound).
      int32_t sum_lo = 0, sum_hi = 0;
      for (int j = 0; j < kQK / 2; ++j) sum_lo += a.qs[j];
      for (int j = kQK / 2; j < kQK; ++j) sum_hi += a.qs[j];
      const float t_lo =
          std::fma(static_cast<float>(isum_lo), w.scale[0] * a.d, w.min[0] * (a.d * static_cast<float>(sum_lo)));
      const float t_hi =
          std::fma(static_cast<float>(isum_hi), w.scale[1] * a.d, w.min[1] * (a.d * static_cast<float>(sum_hi)));
      acc = acc + (t_lo + t_hi);
      continue;
    }
    if (f.per_half) {
      acc = std::fma(static_cast<float>(isum_lo), w.scale[0] * a.d, acc);
      acc = std::fma(static_cast<float>(isum_hi), w.scale[1] * a.d, acc);
    } else {
      acc = std::fma(static_cast<float>(isum_lo + isum_hi), w.scale[0] * a.d, acc);
    }
    if (f.has_min) acc = std::fma(w.min[0], a.dsum, acc);
  }
  return acc;
}

float DotFloat(DType type, const uint8_t* w_row, const float* x, int64_t cols) {
  float acc = 0.0f;
  switch (type) {
    case DType::kF32: {
      const auto* w = reinterpret_cast<const float*>(w_row);
      for (int64_t k = 0; k < cols; ++k) acc = std::fma(w[k], x[k], acc);
      break;
    }
    case DType::kF16: {
      const auto* w = reinterpret_cast<const uint16_t*>(w_row);
      for (int64_t k = 0; k < cols; ++k) acc = std::fma(F16ToF32(w[k]), x[k], acc);
      break;
    }
    case DType::kBF16: {
      const auto* w = reinterpret_cast<const uint16_t*>(w_row);
      for (int64_t k = 0; k < cols; ++k) acc = std::fma(BF16ToF32(w[k]), x[k], acc);
      break;
    }
    default:
      CHECK_MSG(false, std::string("DotFloat: ") + std::string(DTypeName(type)) + std::string(" is not a float type"));
  }
  return acc;
}

Status MatMul(const WeightView& w, const float* x, int64_t n, float* y) {
  if (!IsQuantWeightType(w.type) && !IsFloatWeightType(w.type)) {
    return UnimplementedError("no kernels for weight type " + std::string(DTypeName(w.type)));
  }
  const auto row_bytes = RowBytes(w.type, w.cols);
  if (!row_bytes || w.rows < 0 || n < 0 || (IsQuantWeightType(w.type) && w.cols % kQK != 0)) {
    return InvalidArgumentError("bad weight shape for " + std::string(DTypeName(w.type)));
  }
  if (IsFloatWeightType(w.type)) {
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < w.rows; ++r) {
        y[t * w.rows + r] = DotFloat(w.type, w.data + r * *row_bytes, x + t * w.cols, w.cols);
      }
    }
    return Status::Ok();
  }
  std::vector<ActBlock> xq(static_cast<size_t>(w.cols / kQK));
  for (int64_t t = 0; t < n; ++t) {
    QuantizeActivationRow(x + t * w.cols, w.cols, ActBias{}, xq.data());
    for (int64_t r = 0; r < w.rows; ++r) {
      y[t * w.rows + r] = DotQuant(w.type, w.data + r * *row_bytes, xq.data(), w.cols);
    }
  }
  return Status::Ok();
}

}  // namespace chunkserve::kernels::ref
