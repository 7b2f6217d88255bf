// The canonical integer form of quantized weights: every supported quantized
// type decodes, 32 elements at a time, into unsigned integers with a zero
// offset, one or two f32 scales and an optional f32 min (or two):
//
//   value[j] = scale[j / 16] * (u[j] - offset) + min[j / 16]   (per_half types)
//   value[j] = scale[0]      * (u[j] - offset) + min[0]        (others)
//
// This is what both the reference dot products (ref/) and the packed fast
// layouts (packed_layout.h) are built from, and it reproduces DequantizeRow
// bit-exactly (tests check): scales are the exact f32 products ggml's
// dequantizers compute (e.g. q4_K's d * sc), so no precision is lost.
//
// Codebook types (iq4_nl, iq4_xs) enter the same pipeline as q8_0 does:
// u = kIq4nlValues[code] + 128 with offset 128, so u - offset is the int8
// codebook value itself and the block scale multiplies it, exactly as
// ggml's d * kvalues[code]. Why not keep the 4-bit code as u: the integer
// dot product must see the codebook's values, not its indices, and these
// fit int8 (|v| <= 127), which every kernel already multiplies exactly;
// only the packed layout keeps the 4-bit codes (4.5 bits per weight in
// memory) and expands them with one 16-entry table lookup per register.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "kernels/quant_blocks.h"
#include "tensor/dtype.h"

namespace chunkserve::kernels {

struct WeightFormat {
  int bits = 8;           // significant bits of u (2, 3, 4, 5, 6 or 8)
  int offset = 0;         // zero offset subtracted from u
  bool per_half = false;  // one scale per 16 elements (q2_K, q3_K, q6_K)
  bool has_min = false;   // affine types (q4_1, q5_1, q2_K, q4_K, q5_K)
  bool f16_scales = false;  // scale and min are exact f16 values (simple types)
  bool half_mins = false;   // one min per 16 elements too (q2_K)
  bool codebook = false;    // u = kIq4nlValues[code] + 128 (iq4_nl, iq4_xs)
};

// Quantized weight types with integer kernels.
bool IsQuantWeightType(DType type);
// f32 / f16 / bf16: float kernels.
bool IsFloatWeightType(DType type);
// REQUIRES: IsQuantWeightType(type).
WeightFormat WeightFormatOf(DType type);

struct WeightBlock32 {
  uint8_t u[kQK];
  float scale[2];  // scale[1] == scale[0] unless per_half
  float min[2];    // 0 unless has_min; min[1] == min[0] unless half_mins
};

// The 4-bit code of a codebook value u (kIq4nlValues[code] + 128), for the
// packed layouts. REQUIRES: u is one of the 16 codebook values.
uint8_t CodebookCode(uint8_t u);

// Decodes 32-element block `b` of a row in GGUF layout.
// REQUIRES: IsQuantWeightType(type); the row holds more than b blocks of 32.
void DecodeBlock32(DType type, const uint8_t* row, int64_t b, WeightBlock32* out);

}  // namespace chunkserve::kernels
