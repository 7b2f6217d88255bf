// Opens the real vocab-only GGUF files from llama.cpp's test set: they must
// parse and expose the tokenizer.ggml.* arrays the tokenizer module reads.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"

namespace chunkserve::gguf {
namespace {

std::vector<std::string> VocabFiles() {
  std::vector<std::string> out;
  std::filesystem::path dir = std::filesystem::path(CHUNKSERVE_TESTDATA_DIR) / "vocab";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".gguf") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GgufVocabFiles, EveryFileOpensWithTokenizerArrays) {
  std::vector<std::string> files = VocabFiles();
  if (files.empty()) GTEST_SKIP() << "no testdata/vocab/*.gguf";
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    auto g = GgufFile::Open(path);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    const GgufFile& f = **g;
    EXPECT_TRUE(f.version() == 2 || f.version() == 3);
    EXPECT_EQ(f.alignment() % 32, 0u);
    std::optional<std::string> model = f.GetString("tokenizer.ggml.model");
    ASSERT_TRUE(model.has_value());
    EXPECT_TRUE(*model == "gpt2" || *model == "llama" || *model == "bert") << *model;
    EXPECT_TRUE(f.GetString("general.architecture").has_value());

    const std::vector<Value>* tokens = f.GetArray("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_GT(tokens->size(), 1000u);
    EXPECT_EQ(f.Find("tokenizer.ggml.tokens")->array_type, ValueType::kString);
    for (const Value& t : *tokens) ASSERT_EQ(t.type, ValueType::kString);

    // Per-token arrays, when present, are as long as the vocabulary.
    for (const char* key : {"tokenizer.ggml.token_type", "tokenizer.ggml.scores"}) {
      if (const std::vector<Value>* a = f.GetArray(key)) {
        EXPECT_EQ(a->size(), tokens->size()) << key;
      }
    }
    if (*model == "gpt2") {
      const std::vector<Value>* merges = f.GetArray("tokenizer.ggml.merges");
      ASSERT_NE(merges, nullptr);
      ASSERT_FALSE(merges->empty());
      EXPECT_NE((*merges)[0].str.find(' '), std::string::npos) << (*merges)[0].str;
    }
    if (std::optional<int64_t> bos = f.GetInt("tokenizer.ggml.bos_token_id")) {
      EXPECT_GE(*bos, 0);
      EXPECT_LT(*bos, static_cast<int64_t>(tokens->size()));
    }
    // Metadata order is file order and every key is findable.
    for (const auto& [key, v] : f.metadata()) EXPECT_EQ(f.Find(key), &v);
  }
}

TEST(GgufVocabFiles, Gpt2KnownTokens) {
  std::string path = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-gpt-2.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent";
  auto g = GgufFile::Open(path);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const std::vector<Value>* tokens = (*g)->GetArray("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->size(), 50257u);
  EXPECT_EQ((*tokens)[0].str, "!");
  EXPECT_EQ((*tokens)[50256].str, "<|endoftext|>");
  EXPECT_EQ((*g)->GetString("tokenizer.ggml.model"), "gpt2");
}

}  // namespace
}  // namespace chunkserve::gguf
