// NFKC normalization (Unicode UAX #15: compatibility decomposition,
// canonical ordering, canonical composition), as the Universal Sentence
// Encoder's SentencePiece tokenizer applies to its input (JavaScript's
// String.prototype.normalize('NFKC')).
//
// Tables come from nfkc_tables.inc, generated from Python's unicodedata by
// tools/tokenizer/gen_nfkc_tables.py (Unicode 14); Hangul syllables are
// decomposed and composed algorithmically. Invalid UTF-8 decodes as U+FFFD
// (DecodeUtf8), so every byte string has a normal form.
//
// Exact twin: tests compare every code point, and random sequences of
// starters, combining marks and jamo, with Python's unicodedata.normalize.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::tokenizer {

// Canonical combining class of cp (0 for starters).
uint8_t CanonicalCombiningClass(uint32_t cp);

// NFKC of a code point sequence / of UTF-8 text. ASCII text is returned as
// it is (it is its own normal form) without decoding.
std::vector<uint32_t> NormalizeNfkc(const std::vector<uint32_t>& cps);
std::string NormalizeNfkc(std::string_view utf8);

}  // namespace chunkserve::tokenizer
