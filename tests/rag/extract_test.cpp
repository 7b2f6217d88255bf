#include <gtest/gtest.h>

#include <string>
#include <vector>

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

bool AnyBlockHas(const ExtractedText& d, const std::string& needle) {
  for (const Block& b : d.blocks)
    if (BlockText(d, b).find(needle) != std::string::npos) return true;
  return false;
}

TEST(ExtractMarkdownTest, FrontMatterIsNotContent) {
  const std::string md = "---\ntitle: \"Install Guide\"\nlayout: page\n---\n# Install\n\nRun make.\n";
  ExtractedText d = ExtractMarkdown(md);
  EXPECT_EQ(d.title, "Install Guide");
  ASSERT_EQ(d.blocks.size(), 2u);
  EXPECT_EQ(d.blocks[0].heading_title, "Install");  // not "title: ..." as a setext heading
  EXPECT_EQ(BlockText(d, d.blocks[1]), "Run make.");
  EXPECT_EQ(d.text.size(), md.size());  // blanked, so offsets are still file offsets
  EXPECT_EQ(d.text.find("layout"), std::string::npos);
  EXPECT_EQ(d.text.substr(d.blocks[1].begin, 9), md.substr(d.blocks[1].begin, 9));
  // An unclosed "---" is a thematic break, not front matter.
  EXPECT_EQ(ExtractMarkdown("---\nJust text.\n").blocks.size(), 1u);
}

TEST(ExtractMarkdownTest, LinkReferenceDefinitionsAreNotHeadingsOrText) {
  const std::string md = "Intro with [docs][1].\n\n[1]: https://example.org/docs\n[gh]: https://github.com/x \"GitHub\"\n"
                         "---\n\nTail.\n";
  ExtractedText d = ExtractMarkdown(md);
  for (const Block& b : d.blocks) EXPECT_NE(b.kind, BlockKind::kHeading) << BlockText(d, b);
  ASSERT_EQ(d.blocks.size(), 2u);
  EXPECT_EQ(BlockText(d, d.blocks[0]), "Intro with [docs][1].");
  EXPECT_EQ(BlockText(d, d.blocks[1]), "Tail.");
  EXPECT_EQ(d.text.find("https"), std::string::npos);
  // Inside a paragraph it is just text (CommonMark: it cannot interrupt one).
  EXPECT_TRUE(AnyBlockHas(ExtractMarkdown("Para line\n[x]: y\n"), "[x]: y"));
}

TEST(ExtractRstTest, SectionsLiteralBlocksDirectivesAndComments) {
  const std::string rst =
      "=========\n Manual\n=========\n\nIntro paragraph\ncontinues here.\n\n"
      "Install\n-------\n\nRun this::\n\n    make install\n    make check\n\nAfter the code.\n\n"
      ".. _install-target:\n\n.. This is a comment\n   over two lines.\n\n"
      ".. note:: Keep backups.\n\n.. code-block:: sh\n   :linenos:\n\n   echo hi\n\n"
      ".. toctree::\n   :maxdepth: 2\n\n   usage\n\n"
      "- item one\n- item two\n\nUsage\n-----\n\nText.\n";
  ExtractedText d = ExtractRst(rst);
  EXPECT_EQ(d.format, DocumentFormat::kRst);
  EXPECT_EQ(d.title, "Manual");
  EXPECT_EQ(d.text.size(), rst.size());
  std::vector<std::string> headings;
  for (const Block& b : d.blocks)
    if (b.kind == BlockKind::kHeading) headings.push_back(std::to_string(b.heading_level) + ":" + b.heading_title);
  EXPECT_EQ(headings, (std::vector<std::string>{"1:Manual", "2:Install", "2:Usage"}));
  int n_code = 0, n_items = 0;
  for (const Block& b : d.blocks) {
    if (b.kind == BlockKind::kCode) {
      ++n_code;
      EXPECT_TRUE(BlockText(d, b) == "make install\n    make check" || BlockText(d, b) == "echo hi") << BlockText(d, b);
    }
    if (b.kind == BlockKind::kListItem) ++n_items;
  }
  EXPECT_EQ(n_code, 2);
  EXPECT_EQ(n_items, 2);
  EXPECT_TRUE(AnyBlockHas(d, "Intro paragraph\ncontinues here."));
  EXPECT_TRUE(AnyBlockHas(d, "Keep backups."));
  EXPECT_FALSE(AnyBlockHas(d, "comment"));
  EXPECT_FALSE(AnyBlockHas(d, "install-target"));
  EXPECT_FALSE(AnyBlockHas(d, "maxdepth"));
  EXPECT_FALSE(AnyBlockHas(d, "usage\n"));
  EXPECT_EQ(d.text.find("toctree"), std::string::npos);
  EXPECT_EQ(d.text.find("linenos"), std::string::npos);
}

TEST(ExtractHtmlTest, NavigationAndPermalinksAreDropped) {
  const std::string html =
      "<html><head><title>Pipes &amp; Filters</title></head><body>"
      "<div class=\"related\" role=\"navigation\"><h3>Navigation</h3><ul><li><a href=\"a.html\">Previous topic</a>"
      "</li></ul><div>nested</div></div>"
      "<nav><a href=\"/\">Home</a></nav>"
      "<div><table class=\"nav\" summary=\"Navigation header\"><tr><th>Manual</th><td>Prev</td></tr></table></div>"
      "<div class=\"header\"><p>Next: <a href=\"t.html\" accesskey=\"n\" rel=\"next\">Types</a></p></div>"
      "<div class=\"body\"><h1>Pipes<a class=\"headerlink\" href=\"#pipes\" title=\"Permalink\">\xC2\xB6</a></h1>"
      "<p>A pipe joins two processes.</p><div class=\"header\"><p>Kept.</p></div>"
      "<h2><a href=\"#usage\" class=\"anchor\" aria-hidden=\"true\">#</a>Usage</h2>"
      "<h3 id=\"x\">Flags<a href=\"#x\">&para;</a></h3>"
      "<p>See <a href=\"#usage\">usage</a> above.</p></div>"
      "<div class=\"sphinxsidebar\" role=\"navigation\"><h3>Quick search</h3></div>"
      "<div class=\"footer\">Created using Sphinx.</div>"
      "<div class=\"header\"><p>\nPrevious: <a href=\"p.html\">Pipes</a>, Up: <a href=\"u.html\">Top</a></p></div>"
      "</body></html>";
  ExtractedText d = ExtractHtml(html);
  EXPECT_EQ(d.title, "Pipes &amp; Filters");
  std::vector<std::string> headings;
  for (const Block& b : d.blocks)
    if (b.kind == BlockKind::kHeading) headings.push_back(b.heading_title);
  EXPECT_EQ(headings, (std::vector<std::string>{"Pipes", "Usage", "Flags"}));
  EXPECT_EQ(d.text, "Pipes\n\nA pipe joins two processes.\n\nKept.\n\nUsage\n\nFlags\n\nSee usage above.");
  // Offsets still map into the source.
  const size_t t = d.text.find("Usage");
  EXPECT_EQ(html.substr(d.map.MapBegin(t), 5), "Usage");
}

TEST(ExtractPagedTextTest, FormFeedsSeparatePages) {
  ExtractedText d = ExtractPagedText("One.\n\fTwo\ncontinued.\n\fThree.\n\f");
  EXPECT_EQ(d.format, DocumentFormat::kPdf);
  ASSERT_EQ(d.page_starts.size(), 2u);
  EXPECT_EQ(d.PageAt(0), 1u);
  EXPECT_EQ(d.PageAt(d.text.find("Two")), 2u);
  EXPECT_EQ(d.PageAt(d.text.find("Three")), 3u);
  EXPECT_EQ(ExtractPlainText("a\fb").PageAt(2), 0u);  // not paged
  // A paragraph that runs across a page break is split there.
  ExtractedText across = ExtractPagedText("end of page one\n\fstart of page two\n\f");
  ASSERT_EQ(across.blocks.size(), 2u);
  EXPECT_EQ(across.PageAt(across.blocks[1].begin), 2u);
}

TEST(ExtractFuzzTest, RandomBytesKeepInvariants) {
  std::mt19937 rng(4242);
  const std::string pieces[] = {"<", ">", "</", "<p>", "<h1>", "</h1>", "<script>", "</script>", "<pre>", "&",
                                "&amp;", "&#", "&#x", ";", "#", "## ", "\n", "\n\n", " ", "- ", "1. ", "```",
                                "===", "---", ".", "Mr.", "U.S.", "?", "!", "\"", "(", ")", "\xC3\xA9", "\xFF",
                                "\xE2\x80", "\xE2\x80\xA6", "word", "Sentence", "<!--", "-->", std::string(1, '\0'),
                                ".. ", "::", "\n   ", "\f", "[a]: b", "<nav>", "</nav>", "<a href=\"#x\">",
                                "</a>", "\xC2\xB6", "<div class=\"related\">", "</div>", "~~~~", ".. note:: "};
  ApproxTokenCounter counter;
  for (int iter = 0; iter < 400; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 200);
    for (int i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    for (int which = 0; which < 5; ++which) {
      const ExtractedText d = which == 0   ? ExtractPlainText(s)
                              : which == 1 ? ExtractMarkdown(s)
                              : which == 2 ? ExtractHtml(s)
                              : which == 3 ? ExtractRst(s)
                                           : ExtractPagedText(s);
      ASSERT_EQ(d.map.text_size(), d.text.size());
      for (size_t i = 0; i < d.text.size();) {
        const size_t len = ValidUtf8SequenceLength(d.text, i);
        ASSERT_GT(len, 0u) << "invalid UTF-8 in output, format " << which;
        ASSERT_NE(d.text[i], '\0');
        i += len;
      }
      size_t prev_end = 0;
      for (const Block& b : d.blocks) {
        ASSERT_LE(prev_end, b.begin) << "format " << which << " input: " << ::testing::PrintToString(s);
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
