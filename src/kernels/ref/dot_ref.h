// Scalar reference dot products and matrix product: the definition the fast
// kernels are tested against (kernels/ref is their readable twin).
//
// Quantized weights meet activations quantized to ActBlocks (one int8 scale
// per 32 elements, see quant_blocks.h); per 32-element block (per 16 for
// q2_K, q3_K and q6_K) the integer dot product is exact, and is then scaled
// in f32:
//   acc = fma(isum, scale_w * d_x, acc);  acc = fma(min_w, dsum_x, acc)
// with dsum_x = d_x * sum(x_q) over the 32 elements; q2_K (a scale and a
// min per 16) sums each half off the accumulator:
//   t_h = fma(isum_h, scale_h * d_x, min_h * dsum_h);  acc = acc + (t_lo + t_hi)
// Float weights (f32/f16/bf16) meet f32 activations: acc = fma(w, x, acc),
// element by element in order.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "tensor/dtype.h"

namespace chunkserve::kernels::ref {

// One weight row (GGUF layout, `cols` elements) . activations.
// REQUIRES: IsQuantWeightType(type), cols % 32 == 0 (and % 256 for K types).
float DotQuant(DType type, const uint8_t* w_row, const ActBlock* x, int64_t cols);
// REQUIRES: IsFloatWeightType(type).
float DotFloat(DType type, const uint8_t* w_row, const float* x, int64_t cols);

// Y (n, rows) = X (n, cols) @ W^T, row by row with the dots above (activations
// quantized with QuantizeActivationRow for quantized W).
// Unimplemented for types without kernels; InvalidArgument for a bad shape.
Status MatMul(const WeightView& w, const float* x, int64_t n, float* y);

}  // namespace chunkserve::kernels::ref
