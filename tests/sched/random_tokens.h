// Deterministic pseudo-random token ids for the scheduler tests (xorshift:
// the same ids on every machine and run).
#pragma once

#include <cstdint>
#include <vector>

namespace chunkserve::sched::testing {

// n ids in [lo, hi), a fixed sequence per seed.
inline std::vector<int32_t> RandomTokens(uint64_t seed, int n, int32_t lo, int32_t hi) {
  std::vector<int32_t> v;
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    v.push_back(lo + static_cast<int32_t>(s % static_cast<uint64_t>(hi - lo)));
  }
  return v;
}

}  // namespace chunkserve::sched::testing
