// The GPT-2 byte-level alphabet: every byte 0..255 is written as one
// printable code point, so byte-level BPE vocabularies are valid UTF-8 text.
// Bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other
// 68 bytes map, in order, to U+0100, U+0101, ... (space becomes "Ġ", newline
// "Ċ").
//
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chunkserve::tokenizer {

uint32_t ByteToCodepoint(uint8_t byte);
// The inverse; nullopt for code points outside the alphabet.
std::optional<uint8_t> CodepointToByte(uint32_t cp);
// Raw bytes -> byte-level text.
std::string BytesToByteLevel(std::string_view bytes);
// Byte-level text -> raw bytes. Code points outside the alphabet (only in
// added tokens) are kept as their UTF-8 bytes; *all_mapped is set false then.
std::string ByteLevelToBytes(std::string_view text, bool* all_mapped = nullptr);

}  // namespace chunkserve::tokenizer
