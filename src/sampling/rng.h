// Rng: a small, portable pseudo-random generator (xoshiro256**, seeded through
// splitmix64). We do not use std::mt19937 + std::uniform_real_distribution
// because the distributions are implementation-defined: the same seed must
// give the same tokens on every compiler and machine.
//
// Thread safety: not thread-safe; one per sampler.
#pragma once

#include <cstdint>

namespace chunkserve::sampling {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { Seed(seed); }

  void Seed(uint64_t seed);
  uint64_t NextU64();
  // Uniform in [0, 1), 53 random bits.
  double NextDouble() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

}  // namespace chunkserve::sampling
