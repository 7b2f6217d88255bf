// The packed weight layouts the SIMD kernels read (PackedMatrix::Pack writes
// them once at load time; nothing else sees them).
//
// Rows are taken 16 at a time ("row groups"; the last group of a matrix is
// padded with zero rows). Quantized types, per row group and per 32-element
// block b, store one "group" of QuantLayout::group_bytes:
//
//   weights  8-bit: byte 64*i + 4*r + e = u of element 4*i + e of row r
//                   (i = 0..7): one 64-byte load is the vpdpbusd operand
//                   "16 rows x 4 consecutive elements";
//            4-bit: byte 64*i + 4*r + e (i = 0..3) holds element 4*i + e in
//                   its low nibble and element 16 + 4*i + e in its high one;
//   scales   16 (x2 for per-half types) f16 or f32 values, one per row;
//   mins     16 f16 or f32 values (affine types only).
//
// u, offset, scales and mins are the canonical integer form of
// weight_block.h, so a packed group dequantizes bit-exactly like the GGUF
// block. 5- and 6-bit types are widened to 8 bits (more memory, same kernels).
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

struct QuantLayout {
  WeightFormat fmt;
  bool nibbles = false;   // 4-bit weights
  int weight_bytes = 0;   // 256 (4-bit) or 512
  int scale_bytes = 0;    // bytes of one array of 16 scales (32 f16, 64 f32)
  int scales_offset = 0;  // = weight_bytes
  int mins_offset = -1;   // -1 without mins
  int group_bytes = 0;
};

// REQUIRES: IsQuantWeightType(type).
QuantLayout QuantLayoutOf(DType type);

// Packs rows [0, n_rows) (n_rows <= 16; GGUF layout, row_bytes apart) of
// `cols` elements into one row group of cols / 32 groups.
void PackQuantRowGroup(DType type, const uint8_t* rows, size_t row_bytes, int n_rows, int64_t cols,
                       uint8_t* out);
size_t QuantRowGroupBytes(DType type, int64_t cols);

// Float types: [k][16] elements of the same type.
void PackFloatRowGroup(DType type, const uint8_t* rows, size_t row_bytes, int n_rows, int64_t cols,
                       uint8_t* out);
size_t FloatRowGroupBytes(DType type, int64_t cols);

}  // namespace chunkserve::kernels
