// EncoderModel load and input errors: every broken file or bad input is a
// Status naming the problem, never a crash. Broken files are a valid bert
// fixture rewritten with one change (a tensor dropped or reshaped, a
// metadata key changed).
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/encoder.h"
#include "model/temp_path.h"
#include "reference/reference_util.h"

namespace chunkserve::model {
namespace {

using testing_util::TempPath;

std::string BertVocab() { return std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-bert-bge.gguf"; }

class EncoderLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(BertVocab())) GTEST_SKIP() << "no shared test data (bert-bge vocab)";
    if (!std::filesystem::exists(reference_test::FixtureTool())) GTEST_SKIP() << "make_fixture_model not built";
    good_ = TempPath("good.gguf");
    const auto r = reference_test::RunCommand(reference_test::FixtureTool() +
                                              " --quiet --arch bert --n-embd 32 --n-layer 1 --n-head 2 --n-ff 64"
                                              " --ctx 16 --pooling 2 --vocab-gguf " + BertVocab() + " -o " + good_);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  // Copies the fixture through `edit_meta` / `edit_tensor` (return false to
  // drop a tensor; may change dims) into a new file.
  std::string Rewrite(const std::string& name,
                      const std::function<void(gguf::GgufWriter&)>& edit_meta,
                      const std::function<bool(const std::string&, std::vector<int64_t>&)>& edit_tensor) {
    auto f = gguf::GgufFile::Open(good_);
    EXPECT_TRUE(f.ok());
    gguf::GgufWriter w;
    for (const auto& [key, value] : (*f)->metadata()) w.Set(key, value);
    if (edit_meta) edit_meta(w);
    for (const gguf::TensorInfo& t : (*f)->tensors()) {
      std::vector<int64_t> dims = t.dims;
      if (edit_tensor && !edit_tensor(t.name, dims)) continue;
      if (dims != t.dims) {
        // Same bytes under new dims need the same element count: reinterpret
        // as a flat f32 tensor of the new shape, zero padded or cut.
        int64_t n = 1;
        for (int64_t x : dims) n *= x;
        std::vector<float> v(static_cast<size_t>(n), 0.5f);
        EXPECT_TRUE(w.AddTensorF32(t.name, dims, v).ok());
        continue;
      }
      EXPECT_TRUE(w.AddTensor(t.name, t.dims, t.type, std::span<const uint8_t>(t.data, t.n_bytes)).ok());
    }
    const std::string path = TempPath(name);
    EXPECT_TRUE(w.Write(path).ok());
    return path;
  }

  std::string good_;
};

TEST_F(EncoderLoadTest, GoodFixtureLoads) {
  auto m = EncoderModel::Load(good_, {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const EncoderHParams& hp = (*m)->hparams();
  EXPECT_EQ(hp.n_embd, 32);
  EXPECT_EQ(hp.n_layer, 1);
  EXPECT_EQ(hp.n_ctx, 16);
  EXPECT_EQ(hp.n_vocab, 30522);
  EXPECT_EQ(hp.n_token_types, 2);
  EXPECT_EQ(hp.pooling, Pooling::kCls);
  EXPECT_FLOAT_EQ(hp.layer_norm_eps, 1e-12f);
}

TEST_F(EncoderLoadTest, MissingTensorIsNamed) {
  const std::string p = Rewrite("missing.gguf", nullptr, [](const std::string& n, std::vector<int64_t>&) {
    return n != "blk.0.ffn_down.bias";
  });
  auto m = EncoderModel::Load(p, {.n_threads = 1});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("blk.0.ffn_down.bias"), std::string::npos) << m.status().ToString();
}

TEST_F(EncoderLoadTest, WrongShapeIsNamed) {
  const std::string p = Rewrite("shape.gguf", nullptr, [](const std::string& n, std::vector<int64_t>& dims) {
    if (n == "blk.0.attn_k.weight") dims = {32, 16};
    return true;
  });
  auto m = EncoderModel::Load(p, {.n_threads = 1});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("blk.0.attn_k.weight"), std::string::npos) << m.status().ToString();
  EXPECT_NE(m.status().message().find("expected [32, 32]"), std::string::npos) << m.status().ToString();
}

TEST_F(EncoderLoadTest, BadMetadataIsRefused) {
  struct Edit {
    const char* what;
    std::function<void(gguf::GgufWriter&)> fn;
    StatusCode code;
  };
  const std::vector<Edit> edits = {
      {"causal", [](gguf::GgufWriter& w) { w.SetBool("bert.attention.causal", true); }, StatusCode::kUnimplemented},
      {"pooling", [](gguf::GgufWriter& w) { w.SetU32("bert.pooling_type", 4); }, StatusCode::kUnimplemented},
      {"heads", [](gguf::GgufWriter& w) { w.SetU32("bert.attention.head_count", 5); }, StatusCode::kInvalidArgument},
      {"eps", [](gguf::GgufWriter& w) { w.SetF32("bert.attention.layer_norm_epsilon", -1.0f); },
       StatusCode::kInvalidArgument},
      {"arch", [](gguf::GgufWriter& w) { w.SetString("general.architecture", "nomic-bert"); },
       StatusCode::kUnimplemented},
      {"width", [](gguf::GgufWriter& w) { w.SetU32("bert.embedding_length", 48); }, StatusCode::kInvalidArgument},
  };
  for (const Edit& e : edits) {
    const std::string p = Rewrite(std::string(e.what) + ".gguf", e.fn, nullptr);
    auto m = EncoderModel::Load(p, {.n_threads = 1});
    ASSERT_FALSE(m.ok()) << e.what;
    EXPECT_EQ(m.status().code(), e.code) << e.what << ": " << m.status().ToString();
  }
}

TEST_F(EncoderLoadTest, BadInputsAreStatuses) {
  auto m = EncoderModel::Load(good_, {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const int64_t d = (*m)->hparams().n_embd;
  std::vector<float> out(d);
  const std::vector<int32_t> too_long(17, 1000);
  std::span<const int32_t> s(too_long);
  EXPECT_EQ((*m)->Embed(std::span(&s, 1), Pooling::kMean, out).code(), StatusCode::kOutOfRange);
  const std::vector<int32_t> bad_id = {101, 30522, 102};
  s = bad_id;
  EXPECT_EQ((*m)->Embed(std::span(&s, 1), Pooling::kMean, out).code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> empty;
  s = empty;
  EXPECT_EQ((*m)->Embed(std::span(&s, 1), Pooling::kMean, out).code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> ok = {101, 7592, 102};
  s = ok;
  EXPECT_EQ((*m)->Embed(std::span(&s, 1), Pooling::kNone, out).code(), StatusCode::kInvalidArgument);
  // The longest allowed sequence works.
  const std::vector<int32_t> full(16, 1000);
  s = full;
  EXPECT_TRUE((*m)->Embed(std::span(&s, 1), Pooling::kLast, out).ok());
}

}  // namespace
}  // namespace chunkserve::model
