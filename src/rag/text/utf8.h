// UTF-8 helpers: validation with replacement, and code point decoding.
//
// Documents arrive as arbitrary bytes. SanitizeUtf8 turns them into valid
// UTF-8 (each byte that is not part of a well-formed sequence becomes U+FFFD,
// NUL bytes too, since SQLite text and C strings stop at them), counts what it
// replaced, and records a SourceMap so offsets still point into the original
// bytes. A leading UTF-8 byte-order mark is dropped.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/utf8.h"
#include <string_view>

#include "rag/text/source_map.h"

namespace chunkserve::rag {

struct SanitizedText {
  std::string text;        // valid UTF-8
  SourceMap map;           // text offsets -> input offsets
  size_t n_invalid_bytes = 0;
};

SanitizedText SanitizeUtf8(std::string_view bytes);

// Length of the well-formed UTF-8 sequence starting at s[i] (1..4), or 0 when
// the bytes there are not a well-formed sequence (overlong, surrogate, > U+10FFFF,
// truncated, stray continuation byte).
size_t ValidUtf8SequenceLength(std::string_view s, size_t i);

// Decodes the code point at s[i] of valid UTF-8; sets *len to its byte length.
// REQUIRES: s is valid UTF-8 and i < s.size() is at a sequence start.
uint32_t DecodeUtf8(std::string_view s, size_t i, size_t* len);

// Appends the UTF-8 encoding of `cp` (U+FFFD for surrogates or > U+10FFFF).
using ::chunkserve::AppendUtf8;  // base/utf8.h

inline bool IsUtf8ContinuationByte(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace chunkserve::rag
