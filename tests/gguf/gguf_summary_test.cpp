// Summarize(), ValueTypeLabel() and MetadataPreview(): what `info` prints.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_summary.h"
#include "gguf/gguf_writer.h"

namespace chunkserve::gguf {
namespace {

std::unique_ptr<GgufFile> Build(const GgufWriter& w) {
  auto g = GgufFile::Parse(MappedFile::FromBytes(w.Serialize()));
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? std::move(*g) : nullptr;
}

TEST(GgufSummary, CountsTensorsHParamsAndTokenizer) {
  GgufWriter w;
  w.SetString("general.architecture", "qwen2");
  w.SetString("general.name", "tiny");
  w.SetU32("qwen2.context_length", 4096);
  w.SetU32("qwen2.block_count", 2);
  w.SetF32("qwen2.rope.freq_base", 1e6f);
  w.SetU32("llama.block_count", 99);  // another architecture's key: not an hparam here
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "<|end|>"});
  w.SetStringArray("tokenizer.ggml.merges", {"a b"});
  w.SetU32("tokenizer.ggml.eos_token_id", 2);
  w.SetString("tokenizer.chat_template", "\n  \n{% for m in messages %}\n{{ m }}\n");
  std::vector<float> f(64, 1.0f);
  ASSERT_TRUE(w.AddTensorF32("a", {32, 2}, f).ok());
  ASSERT_TRUE(w.AddTensorF32("b", {8}, std::span(f).first(8)).ok());
  std::vector<uint8_t> q(34 * 4);
  ASSERT_TRUE(w.AddTensor("q", {32, 4}, DType::kQ8_0, q).ok());
  auto g = Build(w);
  ASSERT_NE(g, nullptr);
  GgufSummary s = Summarize(*g);
  EXPECT_EQ(s.version, 3u);
  EXPECT_EQ(s.file_bytes, g->file_size());
  EXPECT_EQ(s.architecture, "qwen2");
  EXPECT_EQ(s.name, "tiny");
  EXPECT_EQ(s.n_tensors, 3);
  EXPECT_EQ(s.n_params, 64 + 8 + 128);
  EXPECT_EQ(s.tensor_bytes, (64 + 8) * 4u + 136u);
  ASSERT_EQ(s.dtypes.size(), 2u);
  EXPECT_EQ(s.dtypes[0].dtype, "f32");  // most bytes first
  EXPECT_EQ(s.dtypes[0].n_tensors, 2);
  EXPECT_EQ(s.dtypes[0].n_bytes, 288u);
  EXPECT_EQ(s.dtypes[1].dtype, "q8_0");
  EXPECT_EQ(s.dtypes[1].n_elements, 128);
  ASSERT_EQ(s.hparams.size(), 3u);
  EXPECT_EQ(s.hparams[0].label, "context_length");
  EXPECT_EQ(s.hparams[0].value.AsInt(), 4096);
  EXPECT_EQ(s.hparams[1].key, "qwen2.block_count");
  EXPECT_EQ(s.hparams[2].label, "rope.freq_base");
  EXPECT_EQ(s.tokenizer_model, "gpt2");
  EXPECT_EQ(s.vocab_size, 3);
  EXPECT_EQ(s.n_merges, 1);
  EXPECT_EQ(s.eos_token_id, 2);
  EXPECT_EQ(s.bos_token_id, std::nullopt);
  EXPECT_TRUE(s.has_chat_template);
  EXPECT_EQ(s.chat_template_first_line, "{% for m in messages %}");
  EXPECT_EQ(s.n_metadata, 11);
}

TEST(GgufSummary, EmptyFile) {
  GgufWriter w;
  auto g = Build(w);
  ASSERT_NE(g, nullptr);
  GgufSummary s = Summarize(*g);
  EXPECT_EQ(s.architecture, std::nullopt);
  EXPECT_EQ(s.n_params, 0);
  EXPECT_TRUE(s.dtypes.empty());
  EXPECT_TRUE(s.hparams.empty());
  EXPECT_FALSE(s.has_chat_template);
  EXPECT_EQ(s.vocab_size, std::nullopt);
}

Value Str(std::string s) {
  Value v;
  v.type = ValueType::kString;
  v.str = std::move(s);
  return v;
}

TEST(MetadataPreview, ScalarsStringsAndArrays) {
  Value u;
  u.type = ValueType::kUint32;
  u.u = 42;
  EXPECT_EQ(MetadataPreview(u, 60), "42");
  Value i;
  i.type = ValueType::kInt8;
  i.i = -3;
  EXPECT_EQ(MetadataPreview(i, 60), "-3");
  Value f;
  f.type = ValueType::kFloat32;
  f.f = 1e-5f;
  EXPECT_EQ(MetadataPreview(f, 60), "1e-05");  // shortest float spelling, not 1.0000000000000001e-05
  Value b;
  b.type = ValueType::kBool;
  b.u = 1;
  EXPECT_EQ(MetadataPreview(b, 60), "true");
  EXPECT_EQ(MetadataPreview(Str("a\"b\\c\nd\x01"), 60), "\"a\\\"b\\\\c\\nd\\x01\"");
  EXPECT_EQ(MetadataPreview(Str(std::string(100, 'x')), 10), "\"xxxxxxxxx...");
  Value arr;
  arr.type = ValueType::kArray;
  arr.array_type = ValueType::kString;
  arr.array = {Str("a"), Str("b")};
  EXPECT_EQ(MetadataPreview(arr, 60), "[string; 2] [\"a\", \"b\"]");
  EXPECT_EQ(ValueTypeLabel(arr), "array<string>[2]");
  EXPECT_EQ(ValueTypeLabel(u), "u32");
}

TEST(MetadataPreview, HugeArrayStaysShortAndFast) {
  Value arr;
  arr.type = ValueType::kArray;
  arr.array_type = ValueType::kString;
  arr.array.assign(200000, Str("token"));
  std::string p = MetadataPreview(arr, 40);
  EXPECT_LE(p.size(), 43u);
  EXPECT_EQ(p.rfind("[string; 200000] [", 0), 0u);
  EXPECT_EQ(p.substr(p.size() - 3), "...");
}

TEST(MetadataPreview, NeverSplitsUtf8) {
  // "é" is two bytes; a cut that would land inside it backs off.
  std::string p = MetadataPreview(Str("\xC3\xA9\xC3\xA9\xC3\xA9"), 4);
  EXPECT_EQ(p, "\"\xC3\xA9...");
}

}  // namespace
}  // namespace chunkserve::gguf
