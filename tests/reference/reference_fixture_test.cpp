// tools/fixture/make_fixture_model: determinism, the metadata other GGUF
// engines need, shapes, type plans, and clear errors for bad flags.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "base/mapped_file.h"
#include "gguf/gguf_file.h"
#include "reference/reference_util.h"

namespace chunkserve::reference_test {
namespace {

std::string Make(const std::string& flags, const std::string& out) {
  const CommandResult r = RunCommand(FixtureTool() + " --quiet " + flags + " -o " + out);
  EXPECT_EQ(r.exit_code, 0) << flags << "\n" << r.output;
  return out;
}

TEST(ReferenceFixtureTest, SameSeedSameBytesOtherSeedOtherWeights) {
  const std::string a = Make("--arch qwen2 --type q4_0 --seed 5", WorkDir() + "/det_a.gguf");
  const std::string b = Make("--arch qwen2 --type q4_0 --seed 5 --threads 1", WorkDir() + "/det_b.gguf");
  const std::string c = Make("--arch qwen2 --type q4_0 --seed 6", WorkDir() + "/det_c.gguf");
  auto ba = ReadFileToString(a), bb = ReadFileToString(b), bc = ReadFileToString(c);
  ASSERT_TRUE(ba.ok() && bb.ok() && bc.ok());
  EXPECT_EQ(*ba, *bb) << "thread count must not change the file";
  EXPECT_EQ(ba->size(), bc->size());
  EXPECT_NE(*ba, *bc) << "another seed must give other weights";
}

TEST(ReferenceFixtureTest, CarriesStandardMetadataAndShapes) {
  const std::string path =
      Make("--arch qwen3 --type q4_k_m --n-embd 256 --n-ff 512 --n-head 4 --n-head-kv 2 --head-dim 128",
           WorkDir() + "/meta_qwen3.gguf");
  auto f = gguf::GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const gguf::GgufFile& g = **f;
  EXPECT_EQ(g.GetString("general.architecture"), "qwen3");
  EXPECT_EQ(g.GetInt("general.alignment"), 32);
  EXPECT_EQ(g.GetInt("general.file_type"), 15);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  for (const char* key : {"qwen3.context_length", "qwen3.embedding_length", "qwen3.block_count",
                          "qwen3.feed_forward_length", "qwen3.attention.head_count",
                          "qwen3.attention.head_count_kv", "qwen3.attention.key_length"}) {
    EXPECT_TRUE(g.GetInt(key).has_value()) << key;
  }
  EXPECT_TRUE(g.GetFloat("qwen3.attention.layer_norm_rms_epsilon").has_value());
  EXPECT_TRUE(g.GetFloat("qwen3.rope.freq_base").has_value());
  EXPECT_EQ(g.GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(g.GetString("tokenizer.ggml.pre"), "qwen2");
  ASSERT_NE(g.GetArray("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(g.GetArray("tokenizer.ggml.tokens")->size(), 300u);
  ASSERT_NE(g.GetArray("tokenizer.ggml.token_type"), nullptr);
  EXPECT_EQ(g.GetArray("tokenizer.ggml.token_type")->size(), 300u);
  ASSERT_NE(g.GetArray("tokenizer.ggml.merges"), nullptr);
  EXPECT_GT(g.GetArray("tokenizer.ggml.merges")->size(), 10u);
  EXPECT_TRUE(g.GetString("tokenizer.chat_template").has_value());
  const auto eos = g.GetInt("tokenizer.ggml.eos_token_id");
  ASSERT_TRUE(eos.has_value());
  EXPECT_EQ((*g.GetArray("tokenizer.ggml.tokens"))[*eos].str, "<|im_end|>");

  // Shapes (ggml order) and the q4_k_m plan.
  const gguf::TensorInfo* q = g.FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dims, (std::vector<int64_t>{256, 512}));
  EXPECT_EQ(q->type, DType::kQ4_K);
  const gguf::TensorInfo* v = g.FindTensor("blk.1.attn_v.weight");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->dims, (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(v->type, DType::kQ6_K);
  const gguf::TensorInfo* down = g.FindTensor("blk.1.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->dims, (std::vector<int64_t>{512, 256}));
  EXPECT_EQ(down->type, DType::kQ6_K);
  EXPECT_NE(g.FindTensor("blk.0.attn_q_norm.weight"), nullptr);
  EXPECT_EQ(g.FindTensor("blk.0.attn_q_norm.weight")->dims, (std::vector<int64_t>{128}));
  EXPECT_EQ(g.FindTensor("blk.0.attn_q_norm.weight")->type, DType::kF32);
  EXPECT_NE(g.FindTensor("output.weight"), nullptr);
}

TEST(ReferenceFixtureTest, KTypeFallsBackWhereRowsAreNot256Multiples) {
  // 64-wide rows cannot hold q4_K super-blocks: llama.cpp writes q5_0 there.
  const std::string path = Make("--arch llama --type q4_k --tied", WorkDir() + "/fallback.gguf");
  auto f = gguf::GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->FindTensor("blk.0.attn_q.weight")->type, DType::kQ5_0);
  EXPECT_EQ((*f)->FindTensor("output.weight"), nullptr) << "tied output has no output.weight";
}

TEST(ReferenceFixtureTest, VocabFromHuggingFaceJson) {
  const std::string json = std::string(CHUNKSERVE_TESTDATA_DIR) + "/tokenizers/qwen3/tokenizer.json";
  if (!std::filesystem::exists(json)) GTEST_SKIP() << "no shared test data";
  const std::string path = Make("--arch qwen2 --type q8_0 --n-embd 64 --n-ff 64 --n-layer 1 --vocab-json " + json,
                                WorkDir() + "/hfvocab.gguf");
  auto f = gguf::GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const auto* tokens = (*f)->GetArray("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->size(), 151669u);  // 151643 BPE tokens + 26 added
  EXPECT_EQ((*tokens)[151643].str, "<|endoftext|>");
  EXPECT_EQ((*f)->FindTensor("token_embd.weight")->dims, (std::vector<int64_t>{64, 151669}));
  EXPECT_EQ((*f)->GetArray("tokenizer.ggml.merges")->size(), 151387u);
  EXPECT_EQ((*f)->GetInt("tokenizer.ggml.eos_token_id"), 151645);  // <|im_end|>
  EXPECT_EQ((*f)->GetBool("tokenizer.ggml.add_bos_token"), false);
  EXPECT_NE((*f)->GetString("tokenizer.chat_template")->find("<|im_start|>"), std::string::npos);

  const std::string llama_json = std::string(CHUNKSERVE_TESTDATA_DIR) + "/tokenizers/llama3/tokenizer.json";
  if (!std::filesystem::exists(llama_json)) return;
  const std::string llama = Make("--arch llama --type q8_0 --n-embd 64 --n-ff 64 --n-layer 1 --vocab-json " + llama_json,
                                 WorkDir() + "/hfvocab_llama3.gguf");
  auto g = gguf::GgufFile::Open(llama);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->GetArray("tokenizer.ggml.tokens")->size(), 128256u);
  EXPECT_EQ((*g)->GetInt("tokenizer.ggml.bos_token_id"), 128000);  // <|begin_of_text|>
  EXPECT_EQ((*g)->GetBool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ((*g)->GetString("tokenizer.ggml.pre"), "llama-bpe");
}

TEST(ReferenceFixtureTest, BadFlagsAreClearErrors) {
  const std::string out = WorkDir() + "/bad.gguf";
  for (const char* flags : {"--type q9_9", "--arch gpt9", "--n-head 3 --n-head-kv 2",
                            "--type q4_0 --n-embd 48 --n-head 4", "--n-embd abc", "--shape nope"}) {
    const CommandResult r = RunCommand(FixtureTool() + " " + flags + " -o " + out);
    EXPECT_NE(r.exit_code, 0) << flags;
    EXPECT_NE(r.output.find("make_fixture_model"), std::string::npos) << r.output;
  }
}

TEST(ReferenceFixtureTest, NumpyReaderReadsEveryMetadataKey) {
  const std::string& python = PythonWithNumpy();
  if (python.empty()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const std::string path = Make("--arch qwen2 --type q5_1", WorkDir() + "/info.gguf");
  auto f = gguf::GgufFile::Open(path);
  ASSERT_TRUE(f.ok());
  const CommandResult r = RunCommand(python + " " + ReferenceScript() + " " + path + " --info");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& [key, value] : (*f)->metadata()) {
    EXPECT_NE(r.output.find(key + " = "), std::string::npos) << key;
  }
  for (const auto& t : (*f)->tensors()) {
    EXPECT_NE(r.output.find(t.name + " "), std::string::npos) << t.name;
  }
}

}  // namespace
}  // namespace chunkserve::reference_test
