// Hash64: a fast, well-mixed 64-bit hash of bytes, seeded.
//
// Used for content addressing (document and chunk hashes, chained KV block
// hashes) and file checksums. Not cryptographic. Stable across runs,
// processes and machines of the same endianness (little-endian assumed), so it
// may be stored on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace chunkserve {

uint64_t Hash64(const void* data, size_t n_bytes, uint64_t seed = 0);

inline uint64_t Hash64(std::string_view s, uint64_t seed = 0) {
  return Hash64(s.data(), s.size(), seed);
}

template <typename T>
uint64_t Hash64Span(std::span<const T> values, uint64_t seed = 0) {
  return Hash64(values.data(), values.size_bytes(), seed);
}

// Combines two hashes (order matters), for chained hashes.
uint64_t HashCombine(uint64_t a, uint64_t b);

// 16 lowercase hex digits.
std::string HashToHex(uint64_t h);

}  // namespace chunkserve
