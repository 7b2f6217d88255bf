#include "rag/text/token_counter.h"

#include <gtest/gtest.h>

#include <random>

namespace chunkserve::rag {
namespace {

TEST(ApproxTokenCounterTest, DocumentedRule) {
  ApproxTokenCounter c;
  EXPECT_EQ(c.CountTokens(""), 0u);
  EXPECT_EQ(c.CountTokens("   \n\t"), 0u);
  EXPECT_EQ(c.CountTokens("the"), 1u);
  EXPECT_EQ(c.CountTokens("government"), 2u);           // 10 letters -> ceil(10/6)
  EXPECT_EQ(c.CountTokens("internationalization"), 4u); // 20 letters
  EXPECT_EQ(c.CountTokens("1234567"), 3u);              // ceil(7/3)
  EXPECT_EQ(c.CountTokens("a, b."), 4u);                // a , b .
  EXPECT_EQ(c.CountTokens("caf\xC3\xA9"), 2u);          // "caf" + one code point
  EXPECT_EQ(c.CountTokens("\xE4\xBD\xA0\xE5\xA5\xBD"), 2u);  // two CJK characters
  EXPECT_EQ(c.CountTokens("$3.50"), 4u);                // $ 3 . 50
  EXPECT_TRUE(c.additive());
}

TEST(ApproxTokenCounterTest, AdditiveAtRunBoundaries) {
  ApproxTokenCounter c;
  std::mt19937 rng(7);
  const std::string alphabet = "abcdefXYZ0123456789 .,;!?\n\xC3\xA9";
  for (int iter = 0; iter < 200; ++iter) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      size_t k = rng() % (alphabet.size() - 1);
      if (alphabet[k] == '\xC3') s += "\xC3\xA9";
      else if (alphabet[k] != '\xA9') s.push_back(alphabet[k]);
    }
    // Cut at every class-run boundary: counts must add up.
    size_t sum = 0, start = 0;
    for (size_t i = 1; i <= s.size(); ++i) {
      if (i == s.size() || (ClassifyByte(s[i]) != ClassifyByte(s[i - 1]))) {
        sum += c.CountTokens(std::string_view(s).substr(start, i - start));
        start = i;
      }
    }
    EXPECT_EQ(sum, c.CountTokens(s)) << s;
  }
}

TEST(TokenCounterTest, FactoryWithoutModelIsApprox) {
  auto c = MakeTokenCounter("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->name(), "approx-v1");
  auto bad = MakeTokenCounter("/nonexistent/model.gguf");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace chunkserve::rag

#include <filesystem>

#include "base/mapped_file.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/tokenizer_counter.h"

namespace chunkserve::rag {
namespace {

// With a real BPE tokenizer (not additive) every chunk still fits the budget
// and records the tokenizer's own count.
TEST(TokenizerCounterTest, ChunksFitBudgetWithModelTokenizer) {
  const std::string vocab = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-gpt-2.gguf";
  const std::string doc_path = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu/1862_abraham_lincoln_r.txt";
  if (!std::filesystem::exists(vocab) || !std::filesystem::exists(doc_path)) GTEST_SKIP() << "test data absent";
  auto counter = MakeTokenCounter(vocab);
  ASSERT_TRUE(counter.ok()) << counter.status().ToString();
  EXPECT_FALSE((*counter)->additive());
  EXPECT_EQ((*counter)->name(), "gguf:ggml-vocab-gpt-2.gguf");
  auto text = ReadFileToString(doc_path);
  ASSERT_TRUE(text.ok());
  const ExtractedText doc = ExtractPlainText(*text);
  for (ChunkerKind kind : {ChunkerKind::kFixed, ChunkerKind::kSentence}) {
    const ChunkerParams p{kind, 128, 16};
    const auto chunks = ChunkDocument(doc, p, **counter);
    ASSERT_GT(chunks.size(), 10u);
    for (const Chunk& c : chunks) {
      EXPECT_LE(c.n_tokens, p.chunk_tokens);
      EXPECT_EQ(c.n_tokens, (*counter)->CountTokens(c.text));
    }
  }
}

}  // namespace
}  // namespace chunkserve::rag
