#include "rag/text/utf8.h"

#include <gtest/gtest.h>

#include "rag/text/source_map.h"

namespace chunkserve::rag {
namespace {

TEST(Utf8Test, ValidTextIsIdentity) {
  const std::string s = "plain ascii and caf\xC3\xA9 and \xF0\x9F\x98\x80 emoji";
  SanitizedText out = SanitizeUtf8(s);
  EXPECT_EQ(out.text, s);
  EXPECT_EQ(out.n_invalid_bytes, 0u);
  EXPECT_TRUE(out.map.IsIdentity());
  for (size_t i = 0; i <= s.size(); ++i) {
    EXPECT_EQ(out.map.MapBegin(i), i);
    EXPECT_EQ(out.map.MapEnd(i), i);
  }
}

TEST(Utf8Test, InvalidBytesAreReplacedAndCounted) {
  // stray continuation, overlong, surrogate, truncated sequence, NUL, > U+10FFFF
  const std::string s = std::string("a\x80" "b\xC0\xAF" "c\xED\xA0\x80" "d") + std::string(1, '\0') +
                        "e\xF4\x90\x80\x80" "f\xE2\x82";
  SanitizedText out = SanitizeUtf8(s);
  EXPECT_EQ(out.n_invalid_bytes, 1u + 2u + 3u + 1u + 4u + 2u);
  // Every invalid byte becomes one U+FFFD.
  size_t n_fffd = 0;
  for (size_t i = 0; i + 2 < out.text.size(); ++i)
    if (out.text.compare(i, 3, "\xEF\xBF\xBD") == 0) ++n_fffd;
  EXPECT_EQ(n_fffd, out.n_invalid_bytes);
  // The result is valid UTF-8.
  for (size_t i = 0; i < out.text.size();) {
    size_t len = ValidUtf8SequenceLength(out.text, i);
    ASSERT_GT(len, 0u) << "at " << i;
    i += len;
  }
  // Letters map back to their source offsets.
  for (char c : std::string("abcdef")) {
    size_t t = out.text.find(c);
    size_t src = s.find(c);
    EXPECT_EQ(out.map.MapBegin(t), src) << c;
    EXPECT_EQ(out.map.MapEnd(t + 1), src + 1) << c;
  }
  // A replacement character maps to exactly its invalid byte.
  size_t t = out.text.find("\xEF\xBF\xBD");
  EXPECT_EQ(out.map.MapBegin(t), 1u);
  EXPECT_EQ(out.map.MapEnd(t + 3), 2u);
}

TEST(Utf8Test, BomIsDropped) {
  SanitizedText out = SanitizeUtf8("\xEF\xBB\xBFhello");
  EXPECT_EQ(out.text, "hello");
  EXPECT_EQ(out.map.MapBegin(0), 3u);
  EXPECT_EQ(out.map.MapEnd(5), 8u);
}

TEST(SourceMapTest, CopiedReplacedAndDroppedRuns) {
  // source: "<b>x&amp;y</b>" -> text "x&y"
  SourceMap m;
  m.AppendCopied(3, 1);        // x
  m.AppendReplaced(4, 5, 1);   // &amp; -> &
  m.AppendCopied(9, 1);        // y
  EXPECT_FALSE(m.IsIdentity());
  EXPECT_EQ(m.text_size(), 3u);
  EXPECT_EQ(m.MapBegin(0), 3u);
  EXPECT_EQ(m.MapBegin(1), 4u);
  EXPECT_EQ(m.MapEnd(2), 9u);
  EXPECT_EQ(m.MapBegin(2), 9u);
  EXPECT_EQ(m.MapEnd(3), 10u);
  EXPECT_EQ(m.MapEnd(1), 4u);
}

}  // namespace
}  // namespace chunkserve::rag
