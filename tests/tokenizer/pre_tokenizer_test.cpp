// Pre-tokenizer variants against splits worked out by hand from the
// reference regular expressions (see pre_tokenizer.h).
#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include <random>

namespace chunkserve::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

Pieces Split(PreTokenizerKind kind, std::string_view text) {
  std::vector<std::string_view> views;
  PreTokenizer(kind).Split(text, &views);
  return Pieces(views.begin(), views.end());
}

TEST(PreTokenizer, Gpt2) {
  const auto k = PreTokenizerKind::kGpt2;
  EXPECT_EQ(Split(k, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(Split(k, "  Hello"), (Pieces{" ", " Hello"}));
  EXPECT_EQ(Split(k, "I've 'RE"), (Pieces{"I", "'ve", " '", "RE"}));  // case-sensitive contractions
  EXPECT_EQ(Split(k, "a  "), (Pieces{"a", "  "}));
  EXPECT_EQ(Split(k, "3333 x"), (Pieces{"3333", " x"}));
  EXPECT_EQ(Split(k, "\tHi"), (Pieces{"\t", "Hi"}));
  EXPECT_EQ(Split(k, "a!!!b"), (Pieces{"a", "!!!", "b"}));
  EXPECT_EQ(Split(k, ""), (Pieces{}));
}

TEST(PreTokenizer, Llama3AndQwen2) {
  const auto k = PreTokenizerKind::kLlama3;
  EXPECT_EQ(Split(k, "33333"), (Pieces{"333", "33"}));
  EXPECT_EQ(Split(k, "I'VE"), (Pieces{"I", "'VE"}));  // case-insensitive contractions
  EXPECT_EQ(Split(k, "\n\n  x"), (Pieces{"\n\n", " ", " x"}));
  EXPECT_EQ(Split(k, "(hello)"), (Pieces{"(hello", ")"}));
  EXPECT_EQ(Split(k, "x .\n\ny"), (Pieces{"x", " .\n\n", "y"}));
  EXPECT_EQ(Split(PreTokenizerKind::kQwen2, "3333"), (Pieces{"3", "3", "3", "3"}));
}

TEST(PreTokenizer, MultiPassVariants) {
  EXPECT_EQ(Split(PreTokenizerKind::kStarcoder, "abc123 x"), (Pieces{"abc", "1", "2", "3", " x"}));
  EXPECT_EQ(Split(PreTokenizerKind::kFalcon, "x==y 12345"), (Pieces{"x", "==", "y", " ", "123", "45"}));
  EXPECT_EQ(Split(PreTokenizerKind::kDefault, "x==y 12345"), (Pieces{"x", "==", "y", " ", "123", "45"}));
  EXPECT_EQ(Split(PreTokenizerKind::kDeepseekCoder, "Hi 42\nok"), (Pieces{"Hi", " ", "4", "2", "\n", "ok"}));
  EXPECT_EQ(Split(PreTokenizerKind::kDeepseekLlm, "Hello, \xE4\xB8\x96\xE7\x95\x8C  "),
            (Pieces{"Hello", ",", " ", "\xE4\xB8\x96\xE7\x95\x8C", "  "}));
}

TEST(PreTokenizer, NamesAndAliases) {
  bool known = false;
  EXPECT_EQ(PreTokenizerKindFromName("llama-bpe", &known), PreTokenizerKind::kLlama3);
  EXPECT_TRUE(known);
  EXPECT_EQ(PreTokenizerKindFromName("gpt-2", &known), PreTokenizerKind::kGpt2);
  EXPECT_EQ(PreTokenizerKindFromName("qwen2", &known), PreTokenizerKind::kQwen2);
  EXPECT_EQ(PreTokenizerKindFromName("", &known), PreTokenizerKind::kDefault);
  EXPECT_EQ(PreTokenizerKindFromName("no-such-thing", &known), PreTokenizerKind::kGpt2);
  EXPECT_FALSE(known);
}

// Whatever the input (invalid UTF-8 included), pieces are non-empty and
// concatenate back to it.
TEST(PreTokenizer, PiecesCoverInputExactly) {
  std::mt19937 rng(42);
  const std::string alphabet[] = {"a", "Z", " ", "  ", "\n", "\r\n", "\t", "1", "'", "'s", "!", "\xC3\xA9",
                                  "\xE4\xB8\x96", "\xF0\x9F\xA6\x99", "\xFF", "\x80", "\xE2\x96", "$", "\xE3\x80\x80"};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int n = rng() % 40;
    for (int i = 0; i < n; ++i) text += alphabet[rng() % std::size(alphabet)];
    for (auto kind : {PreTokenizerKind::kGpt2, PreTokenizerKind::kLlama3, PreTokenizerKind::kQwen2,
                      PreTokenizerKind::kStarcoder, PreTokenizerKind::kFalcon, PreTokenizerKind::kDefault,
                      PreTokenizerKind::kDeepseekCoder, PreTokenizerKind::kDeepseekLlm}) {
      std::string joined;
      for (const std::string& p : Split(kind, text)) {
        EXPECT_FALSE(p.empty());
        joined += p;
      }
      EXPECT_EQ(joined, text) << PreTokenizerKindName(kind);
    }
  }
}

}  // namespace
}  // namespace chunkserve::tokenizer
