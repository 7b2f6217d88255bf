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
