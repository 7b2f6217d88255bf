#include <gtest/gtest.h>

#include <string>

#include "rag/text/document.h"

namespace chunkserve::rag {
namespace {

std::string BlockText(const ExtractedText& d, const Block& b) { return d.text.substr(b.begin, b.end - b.begin); }

TEST(ExtractPlainTest, ParagraphsAtBlankLines) {
  ExtractedText d = ExtractPlainText("First para\nline two.\n\n  \nSecond para.\n");
  ASSERT_EQ(d.blocks.size(), 2u);
  EXPECT_EQ(BlockText(d, d.blocks[0]), "First para\nline two.");
  EXPECT_EQ(BlockText(d, d.blocks[1]), "Second para.");
  EXPECT_TRUE(d.map.IsIdentity());
}

TEST(ExtractMarkdownTest, HeadingsListsCode) {
  const std::string md =
      "# Guide\n\nIntro text.\n\n## Install ##\n- step one\n- step two\n  continued\n\n"
      "Setext Title\n============\n\n```\ncode # not a heading\n```\n\n---\n\nTail.\n";
  ExtractedText d = ExtractMarkdown(md);
  ASSERT_EQ(d.blocks.size(), 8u);
  EXPECT_EQ(d.blocks[0].kind, BlockKind::kHeading);
  EXPECT_EQ(d.blocks[0].heading_level, 1);
  EXPECT_EQ(d.blocks[0].heading_title, "Guide");
  EXPECT_EQ(BlockText(d, d.blocks[1]), "Intro text.");
  EXPECT_EQ(d.blocks[2].heading_title, "Install");
  EXPECT_EQ(d.blocks[2].heading_level, 2);
  EXPECT_EQ(d.blocks[3].kind, BlockKind::kListItem);
  EXPECT_EQ(BlockText(d, d.blocks[4]), "- step two\n  continued");
  EXPECT_EQ(d.blocks[5].heading_title, "Setext Title");
  EXPECT_EQ(d.blocks[5].heading_level, 1);
  EXPECT_EQ(d.blocks[6].kind, BlockKind::kCode);
  EXPECT_EQ(BlockText(d, d.blocks[7]), "Tail.");
  EXPECT_EQ(d.text, md);  // offsets are file offsets
}

TEST(ExtractHtmlTest, TagsScriptsEntitiesStructure) {
  const std::string html =
      "<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head><body>"
      "<h1>Main &amp; Title</h1><p>Hello&nbsp;<b>bold</b>   world &lt;3 &#8364;5 &#x1F600; &bogus; a < b</p>"
      "<script>var x = '<p>not text</p>';</script><!-- comment <p>no</p> -->"
      "<ul><li>one</li><li>two<br>lines</li></ul><h2>Sub</h2><p>End.</p></body></html>";
  ExtractedText d = ExtractHtml(html);
  EXPECT_EQ(d.text,
            "Main & Title\n\nHello bold world <3 \xE2\x82\xAC" "5 \xF0\x9F\x98\x80 &bogus; a < b\n\none\n\ntwo\nlines\n\nSub\n\nEnd.");
  ASSERT_EQ(d.blocks.size(), 6u);
  EXPECT_EQ(d.blocks[0].kind, BlockKind::kHeading);
  EXPECT_EQ(d.blocks[0].heading_level, 1);
  EXPECT_EQ(d.blocks[0].heading_title, "Main & Title");
  EXPECT_EQ(d.blocks[2].kind, BlockKind::kListItem);
  EXPECT_EQ(BlockText(d, d.blocks[3]), "two\nlines");
  EXPECT_EQ(d.blocks[4].heading_title, "Sub");
  // Offsets map back into the HTML source.
  const size_t t = d.text.find("bold");
  EXPECT_EQ(html.substr(d.map.MapBegin(t), 4), "bold");
  EXPECT_EQ(html.compare(d.map.MapEnd(t + 4) - 4, 4, "bold"), 0);
  const size_t amp = d.text.find('&');
  EXPECT_EQ(html.substr(d.map.MapBegin(amp), d.map.MapEnd(amp + 1) - d.map.MapBegin(amp)), "&amp;");
  const size_t end = d.text.find("End.");
  EXPECT_EQ(html.substr(d.map.MapBegin(end), d.map.MapEnd(end + 4) - d.map.MapBegin(end)), "End.");
}

TEST(ExtractHtmlTest, InvalidUtf8AndPre) {
  const std::string html = "<p>bad \xFF byte</p><pre>  keep\n   spaces</pre>";
  ExtractedText d = ExtractHtml(html);
  EXPECT_EQ(d.n_invalid_bytes, 1u);
  EXPECT_EQ(d.text, "bad \xEF\xBF\xBD byte\n\n  keep\n   spaces");
  EXPECT_EQ(d.blocks.back().kind, BlockKind::kCode);
}

TEST(ExtractHtmlTest, UnterminatedInputsDoNotCrash) {
  for (const char* s : {"<", "<p", "<script>never closed", "<!-- open", "&", "&#", "&#x;", "<a href=\"x>",
                        "</", "<![CDATA[x", "&#99999999;", "<h1>t"}) {
    ExtractedText d = ExtractHtml(s);
    EXPECT_LE(d.map.text_size(), d.text.size() + 1) << s;
    EXPECT_EQ(d.map.text_size(), d.text.size()) << s;
  }
}

}  // namespace
}  // namespace chunkserve::rag

// Poor man's fuzzing: random byte soup biased towards markup characters must
// never crash an extractor, and must keep the document invariants.
#include <random>

#include "rag/text/chunker.h"
#include "rag/text/sentence_segmenter.h"
#include "rag/text/token_counter.h"
#include "rag/text/utf8.h"

namespace chunkserve::rag {
namespace {

TEST(ExtractFuzzTest, RandomBytesKeepInvariants) {
  std::mt19937 rng(4242);
  const std::string pieces[] = {"<", ">", "</", "<p>", "<h1>", "</h1>", "<script>", "</script>", "<pre>", "&",
                                "&amp;", "&#", "&#x", ";", "#", "## ", "\n", "\n\n", " ", "- ", "1. ", "```",
                                "===", "---", ".", "Mr.", "U.S.", "?", "!", "\"", "(", ")", "\xC3\xA9", "\xFF",
                                "\xE2\x80", "\xE2\x80\xA6", "word", "Sentence", "<!--", "-->", std::string(1, '\0')};
  ApproxTokenCounter counter;
  for (int iter = 0; iter < 400; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 200);
    for (int i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    for (int which = 0; which < 3; ++which) {
      const ExtractedText d = which == 0 ? ExtractPlainText(s) : which == 1 ? ExtractMarkdown(s) : ExtractHtml(s);
      ASSERT_EQ(d.map.text_size(), d.text.size());
      for (size_t i = 0; i < d.text.size();) {
        const size_t len = ValidUtf8SequenceLength(d.text, i);
        ASSERT_GT(len, 0u) << "invalid UTF-8 in output, format " << which;
        ASSERT_NE(d.text[i], '\0');
        i += len;
      }
      size_t prev_end = 0;
      for (const Block& b : d.blocks) {
        ASSERT_LE(prev_end, b.begin);
        ASSERT_LT(b.begin, b.end);
        ASSERT_LE(b.end, d.text.size());
        prev_end = b.end;
      }
      for (size_t t = 0; t <= d.text.size(); ++t) {
        ASSERT_LE(d.map.MapBegin(t), s.size());
        ASSERT_LE(d.map.MapEnd(t), s.size());
        if (t > 0) {
          ASSERT_LE(d.map.MapEnd(t - 1), d.map.MapEnd(t));
        }
      }
      for (const Chunk& c : ChunkDocument(d, {ChunkerKind::kStructure, 16, 4}, counter)) {
        ASSERT_LE(c.n_tokens, 16u);
        ASSERT_LE(c.source_begin, c.source_end);
        ASSERT_LE(c.source_end, s.size());
      }
      (void)SegmentSentences(d.text);
    }
  }
}

}  // namespace
}  // namespace chunkserve::rag
