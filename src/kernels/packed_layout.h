// The packed weight layouts the SIMD kernels read (PackedMatrix::Pack writes
// them once at load time; nothing else sees them).
//
// Rows are taken 16 at a time ("row groups"; the last group of a matrix is
// padded with zero rows). A quantized row group is a sequence of
// "super-groups" of PackSpec::blocks_per_super 32-element blocks (1 for the
// simple types, 8 = one 256-element super-block for K-quants):
//
//   per block, weights (u of the canonical form, weight_block.h):
//     8-bit:  byte 64*i + 4*r + e = u of element 4*i + e of row r (i = 0..7):
//             one 64-byte load is the vpdpbusd operand "16 rows x 4
//             consecutive elements" ("register i");
//     4-bit:  byte 64*i + 4*r + e (i = 0..3) holds the low 4 bits of element
//             4*i + e (low nibble) and of element 16 + 4*i + e (high nibble),
//             i.e. registers i and i + 4;
//     2-bit:  ("crumbs", q2_K / q3_K) byte 64*v + 4*r + e (v = 0..1) holds
//             the low 2 bits of element 4*i + e of register i = 4*v + k at
//             bits 2k..2k+1 (k = 0..3);
//     codebook types (iq4_nl / iq4_xs) store the 4-bit codes as 4-bit
//             weights; kernels map them to u = kIq4nlValues[code] + 128
//             with one 16-byte table lookup (pshufb) per register;
//     then high_planes x 8 u64 bit masks (q3_K, 5- and 6-bit types): for
//             register i and plane p, bit 4*r + e is bit high_shift + p of
//             u (high_shift: 2 above crumbs, 4 above nibbles);
//   simple types, after each block's weights: 16 f16 scales (one per row),
//             then 16 f16 mins (affine types): the GGUF d and m, exactly;
//   K types, after the 8 blocks, one header:
//     q4_K/q5_K: f16 d[16], f16 dmin[16], u8 sc[8][16], u8 m[8][16]
//                (scale = d * sc, min = -(dmin * m), in f32 as ggml does);
//     q6_K/q3_K: f16 d[16], i8 sc[16][16] (per 16 elements; scale = d * sc;
//                q3_K's sc is its 6-bit scale minus 32);
//     q2_K:      f16 d[16], f16 dmin[16], u8 sm[16][16]: the GGUF scale
//                bytes (per 16 elements: scale = d * (sm & 15),
//                min = -(dmin * (sm >> 4)));
//     iq4_xs:    f16 d[16], i8 ls[8][16] (per 32; scale = d * ls, ls being
//                the 6-bit scale minus 32).
//
// So packed weights take the same bytes as the GGUF rows (q8_0, q5_x, q6_K,
// q2_K, iq4_nl) or a few percent more, and dequantize bit-exactly like them.
//
// Float types keep their element type, per row group as [k][16 rows].
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/weight_block.h"
#include "tensor/dtype.h"

namespace chunkserve::kernels {

inline constexpr int kRowGroup = 16;

enum class PackScales {
  kSimpleF16,  // per block f16 scale[16] (+ min[16])
  kKQuant,     // per super-block header, q4_K / q5_K
  kQ6K,        // per super-block header, q6_K and q3_K
  kQ2K,        // per super-block header, q2_K
  kIQ4XS,      // per super-block header, iq4_xs
};

struct PackSpec {
  int blocks_per_super = 1;
  bool nibbles = false;   // 4-bit plane (256 B) instead of 8-bit bytes (512 B)
  bool crumbs = false;    // 2-bit plane (128 B)
  bool codebook = false;  // the 4-bit plane holds iq4 codes (u via kIq4nlValues)
  int high_planes = 0;    // extra bit planes of 8 x u64 (64 B) each
  int high_shift = 4;     // bit of u that high plane 0 holds
  PackScales scales = PackScales::kSimpleF16;
  bool has_min = false;
  bool half_mins = false;  // a min per 16 elements (q2_K)
  bool per_half = false;
  int offset = 0;
  int weight_bytes = 0;  // nibble/byte plane + high planes of one block
  int block_bytes = 0;   // weight_bytes (+ simple scales and mins)
  int header_bytes = 0;  // K types' per-super-block header
  int super_bytes = 0;
};

// REQUIRES: a quantized weight type (IsQuantWeightType).
constexpr PackSpec PackSpecOf(DType type) {
  PackSpec s;
  switch (type) {
    case DType::kQ4_0: s.nibbles = true; s.offset = 8; break;
    case DType::kQ4_1: s.nibbles = true; s.has_min = true; break;
    case DType::kQ5_0: s.nibbles = true; s.high_planes = 1; s.offset = 16; break;
    case DType::kQ5_1: s.nibbles = true; s.high_planes = 1; s.has_min = true; break;
    case DType::kQ8_0: s.offset = 128; break;
    case DType::kQ4_K: s.nibbles = true; s.scales = PackScales::kKQuant; s.has_min = true; break;
    case DType::kQ5_K:
      s.nibbles = true; s.high_planes = 1; s.scales = PackScales::kKQuant; s.has_min = true;
      break;
    case DType::kQ6_K:
      s.nibbles = true; s.high_planes = 2; s.scales = PackScales::kQ6K; s.per_half = true; s.offset = 32;
      break;
    case DType::kQ2_K:
      s.crumbs = true; s.scales = PackScales::kQ2K; s.per_half = true; s.has_min = true; s.half_mins = true;
      break;
    case DType::kQ3_K:
      s.crumbs = true; s.high_planes = 1; s.scales = PackScales::kQ6K; s.per_half = true; s.offset = 4;
      break;
    case DType::kIQ4_NL: s.nibbles = true; s.codebook = true; s.offset = 128; break;
    case DType::kIQ4_XS: s.nibbles = true; s.codebook = true; s.scales = PackScales::kIQ4XS; s.offset = 128; break;
    default: break;
  }
  s.high_shift = s.crumbs ? 2 : 4;
  s.weight_bytes = (s.crumbs ? 128 : s.nibbles ? 256 : 512) + 64 * s.high_planes;
  if (s.scales == PackScales::kSimpleF16) {
    s.block_bytes = s.weight_bytes + 32 * (s.has_min ? 2 : 1);
  } else {
    s.blocks_per_super = 8;
    s.block_bytes = s.weight_bytes;
    switch (s.scales) {
      case PackScales::kKQuant: s.header_bytes = 32 + 32 + 128 + 128; break;
      case PackScales::kQ6K: s.header_bytes = 32 + 256; break;
      case PackScales::kQ2K: s.header_bytes = 32 + 32 + 256; break;
      case PackScales::kIQ4XS: s.header_bytes = 32 + 128; break;
      case PackScales::kSimpleF16: break;
    }
  }
  s.super_bytes = s.blocks_per_super * s.block_bytes + s.header_bytes;
  return s;
}

// Packs rows [0, n_rows) (n_rows <= 16; GGUF layout, row_bytes apart) of
// `cols` elements into one row group. REQUIRES: cols is whole super-blocks.
void PackQuantRowGroup(DType type, const uint8_t* rows, size_t row_bytes, int n_rows, int64_t cols,
                       uint8_t* out);
size_t QuantRowGroupBytes(DType type, int64_t cols);

// Float types: [k][16] elements of the same type.
void PackFloatRowGroup(DType type, const uint8_t* rows, size_t row_bytes, int n_rows, int64_t cols,
                       uint8_t* out);
size_t FloatRowGroupBytes(DType type, int64_t cols);

}  // namespace chunkserve::kernels
