// Property tests for the chunkers: random documents x random budgets and
// overlaps, checking every invariant of chunker.h.
#include "rag/text/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Random Markdown: headings of levels 1-3, paragraphs of sentences, lists,
// long words, numbers, punctuation and non-ASCII text.
std::string RandomMarkdown(std::mt19937& rng) {
  static const char* kWords[] = {"the", "budget", "of", "Congress", "internationalization", "a",
                                 "1,234.56", "Mr.", "U.S.", "e.g.", "caf\xC3\xA9", "\xE4\xBD\xA0\xE5\xA5\xBD",
                                 "supercalifragilisticexpialidocious", "(see", "p.", "12)", "and", "--",
                                 "https://example.com/x", "§", "1983", "we", "shall", "report"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  std::string s;
  const int n_blocks = 1 + pick(25);
  for (int b = 0; b < n_blocks; ++b) {
    const int kind = pick(10);
    if (kind < 2) {
      s += std::string(static_cast<size_t>(1 + pick(3)), '#') + " Heading " + std::to_string(b) + "\n\n";
    } else if (kind < 3) {
      for (int i = 0, n = 1 + pick(4); i < n; ++i) s += "- item " + std::to_string(i) + " of list\n";
      s += "\n";
    } else if (kind < 4) {
      // A very long word (no spaces) to force splitting inside a run.
      s += std::string(static_cast<size_t>(50 + pick(400)), 'x') + std::string(static_cast<size_t>(pick(90)), '7') + ".\n\n";
    } else {
      const int n_sent = 1 + pick(8);
      for (int k = 0; k < n_sent; ++k) {
        const int n_words = 1 + pick(30);
        for (int w = 0; w < n_words; ++w) {
          std::string word = kWords[pick(static_cast<int>(std::size(kWords)))];
          if (w == 0 && word[0] >= 'a' && word[0] <= 'z') word[0] = static_cast<char>(word[0] - 32);
          s += word;
          s += (pick(12) == 0) ? "\n" : " ";
        }
        s += ". ";
      }
      s += "\n\n";
    }
  }
  return s;
}

// A deliberately non-additive counter: the approximation plus one token per
// 5 spaces in the whole span (so sums of pieces undercount).
class LumpyCounter final : public TokenCounter {
 public:
  size_t CountTokens(std::string_view text) const override {
    size_t spaces = 0;
    for (char c : text) spaces += c == ' ';
    return approx_.CountTokens(text) + spaces / 5;
  }
  bool additive() const override { return false; }
  std::string name() const override { return "lumpy"; }

 private:
  ApproxTokenCounter approx_;
};

void CheckInvariants(const ExtractedText& doc, const std::vector<Chunk>& chunks, const ChunkerParams& p,
                     const TokenCounter& counter, bool check_overlap, const std::string& ctx) {
  const std::string& text = doc.text;
  int top_level = 7;
  for (const Block& b : doc.blocks)
    if (b.kind == BlockKind::kHeading) top_level = std::min(top_level, b.heading_level);
  std::vector<size_t> top_starts;  // text offsets of top-level headings
  for (const Block& b : doc.blocks)
    if (b.kind == BlockKind::kHeading && b.heading_level == top_level) top_starts.push_back(b.begin);

  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    ASSERT_EQ(c.ordinal, i) << ctx;
    ASSERT_LT(c.text_begin, c.text_end) << ctx;
    ASSERT_EQ(c.text, text.substr(c.text_begin, c.text_end - c.text_begin)) << ctx;
    EXPECT_FALSE(IsSpace(c.text.front()) || IsSpace(c.text.back())) << ctx;
    // Budget: the stored count is the counter's count and never over budget.
    ASSERT_EQ(c.n_tokens, counter.CountTokens(c.text)) << ctx << " chunk " << i;
    ASSERT_LE(c.n_tokens, p.chunk_tokens) << ctx << " chunk " << i;
    // Source offsets: Markdown of valid UTF-8 maps one to one.
    if (doc.map.IsIdentity()) {
      EXPECT_EQ(c.source_begin, c.text_begin);
      EXPECT_EQ(c.source_end, c.text_end);
    }
    if (p.kind == ChunkerKind::kStructure) {
      for (size_t t : top_starts) EXPECT_FALSE(t > c.text_begin && t < c.text_end) << ctx << " crosses a section";
    }
    if (i == 0) continue;
    const Chunk& a = chunks[i - 1];
    ASSERT_LT(a.text_end, c.text_end) << ctx << " no progress at " << i;
    ASSERT_LE(a.text_begin, c.text_begin) << ctx;
    bool section_break = false;
    if (p.kind == ChunkerKind::kStructure)
      for (size_t t : top_starts) section_break |= (t >= a.text_end && t <= c.text_begin) || t == c.text_begin;
    if (c.text_begin < a.text_end) {
      ASSERT_FALSE(section_break) << ctx;
      if (check_overlap) {
        const size_t shared = counter.CountTokens(std::string_view(text).substr(c.text_begin, a.text_end - c.text_begin));
        EXPECT_GE(shared, p.overlap_tokens) << ctx << " chunk " << i;
      }
    } else if (check_overlap) {
      EXPECT_TRUE(p.overlap_tokens == 0 || section_break) << ctx << " chunk " << i << " has no overlap";
    }
  }
  // Coverage: every non-space byte of every block is in some chunk.
  std::vector<bool> covered(text.size(), false);
  for (const Chunk& c : chunks)
    for (size_t k = c.text_begin; k < c.text_end; ++k) covered[k] = true;
  for (const Block& b : doc.blocks)
    for (size_t k = b.begin; k < b.end; ++k)
      if (!IsSpace(text[k])) {
        ASSERT_TRUE(covered[k]) << ctx << " byte " << k << " not covered";
      }
}

TEST(ChunkerPropertyTest, RandomDocumentsBudgetsOverlaps) {
  std::mt19937 rng(20240601);
  ApproxTokenCounter approx;
  int n_cases = 0;
  for (int iter = 0; iter < 60; ++iter) {
    const std::string md = RandomMarkdown(rng);
    const ExtractedText doc = ExtractMarkdown(md);
    for (ChunkerKind kind : {ChunkerKind::kFixed, ChunkerKind::kSentence, ChunkerKind::kStructure}) {
      ChunkerParams p;
      p.kind = kind;
      p.chunk_tokens = 16 + static_cast<uint32_t>(rng() % 200);
      p.overlap_tokens = (rng() % 4 == 0) ? 0 : static_cast<uint32_t>(rng() % (p.chunk_tokens / 2 + 1));
      ASSERT_TRUE(ValidateChunkerParams(p).ok());
      const std::string ctx = std::string(ChunkerKindName(kind)) + " B=" + std::to_string(p.chunk_tokens) +
                              " O=" + std::to_string(p.overlap_tokens) + " iter=" + std::to_string(iter);
      CheckInvariants(doc, ChunkDocument(doc, p, approx), p, approx, /*check_overlap=*/true, ctx);
      ++n_cases;
    }
  }
  EXPECT_EQ(n_cases, 180);
}

TEST(ChunkerPropertyTest, NonAdditiveCounterNeverExceedsBudget) {
  std::mt19937 rng(99);
  LumpyCounter lumpy;
  for (int iter = 0; iter < 30; ++iter) {
    const ExtractedText doc = ExtractMarkdown(RandomMarkdown(rng));
    for (ChunkerKind kind : {ChunkerKind::kFixed, ChunkerKind::kSentence, ChunkerKind::kStructure}) {
      ChunkerParams p;
      p.kind = kind;
      p.chunk_tokens = 16 + static_cast<uint32_t>(rng() % 100);
      p.overlap_tokens = static_cast<uint32_t>(rng() % (p.chunk_tokens / 2 + 1));
      CheckInvariants(doc, ChunkDocument(doc, p, lumpy), p, lumpy, /*check_overlap=*/false,
                      "lumpy iter=" + std::to_string(iter));
    }
  }
}

TEST(ChunkerTest, SentenceChunkerKeepsSentencesWhole) {
  ApproxTokenCounter approx;
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Sentence number " + std::to_string(i) + " is short. ";
  const ExtractedText doc = ExtractPlainText(text);
  ChunkerParams p{ChunkerKind::kSentence, 40, 8};
  const auto chunks = ChunkDocument(doc, p, approx);
  ASSERT_GT(chunks.size(), 3u);
  for (const Chunk& c : chunks) {
    EXPECT_EQ(c.text.rfind("Sentence", 0), 0u) << c.text;  // starts at a sentence
    EXPECT_EQ(c.text.back(), '.') << c.text;               // ends at a sentence
  }
}

TEST(ChunkerTest, StructureChunkerHeadingPathsAndSections) {
  ApproxTokenCounter approx;
  const std::string md =
      "# Alpha\n\nA short intro.\n\n## Beta\n\nBeta text one. Beta text two.\n\n# Gamma\n\nGamma body.\n";
  const ExtractedText doc = ExtractMarkdown(md);
  ChunkerParams p{ChunkerKind::kStructure, 256, 0};
  const auto chunks = ChunkDocument(doc, p, approx);
  ASSERT_EQ(chunks.size(), 2u);  // one per top-level section, though both would fit in one
  EXPECT_EQ(chunks[0].heading_path, (std::vector<std::string>{"Alpha"}));
  EXPECT_EQ(chunks[0].text.rfind("# Alpha", 0), 0u);
  EXPECT_NE(chunks[0].text.find("Beta text two."), std::string::npos);
  EXPECT_EQ(chunks[1].heading_path, (std::vector<std::string>{"Gamma"}));
  EXPECT_EQ(chunks[1].text, "# Gamma\n\nGamma body.");

  // With a small budget, chunks inside Beta carry the path Alpha > Beta.
  ChunkerParams small{ChunkerKind::kStructure, 16, 0};
  bool saw_beta = false;
  for (const Chunk& c : ChunkDocument(doc, small, approx)) {
    if (c.text.find("Beta text") == 0) {
      EXPECT_EQ(c.heading_path, (std::vector<std::string>{"Alpha", "Beta"}));
      saw_beta = true;
    }
  }
  EXPECT_TRUE(saw_beta);
}

TEST(ChunkerTest, HtmlChunksCiteSourceSpans) {
  ApproxTokenCounter approx;
  const std::string html = "<html><body><h1>Title</h1><p>First <i>para</i> text.</p><p>Second &amp; last.</p></body></html>";
  const ExtractedText doc = ExtractHtml(html);
  ChunkerParams p{ChunkerKind::kStructure, 16, 0};
  const auto chunks = ChunkDocument(doc, p, approx);
  ASSERT_FALSE(chunks.empty());
  for (const Chunk& c : chunks) {
    ASSERT_LE(c.source_end, html.size());
    const std::string src = html.substr(c.source_begin, c.source_end - c.source_begin);
    // The cited source span starts and ends with the chunk's first and last characters.
    EXPECT_EQ(src.front(), c.text.front()) << src;
    EXPECT_EQ(src.back(), c.text.back()) << src;
  }
}

TEST(ChunkerTest, ParamsValidation) {
  EXPECT_FALSE(ValidateChunkerParams({ChunkerKind::kFixed, 8, 0}).ok());
  EXPECT_FALSE(ValidateChunkerParams({ChunkerKind::kFixed, 100, 51}).ok());
  EXPECT_TRUE(ValidateChunkerParams({ChunkerKind::kFixed, 100, 50}).ok());
  EXPECT_FALSE(ParseChunkerKind("margin").ok());
  EXPECT_EQ(*ParseChunkerKind("structure"), ChunkerKind::kStructure);
}

TEST(ChunkerTest, EmptyAndWhitespaceDocuments) {
  ApproxTokenCounter approx;
  for (const char* s : {"", "   \n\n\t  "}) {
    EXPECT_TRUE(ChunkDocument(ExtractPlainText(s), {}, approx).empty());
  }
}

}  // namespace
}  // namespace chunkserve::rag
