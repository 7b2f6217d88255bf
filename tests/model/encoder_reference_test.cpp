// EncoderModel (model/encoder.h) against the independent NumPy reference
// (tools/reference/gguf_reference.py, BertModel): pooled, L2-normalised
// sentence vectors of several real WordPiece-tokenized texts, mean and CLS
// pooling, on bert fixtures written by make_fixture_model in f32, f16 and
// q8_0. Also: batching many texts in one pass equals one text per pass.
//
// Tolerances on rel = max |ours - ref| / max |ref| over a (unit) vector:
//  - f32 / f16 / bf16: rel <= 1e-4. Weights are exact on both sides (halves
//    widened exactly); only float32 vs float64 arithmetic differs: measured
//    6e-8 .. 3e-7.
//  - quantized (q8_0, q4_0, q5_K): the reference rounds every matrix-product
//    input to int8 blocks of 32 as our MatMul does (--act-quant q8_32), so
//    most vectors match to ~3e-7 as well. But one activation in ~10^4 can
//    sit close enough to a rounding boundary that float32 and float64 round
//    it differently (one int8 step); the difference then spreads through
//    the later layers (see tests/reference/reference_logits_test.cpp for the
//    same effect on logits). So: rel <= 1e-2 and cosine >= 0.9995 (measured
//    worst: rel 3.4e-3 on q5_K). A real bug (a missing bias, a wrong norm or
//    GELU, attention across texts) gives rel ~0.1-1.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "model/encoder.h"
#include "reference/reference_util.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::model {
namespace {

using reference_test::FixtureTool;
using reference_test::JoinInts;
using reference_test::PythonWithNumpy;
using reference_test::ReadF32File;
using reference_test::ReferenceScript;
using reference_test::RunCommand;
using reference_test::WorkDir;

std::string BertVocab() { return std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-bert-bge.gguf"; }

const std::vector<std::string>& Texts() {
  static const std::vector<std::string> texts = {
      "The quick brown fox jumps over the lazy dog.",
      "Hello world",
      "Retrieval-augmented generation answers questions over your own documents, chunk by chunk.",
      "",
      "naïve café déjà vu — unicode, accents and punctuation!?",
  };
  return texts;
}

struct Case {
  std::string type;
  double tol;
  int n_embd = 64;  // K-quants need rows of 256 (else the fixture falls back to q5_1)
};

class EncoderReferenceTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(BertVocab())) GTEST_SKIP() << "no shared test data (bert-bge vocab)";
    if (PythonWithNumpy().empty()) GTEST_SKIP() << "no /usr/bin/python3 with numpy";
    if (!std::filesystem::exists(FixtureTool())) GTEST_SKIP() << "make_fixture_model not built";
  }

  std::string MakeFixture(const std::string& type, int n_embd) {
    const std::string path = WorkDir() + "/encoder_bert_" + type + "_" + std::to_string(n_embd) + ".gguf";
    const auto r = RunCommand(FixtureTool() + " --quiet --arch bert --type " + type + " --n-embd " +
                              std::to_string(n_embd) + " --n-layer 2 --n-head 4 --n-ff " + std::to_string(2 * n_embd) +
                              " --ctx 64 --seed 11 --vocab-gguf " + BertVocab() + " -o " + path);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return path;
  }

  // The reference's vectors for `seqs` ((n_seqs, n_embd) floats).
  std::vector<float> Reference(const std::string& model, const std::vector<std::vector<int32_t>>& seqs,
                               const std::string& pooling, const std::string& act_quant) {
    std::string tokens;
    for (size_t i = 0; i < seqs.size(); ++i) tokens += (i ? ";" : "") + JoinInts(seqs[i]);
    const std::string out = model + "." + pooling + ".ref.bin";
    const auto r = RunCommand(PythonWithNumpy() + " " + ReferenceScript() + " " + model + " --embed --tokens '" +
                              tokens + "' --pooling " + pooling + " --act-quant " + act_quant + " --out " + out);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ReadF32File(out);
  }
};

double MaxRelErr(const float* got, const float* want, int64_t n) {
  double max_abs = 0, max_ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    max_abs = std::max(max_abs, std::abs(static_cast<double>(got[i]) - want[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(want[i])));
  }
  return max_abs / std::max(max_ref, 1e-30);
}

TEST_P(EncoderReferenceTest, PooledVectorsMatchNumpy) {
  const Case c = GetParam();
  const std::string path = MakeFixture(c.type, c.n_embd);
  auto model = EncoderModel::Load(path, {.n_threads = 2});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = tokenizer::Tokenizer::FromGguf((*model)->file());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  std::vector<std::vector<int32_t>> seqs;
  for (const std::string& t : Texts()) seqs.push_back((*tok)->Encode(t, /*add_special=*/true, false));
  ASSERT_EQ(seqs[1].front(), 101);  // [CLS]
  ASSERT_EQ(seqs[1].back(), 102);   // [SEP]
  const std::vector<std::span<const int32_t>> spans(seqs.begin(), seqs.end());
  const int64_t d = (*model)->hparams().n_embd;
  const bool float_type = c.type == "f32" || c.type == "f16" || c.type == "bf16";
  const std::string act_quant = float_type ? "none" : "q8_32";
  for (const auto& [pooling, name] : {std::pair{Pooling::kMean, "mean"}, std::pair{Pooling::kCls, "cls"}}) {
    std::vector<float> got(seqs.size() * static_cast<size_t>(d));
    ASSERT_TRUE((*model)->Embed(spans, pooling, got).ok());
    const std::vector<float> want = Reference(path, seqs, name, act_quant);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const double err = MaxRelErr(&got[i * d], &want[i * d], d);
      EXPECT_LE(err, c.tol) << c.type << " " << name << " text " << i;
      double dot = 0;
      for (int64_t j = 0; j < d; ++j) dot += static_cast<double>(got[i * d + j]) * want[i * d + j];
      EXPECT_GE(dot, 0.9995) << c.type << " " << name << " text " << i;
      double norm = 0;
      for (int64_t j = 0; j < d; ++j) norm += static_cast<double>(got[i * d + j]) * got[i * d + j];
      EXPECT_NEAR(norm, 1.0, 1e-5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, EncoderReferenceTest,
                         ::testing::Values(Case{"f32", 1e-4}, Case{"f16", 1e-4}, Case{"bf16", 1e-4}, Case{"q8_0", 1e-2},
                                           Case{"q4_0", 1e-2}, Case{"q5_k", 1e-2, 256}, Case{"f16", 1e-4, 256}),
                         [](const auto& info) { return info.param.type + "_" + std::to_string(info.param.n_embd); });

// Packing many sequences into one pass (and splitting across passes) gives
// each sequence the vector it gets alone: no attention leaks across texts.
TEST(EncoderBatching, BatchEqualsOneByOne) {
  if (!std::filesystem::exists(BertVocab())) GTEST_SKIP() << "no shared test data";
  if (!std::filesystem::exists(FixtureTool())) GTEST_SKIP() << "make_fixture_model not built";
  const std::string path = WorkDir() + "/encoder_batch_f32.gguf";
  const auto r = RunCommand(FixtureTool() + " --quiet --arch bert --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128"
                            " --ctx 64 --seed 3 --vocab-gguf " + BertVocab() + " -o " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Small passes force splitting: 9 sequences of 3..59 tokens, 64 per pass.
  auto model = EncoderModel::Load(path, {.n_threads = 2, .max_batch_tokens = 64});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<std::vector<int32_t>> seqs;
  for (int i = 0; i < 9; ++i) {
    std::vector<int32_t> s = {101};
    for (int j = 0; j < 1 + 7 * i; ++j) s.push_back(1000 + (i * 131 + j * 17) % 20000);
    s.push_back(102);
    seqs.push_back(s);
  }
  const std::vector<std::span<const int32_t>> spans(seqs.begin(), seqs.end());
  const int64_t d = (*model)->hparams().n_embd;
  std::vector<float> batched(seqs.size() * d);
  ASSERT_TRUE((*model)->Embed(spans, Pooling::kMean, batched).ok());
  for (size_t i = 0; i < seqs.size(); ++i) {
    std::vector<float> alone(d);
    ASSERT_TRUE((*model)->Embed(std::span(&spans[i], 1), Pooling::kMean, alone).ok());
    EXPECT_LE(MaxRelErr(&batched[i * d], alone.data(), d), 1e-6) << "sequence " << i;
  }
}

}  // namespace
}  // namespace chunkserve::model
