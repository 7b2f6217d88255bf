// DType: the element and block types of tensors, numbered as in GGUF/ggml.
//
// Quantized types store blocks of `block_size` elements in `type_size` bytes;
// a row of n elements (n a multiple of block_size) takes
// n / block_size * type_size bytes. The numbering is the on-disk GGUF
// `ggml_type` value, so it must never change. Block layouts live in
// kernels/quant_blocks.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace chunkserve {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ4_NL = 20,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeTraits {
  std::string_view name;  // as ggml prints it: "f32", "q4_K", ...
  int64_t block_size;     // elements per block (1 for plain types)
  size_t type_size;       // bytes per block
};

// Traits of a known type; std::nullopt for a value we do not know (a file
// from a newer ggml, or garbage).
std::optional<DTypeTraits> GetDTypeTraits(uint32_t raw_type);
DTypeTraits Traits(DType type);  // REQUIRES: a known DType
std::string_view DTypeName(DType type);
// Parses "f32", "q8_0", "Q4_K", ... (case-insensitive).
std::optional<DType> ParseDType(std::string_view name);

// Bytes of a row of n elements, or nullopt if n is not a multiple of the block
// size.
std::optional<size_t> RowBytes(DType type, int64_t n);

}  // namespace chunkserve
