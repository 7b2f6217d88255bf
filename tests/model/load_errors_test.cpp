// Model::Load and ReadHParams on handcrafted bad files: every failure is a
// Status that names the key or tensor, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "model/hparams.h"
#include "model/model.h"
#include "model/temp_path.h"

namespace chunkserve::model {
namespace {

constexpr int64_t kEmbd = 32, kFf = 64, kVocab = 50, kHeads = 4, kKvHeads = 2, kHeadDim = 8;

struct TinyOptions {
  std::string arch = "llama";
  std::function<void(gguf::GgufWriter&)> edit_metadata;
  std::string drop_tensor;
  std::string reshape_tensor;   // given dims {7, 7}
  std::string retype_tensor;    // written as i32
  std::vector<float> rope_freqs;  // rope_freqs.weight when not empty
  std::string rope_freqs_name = "rope_freqs.weight";
};

// A tiny llama-shaped GGUF built by hand, with one deliberate defect.
std::string WriteTiny(const std::string& file_name, const TinyOptions& o) {
  gguf::GgufWriter w;
  w.SetString("general.architecture", o.arch);
  const std::string a = o.arch + ".";
  w.SetU32(a + "embedding_length", kEmbd);
  w.SetU32(a + "block_count", 1);
  w.SetU32(a + "feed_forward_length", kFf);
  w.SetU32(a + "attention.head_count", kHeads);
  w.SetU32(a + "attention.head_count_kv", kKvHeads);
  w.SetF32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetU32(a + "context_length", 128);
  if (o.edit_metadata) o.edit_metadata(w);
  auto add = [&](const std::string& name, std::vector<int64_t> dims) {
    if (name == o.drop_tensor) return;
    if (name == o.reshape_tensor) dims = {7, 7};
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<float> values(static_cast<size_t>(n));
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.01f * static_cast<float>(i % 17) - 0.08f;
    if (name == o.retype_tensor) {
      std::vector<uint8_t> bytes(values.size() * 4, 0);
      ASSERT_TRUE(w.AddTensor(name, dims, DType::kI32, bytes).ok());
    } else {
      ASSERT_TRUE(w.AddTensorF32(name, dims, values).ok());
    }
  };
  const int64_t dq = kHeads * kHeadDim, dkv = kKvHeads * kHeadDim;
  add("token_embd.weight", {kEmbd, kVocab});
  add("output_norm.weight", {kEmbd});
  add("blk.0.attn_norm.weight", {kEmbd});
  add("blk.0.attn_q.weight", {kEmbd, dq});
  add("blk.0.attn_k.weight", {kEmbd, dkv});
  add("blk.0.attn_v.weight", {kEmbd, dkv});
  add("blk.0.attn_output.weight", {dq, kEmbd});
  add("blk.0.ffn_norm.weight", {kEmbd});
  add("blk.0.ffn_gate.weight", {kEmbd, kFf});
  add("blk.0.ffn_up.weight", {kEmbd, kFf});
  add("blk.0.ffn_down.weight", {kFf, kEmbd});
  if (!o.rope_freqs.empty()) {
    EXPECT_TRUE(w.AddTensorF32(o.rope_freqs_name, {static_cast<int64_t>(o.rope_freqs.size())}, o.rope_freqs).ok());
  }
  const std::string path = testing_util::TempPath(file_name);
  EXPECT_TRUE(w.Write(path).ok());
  return path;
}

Status LoadStatus(const std::string& path) {
  auto m = Model::Load(path, {.n_threads = 1});
  return m.ok() ? Status::Ok() : m.status();
}

TEST(LoadErrorsTest, ValidTinyModelLoadsAndRuns) {
  const std::string path = WriteTiny("tiny_ok.gguf", {});
  auto m = Model::Load(path, {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const HParams& hp = (*m)->hparams();
  EXPECT_EQ(hp.n_vocab, kVocab);
  EXPECT_EQ(hp.head_dim, kHeadDim);
  EXPECT_EQ(hp.n_rot, kHeadDim);
  EXPECT_EQ(hp.rope_freq_base, 10000.0f);
  EXPECT_EQ(hp.rope_style, kernels::RopeStyle::kNormal);
  auto kv = (*m)->NewKvCache(4);
  const std::vector<int32_t> tokens = {1, 2};
  auto logits = (*m)->ForwardAll(kv.get(), tokens);
  ASSERT_TRUE(logits.ok());
  for (float v : logits->data) EXPECT_TRUE(std::isfinite(v));
}

TEST(LoadErrorsTest, UnsupportedArchitectureIsNamed) {
  Status s = LoadStatus(WriteTiny("tiny_arch.gguf", {.arch = "mamba"}));
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("'mamba'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("qwen3"), std::string::npos) << s.message();
}

TEST(LoadErrorsTest, MissingTensorIsNamed) {
  for (const char* name : {"blk.0.ffn_up.weight", "output_norm.weight", "token_embd.weight"}) {
    Status s = LoadStatus(WriteTiny("tiny_missing.gguf", {.drop_tensor = name}));
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(name), std::string::npos) << s.message();
  }
}

TEST(LoadErrorsTest, WrongShapeIsNamed) {
  Status s = LoadStatus(WriteTiny("tiny_shape.gguf", {.reshape_tensor = "blk.0.attn_k.weight"}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("blk.0.attn_k.weight"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[7, 7]"), std::string::npos) << s.message();
}

TEST(LoadErrorsTest, UnsupportedTensorTypeIsNamed) {
  Status s = LoadStatus(WriteTiny("tiny_type.gguf", {.retype_tensor = "blk.0.ffn_down.weight"}));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("blk.0.ffn_down.weight"), std::string::npos) << s.message();
  s = LoadStatus(WriteTiny("tiny_type2.gguf", {.retype_tensor = "blk.0.attn_norm.weight"}));
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("blk.0.attn_norm.weight"), std::string::npos) << s.message();
}

TEST(LoadErrorsTest, Qwen2RequiresBiases) {
  Status s = LoadStatus(WriteTiny("tiny_qwen2.gguf", {.arch = "qwen2"}));
  EXPECT_NE(s.message().find("attn_q.bias"), std::string::npos) << s.message();
}

// A gemma2 file must carry what its forward pass needs: a llama-shaped file
// under the gemma2 name is refused, naming the first post-norm it lacks; a
// bad sliding window is named too.
TEST(LoadErrorsTest, Gemma2NamesWhatIsMissing) {
  Status s = LoadStatus(WriteTiny("tiny_gemma2_a.gguf", {.arch = "gemma2"}));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("blk.0.post_attention_norm.weight"), std::string::npos) << s.message();
  s = LoadStatus(WriteTiny("tiny_gemma2_b.gguf", {.arch = "gemma2", .edit_metadata = [](gguf::GgufWriter& w) {
    w.SetU32("gemma2.attention.sliding_window", 0);
  }}));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("gemma2.attention.sliding_window"), std::string::npos) << s.message();
}

// Phi-3 files need the fused gate/up (a llama-shaped ffn_up is refused by
// shape); a LongRoPE file needs both factor sets (a llama-shaped file run at
// its 128-token training context within an original context of 64 uses the
// long set, which it lacks here).
TEST(LoadErrorsTest, Phi3NamesWhatItCannotRun) {
  Status s = LoadStatus(WriteTiny("tiny_phi3_a.gguf", {.arch = "phi3"}));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("blk.0.ffn_up.weight"), std::string::npos) << s.message();
  s = LoadStatus(WriteTiny("tiny_long_rope.gguf",
                           {.edit_metadata = [](gguf::GgufWriter& w) {
                              w.SetU32("llama.rope.scaling.original_context_length", 64);
                            },
                            .rope_freqs = {1, 1, 1, 1},
                            .rope_freqs_name = "rope_factors_short.weight"}));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rope_factors_long.weight"), std::string::npos) << s.message();
  // Run within the original context, the short set is the one it needs.
  const std::string path = testing_util::TempPath("tiny_long_rope.gguf");
  auto m = Model::Load(path, {.n_threads = 1, .n_ctx = 64});
  EXPECT_TRUE(m.ok()) << m.status().ToString();
}

// gemma3 needs its per-head Q/K norms (after gemma2's post-norms); a
// llama-shaped file under the name is refused naming the first it lacks.
TEST(LoadErrorsTest, Gemma3NamesWhatIsMissing) {
  Status s = LoadStatus(WriteTiny("tiny_gemma3.gguf", {.arch = "gemma3"}));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("blk.0.attn_q_norm.weight"), std::string::npos) << s.message();
}

// Mixture-of-experts files: the expert metadata is required and checked, a
// dense FFN in a MoE architecture is refused naming the router it lacks,
// and a MoE file under a dense architecture name (other than llama, which
// is Mixtral's) is refused by name rather than by a missing dense tensor;
// a dense FFN where experts belong is refused naming the router.
TEST(LoadErrorsTest, MoeNamesWhatIsMissing) {
  Status s = LoadStatus(WriteTiny("tiny_moe_a.gguf", {.arch = "qwen3moe", .edit_metadata = [](gguf::GgufWriter& w) {
    w.SetU32("qwen3moe.expert_used_count", 2);
  }}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("qwen3moe.expert_count"), std::string::npos) << s.message();
  s = LoadStatus(WriteTiny("tiny_moe_b.gguf", {.arch = "olmoe", .edit_metadata = [](gguf::GgufWriter& w) {
    w.SetU32("olmoe.expert_count", 4);
    w.SetU32("olmoe.expert_used_count", 5);
  }}));
  EXPECT_NE(s.message().find("olmoe.expert_used_count"), std::string::npos) << s.message();
  s = LoadStatus(WriteTiny("tiny_moe_d.gguf", {.arch = "qwen2", .edit_metadata = [](gguf::GgufWriter& w) {
    w.SetU32("qwen2.expert_count", 4);
  }}));
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("mixture of experts"), std::string::npos) << s.message();
  // Sigmoid gating (other architectures' convention) is refused by key.
  s = LoadStatus(WriteTiny("tiny_moe_f.gguf", {.arch = "qwen3moe", .edit_metadata = [](gguf::GgufWriter& w) {
    w.SetU32("qwen3moe.expert_count", 4);
    w.SetU32("qwen3moe.expert_used_count", 2);
    w.SetU32("qwen3moe.expert_gating_func", 2);
  }}));
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("qwen3moe.expert_gating_func"), std::string::npos) << s.message();
  // llama with experts is Mixtral's layout: the 3-D expert tensors are named.
  s = LoadStatus(WriteTiny("tiny_moe_e.gguf", {.edit_metadata = [](gguf::GgufWriter& w) {
    w.SetU32("llama.expert_count", 4);
    w.SetU32("llama.expert_used_count", 2);
  }}));
  EXPECT_NE(s.message().find("blk.0.ffn_gate_inp.weight"), std::string::npos) << s.message();
}

TEST(LoadErrorsTest, BadMetadataIsNamed) {
  struct Case {
    std::function<void(gguf::GgufWriter&)> edit;
    std::string expected;
  };
  const Case cases[] = {
      {[](gguf::GgufWriter& w) { w.SetU32("llama.attention.head_count_kv", 3); }, "head_count_kv"},
      {[](gguf::GgufWriter& w) { w.SetU32("llama.block_count", 0); }, "llama.block_count"},
      {[](gguf::GgufWriter& w) { w.SetString("llama.embedding_length", "wide"); }, "llama.embedding_length"},
      {[](gguf::GgufWriter& w) { w.SetString("llama.rope.scaling.type", "yarn"); }, "yarn"},
      {[](gguf::GgufWriter& w) { w.SetString("llama.rope.scaling.type", "linear"); }, "rope.scaling.factor"},
      {[](gguf::GgufWriter& w) { w.SetU32("llama.rope.dimension_count", 7); }, "odd"},
      {[](gguf::GgufWriter& w) { w.SetU32("llama.attention.value_length", 16); }, "value_length"},
  };
  for (const Case& c : cases) {
    Status s = LoadStatus(WriteTiny("tiny_md.gguf", {.edit_metadata = c.edit}));
    EXPECT_FALSE(s.ok()) << c.expected;
    EXPECT_NE(s.message().find(c.expected), std::string::npos) << s.message();
  }
}

TEST(LoadErrorsTest, LinearRopeScalingAndPartialRotation) {
  const std::string path = WriteTiny("tiny_rope.gguf", {.edit_metadata = [](gguf::GgufWriter& w) {
    w.SetString("llama.rope.scaling.type", "linear");
    w.SetF32("llama.rope.scaling.factor", 4.0f);
    w.SetU32("llama.rope.dimension_count", 4);
    w.SetF32("llama.rope.freq_base", 500000.0f);
  }});
  auto m = Model::Load(path, {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->hparams().rope_freq_scale, 0.25f);
  EXPECT_EQ((*m)->hparams().n_rot, 4);
  EXPECT_EQ((*m)->hparams().rope_freq_base, 500000.0f);
}

// Llama 3.1+ files carry per-pair RoPE frequency divisors.
TEST(LoadErrorsTest, RopeFreqsTensorIsApplied) {
  const std::vector<int32_t> tokens = {3, 1, 4, 1, 5, 9};
  auto logits_with = [&](std::vector<float> freqs, const std::string& name) {
    auto m = Model::Load(WriteTiny(name, {.rope_freqs = std::move(freqs)}), {.n_threads = 1});
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    auto kv = (*m)->NewKvCache(8);
    return (*m)->ForwardAll(kv.get(), tokens)->data;
  };
  const auto plain = logits_with({}, "tiny_rf0.gguf");
  EXPECT_EQ(logits_with({1, 1, 1, 1}, "tiny_rf1.gguf"), plain);
  EXPECT_NE(logits_with({1, 2, 8, 32}, "tiny_rf2.gguf"), plain);
  Status s = LoadStatus(WriteTiny("tiny_rf3.gguf", {.rope_freqs = {1, 2, 3}}));  // needs n_rot / 2 = 4
  EXPECT_NE(s.message().find("rope_freqs.weight"), std::string::npos) << s.message();
}

TEST(LoadErrorsTest, NotAFile) {
  Status s = LoadStatus("/nonexistent/model.gguf");
  EXPECT_FALSE(s.ok());
  const std::string path = testing_util::TempPath("garbage.gguf");
  std::vector<uint8_t> garbage(100, 0x41);
  ASSERT_TRUE(WriteFileAtomically(path, garbage).ok());
  EXPECT_FALSE(LoadStatus(path).ok());
}

}  // namespace
}  // namespace chunkserve::model
