// Quantization of f32 activations into ActBlocks (see quant_blocks.h), done
// once per MatMul call for quantized weights.
//
// QuantizeActivationRow is the definition: every ISA's variant must produce
// the same bytes (tests check), so the fast kernels and the reference see the
// same integers.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "kernels/quant_blocks.h"

namespace chunkserve::kernels {

// How a weight type wants its activations' bias fields filled.
//   offset: c in bias = -c * sum(qs): the weight type's zero offset, or -1
//           for q2_K, which has no zero offset but a min per 16 elements
//           whose terms need each half's sum(qs) (then bias = +sum).
struct ActBias {
  int offset = 0;
  bool per_half = false;  // bias per 16 elements (bias_lo, bias_hi) or per 32 (bias_lo; bias_hi = 0)
};

// x (n,) -> out (n / 32,) blocks. REQUIRES: n % 32 == 0.
void QuantizeActivationRow(const float* x, int64_t n, ActBias bias, ActBlock* out);

}  // namespace chunkserve::kernels
