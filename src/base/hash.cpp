#include "base/hash.h"

#include <cstring>

namespace chunkserve {
namespace {

constexpr uint64_t kMul0 = 0x9e3779b97f4a7c15ull;  // 2^64 / golden ratio
constexpr uint64_t kMul1 = 0xbf58476d1ce4e5b9ull;  // splitmix64 constants
constexpr uint64_t kMul2 = 0x94d049bb133111ebull;

// splitmix64 finaliser: every input bit affects every output bit.
inline uint64_t Finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * kMul1;
  z = (z ^ (z >> 27)) * kMul2;
  return z ^ (z >> 31);
}

// 64x64 -> 128 multiply folded to 64 bits: fast and mixes well.
inline uint64_t MulFold(uint64_t a, uint64_t b) {
  __uint128_t p = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

uint64_t Hash64(const void* data, size_t n_bytes, uint64_t seed) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h0 = seed ^ kMul0;
  uint64_t h1 = Finalize(seed + n_bytes);
  size_t i = 0;
  // Two independent lanes of 8 bytes each per round.
  for (; i + 16 <= n_bytes; i += 16) {
    h0 = MulFold(h0 ^ Load64(p + i), kMul1);
    h1 = MulFold(h1 ^ Load64(p + i + 8), kMul2);
  }
  if (i + 8 <= n_bytes) {
    h0 = MulFold(h0 ^ Load64(p + i), kMul1);
    i += 8;
  }
  if (i < n_bytes) {
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n_bytes - i);
    h1 = MulFold(h1 ^ tail ^ (static_cast<uint64_t>(n_bytes - i) << 56), kMul2);
  }
  return Finalize(h0 ^ (h1 * kMul0) ^ n_bytes);
}

uint64_t HashCombine(uint64_t a, uint64_t b) { return Finalize(a * kMul0 + Finalize(b)); }

std::string HashToHex(uint64_t h) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<size_t>(i)] = kDigits[h & 15];
    h >>= 4;
  }
  return s;
}

}  // namespace chunkserve
