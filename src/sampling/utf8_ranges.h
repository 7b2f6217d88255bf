// Utf8Ranges: a range of Unicode code points as the byte sequences that
// encode it, so a byte-level grammar can match a character class.
//
// Each result is one sequence of byte ranges (1 to 4 of them); a byte string
// encodes a code point in [lo, hi] iff it matches exactly one sequence
// position by position. Surrogates (U+D800..U+DFFF) are never encoded: the
// part of [lo, hi] that covers them is skipped.
//
// Thread safety: a pure function.
// REQUIRES: lo <= hi <= 0x10FFFF.
#pragma once

#include <cstdint>
#include <vector>

namespace chunkserve::sampling {

struct ByteRange {
  uint8_t lo;
  uint8_t hi;
};

using ByteRangeSequence = std::vector<ByteRange>;

std::vector<ByteRangeSequence> Utf8Ranges(uint32_t lo, uint32_t hi);

// The UTF-8 encoding of one code point (1 to 4 bytes).
void AppendUtf8(uint32_t code_point, std::vector<uint8_t>& out);

}  // namespace chunkserve::sampling
