// Golden tests: every NAME.gguf.inp / NAME.gguf.out pair in the shared
// testdata/vocab folder (made by the reference tokenizers, no special tokens
// added, special-token text as plain text) must match id for id.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/mapped_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace chunkserve::tokenizer {
namespace {

namespace fs = std::filesystem;

void CheckGolden(const Tokenizer& tok, const std::string& name) {
  const std::string base = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/" + name;
  auto cases = LoadGoldenCases(base + ".inp", base + ".out");
  ASSERT_TRUE(cases.ok()) << cases.status().ToString();
  ASSERT_GT(cases->size(), 30u);
  size_t n_bad = 0;
  for (const GoldenCase& c : *cases) {
    const std::vector<int32_t> got = tok.Encode(c.text, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(got, c.ids) << name << ": text '" << c.text << "'";
    n_bad += got != c.ids;
    // Cached and exact paths agree, and a second (cached) run is identical.
    EXPECT_EQ(tok.Encode(c.text, false, false), got);
  }
  EXPECT_EQ(n_bad, 0u) << name;
}

class GoldenVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenVocab, MatchesReferenceIds) {
  const std::string path = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/" + GetParam();
  if (!fs::exists(path)) GTEST_SKIP() << "no " << path;
  auto tok = Tokenizer::Open(path);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  CheckGolden(**tok, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GoldenVocab,
                         ::testing::Values("ggml-vocab-gpt-2.gguf", "ggml-vocab-falcon.gguf",
                                           "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf",
                                           "ggml-vocab-bert-bge.gguf"),
                         [](const auto& info) {
                           std::string s = info.param.substr(11, info.param.size() - 16);
                           for (char& c : s) if (c == '-') c = '_';
                           return s;
                         });

// Every .inp/.out pair in the folder is covered: either by a GGUF next to it
// (above) or by a GGUF built from tokenizers/ (hf_golden_test.cpp).
TEST(GoldenVocab, EveryPairIsCovered) {
  const fs::path dir = fs::path(CHUNKSERVE_TESTDATA_DIR) / "vocab";
  if (!fs::exists(dir)) GTEST_SKIP() << "no " << dir;
  const std::vector<std::string> covered = {"gpt-2", "falcon", "llama-spm", "phi-3", "bert-bge",
                                            "llama-bpe", "qwen2"};
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (!file.ends_with(".gguf.inp")) continue;
    const std::string name = file.substr(11, file.size() - 11 - 9);
    EXPECT_NE(std::find(covered.begin(), covered.end(), name), covered.end()) << "uncovered pair " << file;
  }
}

}  // namespace
}  // namespace chunkserve::tokenizer
