// Unicode helpers the tokenizers need: UTF-8 decoding that never fails,
// general categories (for the pre-tokenizer classes \p{L}, \p{N}, \p{P}),
// White_Space, simple lower-casing and canonical decomposition (NFD).
//
// Tables come from unicode_tables.inc, generated from Python's unicodedata
// by tools/tokenizer/gen_unicode_tables.py (Unicode 14). Category lookups are
// O(1) through a per-code-point table built once on first use (1.1 MB).
//
// Thread safety: all functions are pure; the lazily built table is
// initialised under a function-local static (thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/utf8.h"
#include <string_view>
#include <vector>

namespace chunkserve::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;
inline constexpr uint32_t kMaxCodepoint = 0x10FFFF;

// General categories; indices match tools/tokenizer/gen_unicode_tables.py.
enum class GeneralCategory : uint8_t {
  kCn, kLu, kLl, kLt, kLm, kLo, kMn, kMc, kMe, kNd, kNl, kNo,
  kPc, kPd, kPs, kPe, kPi, kPf, kPo, kSm, kSc, kSk, kSo,
  kZs, kZl, kZp, kCc, kCf, kCs, kCo,
};

// Character-class bits for fast scanning.
enum CodepointFlag : uint8_t {
  kFlagLetter = 1 << 0,       // \p{L}
  kFlagNumber = 1 << 1,       // \p{N}
  kFlagPunctuation = 1 << 2,  // \p{P}
  kFlagSymbol = 1 << 3,       // \p{S}
  kFlagMarkNonspacing = 1 << 4,  // Mn (stripped as accents)
  kFlagWhitespace = 1 << 5,   // White_Space property (\s)
  kFlagControl = 1 << 6,      // Cc, Cf (BERT drops these)
  kFlagMark = 1 << 7,         // \p{M}
};

GeneralCategory GetGeneralCategory(uint32_t cp);
// Bit set of CodepointFlag. Out-of-range code points get 0.
uint8_t CodepointFlags(uint32_t cp);
bool IsWhitespace(uint32_t cp);

// Simple (one code point) lower-case mapping; cp itself when none.
uint32_t ToLower(uint32_t cp);
// Appends the full canonical decomposition of cp (itself when none),
// Hangul syllables included.
void AppendNfd(uint32_t cp, std::vector<uint32_t>* out);

// One decoded code point. Invalid, overlong, surrogate or truncated sequences
// decode as U+FFFD consuming exactly one byte, so every byte string decodes.
struct Utf8Char {
  uint32_t cp;
  uint32_t n_bytes;  // 1..4
  bool valid;
};
Utf8Char DecodeUtf8(std::string_view text, size_t pos);
// REQUIRES: cp <= kMaxCodepoint.
using ::chunkserve::AppendUtf8;  // base/utf8.h
// Length a UTF-8 sequence announces by its lead byte (1 for a stray
// continuation byte), as SentencePiece splits characters.
inline size_t Utf8LengthFromLead(uint8_t lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}
// Number of bytes at the end of `text` that form an incomplete (but so far
// valid) UTF-8 sequence: 0 when `text` ends on a character boundary.
size_t IncompleteUtf8Suffix(std::string_view text);

}  // namespace chunkserve::tokenizer
