// Exact twin over a real (small, random-weight) model: greedy outputs of N
// requests run concurrently through the scheduler - batched decodes, chunked
// prefill, preemption - equal the outputs of each request run alone with a
// plain contiguous KV cache and one Model::Forward per token.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "model/model.h"
#include "sched/model_executor.h"
#include "sched/scheduler.h"
#include "sched/sched_fixture.h"

namespace chunkserve::sched {
namespace {

using testing::LoadFixture;
using testing::Prompt;
using testing::RunAlone;

// speculate: every other request decodes with prompt-lookup drafts (and
// longer answers, where a random model's greedy text falls into loops that
// drafts predict): rejected drafts leave rows behind that must never be read.
void TwinCheck(const std::string& type, int64_t pool_blocks, bool expect_preemption, bool speculate = false) {
  auto m = LoadFixture(type);
  ASSERT_NE(m, nullptr);
  ModelExecutor exec(m.get());
  const int64_t B = 8;
  kv::BlockPoolOptions po = PoolOptionsFor(*m, B, 0);
  po.budget_bytes = static_cast<size_t>(pool_blocks) * B * 2 * static_cast<size_t>(po.n_layers * po.row_floats) * Traits(po.type).type_size;
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  kv::PrefixCache cache(pool.get(), pool->n_blocks());
  SchedulerOptions so;
  so.max_step_tokens = 48;
  so.max_running = 8;
  so.prefix_namespace = m->fingerprint();
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), &cache, so)).value();

  std::map<uint64_t, std::vector<int32_t>> got;
  std::map<uint64_t, std::vector<int32_t>> want;
  const auto shared = Prompt(99, 24);
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> p = Prompt(10 + static_cast<uint64_t>(i), 4 + 11 * i);  // up to 81 tokens
    if (i % 3 == 0) p.insert(p.begin(), shared.begin(), shared.end());           // some share a prefix
    const int64_t max_new = speculate ? 40 + 3 * i : 12 + i;
    SchedRequest r;
    r.prompt = p;
    r.sampling.temperature = 0;
    if (speculate && i % 2 == 0) r.lookup_draft = LookupDraftOptions{};
    r.max_new_tokens = max_new;
    auto holder = std::make_shared<uint64_t>(0);
    r.on_token = [&got, holder](int32_t t) {
      got[*holder].push_back(t);
      return true;
    };
    auto id = sched->Submit(std::move(r));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    *holder = *id;
    want[*id] = RunAlone(*m, p, max_new);
  }
  while (sched->RunStep()) {
  }
  for (const auto& [id, w] : want) EXPECT_EQ(got[id], w) << type << " request " << id;
  const SchedulerStats st = sched->Stats();
  EXPECT_GT(st.max_batch_sequences, 2);
  if (expect_preemption) {
    EXPECT_GT(st.n_preemptions, 0);
  }
  if (speculate) {
    EXPECT_GT(st.n_verifications, 0);
    EXPECT_GT(st.n_draft_accepted, 0);
    EXPECT_LT(st.n_draft_accepted, st.n_draft_tokens);  // rejections happened too
  }
}

// Requests sharing a 1,100-token prompt prefix through the prefix cache
// decode together; their shared whole chunk of KV runs as one attention
// over all their queries (model/shared_prefix.h, Hydragen), and each answer
// is still the one it gets alone, token for token.
TEST(SchedulerModelTest, SharedPrefixDecodesEqualOneByOne) {
  for (const std::string type : {"f32", "q8_0"}) {
    auto m = LoadFixture(type);
    ASSERT_NE(m, nullptr);
    ModelExecutor exec(m.get());
    const int64_t B = 8;
    kv::BlockPoolOptions po = PoolOptionsFor(*m, B, 0);
    po.budget_bytes = size_t{1024} * B * 2 * static_cast<size_t>(po.n_layers * po.row_floats) * Traits(po.type).type_size;
    auto pool = std::move(kv::BlockPool::Create(po)).value();
    kv::PrefixCache cache(pool.get(), pool->n_blocks());
    SchedulerOptions so;
    so.max_step_tokens = 512;
    so.max_running = 8;
    so.prefix_namespace = m->fingerprint();
    auto sched = std::move(Scheduler::Create(&exec, pool.get(), &cache, so)).value();
    const auto shared = Prompt(123, 1100);
    std::map<uint64_t, std::vector<int32_t>> got, want;
    for (int i = 0; i < 4; ++i) {
      std::vector<int32_t> p = shared;
      const auto own = Prompt(200 + static_cast<uint64_t>(i), 5 + 7 * i);
      p.insert(p.end(), own.begin(), own.end());
      SchedRequest r;
      r.prompt = p;
      r.sampling.temperature = 0;
      r.max_new_tokens = 10;
      auto holder = std::make_shared<uint64_t>(0);
      r.on_token = [&got, holder](int32_t t) {
        got[*holder].push_back(t);
        return true;
      };
      auto id = sched->Submit(std::move(r));
      ASSERT_TRUE(id.ok()) << id.status().ToString();
      *holder = *id;
      want[*id] = RunAlone(*m, p, 10);
    }
    while (sched->RunStep()) {
    }
    for (const auto& [id, w] : want) EXPECT_EQ(got[id], w) << type << " request " << id;
    const SchedulerStats st = sched->Stats();
    EXPECT_GE(st.n_prefix_hit_tokens, 3 * 1024) << type;  // the later three share the first's blocks
    EXPECT_GE(st.max_batch_sequences, 3) << type;
  }
}

TEST(SchedulerModelTest, BatchedGreedyEqualsOneByOneF32) { TwinCheck("f32", 256, false); }
TEST(SchedulerModelTest, BatchedGreedyEqualsOneByOneQ8WithPreemption) { TwinCheck("q8_0", 40, true); }
TEST(SchedulerModelTest, SpeculativeGreedyEqualsOneByOne) {
  TwinCheck("f32", 256, false, true);
  TwinCheck("q8_0", 60, true, true);
}

}  // namespace
}  // namespace chunkserve::sched
