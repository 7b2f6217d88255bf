// hf_vocab_to_gguf: converts the Qwen3 and Llama 3 tokenizer.json files and
// checks the vocab-only GGUFs against facts read independently from the JSON
// (counts, a few ids, merges in both JSON spellings), plus malformed inputs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/mapped_file.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "hf_vocab.h"

namespace chunkserve::tools {
namespace {

std::string TokDir(const char* family) {
  return std::string(CHUNKSERVE_TESTDATA_DIR) + "/tokenizers/" + family;
}

StatusOr<std::unique_ptr<gguf::GgufFile>> Convert(const std::string& tok, const std::string& cfg,
                                                  HfVocabParams params) {
  gguf::GgufWriter w;
  auto s = HfVocabToGguf(tok, cfg, params, &w);
  if (!s.ok()) return s.status();
  return gguf::GgufFile::Parse(MappedFile::FromBytes(w.Serialize()));
}

HfVocabParams Params(std::string arch, std::string pre = "", std::string name = "") {
  HfVocabParams p;
  p.architecture = std::move(arch);
  p.pre = std::move(pre);
  p.name = std::move(name);
  return p;
}

const std::string& Token(const gguf::GgufFile& f, size_t id) {
  return (*f.GetArray("tokenizer.ggml.tokens"))[id].str;
}
int64_t TokenType(const gguf::GgufFile& f, size_t id) {
  return *(*f.GetArray("tokenizer.ggml.token_type"))[id].AsInt();
}

TEST(HfVocab, Qwen3) {
  std::string dir = TokDir("qwen3");
  if (!std::filesystem::exists(dir + "/tokenizer.json")) GTEST_SKIP() << dir << " absent";
  auto tok = ReadFileToString(dir + "/tokenizer.json");
  auto cfg = ReadFileToString(dir + "/tokenizer_config.json");
  ASSERT_TRUE(tok.ok() && cfg.ok());
  auto g = Convert(*tok, *cfg, Params("qwen2", "", "qwen3"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const gguf::GgufFile& f = **g;
  EXPECT_EQ(f.GetString("general.architecture"), "qwen2");
  EXPECT_EQ(f.GetString("general.name"), "qwen3");
  EXPECT_EQ(f.GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.GetString("tokenizer.ggml.pre"), "qwen2");
  // 151,643 BPE tokens + 26 added tokens (151643..151668), no gaps.
  ASSERT_EQ(f.GetArray("tokenizer.ggml.tokens")->size(), 151669u);
  ASSERT_EQ(f.GetArray("tokenizer.ggml.token_type")->size(), 151669u);
  EXPECT_EQ(f.GetArray("tokenizer.ggml.merges")->size(), 151387u);
  EXPECT_EQ(Token(f, 0), "!");
  EXPECT_EQ(Token(f, 9707), "Hello");
  EXPECT_EQ(Token(f, 1879), "\xC4\xA0world");  // "Ġworld"
  EXPECT_EQ(Token(f, 151643), "<|endoftext|>");
  EXPECT_EQ(Token(f, 151645), "<|im_end|>");
  EXPECT_EQ(Token(f, 151668), "</think>");
  EXPECT_EQ(TokenType(f, 9707), 1);
  EXPECT_EQ(TokenType(f, 151643), 3);  // special added token: control
  EXPECT_EQ(TokenType(f, 151668), 4);  // non-special added token: user-defined
  // Qwen's tokenizer.json holds merges as [a, b] pairs.
  EXPECT_EQ((*f.GetArray("tokenizer.ggml.merges"))[0].str, "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
  EXPECT_EQ((*f.GetArray("tokenizer.ggml.merges"))[2].str, "i n");
  EXPECT_EQ(f.GetInt("tokenizer.ggml.eos_token_id"), 151645);      // <|im_end|>
  EXPECT_EQ(f.GetInt("tokenizer.ggml.padding_token_id"), 151643);  // <|endoftext|>
  EXPECT_EQ(f.GetInt("tokenizer.ggml.bos_token_id"), std::nullopt);  // bos_token: null
  EXPECT_EQ(f.GetBool("tokenizer.ggml.add_bos_token"), false);
  std::optional<std::string> tmpl = f.GetString("tokenizer.chat_template");
  ASSERT_TRUE(tmpl.has_value());
  EXPECT_NE(tmpl->find("<|im_start|>"), std::string::npos);
}

TEST(HfVocab, Llama3StringMerges) {
  std::string dir = TokDir("llama3");
  if (!std::filesystem::exists(dir + "/tokenizer.json")) GTEST_SKIP() << dir << " absent";
  auto tok = ReadFileToString(dir + "/tokenizer.json");
  auto cfg = ReadFileToString(dir + "/tokenizer_config.json");
  ASSERT_TRUE(tok.ok() && cfg.ok());
  auto g = Convert(*tok, *cfg, Params("llama"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const gguf::GgufFile& f = **g;
  EXPECT_EQ(f.GetString("tokenizer.ggml.pre"), "llama-bpe");
  ASSERT_EQ(f.GetArray("tokenizer.ggml.tokens")->size(), 128256u);
  EXPECT_EQ(f.GetArray("tokenizer.ggml.merges")->size(), 280147u);
  EXPECT_EQ((*f.GetArray("tokenizer.ggml.merges"))[0].str, "\xC4\xA0 \xC4\xA0");
  EXPECT_EQ(Token(f, 9906), "Hello");
  EXPECT_EQ(Token(f, 1917), "\xC4\xA0world");
  EXPECT_EQ(Token(f, 128000), "<|begin_of_text|>");
  EXPECT_EQ(TokenType(f, 128255), 3);
  EXPECT_EQ(f.GetInt("tokenizer.ggml.bos_token_id"), 128000);
  EXPECT_EQ(f.GetInt("tokenizer.ggml.eos_token_id"), 128001);
}

TEST(HfVocab, GapsAreFilledAndTypesFollowSpecialFlag) {
  std::string tok = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 3},
                        "merges": ["a b"]},
                        "added_tokens": [{"id": 5, "content": "<s>", "special": true},
                                         {"id": 6, "content": "<x>", "special": false}],
                        "post_processor": {"type": "TemplateProcessing",
                          "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]}})";
  std::string cfg = R"({"bos_token": {"content": "<s>"}, "eos_token": "b", "pad_token": null})";
  auto g = Convert(tok, cfg, Params("llama", "custom"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const gguf::GgufFile& f = **g;
  ASSERT_EQ(f.GetArray("tokenizer.ggml.tokens")->size(), 7u);
  EXPECT_EQ(Token(f, 2), "[PAD2]");
  EXPECT_EQ(Token(f, 4), "[PAD4]");
  EXPECT_EQ(TokenType(f, 2), 5);
  EXPECT_EQ(TokenType(f, 3), 1);
  EXPECT_EQ(TokenType(f, 5), 3);
  EXPECT_EQ(TokenType(f, 6), 4);
  EXPECT_EQ(f.GetString("tokenizer.ggml.pre"), "custom");
  EXPECT_EQ(f.GetInt("tokenizer.ggml.bos_token_id"), 5);
  EXPECT_EQ(f.GetInt("tokenizer.ggml.eos_token_id"), 1);
  EXPECT_EQ(f.Find("tokenizer.ggml.padding_token_id"), nullptr);
  EXPECT_EQ(f.GetBool("tokenizer.ggml.add_bos_token"), true);   // template starts with <s>
  EXPECT_EQ(f.GetBool("tokenizer.ggml.add_eos_token"), false);  // and ends with the text
  EXPECT_EQ(f.Find("tokenizer.chat_template"), nullptr);
}

TEST(HfVocab, MalformedInputsAreErrors) {
  HfVocabParams p;
  gguf::GgufWriter w;
  auto code = [&](const std::string& tok, const std::string& cfg = "") {
    return HfVocabToGguf(tok, cfg, p, &w).status().code();
  };
  EXPECT_EQ(code("{not json"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("[]"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": "Unigram", "vocab": []}})"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": "BPE", "vocab": {"a": -1}}})"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": "BPE", "vocab": {"a": 99999999999}}})"),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}})"),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}})"),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": "BPE", "vocab": {}}})"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "{bad"),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(R"({"model": {"type": 5, "vocab": {"a": 0}}})"), StatusCode::kInvalidArgument);
  p.architecture = "gpt-neox";
  EXPECT_EQ(code(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})"), StatusCode::kInvalidArgument);
}

TEST(HfVocab, CommandLineToolWritesAReadableFile) {
  std::string dir = TokDir("qwen3");
  if (!std::filesystem::exists(dir + "/tokenizer.json")) GTEST_SKIP() << dir << " absent";
  std::string tool = std::string(CHUNKSERVE_BINARY_DIR) + "/tools/vocab/hf_vocab_to_gguf";
  if (!std::filesystem::exists(tool)) GTEST_SKIP() << tool << " not built";
  std::string out = (std::filesystem::temp_directory_path() /
                     ("hf_vocab_" + std::to_string(::getpid()) + ".gguf")).string();
  std::string cmd = tool + " --tokenizer " + dir + "/tokenizer.json --arch qwen2 -o " + out +
                    " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto g = gguf::GgufFile::Open(out);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->GetArray("tokenizer.ggml.tokens")->size(), 151669u);
  EXPECT_TRUE((*g)->GetString("tokenizer.chat_template").has_value());  // config found next to it
  std::filesystem::remove(out);
  EXPECT_NE(std::system((tool + " --arch qwen2 2> /dev/null").c_str()), 0);  // no --tokenizer
}

}  // namespace
}  // namespace chunkserve::tools
