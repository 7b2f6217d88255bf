// The element types a KV cache row may have, and their byte layouts: what
// the block pool, contiguous caches, chunk files and attention agree on.
//
//   kF32:  4 bytes a value.
//   kBF16: 2 bytes a value (rounded by kernels::StoreKvRow).
//   kQ8_0: blocks of 32 values along the row (so along each head's
//          head_dim, which must be a multiple of 32), ggml's block_q8_0:
//          an f16 scale d then 32 int8 q, value = d * q; 34 bytes per 32
//          values (8.5 bits a value, 53% of bf16). Quantized here, in one
//          scalar routine every ISA level shares, so a row's bytes never
//          depend on the CPU.
//
// A row of n values is KvRowBytes(type, n) bytes; the values [a, a + n) of
// a row begin KvRowBytes(type, a) bytes in (a a multiple of 32 for kQ8_0).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "tensor/dtype.h"
#include "tensor/half.h"

namespace chunkserve {

inline constexpr int64_t kKvQ8Block = 32;
inline constexpr size_t kKvQ8BlockBytes = 34;  // f16 scale + 32 int8

// kF32, kBF16 or kQ8_0.
bool IsKvType(DType type);
// "f32" | "bf16" | "q8_0"; nullopt for anything else.
std::optional<DType> ParseKvType(std::string_view name);
// Whether rows of n_values values (heads of head_dim) can be stored as
// `type`: kQ8_0 needs head_dim % 32 == 0.
bool KvTypeFits(DType type, int64_t head_dim);

// Bytes of n values of `type`. REQUIRES: IsKvType(type); for kQ8_0 n % 32 == 0.
size_t KvRowBytes(DType type, int64_t n);

// q8_0 rows: dst (n / 32 blocks) = src quantized per block of 32: d = the
// block's max |x| / 127 rounded to f16, q = round(x / d) (nearest, ties away)
// clamped to [-127, 127]; an all-zero block has d = 0. REQUIRES: n % 32 == 0.
void QuantizeQ8_0KvRow(const float* src, int64_t n, void* dst);
// dst (n) = d * q of each block (exact in f32).
void DequantizeQ8_0KvRow(const void* src, int64_t n, float* dst);

// Value d of a q8_0 row (d counted from the row pointer's first block).
inline float Q8_0KvValue(const void* row, int64_t d) {
  const auto* block = static_cast<const uint8_t*>(row) + (d / kKvQ8Block) * kKvQ8BlockBytes;
  uint16_t scale;
  std::memcpy(&scale, block, 2);
  return F16ToF32(scale) * static_cast<float>(static_cast<int8_t>(block[2 + d % kKvQ8Block]));
}

}  // namespace chunkserve
