// Model forward pass tests: an independent double-precision twin (naive
// per-token transformer with materialized attention) on small random fixture
// models of every architecture, and the exact twins the engine relies on
// (prefill == token-by-token decode, batched == separate, RoPE relativity).
#include "model/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "fixture/fixture_model.h"
#include "kernels/matmul.h"
#include "model/temp_path.h"

namespace chunkserve::model {
namespace {

// f32 weights, f32 kernels vs a double twin: errors are accumulated rounding.
constexpr double kLogitsTolF32 = 2e-3;
// Batched/serial twins differ only in summation order (and for quantized
// weights, nothing else: activations are quantized per row).
constexpr double kTwinTol = 2e-3;
// Shifting every position by a constant changes RoPE angles, not relative
// angles; the difference is the rounding of sin/cos of larger angles.
constexpr double kRopeShiftTol = 5e-3;

std::string TempPath(const std::string& name) {
  return testing_util::TempPath(name);
}

std::string WriteFixture(const fixture::FixtureSpec& spec) {
  const std::string path = TempPath("model_test_" + spec.arch + "_" + spec.type + (spec.tied ? "_tied" : "") + ".gguf");
  Status s = fixture::WriteFixtureModel(spec, path, nullptr);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return path;
}

fixture::FixtureSpec SmallSpec(const std::string& arch, const std::string& type) {
  fixture::FixtureSpec spec;
  spec.arch = arch;
  spec.type = type;
  spec.seed = 7;
  spec.n_embd = 64;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 96;
  spec.n_vocab = 300;
  if (arch == "gemma3") {
    // Seven layers (the sixth global), tied, global RoPE scaled: the local
    // and global layers rotate differently.
    spec.n_layer = 7;
    spec.tied = true;
    spec.rope_theta = 1000000.0f;
    spec.rope_scale_linear = 8.0f;
  }
  return spec;
}

// ---- The naive twin: weights dequantized to double, one token at a time.
struct NaiveModel {
  const HParams* hp;
  const gguf::GgufFile* file;

  std::vector<double> Tensor(const std::string& name) const {
    const gguf::TensorInfo* t = file->FindTensor(name);
    EXPECT_NE(t, nullptr) << name;
    if (!t) return {};
    const int64_t cols = t->dims[0];
    const int64_t rows = t->n_rows();
    const size_t row_bytes = *RowBytes(t->type, cols);
    std::vector<float> row(cols);
    std::vector<double> out;
    for (int64_t r = 0; r < rows; ++r) {
      kernels::DequantizeRow(t->type, t->data + r * row_bytes, row.data(), cols);
      out.insert(out.end(), row.begin(), row.end());
    }
    return out;
  }
  bool Has(const std::string& name) const { return file->FindTensor(name) != nullptr; }

  static std::vector<double> MatVec(const std::vector<double>& w, const std::vector<double>& x, int64_t rows) {
    const int64_t cols = static_cast<int64_t>(x.size());
    std::vector<double> y(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
    return y;
  }
  static std::vector<double> RmsNorm(const double* x, const std::vector<double>& w, int64_t n, double eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    std::vector<double> out(n);
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
    return out;
  }
  void Rope(double* x, int64_t n_heads, int64_t pos) const {
    const int64_t hd = hp->head_dim, half = hp->n_rot / 2;
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        const double a = pos * hp->rope_freq_scale * std::pow(double(hp->rope_freq_base), -2.0 * i / hp->n_rot);
        const bool neox = hp->rope_style == kernels::RopeStyle::kNeox;
        const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        double* v = x + h * hd;
        const double v0 = v[i0], v1 = v[i1];
        v[i0] = v0 * std::cos(a) - v1 * std::sin(a);
        v[i1] = v0 * std::sin(a) + v1 * std::cos(a);
      }
    }
  }

  // Logits of every token of `tokens` at positions 0..n-1.
  std::vector<std::vector<double>> Run(const std::vector<int32_t>& tokens) const {
    const int64_t d = hp->n_embd, hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv;
    const auto embd = Tensor("token_embd.weight");
    const auto out_w = Has("output.weight") ? Tensor("output.weight") : embd;
    const auto out_norm = Tensor("output_norm.weight");
    std::vector<std::vector<double>> x(tokens.size());
    for (size_t t = 0; t < tokens.size(); ++t) x[t].assign(embd.begin() + tokens[t] * d, embd.begin() + (tokens[t] + 1) * d);
    for (int64_t l = 0; l < hp->n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const auto wq = Tensor(p + "attn_q.weight"), wk = Tensor(p + "attn_k.weight"), wv = Tensor(p + "attn_v.weight");
      const auto wo = Tensor(p + "attn_output.weight");
      const auto an = Tensor(p + "attn_norm.weight"), fn = Tensor(p + "ffn_norm.weight");
      const auto wg = Tensor(p + "ffn_gate.weight"), wu = Tensor(p + "ffn_up.weight"), wd = Tensor(p + "ffn_down.weight");
      std::vector<std::vector<double>> ks, vs;
      std::vector<std::vector<double>> next = x;
      for (size_t t = 0; t < tokens.size(); ++t) {
        auto xn = RmsNorm(x[t].data(), an, d, hp->rms_norm_eps);
        auto q = MatVec(wq, xn, nh * hd), k = MatVec(wk, xn, nkv * hd), v = MatVec(wv, xn, nkv * hd);
        if (hp->qkv_bias) {
          const auto bq = Tensor(p + "attn_q.bias"), bk = Tensor(p + "attn_k.bias"), bv = Tensor(p + "attn_v.bias");
          for (size_t i = 0; i < q.size(); ++i) q[i] += bq[i];
          for (size_t i = 0; i < k.size(); ++i) k[i] += bk[i], v[i] += bv[i];
        }
        if (hp->qk_norm) {
          const auto qn = Tensor(p + "attn_q_norm.weight"), kn = Tensor(p + "attn_k_norm.weight");
          for (int64_t h = 0; h < nh; ++h) {
            auto y = RmsNorm(q.data() + h * hd, qn, hd, hp->rms_norm_eps);
            std::copy(y.begin(), y.end(), q.begin() + h * hd);
          }
          for (int64_t h = 0; h < nkv; ++h) {
            auto y = RmsNorm(k.data() + h * hd, kn, hd, hp->rms_norm_eps);
            std::copy(y.begin(), y.end(), k.begin() + h * hd);
          }
        }
        Rope(q.data(), nh, static_cast<int64_t>(t));
        Rope(k.data(), nkv, static_cast<int64_t>(t));
        ks.push_back(k);
        vs.push_back(v);
        std::vector<double> attn(nh * hd, 0.0);
        for (int64_t h = 0; h < nh; ++h) {
          const int64_t g = h / (nh / nkv);
          std::vector<double> s(t + 1);
          double mx = -1e300;
          for (size_t j = 0; j <= t; ++j) {
            double dot = 0;
            for (int64_t e = 0; e < hd; ++e) dot += q[h * hd + e] * ks[j][g * hd + e];
            s[j] = dot / std::sqrt(double(hd));
            mx = std::max(mx, s[j]);
          }
          double z = 0;
          for (auto& v2 : s) z += (v2 = std::exp(v2 - mx));
          for (size_t j = 0; j <= t; ++j)
            for (int64_t e = 0; e < hd; ++e) attn[h * hd + e] += s[j] / z * vs[j][g * hd + e];
        }
        auto o = MatVec(wo, attn, d);
        for (int64_t i = 0; i < d; ++i) next[t][i] = x[t][i] + o[i];
        auto hn = RmsNorm(next[t].data(), fn, d, hp->rms_norm_eps);
        auto gate = MatVec(wg, hn, hp->n_ff), up = MatVec(wu, hn, hp->n_ff);
        for (int64_t i = 0; i < hp->n_ff; ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
        auto down = MatVec(wd, gate, d);
        for (int64_t i = 0; i < d; ++i) next[t][i] += down[i];
      }
      x = next;
    }
    std::vector<std::vector<double>> logits;
    for (size_t t = 0; t < tokens.size(); ++t) logits.push_back(MatVec(out_w, RmsNorm(x[t].data(), out_norm, d, hp->rms_norm_eps), hp->n_vocab));
    return logits;
  }
};

std::vector<int32_t> SomeTokens(int n, int32_t n_vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11) % n_vocab);
  return t;
}

class ArchTest : public testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(ArchTest, MatchesNaiveTwin) {
  auto spec = SmallSpec(std::get<0>(GetParam()), "f32");
  spec.tied = std::get<1>(GetParam());
  const std::string path = WriteFixture(spec);
  auto model = Model::Load(path, {.n_threads = 1, .attention_precision = kernels::AttentionPrecision::kF32});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const HParams& hp = (*model)->hparams();
  EXPECT_EQ(hp.arch_name, spec.arch);
  EXPECT_EQ(hp.n_vocab, spec.n_vocab);
  const auto tokens = SomeTokens(23, static_cast<int32_t>(hp.n_vocab));
  auto kv = (*model)->NewKvCache(64);
  auto logits = (*model)->ForwardAll(kv.get(), tokens);
  ASSERT_TRUE(logits.ok()) << logits.status().ToString();
  ASSERT_EQ(logits->n_rows, 23);
  const auto expected = NaiveModel{&hp, &(*model)->file()}.Run(tokens);
  for (int64_t t = 0; t < 23; ++t) {
    auto row = logits->Row(t);
    for (int64_t i = 0; i < hp.n_vocab; ++i)
      ASSERT_NEAR(row[i], expected[t][i], kLogitsTolF32 * (1 + std::abs(expected[t][i])))
          << spec.arch << " token " << t << " logit " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchs, ArchTest,
                         testing::Combine(testing::Values("llama", "qwen2", "qwen3"), testing::Bool()));

void ExpectRowsNear(std::span<const float> a, std::span<const float> b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1 + std::abs(b[i]))) << what << " at " << i;
}

class TwinTest : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(TwinTest, PrefillEqualsDecodeAndBatchEqualsSerial) {
  auto spec = SmallSpec(std::get<0>(GetParam()), std::get<1>(GetParam()));
  const std::string path = WriteFixture(spec);
  // One thread: on a loaded test machine a spinning pool only adds noise;
  // MultiThreadedEqualsSingleThreaded covers the pool.
  auto loaded = Model::Load(path, {.n_threads = 1});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  Model& m = **loaded;
  const auto tokens = SomeTokens(40, static_cast<int32_t>(m.hparams().n_vocab));

  // One prefill of all tokens.
  auto kv_prefill = m.NewKvCache(64);
  auto all = m.ForwardAll(kv_prefill.get(), tokens);
  ASSERT_TRUE(all.ok()) << all.status().ToString();

  // Token by token (decode path), and in two uneven prefill slices.
  auto kv_decode = m.NewKvCache(64);
  auto kv_slices = m.NewKvCache(64);
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto one = m.ForwardAll(kv_decode.get(), std::span(tokens).subspan(i, 1), static_cast<int64_t>(i));
    ASSERT_TRUE(one.ok());
    ExpectRowsNear(one->Row(0), all->Row(static_cast<int64_t>(i)), kTwinTol, "decode token " + std::to_string(i));
  }
  auto first = m.ForwardAll(kv_slices.get(), std::span(tokens).subspan(0, 17), 0);
  auto second = m.ForwardAll(kv_slices.get(), std::span(tokens).subspan(17), 17);
  ASSERT_TRUE(first.ok() && second.ok());
  for (int64_t i = 0; i < 23; ++i) ExpectRowsNear(second->Row(i), all->Row(17 + i), kTwinTol, "slice");

  // Two sequences in one batch == each alone; LogitsMode honoured.
  const auto other = SomeTokens(9, 200);
  auto kv_a = m.NewKvCache(64);
  auto kv_b = m.NewKvCache(16);
  SequenceBatch batch[2] = {
      {.kv = kv_a.get(), .tokens = tokens, .first_slot = 0, .positions = {}, .logits = LogitsMode::kLast},
      {.kv = kv_b.get(), .tokens = other, .first_slot = 0, .positions = {}, .logits = LogitsMode::kAll},
  };
  Logits both;
  ASSERT_TRUE(m.Forward(batch, &both).ok());
  ASSERT_EQ(both.n_rows, 1 + 9);
  ExpectRowsNear(both.Row(0), all->Row(39), kTwinTol, "batched seq a");
  auto kv_alone = m.NewKvCache(16);
  auto alone = m.ForwardAll(kv_alone.get(), other);
  ASSERT_TRUE(alone.ok());
  for (int64_t i = 0; i < 9; ++i) ExpectRowsNear(both.Row(1 + i), alone->Row(i), kTwinTol, "batched seq b");
}

INSTANTIATE_TEST_SUITE_P(ArchAndType, TwinTest,
                         testing::Combine(testing::Values("llama", "qwen2", "qwen3"),
                                          testing::Values("f32", "q8_0")));

TEST(ModelTest, MultiThreadedEqualsSingleThreaded) {
  const std::string path = WriteFixture(SmallSpec("qwen3", "q8_0"));
  auto m1 = Model::Load(path, {.n_threads = 1});
  auto m2 = Model::Load(path, {.n_threads = 2});
  ASSERT_TRUE(m1.ok() && m2.ok());
  const auto tokens = SomeTokens(20, 300);
  auto kv1 = (*m1)->NewKvCache(20), kv2 = (*m2)->NewKvCache(20);
  auto a = (*m1)->ForwardAll(kv1.get(), tokens);
  auto b = (*m2)->ForwardAll(kv2.get(), tokens);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int64_t i = 0; i < 20; ++i) ExpectRowsNear(b->Row(i), a->Row(i), kTwinTol, "threads");
}

TEST(ModelTest, RopeDependsOnlyOnRelativePositions) {
  for (const char* arch : {"llama", "qwen2"}) {
    const std::string path = WriteFixture(SmallSpec(arch, "f32"));
    auto m = Model::Load(path, {.n_threads = 1, .attention_precision = kernels::AttentionPrecision::kF32});
    ASSERT_TRUE(m.ok());
    const auto tokens = SomeTokens(12, 300);
    std::vector<int32_t> shifted(12);
    for (int i = 0; i < 12; ++i) shifted[i] = 100 + i;
    auto kv0 = (*m)->NewKvCache(12), kv1 = (*m)->NewKvCache(12);
    auto base = (*m)->ForwardAll(kv0.get(), tokens);
    SequenceBatch seq{.kv = kv1.get(), .tokens = tokens, .first_slot = 0, .positions = shifted, .logits = LogitsMode::kAll};
    Logits moved;
    ASSERT_TRUE((*m)->Forward(std::span(&seq, 1), &moved).ok());
    for (int64_t i = 0; i < 12; ++i) ExpectRowsNear(moved.Row(i), base->Row(i), kRopeShiftTol, arch);
    // Explicit default positions are the default.
    for (int i = 0; i < 12; ++i) shifted[i] = i;
    auto kv2 = (*m)->NewKvCache(12);
    seq.kv = kv2.get();
    ASSERT_TRUE((*m)->Forward(std::span(&seq, 1), &moved).ok());
    EXPECT_EQ(moved.data, base->data);
  }
}

// ShiftKeys: keys computed at positions p and shifted by delta are the keys
// the forward pass computes at p + delta. (Past layer 0 both K and V differ
// by rounding: attention at other absolute angles sums in another order.)
TEST(ModelTest, ShiftKeysEqualsComputingAtTheShiftedPositions) {
  // gemma3: each layer shifts with its own RoPE base.
  for (const char* arch : {"llama", "qwen2", "phi3", "gemma3"}) {
    const std::string path = WriteFixture(SmallSpec(arch, "f32"));
    auto m = Model::Load(path, {.n_threads = 1, .attention_precision = kernels::AttentionPrecision::kF32});
    ASSERT_TRUE(m.ok()) << arch << ": " << m.status().ToString();
    const auto tokens = SomeTokens(10, 300);
    std::vector<int32_t> at(10), later(10);
    for (int i = 0; i < 10; ++i) at[i] = 200 + i, later[i] = 37 + i;
    auto a = (*m)->NewKvCache(10), b = (*m)->NewKvCache(10);
    Logits ignored;
    SequenceBatch sa{.kv = a.get(), .tokens = tokens, .first_slot = 0, .positions = at, .logits = LogitsMode::kNone};
    SequenceBatch sb{.kv = b.get(), .tokens = tokens, .first_slot = 0, .positions = later, .logits = LogitsMode::kNone};
    ASSERT_TRUE((*m)->Forward(std::span(&sa, 1), &ignored).ok());
    ASSERT_TRUE((*m)->Forward(std::span(&sb, 1), &ignored).ok());
    ASSERT_TRUE((*m)->ShiftKeys(a.get(), 0, 10, 37 - 200).ok());
    const int n_layers = static_cast<int>((*m)->hparams().n_layer);
    for (int l = 0; l < n_layers; ++l)
      for (int64_t s = 0; s < 10; ++s)
        for (int64_t j = 0; j < a->row_floats(); ++j) {
          ASSERT_NEAR(a->KRowF32(l, s)[j], b->KRowF32(l, s)[j], 1e-4f * (1 + std::abs(b->KRowF32(l, s)[j])))
              << arch << " layer " << l << " slot " << s << " at " << j;
          if (l == 0) {
            ASSERT_EQ(a->VRowF32(l, s)[j], b->VRowF32(l, s)[j]) << arch;
          }
        }
    EXPECT_EQ((*m)->ShiftKeys(a.get(), 5, 6, 1).code(), StatusCode::kOutOfRange);
  }
}

TEST(ModelTest, ForwardRejectsBadBatches) {
  const std::string path = WriteFixture(SmallSpec("llama", "f32"));
  auto m = Model::Load(path, {.n_threads = 1});
  ASSERT_TRUE(m.ok());
  auto kv = (*m)->NewKvCache(8);
  const std::vector<int32_t> ok_tokens = {1, 2, 3};
  const std::vector<int32_t> bad_tokens = {1, 300};
  auto r = (*m)->ForwardAll(kv.get(), bad_tokens);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("token id 300"), std::string::npos) << r.status().message();
  r = (*m)->ForwardAll(kv.get(), ok_tokens, 6);
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  r = (*m)->ForwardAll(kv.get(), {});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  ContiguousKvCache wrong(1, 32, 8);
  r = (*m)->ForwardAll(&wrong, ok_tokens);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = (*m)->ForwardAll(nullptr, ok_tokens);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(ModelTest, FingerprintAndBytes) {
  auto spec = SmallSpec("qwen2", "q8_0");
  const std::string a = WriteFixture(spec);
  auto ma = Model::Load(a, {.n_threads = 1});
  ASSERT_TRUE(ma.ok());
  auto ma2 = Model::Load(a, {.n_threads = 1});
  ASSERT_TRUE(ma2.ok());
  EXPECT_EQ((*ma)->fingerprint(), (*ma2)->fingerprint());
  spec.seed = 8;
  const std::string b = WriteFixture(spec);  // same name, new weights
  auto mb = Model::Load(b, {.n_threads = 1});
  ASSERT_TRUE(mb.ok());
  EXPECT_NE((*ma)->fingerprint(), (*mb)->fingerprint());
  // q8_0: 34 bytes per 32 weights; the 7 matrices per layer dominate.
  const auto& hp = (*ma)->hparams();
  const size_t per_layer = (hp.n_embd_q() + 2 * hp.n_embd_kv()) * hp.n_embd / 32 * 34 +
                           hp.n_embd * hp.n_embd_q() / 32 * 34 + 3 * hp.n_ff * hp.n_embd / 32 * 34;
  EXPECT_GE((*ma)->weight_bytes_per_token(), hp.n_layer * per_layer);
  EXPECT_LT((*ma)->weight_bytes_per_token(), hp.n_layer * per_layer * 2 + hp.n_vocab * hp.n_embd * 2);
}

// A profile sees every op of every layer once per Forward, charges each
// matrix's packed bytes to its op (their sum is every matrix of
// weight_bytes_per_token), and changes no logit.
TEST(ModelTest, ForwardProfileCountsEveryOpAndChangesNothing) {
  const std::string path = WriteFixture(SmallSpec("qwen2", "q8_0"));
  auto loaded = Model::Load(path, {.n_threads = 2});
  ASSERT_TRUE(loaded.ok());
  Model& m = **loaded;
  const auto tokens = SomeTokens(6, 300);
  auto kv_a = m.NewKvCache(8), kv_b = m.NewKvCache(8);
  auto plain = m.ForwardAll(kv_a.get(), tokens);
  ForwardProfile profile;
  m.set_profile(&profile);
  auto profiled = m.ForwardAll(kv_b.get(), tokens);
  m.set_profile(nullptr);
  ASSERT_TRUE(plain.ok() && profiled.ok());
  EXPECT_EQ(plain->data, profiled->data);
  EXPECT_EQ(profile.forwards, 1);
  const int64_t n_layer = m.hparams().n_layer;
  double matrix_bytes = 0;
  for (int i = 0; i < ForwardProfile::kOps; ++i) {
    const auto op = static_cast<ForwardOp>(i);
    const bool once = op == ForwardOp::kEmbed || op == ForwardOp::kOutputNorm || op == ForwardOp::kHead;
    const bool never = op == ForwardOp::kMoeFfn;  // a dense model
    EXPECT_EQ(profile.calls[i], never ? 0 : once ? 1 : n_layer) << ForwardOpName(op);
    EXPECT_GE(profile.seconds[i], 0.0) << ForwardOpName(op);
    matrix_bytes += profile.weight_bytes[i];
  }
  EXPECT_GT(profile.weight_bytes[static_cast<int>(ForwardOp::kHead)], 0.0);
  EXPECT_EQ(profile.weight_bytes[static_cast<int>(ForwardOp::kAttention)], 0.0);
  // weight_bytes_per_token adds the norms, biases and one embedding row.
  EXPECT_LE(matrix_bytes, static_cast<double>(m.weight_bytes_per_token()));
  EXPECT_GT(matrix_bytes, 0.9 * static_cast<double>(m.weight_bytes_per_token()));
}

// A decode batch (several sequences of 1-3 new tokens, whose attention runs
// as one parallel section over sequences) next to a longer sequence equals
// each sequence alone, with a pool of 2.
TEST(ModelTest, DecodeBatchEqualsEachAlone) {
  const std::string path = WriteFixture(SmallSpec("qwen2", "q8_0"));
  auto loaded = Model::Load(path, {.n_threads = 2});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  Model& m = **loaded;
  const auto n_vocab = static_cast<int32_t>(m.hparams().n_vocab);
  constexpr int kSeqs = 6;
  const int64_t n_past[kSeqs] = {5, 11, 0, 7, 3, 9};
  const int64_t n_new[kSeqs] = {1, 2, 3, 1, 12, 1};  // sequence 4 is not a decode
  std::vector<std::vector<int32_t>> prompts, news;
  std::vector<std::unique_ptr<KvCache>> kv_batch, kv_alone;
  for (int i = 0; i < kSeqs; ++i) {
    const auto all = SomeTokens(static_cast<int>(n_past[i] + n_new[i]), n_vocab - i);
    prompts.emplace_back(all.begin(), all.begin() + n_past[i]);
    news.emplace_back(all.begin() + n_past[i], all.end());
    for (auto* kvs : {&kv_batch, &kv_alone}) {
      kvs->push_back(m.NewKvCache(32));
      if (n_past[i] > 0) {
        ASSERT_TRUE(m.ForwardAll(kvs->back().get(), prompts.back()).ok());
      }
    }
  }
  std::vector<SequenceBatch> batch;
  for (int i = 0; i < kSeqs; ++i) {
    batch.push_back({.kv = kv_batch[i].get(), .tokens = news[i], .first_slot = n_past[i], .positions = {},
                     .logits = LogitsMode::kAll});
  }
  Logits both;
  ASSERT_TRUE(m.Forward(batch, &both).ok());
  int64_t row = 0;
  for (int i = 0; i < kSeqs; ++i) {
    auto alone = m.ForwardAll(kv_alone[i].get(), news[i], n_past[i]);
    ASSERT_TRUE(alone.ok());
    for (int64_t t = 0; t < n_new[i]; ++t, ++row)
      ExpectRowsNear(both.Row(row), alone->Row(t), kTwinTol, "sequence " + std::to_string(i));
  }
}

// bf16 attention operands (the default where vdpbf16ps runs; elsewhere the
// scalar twin) move the logits by bf16 rounding only: close to f32 attention
// with the same argmax on nearly every row, yet not identical (the setting
// is really applied).
TEST(ModelTest, Bf16AttentionStaysCloseToF32) {
  const std::string path = WriteFixture(SmallSpec("qwen2", "f32"));
  auto f32 = Model::Load(path, {.n_threads = 1, .attention_precision = kernels::AttentionPrecision::kF32});
  auto bf16 = Model::Load(path, {.n_threads = 1, .attention_precision = kernels::AttentionPrecision::kBf16});
  ASSERT_TRUE(f32.ok() && bf16.ok());
  EXPECT_EQ((*bf16)->attention_precision(), kernels::AttentionPrecision::kBf16);
  const auto tokens = SomeTokens(64, 300);
  auto kv_a = (*f32)->NewKvCache(64), kv_b = (*bf16)->NewKvCache(64);
  auto a = (*f32)->ForwardAll(kv_a.get(), tokens);
  auto b = (*bf16)->ForwardAll(kv_b.get(), tokens);
  ASSERT_TRUE(a.ok() && b.ok());
  float max_diff = 0, max_logit = 0;
  int same_argmax = 0;
  for (int64_t r = 0; r < a->n_rows; ++r) {
    const auto x = a->Row(r), y = b->Row(r);
    for (size_t v = 0; v < x.size(); ++v) {
      max_diff = std::max(max_diff, std::abs(x[v] - y[v]));
      max_logit = std::max(max_logit, std::abs(x[v]));
    }
    same_argmax += std::max_element(x.begin(), x.end()) - x.begin() == std::max_element(y.begin(), y.end()) - y.begin();
  }
  // Measured: 0.065 of 8.3 (0.8%), 63 of 64 rows with the same argmax.
  EXPECT_GT(max_diff, 0.0f);
  EXPECT_LT(max_diff, 0.02f * max_logit) << "max |logit| " << max_logit;
  EXPECT_GE(same_argmax, 60);
}

// Under bf16 attention a bf16 KV cache holds exactly the operands attention
// would round an f32 cache's rows to: the same logits bit for bit, prefill
// and decode, at half the bytes. Under f32 attention it is refused.
TEST(ModelTest, Bf16KvCacheEqualsF32KvCacheUnderBf16Attention) {
  const std::string path = WriteFixture(SmallSpec("qwen2", "q8_0"));
  auto loaded = Model::Load(path, {.n_threads = 2, .attention_precision = kernels::AttentionPrecision::kBf16});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  Model& m = **loaded;
  EXPECT_EQ(m.kv_type(), DType::kBF16);
  const auto tokens = SomeTokens(40, 300);
  auto f32 = m.NewKvCache(48, DType::kF32), bf16 = m.NewKvCache(48);
  EXPECT_EQ(bf16->bytes_used() * 2, f32->bytes_used());
  auto a = m.ForwardAll(f32.get(), std::span<const int32_t>(tokens).first(32));
  auto b = m.ForwardAll(bf16.get(), std::span<const int32_t>(tokens).first(32));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->data, b->data);
  for (int64_t t = 32; t < 40; ++t) {  // decode steps
    const std::span<const int32_t> one(&tokens[static_cast<size_t>(t)], 1);
    auto da = m.ForwardAll(f32.get(), one, t), db = m.ForwardAll(bf16.get(), one, t);
    ASSERT_TRUE(da.ok() && db.ok());
    EXPECT_EQ(da->data, db->data) << "decode step " << t;
  }

  auto exact = Model::Load(path, {.n_threads = 1, .attention_precision = kernels::AttentionPrecision::kF32});
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ((*exact)->kv_type(), DType::kF32);
  auto refused = (*exact)->ForwardAll(bf16.get(), std::span<const int32_t>(tokens).first(4));
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("needs bf16 attention"), std::string::npos) << refused.status().ToString();
}

}  // namespace
}  // namespace chunkserve::model

namespace chunkserve::model {
namespace {

// head_dim 32: the smallest a q8_0 KV cache takes (one block per head).
fixture::FixtureSpec Q8KvSpec() {
  fixture::FixtureSpec spec = SmallSpec("qwen2", "q8_0");
  spec.n_head = 2;
  spec.n_head_kv = 2;
  return spec;
}

// A q8_0 KV cache (34 bytes per 32 values) moves the logits by its rounding
// only: close to an f32 cache with the same argmax on nearly every row, not
// identical (the rows really are quantized), at 17/64 of the bytes; prefill
// then decode equals one prefill of it all within the twin tolerance.
TEST(ModelTest, Q8KvCacheStaysCloseToF32) {
  const std::string path = WriteFixture(Q8KvSpec());
  for (auto precision : {kernels::AttentionPrecision::kF32, kernels::AttentionPrecision::kBf16}) {
    auto loaded = Model::Load(path, {.n_threads = 2, .attention_precision = precision, .kv_type = DType::kQ8_0});
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    Model& m = **loaded;
    EXPECT_EQ(m.kv_type(), DType::kQ8_0);
    EXPECT_EQ(m.kv_bytes_per_token(), size_t{2} * 2 * 68);  // 2 layers, K and V, 64 values
    const auto tokens = SomeTokens(64, 300);
    auto f32 = m.NewKvCache(64, DType::kF32), q8 = m.NewKvCache(64);
    EXPECT_EQ(q8->type(), DType::kQ8_0);
    EXPECT_EQ(q8->bytes_used() * 64, f32->bytes_used() * 17);
    auto a = m.ForwardAll(f32.get(), tokens);
    auto b = m.ForwardAll(q8.get(), tokens);
    ASSERT_TRUE(a.ok() && b.ok()) << b.status().ToString();
    float max_diff = 0, max_logit = 0;
    int same_argmax = 0;
    for (int64_t r = 0; r < a->n_rows; ++r) {
      const auto x = a->Row(r), y = b->Row(r);
      for (size_t v = 0; v < x.size(); ++v) {
        max_diff = std::max(max_diff, std::abs(x[v] - y[v]));
        max_logit = std::max(max_logit, std::abs(x[v]));
      }
      same_argmax +=
          std::max_element(x.begin(), x.end()) - x.begin() == std::max_element(y.begin(), y.end()) - y.begin();
    }
    // Measured: 0.27 of 7.9 (3.4%, f32 and bf16 operands alike).
    EXPECT_GT(max_diff, 0.0f);
    EXPECT_LT(max_diff, 0.06f * max_logit) << "max |logit| " << max_logit;
    EXPECT_GE(same_argmax, 60);
    // Prefill of 48 then 16 decode steps against the one prefill.
    auto q8b = m.NewKvCache(64);
    ASSERT_TRUE(m.ForwardAll(q8b.get(), std::span<const int32_t>(tokens).first(48)).ok());
    for (int64_t t = 48; t < 64; ++t) {
      auto d = m.ForwardAll(q8b.get(), std::span<const int32_t>(&tokens[static_cast<size_t>(t)], 1), t);
      ASSERT_TRUE(d.ok());
      ExpectRowsNear(d->Row(0), b->Row(t), kTwinTol, "q8_0 decode step " + std::to_string(t));
    }
  }
}

// Load refuses KV types that do not fit: q8_0 where head_dim % 32 != 0, bf16
// under f32 attention; Forward refuses such caches too.
TEST(ModelTest, KvTypesThatDoNotFitAreRefused) {
  const std::string small = WriteFixture(SmallSpec("qwen2", "q8_0"));  // head_dim 16
  auto q8 = Model::Load(small, {.n_threads = 1, .kv_type = DType::kQ8_0});
  EXPECT_EQ(q8.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(q8.status().message().find("head_dim 16"), std::string::npos) << q8.status().ToString();
  auto bf16 = Model::Load(small, {.n_threads = 1, .attention_precision = kernels::AttentionPrecision::kF32,
                                  .kv_type = DType::kBF16});
  EXPECT_EQ(bf16.status().code(), StatusCode::kInvalidArgument);
  auto m = Model::Load(small, {.n_threads = 1});
  ASSERT_TRUE(m.ok());
  ContiguousKvCache cache(2, (*m)->hparams().n_embd_kv(), 8, DType::kQ8_0);  // 32 values a row: whole blocks
  auto refused = (*m)->ForwardAll(&cache, SomeTokens(4, 300));
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().ToString();
}

// ShiftKeys over a q8_0 cache dequantizes, rotates and requantizes: layer
// 0's keys shifted from p to p + delta are those computed at p + delta to
// within the two roundings (half a step each of the block's scale, plus the
// third of the computed keys: under 2 steps).
TEST(ModelTest, ShiftKeysOfQ8RowsIsWithinTheirRounding) {
  const std::string path = WriteFixture(Q8KvSpec());
  auto m = Model::Load(path, {.n_threads = 1, .kv_type = DType::kQ8_0});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto tokens = SomeTokens(10, 300);
  std::vector<int32_t> at(10), later(10);
  for (int i = 0; i < 10; ++i) at[i] = 200 + i, later[i] = 37 + i;
  auto a = (*m)->NewKvCache(10), b = (*m)->NewKvCache(10);
  Logits ignored;
  SequenceBatch sa{.kv = a.get(), .tokens = tokens, .first_slot = 0, .positions = at, .logits = LogitsMode::kNone};
  SequenceBatch sb{.kv = b.get(), .tokens = tokens, .first_slot = 0, .positions = later, .logits = LogitsMode::kNone};
  ASSERT_TRUE((*m)->Forward(std::span(&sa, 1), &ignored).ok());
  ASSERT_TRUE((*m)->Forward(std::span(&sb, 1), &ignored).ok());
  std::vector<float> before(static_cast<size_t>(a->row_floats()));
  a->LoadK(0, 3, before.data());
  ASSERT_TRUE((*m)->ShiftKeys(a.get(), 0, 10, 37 - 200).ok());
  const int64_t rf = a->row_floats();
  std::vector<float> x(static_cast<size_t>(rf)), y(static_cast<size_t>(rf));
  for (int64_t s = 0; s < 10; ++s) {
    a->LoadK(0, s, x.data());
    b->LoadK(0, s, y.data());
    for (int64_t blk = 0; blk < rf / 32; ++blk) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::abs(y[static_cast<size_t>(blk * 32 + j)]));
      for (int j = 0; j < 32; ++j) {
        const auto i = static_cast<size_t>(blk * 32 + j);
        ASSERT_NEAR(x[i], y[i], 2.0f * amax / 127 + 1e-5f) << "slot " << s << " at " << i;
      }
    }
  }
  a->LoadK(0, 3, x.data());
  EXPECT_NE(x, before);  // really rotated
}

}  // namespace
}  // namespace chunkserve::model
