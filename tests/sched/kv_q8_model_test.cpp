// Exact twin over a q8_0 KV cache: greedy outputs of requests run together
// through the scheduler (batched decodes, chunked prefill, preemption, the
// prefix cache and shared-prefix attention over q8_0 blocks) equal each
// request run alone over a contiguous q8_0 cache, token for token. The q8_0
// rows are quantized by one routine whatever the batch, and attention over
// them is batch-independent, so the twin holds exactly as for f32 / bf16.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "fixture/fixture_model.h"
#include "model/model.h"
#include "sched/model_executor.h"
#include "sched/scheduler.h"
#include "sched/sched_fixture.h"

namespace chunkserve::sched {
namespace {

using testing::Prompt;
using testing::RunAlone;

// head_dim 32 (one q8_0 block per head), two KV heads.
std::unique_ptr<model::Model> LoadQ8KvFixture() {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "sched_test_q8kv.gguf").string();
  if (!std::filesystem::exists(path)) {
    fixture::FixtureSpec spec;
    spec.arch = "qwen2";
    spec.type = "q8_0";
    spec.seed = 6;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_head = 2;
    spec.n_head_kv = 2;
    spec.n_ff = 128;
    spec.n_vocab = 300;
    const Status s = fixture::WriteFixtureModel(spec, path, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  auto m = model::Model::Load(path, {.n_threads = 2, .kv_type = DType::kQ8_0});
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

void Q8TwinCheck(int64_t pool_blocks, int prefix_tokens, bool expect_preemption) {
  auto m = LoadQ8KvFixture();
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->kv_type(), DType::kQ8_0);
  ModelExecutor exec(m.get());
  const int64_t B = 8;
  kv::BlockPoolOptions po = PoolOptionsFor(*m, B, 0);
  ASSERT_EQ(po.type, DType::kQ8_0);
  po.budget_bytes = static_cast<size_t>(pool_blocks) * B * m->kv_bytes_per_token();
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  ASSERT_EQ(pool->n_blocks(), pool_blocks);
  kv::PrefixCache cache(pool.get(), pool->n_blocks());
  SchedulerOptions so;
  so.max_step_tokens = 48;
  so.max_running = 8;
  so.prefix_namespace = m->fingerprint();
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), &cache, so)).value();
  std::map<uint64_t, std::vector<int32_t>> got, want;
  const auto shared = Prompt(99, prefix_tokens);
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p = Prompt(10 + static_cast<uint64_t>(i), 4 + 11 * i);
    if (i % 2 == 0) p.insert(p.begin(), shared.begin(), shared.end());
    const int64_t max_new = 12 + i;
    SchedRequest r;
    r.prompt = p;
    r.sampling.temperature = 0;
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
  for (const auto& [id, w] : want) EXPECT_EQ(got[id], w) << "request " << id;
  const SchedulerStats st = sched->Stats();
  EXPECT_GT(st.max_batch_sequences, 2);
  if (expect_preemption) EXPECT_GT(st.n_preemptions, 0);
}

TEST(SchedulerQ8KvTest, BatchedGreedyEqualsOneByOneWithPreemption) { Q8TwinCheck(24, 24, true); }
// A 1,100-token shared prefix: whole 1,024-key chunks of q8_0 blocks run as
// shared-prefix attention, split-K across the threads.
TEST(SchedulerQ8KvTest, SharedPrefixOverQ8BlocksEqualsOneByOne) { Q8TwinCheck(1024, 1100, false); }

}  // namespace
}  // namespace chunkserve::sched
