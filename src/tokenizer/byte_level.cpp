#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace chunkserve::tokenizer {
namespace {

struct Tables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};  // every mapped code point is < 512
};

const Tables& GetTables() {
  static const Tables t = [] {
    Tables t;
    t.to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t.to_cp[b] = printable ? b : next++;
      t.to_byte[t.to_cp[b]] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return t;
}

}  // namespace

uint32_t ByteToCodepoint(uint8_t byte) { return GetTables().to_cp[byte]; }

std::optional<uint8_t> CodepointToByte(uint32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int16_t b = GetTables().to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(ch)), &out);
  return out;
}

std::string ByteLevelToBytes(std::string_view text, bool* all_mapped) {
  std::string out;
  out.reserve(text.size());
  if (all_mapped) *all_mapped = true;
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Char c = DecodeUtf8(text, pos);
    const std::optional<uint8_t> b = c.valid ? CodepointToByte(c.cp) : std::nullopt;
    if (b) {
      out.push_back(static_cast<char>(*b));
    } else {
      out.append(text.substr(pos, c.n_bytes));
      if (all_mapped) *all_mapped = false;
    }
    pos += c.n_bytes;
  }
  return out;
}

}  // namespace chunkserve::tokenizer
