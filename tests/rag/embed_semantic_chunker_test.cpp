// The semantic chunker: hard breaks where sentence-window embeddings change
// topic, with the sentence chunker's budget and coverage guarantees.
#include <gtest/gtest.h>

#include "rag/embed/static_embedder.h"
#include "rag/embed_test_util.h"
#include "rag/text/chunker.h"
#include "rag/text/semantic_chunker.h"
#include "rag/text/sentence_perplexity.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

// Which tiny-GloVe topic (1..4) a chunk's words belong to; -1 for a mix.
int TopicOf(const std::string& text) {
  const auto topics = TinyGloveTopics();
  int found = 0;
  for (const std::string& w : StaticEmbedder::Words(text)) {
    for (size_t t = 1; t < topics.size(); ++t) {
      if (std::find(topics[t].words.begin(), topics[t].words.end(), w) == topics[t].words.end()) continue;
      if (found != 0 && found != static_cast<int>(t)) return -1;
      found = static_cast<int>(t);
    }
  }
  return found;
}

class SemanticChunkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = StaticEmbedder::Load(WriteTinyGloveModel(dir_));
    ASSERT_TRUE(e.ok());
    embedder_ = std::move(*e);
  }
  TestDir dir_{"semantic"};
  std::unique_ptr<StaticEmbedder> embedder_;
};

TEST_F(SemanticChunkerTest, BreaksBetweenTopicsInOneParagraph) {
  // One paragraph, three topics, four sentences each: the sentence chunker
  // with a large budget would keep it in one chunk.
  const std::string text =
      "The cat is a pet. The dog has fur. A kitten has a paw. The puppy is an animal. "
      "The budget needs tax revenue. The treasury holds debt. We count the dollars. Money is revenue. "
      "The navy sails the sea. A sailor in the harbor. The fleet of ships. The ocean is wide.";
  ExtractedText doc = ExtractPlainText(text);
  ApproxTokenCounter counter;
  ChunkerParams params;
  params.kind = ChunkerKind::kSemantic;
  params.chunk_tokens = 128;  // no sliver rule below 16 tokens
  params.overlap_tokens = 16;
  params.embedder = embedder_.get();
  params.semantic_break_fraction = 0.2;  // 11 boundaries -> the 2 largest drops
  ASSERT_TRUE(ValidateChunkerParams(params).ok());
  const auto chunks = ChunkDocument(doc, params, counter);
  ASSERT_EQ(chunks.size(), 3u);
  for (const Chunk& c : chunks) {
    EXPECT_GT(TopicOf(c.text), 0) << c.text;
    EXPECT_LE(c.n_tokens, params.chunk_tokens);
    EXPECT_EQ(c.text, doc.text.substr(c.text_begin, c.text_end - c.text_begin));
  }
  EXPECT_EQ(TopicOf(chunks[0].text), 1);
  EXPECT_EQ(TopicOf(chunks[1].text), 2);
  EXPECT_EQ(TopicOf(chunks[2].text), 3);
  // Coverage: the chunks together hold the whole text.
  EXPECT_EQ(chunks.front().text_begin, 0u);
  EXPECT_EQ(chunks.back().text_end, doc.text.size());
  // The sentence chunker keeps it together.
  params.kind = ChunkerKind::kSentence;
  EXPECT_EQ(ChunkDocument(doc, params, counter).size(), 1u);
}

TEST_F(SemanticChunkerTest, BudgetStillHoldsAndNoSlivers) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += i % 10 < 5 ? "The cat and the dog are pets with fur. " : "The navy fleet is at sea. ";
  ExtractedText doc = ExtractPlainText(text);
  ApproxTokenCounter counter;
  ChunkerParams params;
  params.kind = ChunkerKind::kSemantic;
  params.chunk_tokens = 32;
  params.overlap_tokens = 8;
  params.embedder = embedder_.get();
  params.semantic_break_fraction = 0.5;
  const auto chunks = ChunkDocument(doc, params, counter);
  ASSERT_GT(chunks.size(), 1u);
  size_t covered = 0;
  for (const Chunk& c : chunks) {
    EXPECT_LE(c.n_tokens, 32u);
    EXPECT_GE(c.text_end, covered);
    covered = std::max(covered, c.text_end);
  }
  EXPECT_EQ(covered, doc.text.find_last_not_of(' ') + 1);
}

TEST_F(SemanticChunkerTest, BreaksFunctionAndValidation) {
  const std::vector<std::string_view> s = {"cat dog", "pet fur", "kitten paw", "tax money", "budget debt", "revenue"};
  EXPECT_EQ(SemanticBreaks(s, *embedder_, 0.2), (std::vector<size_t>{2}));
  EXPECT_TRUE(SemanticBreaks({}, *embedder_, 0.5).empty());
  EXPECT_TRUE(SemanticBreaks({"cat"}, *embedder_, 0.5).empty());
  ChunkerParams p;
  p.kind = ChunkerKind::kSemantic;
  EXPECT_EQ(ValidateChunkerParams(p).code(), StatusCode::kInvalidArgument);  // no embedder
  p.embedder = embedder_.get();
  EXPECT_TRUE(ValidateChunkerParams(p).ok());
  p.semantic_break_fraction = 1.5;
  EXPECT_FALSE(ValidateChunkerParams(p).ok());
  p.semantic_break_fraction = 0.1;
  ApproxTokenCounter counter;
  const std::string fp = ChunkerFingerprint(p, counter);
  EXPECT_EQ(fp.rfind("semantic/256/32/approx-v1/glove-sif/", 0), 0u) << fp;
  EXPECT_EQ(*ParseChunkerKind("semantic"), ChunkerKind::kSemantic);
}

}  // namespace
}  // namespace chunkserve::rag

namespace chunkserve::rag {
namespace {

// A scripted scorer: perplexity by sentence order.
class ScriptedPerplexity final : public SentencePerplexity {
 public:
  explicit ScriptedPerplexity(std::vector<double> values) : values_(std::move(values)) {}
  std::vector<double> Perplexities(const std::vector<std::string_view>& sentences) const override {
    ++calls_;
    if (values_.size() != sentences.size()) return {};
    return values_;
  }
  const std::string& id() const override { return id_; }
  mutable int calls_ = 0;

 private:
  std::vector<double> values_;
  std::string id_ = "scripted";
};

TEST(PerplexityChunker, BreaksAfterLocalMinima) {
  const std::vector<double> ppl = {5, 4, 1, 6, 7, 2, 8, 9};
  EXPECT_EQ(PerplexityBreaks(ppl, 0.0), (std::vector<size_t>{2, 5}));
  EXPECT_EQ(PerplexityBreaks(ppl, 3.5), (std::vector<size_t>{5}));
  EXPECT_TRUE(PerplexityBreaks({1, 2}, 0.0).empty());

  std::string text;
  for (int i = 0; i < 8; ++i) text += "Sentence number " + std::to_string(i) + " is here with some words. ";
  ExtractedText doc = ExtractPlainText(text);
  ApproxTokenCounter counter;
  ScriptedPerplexity scorer(ppl);
  ChunkerParams params;
  params.kind = ChunkerKind::kPerplexity;
  params.chunk_tokens = 128;
  params.overlap_tokens = 8;
  params.perplexity = &scorer;
  ASSERT_TRUE(ValidateChunkerParams(params).ok());
  const auto chunks = ChunkDocument(doc, params, counter);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(scorer.calls_, 1);
  EXPECT_NE(chunks[0].text.find("number 2 "), std::string::npos);
  EXPECT_EQ(chunks[0].text.find("number 3 "), std::string::npos);
  EXPECT_EQ(chunks[1].text.rfind("Sentence number 3", 0), 0u) << chunks[1].text;
  EXPECT_EQ(chunks[2].text.rfind("Sentence number 6", 0), 0u) << chunks[2].text;
  // A failing scorer (wrong count): plain sentence chunking.
  ScriptedPerplexity broken({1, 2});
  params.perplexity = &broken;
  EXPECT_EQ(ChunkDocument(doc, params, counter).size(), 1u);
  // Validation and fingerprint.
  params.perplexity = nullptr;
  EXPECT_FALSE(ValidateChunkerParams(params).ok());
  params.perplexity = &scorer;
  EXPECT_NE(ChunkerFingerprint(params, counter).find("/scripted/t"), std::string::npos);
  EXPECT_EQ(*ParseChunkerKind("perplexity"), ChunkerKind::kPerplexity);
}

}  // namespace
}  // namespace chunkserve::rag
