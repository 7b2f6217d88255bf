#include "base/json_string.h"

#include <gtest/gtest.h>

#include <string>

namespace chunkserve {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(JsonString("a\nb\rc\td\be\ff"), "\"a\\nb\\rc\\td\\be\\ff\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonString(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
}

TEST(JsonString, KeepsValidUtf8) {
  EXPECT_EQ(JsonString("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(JsonString, ReplacesEveryInvalidByte) {
  EXPECT_EQ(JsonString("\xFF"), "\"\\ufffd\"");
  EXPECT_EQ(JsonString("a\xC3"), "\"a\\ufffd\"");                     // truncated sequence
  EXPECT_EQ(JsonString("\xC0\xAF"), "\"\\ufffd\\ufffd\"");           // overlong '/'
  EXPECT_EQ(JsonString("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate U+D800
  EXPECT_EQ(JsonString("\xF4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // past U+10FFFF
}

TEST(JsonString, AppendsToExistingText) {
  std::string out = "{\"k\":";
  AppendJsonString("v", &out);
  EXPECT_EQ(out, "{\"k\":\"v\"");
}

}  // namespace
}  // namespace chunkserve
