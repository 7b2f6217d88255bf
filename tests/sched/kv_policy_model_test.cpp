// KV policies in the scheduler over a real (small, random-weight) model:
//  - an unlimited budget is bit-identical to no policy (votes are computed
//    and nothing is dropped; pages reads every page);
//  - sinks: greedy outputs equal a plain reference that, on the same
//    schedule, copies the kept rows into a fresh contiguous cache by hand
//    and runs each next token at the next slot with its true position.
#include <gtest/gtest.h>

#include <map>

#include "kv/kv_policy.h"
#include "model/gem_filter.h"
#include "model/model.h"
#include "sched/model_executor.h"
#include "sched/sched_fixture.h"
#include "sched/scheduler.h"

namespace chunkserve::sched {
namespace {

using testing::LoadFixture;
using testing::Prompt;
using testing::RunAlone;

constexpr int64_t kBlock = 8;

struct ScheduledRun {
  std::vector<int32_t> tokens;
  RequestStats stats;
};

ScheduledRun RunOn(Scheduler& sched, const std::vector<int32_t>& prompt, int64_t max_new, const kv::KvPolicy& policy) {
  ScheduledRun run;
  SchedRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 0;
  r.max_new_tokens = max_new;
  r.kv_policy = policy;
  r.on_token = [&run](int32_t t) {
    run.tokens.push_back(t);
    return true;
  };
  r.on_done = [&run](const RequestOutcome& o) { run.stats = o.stats; };
  EXPECT_TRUE(sched.Submit(std::move(r)).ok());
  while (sched.RunStep()) {
  }
  return run;
}

ScheduledRun RunScheduled(model::Model& m, const std::vector<int32_t>& prompt, int64_t max_new, const kv::KvPolicy& policy) {
  ModelExecutor exec(&m);
  kv::BlockPoolOptions po = PoolOptionsFor(m, kBlock, 0);
  po.budget_bytes = size_t{64} * kBlock * 2 * static_cast<size_t>(po.n_layers * po.row_floats) * Traits(po.type).type_size;
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  SchedulerOptions so;
  so.max_step_tokens = 256;  // the whole prompt in one step
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), nullptr, so)).value();
  ScheduledRun run = RunOn(*sched, prompt, max_new, policy);
  EXPECT_EQ(pool->n_free(), pool->n_blocks());  // nothing leaked by compactions
  return run;
}

int32_t Argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// The sinks policy by hand: whenever the cache holds budget + block slots,
// a new cache gets the first n_sinks and the last budget - n_sinks rows.
// rolling (streaming): positions are slots, so the moved rows are rotated
// down by as many positions and each token runs at its slot's position.
std::vector<int32_t> SinksReference(model::Model& m, const std::vector<int32_t>& prompt, int64_t max_new,
                                    int64_t budget, int64_t n_sinks, bool rolling = false) {
  const int n_layers = static_cast<int>(m.hparams().n_layer);
  const int64_t row = m.hparams().n_embd_kv();
  const int64_t capacity = static_cast<int64_t>(prompt.size()) + max_new;
  auto kv = m.NewKvCache(capacity);
  int64_t n_slots = 0;
  auto compact_if_due = [&] {
    if (n_slots < budget + kBlock) return;
    auto fresh = m.NewKvCache(capacity);
    std::vector<float> buf(static_cast<size_t>(row));
    const std::vector<int64_t> keep = kv::SinksAndRecent(n_slots, budget, n_sinks);
    for (int l = 0; l < n_layers; ++l)
      for (size_t i = 0; i < keep.size(); ++i) {
        kv->LoadK(l, keep[i], buf.data());
        fresh->StoreK(l, static_cast<int64_t>(i), buf.data());
        kv->LoadV(l, keep[i], buf.data());
        fresh->StoreV(l, static_cast<int64_t>(i), buf.data());
      }
    const auto n_keep = static_cast<int64_t>(keep.size());
    if (rolling) EXPECT_TRUE(m.ShiftKeys(fresh.get(), n_sinks, n_keep - n_sinks, n_keep - n_slots).ok());
    kv = std::move(fresh);
    n_slots = n_keep;
  };
  model::Logits logits;
  std::vector<int32_t> positions(prompt.size());
  for (size_t i = 0; i < prompt.size(); ++i) positions[i] = static_cast<int32_t>(i);
  model::SequenceBatch seq{.kv = kv.get(), .tokens = prompt, .first_slot = 0, .positions = positions,
                           .logits = model::LogitsMode::kLast};
  EXPECT_TRUE(m.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits).ok());
  n_slots = static_cast<int64_t>(prompt.size());
  compact_if_due();
  std::vector<int32_t> out;
  for (int64_t i = 0; i < max_new; ++i) {
    out.push_back(Argmax(logits.Row(0)));
    if (i + 1 == max_new) break;
    const auto position = static_cast<int32_t>(rolling ? n_slots : static_cast<int64_t>(prompt.size()) + i);
    model::SequenceBatch d{.kv = kv.get(), .tokens = std::span<const int32_t>(&out.back(), 1), .first_slot = n_slots,
                           .positions = std::span<const int32_t>(&position, 1), .logits = model::LogitsMode::kLast};
    EXPECT_TRUE(m.Forward(std::span<const model::SequenceBatch>(&d, 1), &logits).ok());
    ++n_slots;
    compact_if_due();
  }
  return out;
}

TEST(KvPolicyModelTest, UnlimitedBudgetIsBitIdenticalToFullKv) {
  auto m = LoadFixture("f32");
  ASSERT_NE(m, nullptr);
  const auto prompt = Prompt(3, 50);
  const std::vector<int32_t> want = RunAlone(*m, prompt, 20);
  for (kv::KvPolicyKind kind :
       {kv::KvPolicyKind::kSinks, kv::KvPolicyKind::kSnapKv, kv::KvPolicyKind::kH2O, kv::KvPolicyKind::kPages,
        kv::KvPolicyKind::kHeadwise, kv::KvPolicyKind::kGemFilter}) {
    kv::KvPolicy p;
    p.kind = kind;
    p.budget = 1000;
    const ScheduledRun run = RunScheduled(*m, prompt, 20, p);
    EXPECT_EQ(run.tokens, want) << kv::KvPolicyName(kind);
    EXPECT_EQ(run.stats.n_kv_compactions, 0);
  }
}

TEST(KvPolicyModelTest, SinksEqualAttendingOverTheKeptRowsByHand) {
  for (const std::string type : {"f32", "q8_0"}) {
    auto m = LoadFixture(type);
    ASSERT_NE(m, nullptr);
    const auto prompt = Prompt(4, 45);
    kv::KvPolicy p;
    p.kind = kv::KvPolicyKind::kSinks;
    p.budget = 16;
    p.n_sinks = 4;
    const ScheduledRun run = RunScheduled(*m, prompt, 30, p);
    EXPECT_EQ(run.tokens, SinksReference(*m, prompt, 30, p.budget, p.n_sinks)) << type;
    // After the prompt (45 -> 16), then every 8 tokens.
    EXPECT_EQ(run.stats.n_kv_compactions, 4) << type;
    EXPECT_EQ(run.stats.n_kv_evicted_tokens, 29 + 3 * 8) << type;
    // And the policy did change the answer (the twin is not vacuous).
    EXPECT_NE(run.tokens, RunAlone(*m, prompt, 30)) << type;
  }
}

// Streaming: positions stay within budget + a block, so a 64-token context
// generates 200 tokens; the outputs equal the hand-made rolling reference.
TEST(KvPolicyModelTest, StreamingGoesPastTheContextAsTheReferenceDoes) {
  for (const std::string type : {"f32", "q8_0"}) {
    auto m = LoadFixture(type);
    ASSERT_NE(m, nullptr);
    const auto prompt = Prompt(7, 20);
    kv::KvPolicy p;
    p.kind = kv::KvPolicyKind::kStreaming;
    p.budget = 24;
    p.n_sinks = 4;
    ModelExecutor exec(m.get());
    kv::BlockPoolOptions po = PoolOptionsFor(*m, kBlock, 0);
    po.budget_bytes = size_t{8} * kBlock * 2 * static_cast<size_t>(po.n_layers * po.row_floats) * Traits(po.type).type_size;
    auto pool = std::move(kv::BlockPool::Create(po)).value();
    SchedulerOptions so;
    so.max_step_tokens = 256;
    so.max_context_tokens = 40;  // budget + a block fits; 220 positions do not
    auto sched = std::move(Scheduler::Create(&exec, pool.get(), nullptr, so)).value();
    const ScheduledRun run = RunOn(*sched, prompt, 200, p);
    ASSERT_EQ(run.tokens.size(), 200u) << type;
    EXPECT_EQ(run.tokens, SinksReference(*m, prompt, 200, p.budget, p.n_sinks, /*rolling=*/true)) << type;
    EXPECT_GT(run.stats.n_kv_compactions, 20) << type;
    // Without rolling positions the same request does not fit the context.
    p.kind = kv::KvPolicyKind::kSinks;
    SchedRequest r;
    r.prompt = prompt;
    r.max_new_tokens = 200;
    r.kv_policy = p;
    EXPECT_EQ(sched->Submit(std::move(r)).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(KvPolicyModelTest, SnapKvAndH2OHoldTheCacheToTheirBudget) {
  auto m = LoadFixture("f32");
  ASSERT_NE(m, nullptr);
  const auto prompt = Prompt(5, 60);
  kv::KvPolicy snap;
  snap.kind = kv::KvPolicyKind::kSnapKv;
  snap.budget = 24;
  snap.window = 8;
  ScheduledRun run = RunScheduled(*m, prompt, 10, snap);
  EXPECT_EQ(run.tokens.size(), 10u);
  EXPECT_EQ(run.stats.n_kv_compactions, 1);  // once, at the end of the prompt
  EXPECT_EQ(run.stats.n_kv_evicted_tokens, 60 - 24);
  kv::KvPolicy h2o;
  h2o.kind = kv::KvPolicyKind::kH2O;
  h2o.budget = 24;
  run = RunScheduled(*m, prompt, 20, h2o);
  EXPECT_EQ(run.tokens.size(), 20u);
  // At the end of the prompt (60 -> 24), then each time 8 more accrued.
  EXPECT_EQ(run.stats.n_kv_compactions, 3);
  EXPECT_EQ(run.stats.n_kv_evicted_tokens, 36 + 2 * 8);
}

// GemFilter: the scheduled request answers exactly as the kept tokens do as
// a prompt of their own; the kept tokens are the first, the last and the
// best of the prompt's last token's attention at the filter layer, which
// the first layers alone compute with the bits of the whole model.
TEST(KvPolicyModelTest, GemFilterAnswersAsItsKeptTokensAlone) {
  auto m = LoadFixture("f32");
  ASSERT_NE(m, nullptr);
  const auto prompt = Prompt(7, 90);
  const int64_t layer = model::GemFilterLayer(m->hparams());
  auto keep = model::GemFilterSelect(*m, prompt, 30, layer);
  ASSERT_TRUE(keep.ok()) << keep.status().ToString();
  ASSERT_EQ(keep->size(), 30u);
  EXPECT_EQ(keep->front(), 0);
  EXPECT_EQ(keep->back(), 89);
  // The filter layer's votes from a full forward pass rank the same tokens.
  auto kv = m->NewKvCache(90);
  model::AttentionVotes votes{.n_rows = 1};
  model::Logits logits;
  const model::SequenceBatch seq{.kv = kv.get(), .tokens = prompt, .first_slot = 0,
                                 .logits = model::LogitsMode::kLast, .votes = &votes};
  ASSERT_TRUE(m->Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits).ok());
  std::vector<std::pair<float, int64_t>> ranked;
  for (int64_t s = 1; s < 89; ++s) {
    float score = 0;
    for (int64_t h = 0; h < m->hparams().n_head_kv; ++h)
      score += votes.mass[static_cast<size_t>((layer * m->hparams().n_head_kv + h) * 90 + s)];
    ranked.emplace_back(-score, s);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<int64_t> want = {0, 89};
  for (size_t i = 0; i < 28; ++i) want.push_back(ranked[i].second);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*keep, want);

  std::vector<int32_t> kept;
  for (int64_t i : *keep) kept.push_back(prompt[static_cast<size_t>(i)]);
  kv::KvPolicy gem;
  gem.kind = kv::KvPolicyKind::kGemFilter;
  gem.budget = 30;
  const ScheduledRun run = RunScheduled(*m, prompt, 12, gem);
  EXPECT_EQ(run.tokens, RunAlone(*m, kept, 12));
  EXPECT_EQ(run.stats.n_kv_evicted_tokens, 60);
}

// With the prefix cache on, a compacted request publishes only rows that are
// still exactly its prompt's: a later full-KV request with the same prompt
// (served from the cache) answers as if alone.
TEST(KvPolicyModelTest, CompactedRowsNeverReachThePrefixCache) {
  auto m = LoadFixture("f32");
  ASSERT_NE(m, nullptr);
  ModelExecutor exec(m.get());
  kv::BlockPoolOptions po = PoolOptionsFor(*m, kBlock, 0);
  po.budget_bytes = size_t{64} * kBlock * 2 * static_cast<size_t>(po.n_layers * po.row_floats) * Traits(po.type).type_size;
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  kv::PrefixCache cache(pool.get(), pool->n_blocks());
  SchedulerOptions so;
  so.max_step_tokens = 16;  // prefill in slices: blocks are published as they complete
  so.prefix_namespace = m->fingerprint();
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), &cache, so)).value();
  const auto prompt = Prompt(6, 70);
  for (kv::KvPolicyKind kind : {kv::KvPolicyKind::kSinks, kv::KvPolicyKind::kSnapKv, kv::KvPolicyKind::kH2O}) {
    kv::KvPolicy p;
    p.kind = kind;
    p.budget = 24;
    p.window = 8;
    const ScheduledRun compacted = RunOn(*sched, prompt, 12, p);
    EXPECT_GT(compacted.stats.n_kv_compactions, 0) << kv::KvPolicyName(kind);
    const ScheduledRun full = RunOn(*sched, prompt, 12, kv::KvPolicy{});
    EXPECT_GT(full.stats.n_prefix_reused_tokens, 0) << kv::KvPolicyName(kind);
    EXPECT_EQ(full.tokens, RunAlone(*m, prompt, 12)) << kv::KvPolicyName(kind);
  }
}

}  // namespace
}  // namespace chunkserve::sched
