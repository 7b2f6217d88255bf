// Quantization of f32 activations into ActBlocks (see quant_blocks.h), done
// once per MatMul call for quantized weights.
//
// QuantizeActivationRow is the definition: every ISA's variant must produce
// the same bytes (tests check), so the fast kernels and the reference see the
// same integers.
//
// Thread safety: pure functions.
#pragma once

#include <bit>
#include <cstdint>

#include "kernels/quant_blocks.h"

namespace chunkserve::kernels {

// How a weight type wants its activations' bias fields filled.
struct ActBias {
  int offset = 0;         // c in bias = -c * sum(qs): the weight type's zero offset
  bool per_half = false;  // bias per 16 elements (bias_lo, bias_hi) or per 32 (bias_lo; bias_hi = 0)
  // q2_K (no zero offset, a min per 16 elements): bias_lo / bias_hi hold
  // the f32 bits of d * sum(qs) of each half, the factors its min terms
  // multiply, computed once per block instead of once per row group.
  bool half_dsums = false;
};

// The bias fields of `a` (a.d already set) from its halves' sums: the one
// definition every ISA's quantizer uses.
inline void SetActBias(ActBias bias, int32_t sum_lo, int32_t sum_hi, ActBlock* a) {
  if (bias.half_dsums) {
    a->bias_lo = std::bit_cast<int32_t>(a->d * static_cast<float>(sum_lo));
    a->bias_hi = std::bit_cast<int32_t>(a->d * static_cast<float>(sum_hi));
  } else if (bias.per_half) {
    a->bias_lo = -bias.offset * sum_lo;
    a->bias_hi = -bias.offset * sum_hi;
  } else {
    a->bias_lo = -bias.offset * (sum_lo + sum_hi);
    a->bias_hi = 0;
  }
}

// d * sum(qs) of each half, from half_dsums bias fields.
inline float HalfDsumLo(const ActBlock& a) { return std::bit_cast<float>(a.bias_lo); }
inline float HalfDsumHi(const ActBlock& a) { return std::bit_cast<float>(a.bias_hi); }

// x (n,) -> out (n / 32,) blocks. REQUIRES: n % 32 == 0.
void QuantizeActivationRow(const float* x, int64_t n, ActBias bias, ActBlock* out);

}  // namespace chunkserve::kernels
