// Format constants and the sanity caps the GGUF reader enforces.
//
// The caps sit far above anything a real model file holds; they exist so a
// corrupt or hostile file is rejected before it can make the reader allocate
// or loop without bound. Every cap is also backed by a file-size check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace chunkserve::gguf {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian u32
inline constexpr std::string_view kAlignmentKey = "general.alignment";
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr uint64_t kMaxAlignment = 1u << 20;

inline constexpr uint32_t kMaxDims = 4;                 // GGML_MAX_DIMS
inline constexpr uint64_t kMaxKeyBytes = 65535;         // the spec's key limit
inline constexpr uint64_t kMaxTensorNameBytes = 65535;
inline constexpr uint64_t kMaxStringBytes = 1ull << 30;  // a metadata string value
inline constexpr uint64_t kMaxTensors = 1ull << 24;
// All metadata values together (array elements included). Each parsed value
// costs ~100 bytes of memory, so this bounds metadata memory to ~3 GiB even
// for a hostile file; real vocabularies hold a few hundred thousand.
inline constexpr uint64_t kMaxMetadataValues = 1ull << 25;
inline constexpr int kMaxArrayDepth = 8;

// Smallest possible encodings, for "can this count fit in what is left".
inline constexpr size_t kMinKvBytes = 8 + 4 + 1;           // key length, type, 1-byte value
inline constexpr size_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name len, n_dims, 1 dim, type, offset

}  // namespace chunkserve::gguf
