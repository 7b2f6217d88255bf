// Neural embedders behind LoadEmbedder (rag/embed/embedder_loader.h): bert
// encoders (EncoderEmbedder) and decoders used as embedders
// (DecoderEmbedder), on fixture models written by make_fixture_model.
//
// - dispatch on general.architecture, ids carry model fingerprint + pooling;
// - EmbedBatch rows equal Embed (one text per pass), truncation of long texts;
// - decoder vectors equal the NumPy reference's final-norm hidden states,
//   pooled (last token after the appended end marker, or mean), within 1e-4;
// - query / document prefixes (Qwen3-Embedding's instruction by default for
//   qwen3 queries; a document prefix is part of the id);
// - EmbedCollection through a bert embedder, and a different embedder on the
//   same collection is a FailedPrecondition.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "rag/embed/collection_embedding.h"
#include "rag/embed/decoder_embedder.h"
#include "rag/embed/embedder_loader.h"
#include "rag/embed/encoder_embedder.h"
#include "rag/embed/prefixed_embedder.h"
#include "reference/reference_util.h"

namespace chunkserve::rag {
namespace {

using reference_test::FixtureTool;
using reference_test::RunCommand;
using reference_test::WorkDir;

std::string BertVocab() { return std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-bert-bge.gguf"; }

// Writes a fixture once per process (files are named by their flags, so
// parallel cases of this binary write identical bytes through an atomic
// rename).
std::string Fixture(const std::string& name, const std::string& flags) {
  const std::string path = WorkDir() + "/embed_" + name + ".gguf";
  const auto r = RunCommand(FixtureTool() + " --quiet " + flags + " -o " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

std::string BertFixture(const std::string& name, const std::string& extra = "") {
  return Fixture(name, "--arch bert --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128 --ctx 32 --seed 5 --vocab-gguf " +
                           BertVocab() + " " + extra);
}

class NeuralEmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(FixtureTool())) GTEST_SKIP() << "make_fixture_model not built";
  }
  bool HaveBertVocab() const { return std::filesystem::exists(BertVocab()); }
};

double MaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

TEST_F(NeuralEmbedderTest, LoaderDispatchesBertAndIdsDifferByPooling) {
  if (!HaveBertVocab()) GTEST_SKIP() << "no shared test data";
  const std::string path = BertFixture("bert_cls", "--pooling 2");
  auto e = LoadEmbedder(path, {.n_threads = 2});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->dim(), 64);
  EXPECT_NE((*e)->id().find("bert/"), std::string::npos);
  EXPECT_NE((*e)->id().find("/pool=cls/"), std::string::npos) << (*e)->id();
  EXPECT_FALSE((*e)->removes_common_component());
  auto mean = LoadEmbedder(path, {.pooling = EmbedPooling::kMean, .n_threads = 2});
  ASSERT_TRUE(mean.ok());
  EXPECT_NE((*mean)->id().find("/pool=mean/"), std::string::npos);
  EXPECT_NE((*mean)->id(), (*e)->id());
  // Another seed: same shapes and name, different weights -> another id.
  auto other = LoadEmbedder(BertFixture("bert_cls_seed9", "--pooling 2 --seed 9"), {.n_threads = 2});
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->id(), (*e)->id());
}

TEST_F(NeuralEmbedderTest, BatchEqualsSingleAndLongTextsAreTruncated) {
  if (!HaveBertVocab()) GTEST_SKIP() << "no shared test data";
  auto loaded = EncoderEmbedder::Load(BertFixture("bert_mean"), {.n_threads = 2, .batch_tokens = 40});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const EncoderEmbedder& e = **loaded;
  std::string long_text;
  for (int i = 0; i < 60; ++i) long_text += "word" + std::to_string(i) + " ";
  const std::vector<std::string> texts = {"alpha beta gamma", "", long_text, "The fox.", "chunk serve embeds text"};
  const std::vector<int32_t> ids = e.Tokenize(long_text);
  ASSERT_EQ(static_cast<int64_t>(ids.size()), e.max_tokens());  // cut to the context
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  EXPECT_EQ(e.Tokenize("").size(), 2u);  // [CLS] [SEP]

  std::vector<std::string_view> views(texts.begin(), texts.end());
  const size_t d = static_cast<size_t>(e.dim());
  std::vector<float> batch(texts.size() * d);
  ASSERT_TRUE(e.EmbedBatch(views, batch).ok());
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<float> one(d);
    ASSERT_TRUE(e.Embed(texts[i], one).ok());
    EXPECT_LE(MaxAbsDiff(std::span<const float>(&batch[i * d], d), one), 1e-6) << i;
    double norm = 0;
    for (float x : one) norm += static_cast<double>(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  // A max_tokens override shortens the input and changes the id.
  auto short_e = EncoderEmbedder::Load(BertFixture("bert_mean"), {.n_threads = 1, .max_tokens = 8});
  ASSERT_TRUE(short_e.ok());
  EXPECT_EQ((*short_e)->Tokenize(long_text).size(), 8u);
  EXPECT_NE((*short_e)->id(), e.id());
}

// Embed is const and documented safe from many threads at once (the
// ingester and the server call it concurrently): results equal serial ones.
TEST_F(NeuralEmbedderTest, ConcurrentCallsEqualSerial) {
  if (!HaveBertVocab()) GTEST_SKIP() << "no shared test data";
  auto e = LoadEmbedder(BertFixture("bert_mean"), {.n_threads = 2});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const size_t d = static_cast<size_t>((*e)->dim());
  std::vector<std::string> texts;
  for (int i = 0; i < 24; ++i) texts.push_back("text number " + std::to_string(i) + " about chunks and caches");
  std::vector<float> serial(texts.size() * d), parallel(texts.size() * d);
  for (size_t i = 0; i < texts.size(); ++i) ASSERT_TRUE((*e)->Embed(texts[i], std::span(serial).subspan(i * d, d)).ok());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = t; i < texts.size(); i += 4) ASSERT_TRUE((*e)->Embed(texts[i], std::span(parallel).subspan(i * d, d)).ok());
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(serial, parallel);
}

// Decoder embedders against the NumPy reference's hidden states.
class DecoderEmbedderTest : public NeuralEmbedderTest,
                            public ::testing::WithParamInterface<std::pair<std::string, std::string>> {};

TEST_P(DecoderEmbedderTest, MatchesNumpyHiddenStates) {
  if (reference_test::PythonWithNumpy().empty()) GTEST_SKIP() << "no /usr/bin/python3 with numpy";
  const auto& [arch, pooling] = GetParam();
  const std::string path = Fixture("dec_" + arch, "--arch " + arch + " --n-embd 64 --n-head 4 --n-head-kv 2 --seed 4");
  auto loaded = DecoderEmbedder::Load(
      path, {.pooling = pooling == "mean" ? EmbedPooling::kMean : EmbedPooling::kFromModel, .n_threads = 2,
             .batch_tokens = 16, .attention_precision = kernels::AttentionPrecision::kF32});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const DecoderEmbedder& e = **loaded;
  EXPECT_NE(e.id().find(arch + "/"), std::string::npos);
  EXPECT_NE(e.id().find("/pool=" + pooling + "/"), std::string::npos) << e.id();
  const std::vector<std::string> texts = {"hello world", "the quick brown fox jumps", "a", "retrieval and chunks"};
  std::vector<std::vector<int32_t>> seqs;
  std::string tokens;
  for (const std::string& t : texts) {
    seqs.push_back(e.Tokenize(t));
    tokens += (tokens.empty() ? "" : ";") + reference_test::JoinInts(seqs.back());
  }
  const std::string out = path + "." + pooling + ".ref.bin";
  const auto r = RunCommand(reference_test::PythonWithNumpy() + " " + reference_test::ReferenceScript() + " " + path +
                            " --embed --pooling " + pooling + " --tokens '" + tokens + "' --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<float> want = reference_test::ReadF32File(out);
  const size_t d = static_cast<size_t>(e.dim());
  ASSERT_EQ(want.size(), texts.size() * d);
  std::vector<std::string_view> views(texts.begin(), texts.end());
  std::vector<float> got(texts.size() * d);
  ASSERT_TRUE(e.EmbedBatch(views, got).ok());  // 16 tokens per pass: several passes
  for (size_t i = 0; i < texts.size(); ++i)
    EXPECT_LE(MaxAbsDiff(std::span<const float>(&got[i * d], d), std::span<const float>(&want[i * d], d)), 1e-4)
        << arch << " " << pooling << " text " << i;
}

INSTANTIATE_TEST_SUITE_P(Archs, DecoderEmbedderTest,
                         ::testing::Values(std::pair{std::string("qwen3"), std::string("last")},
                                           std::pair{std::string("qwen2"), std::string("mean")},
                                           std::pair{std::string("llama"), std::string("last")}),
                         [](const auto& info) { return info.param.first + "_" + info.param.second; });

TEST_F(NeuralEmbedderTest, LastTokenPoolingAppendsEndOfText) {
  const std::string path = Fixture("dec_qwen3", "--arch qwen3 --n-embd 64 --n-head 4 --n-head-kv 2 --seed 4");
  auto e = DecoderEmbedder::Load(path, {.n_threads = 1});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->pooling(), model::Pooling::kLast);
  const std::vector<int32_t> ids = (*e)->Tokenize("hello");
  auto tok = tokenizer::Tokenizer::FromGguf((*e)->model().file());
  ASSERT_TRUE(tok.ok());
  const auto eot = (*tok)->FindToken("<|endoftext|>");
  ASSERT_TRUE(eot.has_value());
  EXPECT_EQ(ids.back(), *eot);
  // CLS pooling of a decoder is refused.
  auto cls = DecoderEmbedder::Load(path, {.pooling = EmbedPooling::kCls, .n_threads = 1});
  EXPECT_FALSE(cls.ok());
}

TEST_F(NeuralEmbedderTest, UnknownArchitectureAndBadPoolingName) {
  EXPECT_FALSE(ParseEmbedPooling("max").ok());
  EXPECT_EQ(*ParseEmbedPooling("cls"), EmbedPooling::kCls);
  EXPECT_FALSE(LoadEmbedder(WorkDir() + "/no_such_model.gguf").ok());
  if (!HaveBertVocab()) GTEST_SKIP() << "no shared test data";
  // The vocab-only bert file has no weights: a clear error naming a tensor.
  auto e = LoadEmbedder(BertVocab());
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("token_embd.weight"), std::string::npos) << e.status().ToString();
}

TEST_F(NeuralEmbedderTest, QueriesGetThePrefixAndDocumentsDoNot) {
  const std::string path = Fixture("dec_qwen3", "--arch qwen3 --n-embd 64 --n-head 4 --n-head-kv 2 --seed 4");
  auto plain = DecoderEmbedder::Load(path, {.n_threads = 1});
  auto loaded = LoadEmbedder(path, {.n_threads = 1});  // qwen3: Qwen3-Embedding's query instruction
  ASSERT_TRUE(plain.ok() && loaded.ok());
  const Embedder& e = **loaded;
  const auto* prefixed = dynamic_cast<const PrefixedEmbedder*>(&e);
  ASSERT_NE(prefixed, nullptr);
  EXPECT_EQ(prefixed->query_prefix(), kQwen3EmbeddingQueryPrefix);
  EXPECT_EQ(e.id(), (*plain)->id());  // a query prefix changes no stored vector
  const size_t d = static_cast<size_t>(e.dim());
  std::vector<float> doc(d), doc_plain(d), query(d), query_by_hand(d);
  ASSERT_TRUE(e.Embed("where is the harbor", doc).ok());
  ASSERT_TRUE((*plain)->Embed("where is the harbor", doc_plain).ok());
  EXPECT_EQ(doc, doc_plain);
  ASSERT_TRUE(e.EmbedQuery("where is the harbor", query).ok());
  std::string instructed(kQwen3EmbeddingQueryPrefix);
  instructed += "where is the harbor";
  ASSERT_TRUE((*plain)->Embed(instructed, query_by_hand).ok());
  EXPECT_EQ(query, query_by_hand);
  EXPECT_GT(MaxAbsDiff(query, doc), 1e-3);

  // "" turns it off; a document prefix reaches Embed and EmbedBatch and the id.
  auto none = LoadEmbedder(path, {.n_threads = 1, .query_prefix = ""});
  ASSERT_TRUE(none.ok());
  ASSERT_TRUE((*none)->EmbedQuery("where is the harbor", query).ok());
  EXPECT_EQ(query, doc_plain);
  auto docs = LoadEmbedder(path, {.n_threads = 1, .query_prefix = "", .document_prefix = "passage: "});
  ASSERT_TRUE(docs.ok());
  EXPECT_NE((*docs)->id(), (*plain)->id());
  ASSERT_TRUE((*docs)->Embed("the harbor", doc).ok());
  ASSERT_TRUE((*plain)->Embed("passage: the harbor", doc_plain).ok());
  EXPECT_EQ(doc, doc_plain);
  const std::vector<std::string_view> texts = {"the harbor", "a sailor"};
  std::vector<float> batch(2 * d);
  ASSERT_TRUE((*docs)->EmbedBatch(texts, batch).ok());
  std::vector<float> second(d);
  ASSERT_TRUE((*plain)->Embed("passage: a sailor", second).ok());
  EXPECT_LT(MaxAbsDiff(std::span<const float>(batch).subspan(d), second), 1e-5);
}

}  // namespace
}  // namespace chunkserve::rag
