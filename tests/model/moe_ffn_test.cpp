// The mixture-of-experts block: routing, and the grouped schedule against
// its per-token twin (model/moe_ffn.h) on fixture MoE models.
#include "model/moe_ffn.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "fixture/fixture_model.h"
#include "model/forward_profile.h"
#include "model/model.h"
#include "model/temp_path.h"

namespace chunkserve::model {
namespace {

TEST(MoeRoutingTest, TopKDescendingTiesToLowerIndexAndRenormalized) {
  // Token 0: experts 1 and 3 tie for first, 2 is third. Token 1: uniform.
  const std::vector<float> logits = {0.0f, 2.0f, 1.0f, 2.0f, -1.0f,  //
                                     0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  MoeRouting r;
  RouteTopK(logits.data(), 2, 5, 3, /*norm_topk=*/false, &r);
  EXPECT_EQ(r.expert, (std::vector<int32_t>{1, 3, 2, 0, 1, 2}));
  const double z = std::exp(0.0) + 2 * std::exp(2.0) + std::exp(1.0) + std::exp(-1.0);
  EXPECT_NEAR(r.weight[0], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(r.weight[2], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(r.weight[3], 0.2, 1e-6);
  RouteTopK(logits.data(), 2, 5, 3, /*norm_topk=*/true, &r);
  EXPECT_NEAR(r.weight[0] + r.weight[1] + r.weight[2], 1.0, 1e-6);
  EXPECT_NEAR(r.weight[0], std::exp(2.0) / (2 * std::exp(2.0) + std::exp(1.0)), 1e-6);
  EXPECT_NEAR(r.weight[4], 1.0 / 3, 1e-6);
  // expert_weights_scale multiplies after the renormalization.
  RouteTopK(logits.data(), 2, 5, 3, /*norm_topk=*/true, &r, /*weights_scale=*/2.5f);
  EXPECT_NEAR(r.weight[3] + r.weight[4] + r.weight[5], 2.5, 1e-6);
}

fixture::FixtureSpec MoeSpec(const std::string& arch, const std::string& type) {
  fixture::FixtureSpec spec;
  spec.arch = arch;
  spec.type = type;
  spec.seed = 5;
  spec.n_embd = 256;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 256;
  spec.n_vocab = 300;
  spec.n_expert = 8;
  spec.n_expert_used = 3;
  spec.n_ff_exp = 256;
  spec.n_ff_shexp = 512;
  return spec;
}

// Three sequences of 9, 1 and 6 tokens in one batch (prefill slices and a
// decode together, as the scheduler batches them), all logits.
std::vector<float> RunBatch(Model& m, MoeSchedule schedule) {
  m.set_moe_schedule(schedule);
  std::vector<std::vector<int32_t>> tokens = {{1, 17, 256, 42, 299, 3, 100, 7, 258}, {64}, {200, 5, 9, 11, 13, 2}};
  std::vector<std::unique_ptr<ContiguousKvCache>> caches;
  std::vector<SequenceBatch> batch;
  for (const auto& t : tokens) {
    caches.push_back(m.NewKvCache(16));
    batch.push_back({.kv = caches.back().get(), .tokens = t, .first_slot = 0, .positions = {}, .logits = LogitsMode::kAll});
  }
  Logits logits;
  const Status s = m.Forward(batch, &logits);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(logits.n_rows, 16);
  return logits.data;
}

// Grouped == per-token: bit for bit with quantized experts (a row's MatMul
// result does not depend on the other rows of the call), within f32
// summation-order noise for f32 experts.
TEST(MoeFfnTest, GroupedScheduleEqualsPerTokenTwin) {
  struct Case {
    std::string arch, type;
    bool bitwise;
  };
  for (const Case& c : {Case{"qwen2moe", "q4_k", true}, Case{"qwen3moe", "q8_0", true}, Case{"olmoe", "q4_k_m", true},
                        Case{"qwen3moe", "f32", false}}) {
    SCOPED_TRACE(c.arch + "/" + c.type);
    const std::string path = testing_util::TempPath("moe_twin_" + c.arch + "_" + c.type + ".gguf");
    ASSERT_TRUE(fixture::WriteFixtureModel(MoeSpec(c.arch, c.type), path, nullptr).ok());
    for (int threads : {1, 2}) {
      auto m = Model::Load(path, {.n_threads = threads, .attention_precision = kernels::AttentionPrecision::kF32});
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      const std::vector<float> grouped = RunBatch(**m, MoeSchedule::kGrouped);
      const std::vector<float> per_token = RunBatch(**m, MoeSchedule::kPerToken);
      ASSERT_EQ(grouped.size(), per_token.size());
      if (c.bitwise) {
        EXPECT_EQ(grouped, per_token) << threads << " threads";
      } else {
        double worst = 0, scale = 0;
        for (size_t i = 0; i < grouped.size(); ++i) {
          worst = std::max(worst, std::fabs(static_cast<double>(grouped[i]) - per_token[i]));
          scale = std::max(scale, std::fabs(static_cast<double>(per_token[i])));
        }
        EXPECT_LE(worst, 1e-5 * scale) << threads << " threads";
      }
    }
  }
}

// A batch's result does not depend on what else is in it: each sequence
// alone (decoded token by token) gives the rows it gave in the batch, up to
// attention's summation order (one query vs six).
TEST(MoeFfnTest, BatchingDoesNotChangeASequencesLogits) {
  const std::string path = testing_util::TempPath("moe_batch_qwen3moe_q4_k.gguf");
  ASSERT_TRUE(fixture::WriteFixtureModel(MoeSpec("qwen3moe", "q4_k"), path, nullptr).ok());
  auto m = Model::Load(path, {.n_threads = 2, .attention_precision = kernels::AttentionPrecision::kF32});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<float> batched = RunBatch(**m, MoeSchedule::kGrouped);
  const std::vector<int32_t> third = {200, 5, 9, 11, 13, 2};
  auto kv = (*m)->NewKvCache(16);
  const int64_t n_vocab = (*m)->hparams().n_vocab;
  for (size_t i = 0; i < third.size(); ++i) {
    const SequenceBatch seq{.kv = kv.get(), .tokens = std::span(&third[i], 1), .first_slot = static_cast<int64_t>(i),
                            .positions = {}, .logits = LogitsMode::kLast};
    Logits logits;
    ASSERT_TRUE((*m)->Forward({&seq, 1}, &logits).ok());
    const float* want = batched.data() + (10 + i) * n_vocab;
    for (int64_t j = 0; j < n_vocab; ++j)
      ASSERT_NEAR(logits.data[j], want[j], 1e-4f * (1 + std::fabs(want[j]))) << "token " << i << " logit " << j;
  }
}

// What a step streams (the profile's moe_ffn bytes, from the experts each
// MoE layer actually ran): a decode step reads the router and exactly k
// experts per layer; a batch reads each chosen expert once, so its bytes
// stay within every expert once and fall below the per-token twin's.
TEST(MoeFfnTest, DecodeReadsOnlyItsExpertsAndABatchReadsEachOnce) {
  const std::string path = testing_util::TempPath("moe_bytes_qwen2moe_q4_k.gguf");
  ASSERT_TRUE(fixture::WriteFixtureModel(MoeSpec("qwen2moe", "q4_k"), path, nullptr).ok());
  auto m = Model::Load(path, {.n_threads = 2});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const HParams& hp = (*m)->hparams();
  // All experts of the fixture have one size: 3 matrices of n_embd x n_ff_exp
  // q4_K (the router f32, the shared expert 2 x wider). Packed rows take a
  // few percent more than the GGUF's (kernels/packed_layout.h), less than
  // the 20% one expert more or less would change these sums by.
  auto q4k = [](int64_t rows, int64_t cols) { return static_cast<double>(rows * cols / 256 * 144); };
  const double expert = 3 * q4k(hp.n_ff_exp, hp.n_embd);
  const double shared = 3 * q4k(hp.n_ff_shexp, hp.n_embd);
  const double router = static_cast<double>(hp.n_expert * hp.n_embd * 4);
  auto moe_bytes = [&](MoeSchedule schedule, std::span<const SequenceBatch> batch) {
    (*m)->set_moe_schedule(schedule);
    ForwardProfile profile;
    (*m)->set_profile(&profile);
    Logits logits;
    EXPECT_TRUE((*m)->Forward(batch, &logits).ok());
    (*m)->set_profile(nullptr);
    return profile.weight_bytes[static_cast<int>(ForwardOp::kMoeFfn)];
  };
  const std::vector<int32_t> one = {42};
  auto kv = (*m)->NewKvCache(32);
  const SequenceBatch decode{.kv = kv.get(), .tokens = one, .first_slot = 0, .positions = {}, .logits = LogitsMode::kLast};
  EXPECT_NEAR(moe_bytes(MoeSchedule::kGrouped, {&decode, 1}) /
                  (static_cast<double>(hp.n_layer) * (router + hp.n_expert_used * expert + shared)),
              1.0, 0.05);
  std::vector<int32_t> many(16);
  for (int i = 0; i < 16; ++i) many[static_cast<size_t>(i)] = 7 + 13 * i;
  const SequenceBatch prefill{.kv = kv.get(), .tokens = many, .first_slot = 0, .positions = {}, .logits = LogitsMode::kLast};
  const double grouped = moe_bytes(MoeSchedule::kGrouped, {&prefill, 1});
  const double per_token = moe_bytes(MoeSchedule::kPerToken, {&prefill, 1});
  EXPECT_LE(grouped, 1.05 * hp.n_layer * (router + hp.n_expert * expert + shared));
  EXPECT_NEAR(per_token / (hp.n_layer * (router + 16 * (hp.n_expert_used * expert + shared))), 1.0, 0.05);
  EXPECT_LT(grouped * 4, per_token);
}

}  // namespace
}  // namespace chunkserve::model
