#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"

namespace chunkserve::tokenizer {
namespace {

TEST(Unicode, DecodesValidUtf8) {
  const std::string s = "a\xC3\xA9\xE2\x96\x81\xF0\x9F\xA6\x99";  // a é ▁ 🦙
  Utf8Char c = DecodeUtf8(s, 0);
  EXPECT_EQ(c.cp, 'a');
  EXPECT_EQ(c.n_bytes, 1u);
  c = DecodeUtf8(s, 1);
  EXPECT_EQ(c.cp, 0xE9u);
  EXPECT_EQ(c.n_bytes, 2u);
  c = DecodeUtf8(s, 3);
  EXPECT_EQ(c.cp, 0x2581u);
  EXPECT_EQ(c.n_bytes, 3u);
  c = DecodeUtf8(s, 6);
  EXPECT_EQ(c.cp, 0x1F999u);
  EXPECT_EQ(c.n_bytes, 4u);
  EXPECT_TRUE(c.valid);
}

TEST(Unicode, InvalidUtf8DecodesAsOneReplacementByte) {
  for (const std::string bad : {std::string("\xFF"), std::string("\xC0\xAF"), std::string("\xED\xA0\x80"),
                                std::string("\xE2\x96"), std::string("\x80"), std::string("\xF4\x90\x80\x80")}) {
    const Utf8Char c = DecodeUtf8(bad, 0);
    EXPECT_FALSE(c.valid) << bad.size();
    EXPECT_EQ(c.cp, kReplacementChar);
    EXPECT_EQ(c.n_bytes, 1u);
  }
}

TEST(Unicode, Utf8RoundTrip) {
  for (uint32_t cp : {0x0u, 0x41u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFDu, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    AppendUtf8(cp, &s);
    const Utf8Char c = DecodeUtf8(s, 0);
    EXPECT_TRUE(c.valid);
    EXPECT_EQ(c.cp, cp);
    EXPECT_EQ(c.n_bytes, s.size());
  }
}

TEST(Unicode, Categories) {
  EXPECT_TRUE(CodepointFlags('a') & kFlagLetter);
  EXPECT_TRUE(CodepointFlags(0x4E16) & kFlagLetter);  // 世 (Lo)
  EXPECT_TRUE(CodepointFlags('7') & kFlagNumber);
  EXPECT_TRUE(CodepointFlags(0xBD) & kFlagNumber);    // ½ (No)
  EXPECT_TRUE(CodepointFlags('!') & kFlagPunctuation);
  EXPECT_TRUE(CodepointFlags('$') & kFlagSymbol);
  EXPECT_FALSE(CodepointFlags('$') & kFlagPunctuation);
  EXPECT_TRUE(CodepointFlags(0x301) & kFlagMarkNonspacing);
  for (uint32_t ws : {0x20u, 0x09u, 0x0Au, 0x0Du, 0xA0u, 0x3000u, 0x2028u}) {
    EXPECT_TRUE(CodepointFlags(ws) & kFlagWhitespace) << ws;
    EXPECT_TRUE(IsWhitespace(ws));
  }
  EXPECT_FALSE(CodepointFlags(0x200B) & kFlagWhitespace);  // zero width space is not White_Space
  EXPECT_EQ(GetGeneralCategory(0x1F999), GeneralCategory::kSo);
  EXPECT_EQ(GetGeneralCategory(0x110000), GeneralCategory::kCn);
  EXPECT_EQ(CodepointFlags(0x110000), 0);
}

TEST(Unicode, LowerAndDecomposition) {
  EXPECT_EQ(ToLower('A'), uint32_t{'a'});
  EXPECT_EQ(ToLower(0xC4), 0xE4u);    // Ä -> ä
  EXPECT_EQ(ToLower(0x416), 0x436u);  // Ж -> ж
  EXPECT_EQ(ToLower('1'), uint32_t{'1'});
  std::vector<uint32_t> d;
  AppendNfd(0xE9, &d);  // é
  EXPECT_EQ(d, (std::vector<uint32_t>{'e', 0x301}));
  d.clear();
  AppendNfd(0x1EC7, &d);  // ệ: e + dot below + circumflex (full decomposition)
  EXPECT_EQ(d, (std::vector<uint32_t>{'e', 0x323, 0x302}));
  d.clear();
  AppendNfd(0xD55C, &d);  // 한 (Hangul, algorithmic)
  EXPECT_EQ(d, (std::vector<uint32_t>{0x1112, 0x1161, 0x11AB}));
  d.clear();
  AppendNfd('x', &d);
  EXPECT_EQ(d, (std::vector<uint32_t>{'x'}));
}

TEST(Unicode, IncompleteSuffix) {
  EXPECT_EQ(IncompleteUtf8Suffix(""), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xF0"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xF0\x9F"), 2u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xF0\x9F\xA6"), 3u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xF0\x9F\xA6\x99"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xC3"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xFF"), 0u);      // never a lead byte: not held back
  EXPECT_EQ(IncompleteUtf8Suffix("\xE0\x80"), 0u);  // overlong prefix: not held back
}

TEST(ByteLevel, AllBytesRoundTrip) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string mapped = BytesToByteLevel(all);
  bool all_mapped = false;
  EXPECT_EQ(ByteLevelToBytes(mapped, &all_mapped), all);
  EXPECT_TRUE(all_mapped);
  EXPECT_EQ(BytesToByteLevel(" "), "\xC4\xA0");   // Ġ
  EXPECT_EQ(BytesToByteLevel("\n"), "\xC4\x8A");  // Ċ
  EXPECT_EQ(BytesToByteLevel("a"), "a");
  ByteLevelToBytes("\xE4\xB8\x96", &all_mapped);  // 世: not in the alphabet
  EXPECT_FALSE(all_mapped);
}

}  // namespace
}  // namespace chunkserve::tokenizer
