// Scheduler behaviour over the FakeExecutor (no model): exact twins under
// batching, chunked prefill, preemption and prefix sharing; decodes first;
// cancellation; queue bound; validation; the threaded loop and shutdown.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <thread>

#include "sched/fake_executor.h"
#include "sched/random_tokens.h"

namespace chunkserve::sched {
namespace {

using testing::FakeExecutor;
using testing::ReferenceGenerate;

constexpr int64_t kVocab = 97;
constexpr int32_t kEog = 0;

std::vector<int32_t> Prompt(uint64_t seed, int n) { return testing::RandomTokens(seed, n, 1, kVocab); }

struct Harness {
  Harness(int64_t n_blocks, int64_t block_tokens, SchedulerOptions opts, bool prefix_cache = true)
      : exec(kVocab, block_tokens) {
    kv::BlockPoolOptions po;
    po.block_tokens = block_tokens;
    po.n_layers = 1;
    po.row_floats = 1;
    po.budget_bytes = static_cast<size_t>(n_blocks * block_tokens * 2) * sizeof(float);
    po.simulated = true;
    pool = std::move(kv::BlockPool::Create(po)).value();
    if (prefix_cache) cache = std::make_unique<kv::PrefixCache>(pool.get(), pool->n_blocks());
    sched = std::move(Scheduler::Create(&exec, pool.get(), cache.get(), opts)).value();
  }

  uint64_t Submit(std::vector<int32_t> prompt, int64_t max_new, int32_t eog = kEog) {
    SchedRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0;  // greedy
    r.max_new_tokens = max_new;
    if (eog >= 0) r.end_of_generation = {eog};
    auto id_holder = std::make_shared<uint64_t>(0);
    r.on_token = [this, id_holder](int32_t t) {
      outputs[*id_holder].push_back(t);
      return true;
    };
    r.on_done = [this, id_holder](const RequestOutcome& o) { outcomes[*id_holder] = o; };
    // The id is known only after Submit; callbacks run later (RunStep).
    StatusOr<uint64_t> id = sched->Submit(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    *id_holder = id.ok() ? *id : 0;
    return *id_holder;
  }

  void RunToCompletion(int max_steps = 100000) {
    for (int i = 0; i < max_steps && sched->RunStep(); ++i) {
    }
  }

  FakeExecutor exec;
  std::unique_ptr<kv::BlockPool> pool;
  std::unique_ptr<kv::PrefixCache> cache;
  std::unique_ptr<Scheduler> sched;
  std::map<uint64_t, std::vector<int32_t>> outputs;
  std::map<uint64_t, RequestOutcome> outcomes;
};

SchedulerOptions Opts(int64_t step_tokens = 32) {
  SchedulerOptions o;
  o.max_step_tokens = step_tokens;
  o.max_running = 16;
  o.max_waiting = 64;
  o.max_context_tokens = 4096;
  return o;
}

TEST(SchedulerTest, SingleRequestMatchesReference) {
  Harness h(64, 4, Opts());
  const auto p = Prompt(1, 10);
  const uint64_t id = h.Submit(p, 12);
  h.RunToCompletion();
  EXPECT_EQ(h.outputs[id], ReferenceGenerate(p, 12, kVocab, kEog));
  ASSERT_TRUE(h.outcomes.count(id));
  EXPECT_EQ(h.outcomes[id].stats.n_prompt_tokens, 10);
  EXPECT_EQ(h.sched->n_in_flight(), 0);
}

TEST(SchedulerTest, ConcurrentRequestsAreExactTwinsAndBatched) {
  Harness h(256, 4, Opts(24));
  std::map<uint64_t, std::vector<int32_t>> expected;
  for (int i = 0; i < 10; ++i) {
    const auto p = Prompt(100 + static_cast<uint64_t>(i), 3 + i * 7);  // up to 66 tokens: several slices
    const int64_t max_new = 5 + i;
    expected[h.Submit(p, max_new)] = ReferenceGenerate(p, max_new, kVocab, kEog);
  }
  h.RunToCompletion();
  for (const auto& [id, want] : expected) {
    EXPECT_EQ(h.outputs[id], want) << "request " << id;
    EXPECT_NE(h.outcomes[id].finish, FinishReason::kError);
  }
  const SchedulerStats st = h.sched->Stats();
  EXPECT_GT(st.max_batch_sequences, 3);
  EXPECT_EQ(st.n_finished, 10);
  // Every step stays within the token budget.
  for (const auto& b : h.exec.batches) {
    int64_t n = 0;
    for (const auto& e : b) n += e.n_tokens;
    EXPECT_LE(n, 24);
  }
  // Nothing leaks: only the prefix cache still holds blocks.
  EXPECT_EQ(h.pool->n_used(), h.cache->n_cached_blocks());
}

TEST(SchedulerTest, DecodesRunEveryStepWhileLongPromptPrefills) {
  Harness h(512, 4, Opts(16));
  const auto short_p = Prompt(7, 5);
  const uint64_t a = h.Submit(short_p, 40, /*eog=*/-1);
  // Let `a` start decoding.
  for (int i = 0; i < 3; ++i) h.sched->RunStep();
  ASSERT_FALSE(h.outputs[a].empty());
  const auto long_p = Prompt(8, 200);  // 200 tokens, budget 16: >= 13 slices
  const uint64_t b = h.Submit(long_p, 4);
  const size_t first = h.exec.batches.size();
  h.RunToCompletion();
  // Every step while `b` prefills also carries `a`'s decode (until `a` ends).
  int64_t steps_with_both = 0;
  for (size_t k = first; k < h.exec.batches.size(); ++k) {
    bool has_a = false, has_b_prefill = false;
    for (const auto& e : h.exec.batches[k]) {
      if (e.seq_id == a) has_a = e.n_tokens == 1;
      if (e.seq_id == b && e.n_tokens > 1) has_b_prefill = true;
    }
    if (has_b_prefill && k < first + 30) {
      EXPECT_TRUE(has_a) << "step " << k;
    }
    steps_with_both += has_a && has_b_prefill;
  }
  EXPECT_GE(steps_with_both, 10);
  EXPECT_EQ(h.outputs[a], ReferenceGenerate(short_p, 40, kVocab, -1));
  EXPECT_EQ(h.outputs[b], ReferenceGenerate(long_p, 4, kVocab, kEog));
}

TEST(SchedulerTest, PreemptionWhenBlocksRunOutKeepsOutputs) {
  // 24 blocks of 4 tokens = 96 slots; 6 requests that each grow to 40 tokens.
  Harness h(24, 4, Opts(32));
  std::map<uint64_t, std::vector<int32_t>> expected;
  for (int i = 0; i < 6; ++i) {
    const auto p = Prompt(200 + static_cast<uint64_t>(i), 8);
    expected[h.Submit(p, 32)] = ReferenceGenerate(p, 32, kVocab, kEog);
  }
  h.RunToCompletion();
  const SchedulerStats st = h.sched->Stats();
  EXPECT_GT(st.n_preemptions, 0);
  for (const auto& [id, want] : expected) {
    EXPECT_EQ(h.outputs[id], want) << "request " << id;
    EXPECT_NE(h.outcomes[id].finish, FinishReason::kError) << h.outcomes[id].status.ToString();
  }
  EXPECT_EQ(h.pool->n_used(), h.cache->n_cached_blocks());
}

TEST(SchedulerTest, PreemptionWithoutPrefixCache) {
  Harness h(20, 4, Opts(32), /*prefix_cache=*/false);
  std::map<uint64_t, std::vector<int32_t>> expected;
  for (int i = 0; i < 5; ++i) {
    const auto p = Prompt(300 + static_cast<uint64_t>(i), 6);
    expected[h.Submit(p, 30)] = ReferenceGenerate(p, 30, kVocab, kEog);
  }
  h.RunToCompletion();
  EXPECT_GT(h.sched->Stats().n_preemptions, 0);
  for (const auto& [id, want] : expected) EXPECT_EQ(h.outputs[id], want) << "request " << id;
  EXPECT_EQ(h.pool->n_free(), h.pool->n_blocks());
}

TEST(SchedulerTest, SharedPrefixIsComputedOnce) {
  Harness h(256, 4, Opts(64));
  const auto prefix = Prompt(400, 48);
  std::map<uint64_t, std::vector<int32_t>> expected;
  int64_t n_prompt_total = 0;
  for (int i = 0; i < 4; ++i) {
    auto p = prefix;
    const auto tail = Prompt(410 + static_cast<uint64_t>(i), 6);
    p.insert(p.end(), tail.begin(), tail.end());
    n_prompt_total += static_cast<int64_t>(p.size());
    expected[h.Submit(p, 6)] = ReferenceGenerate(p, 6, kVocab, kEog);
  }
  h.RunToCompletion();
  for (const auto& [id, want] : expected) EXPECT_EQ(h.outputs[id], want);
  const SchedulerStats st = h.sched->Stats();
  // The 48-token prefix (12 blocks) is computed once; the other three take it
  // from the prefix cache.
  EXPECT_EQ(st.n_prefix_hit_tokens, 3 * 48);
  EXPECT_EQ(st.n_prefill_tokens, n_prompt_total - 3 * 48);
  int64_t cached = 0;
  for (const auto& [id, o] : h.outcomes) cached += o.stats.n_prefix_reused_tokens;
  EXPECT_EQ(cached, 3 * 48);
}

TEST(SchedulerTest, CancelFreesBlocksWithinOneStep) {
  Harness h(128, 4, Opts(32), /*prefix_cache=*/false);
  const uint64_t a = h.Submit(Prompt(500, 20), 100);
  const uint64_t b = h.Submit(Prompt(501, 20), 100);
  for (int i = 0; i < 5; ++i) h.sched->RunStep();
  const int64_t used_before = h.pool->n_used();
  ASSERT_GT(used_before, 0);
  h.sched->Cancel(a);
  h.sched->RunStep();
  ASSERT_TRUE(h.outcomes.count(a));
  EXPECT_EQ(h.outcomes[a].finish, FinishReason::kCancelled);
  EXPECT_LT(h.pool->n_used(), used_before);
  h.sched->Cancel(b);
  h.sched->Cancel(12345);  // unknown: ignored
  h.sched->RunStep();
  EXPECT_EQ(h.pool->n_used(), 0);
  EXPECT_EQ(h.sched->n_in_flight(), 0);
}

TEST(SchedulerTest, OnTokenFalseCancels) {
  Harness h(64, 4, Opts(), false);
  SchedRequest r;
  r.prompt = Prompt(600, 5);
  r.sampling.temperature = 0;
  r.max_new_tokens = 100;
  int n = 0;
  RequestOutcome out;
  r.on_token = [&](int32_t) { return ++n < 3; };
  r.on_done = [&](const RequestOutcome& o) { out = o; };
  ASSERT_TRUE(h.sched->Submit(std::move(r)).ok());
  h.RunToCompletion();
  EXPECT_EQ(n, 3);
  EXPECT_EQ(out.finish, FinishReason::kCancelled);
  EXPECT_EQ(out.stats.n_generated_tokens, 3);
  EXPECT_EQ(h.pool->n_used(), 0);
}

TEST(SchedulerTest, QueueBoundAndValidation) {
  SchedulerOptions o = Opts();
  o.max_waiting = 2;
  o.max_context_tokens = 64;
  Harness h(64, 4, o);
  SchedRequest r;
  r.max_new_tokens = 4;
  r.prompt = {};
  EXPECT_EQ(h.sched->Submit(r).status().code(), StatusCode::kInvalidArgument);
  r.prompt = {1, 2, static_cast<int32_t>(kVocab)};
  EXPECT_EQ(h.sched->Submit(r).status().code(), StatusCode::kInvalidArgument);
  r.prompt = Prompt(1, 62);
  r.max_new_tokens = 4;  // 65 positions > 64 (the last token is never fed back)
  EXPECT_EQ(h.sched->Submit(r).status().code(), StatusCode::kInvalidArgument);
  r.max_new_tokens = 3;  // 64 positions: fits
  EXPECT_TRUE(h.sched->Submit(r).ok());
  h.RunToCompletion();
  r.max_new_tokens = 0;
  r.prompt = Prompt(1, 4);
  EXPECT_EQ(h.sched->Submit(r).status().code(), StatusCode::kInvalidArgument);
  r.max_new_tokens = 2;
  EXPECT_TRUE(h.sched->Submit(r).ok());
  EXPECT_TRUE(h.sched->Submit(r).ok());
  EXPECT_EQ(h.sched->Submit(r).status().code(), StatusCode::kResourceExhausted);
  h.RunToCompletion();
  EXPECT_TRUE(h.sched->Submit(r).ok());  // the queue drained
  h.RunToCompletion();
}

TEST(SchedulerTest, ThreadedLoopAndGracefulShutdown) {
  Harness h(256, 4, Opts(16));
  std::mutex mu;
  std::map<int, std::vector<int32_t>> got;
  std::atomic<int> n_done{0};
  h.sched->Start();
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      SchedRequest r;
      r.prompt = Prompt(700 + static_cast<uint64_t>(c), 5 + c);
      r.sampling.temperature = 0;
      r.max_new_tokens = 10;
      r.end_of_generation = {kEog};
      r.on_token = [&, c](int32_t t) {
        std::lock_guard<std::mutex> l(mu);
        got[c].push_back(t);
        return true;
      };
      r.on_done = [&](const RequestOutcome&) { n_done.fetch_add(1); };
      ASSERT_TRUE(h.sched->Submit(std::move(r)).ok());
    });
  }
  for (auto& t : clients) t.join();
  h.sched->Shutdown(/*grace_ms=*/5000);
  EXPECT_EQ(n_done.load(), 8);
  for (int c = 0; c < 8; ++c)
    EXPECT_EQ(got[c], ReferenceGenerate(Prompt(700 + static_cast<uint64_t>(c), 5 + c), 10, kVocab, kEog));
  SchedRequest r;
  r.prompt = {1};
  EXPECT_EQ(h.sched->Submit(std::move(r)).status().code(), StatusCode::kUnavailable);
}

TEST(SchedulerTest, ShutdownCancelsWhatOutlivesTheGrace) {
  Harness h(256, 4, Opts(16));
  RequestOutcome out;
  std::atomic<bool> done{false};
  SchedRequest r;
  r.prompt = Prompt(800, 5);
  r.max_new_tokens = 1000000 / 1000;  // long
  r.on_token = [](int32_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return true;
  };
  r.on_done = [&](const RequestOutcome& o) {
    out = o;
    done = true;
  };
  h.sched->Start();
  ASSERT_TRUE(h.sched->Submit(std::move(r)).ok());
  h.sched->Shutdown(/*grace_ms=*/50);
  EXPECT_TRUE(done.load());
  EXPECT_EQ(out.finish, FinishReason::kCancelled);
}

TEST(SchedulerTest, DecodeSlowdownLimitCapsPrefillWhileDecoding) {
  // Fake time: a step costs 10 ms + 1 ms per token.
  int64_t now_ns = 0;
  SchedulerOptions o = Opts(128);
  o.max_decode_slowdown = 1.5;
  o.clock = [&] { return now_ns; };
  Harness h(1024, 4, o);
  h.exec.on_run = [&](int64_t n) { now_ns += (10 + n) * 1000000; };
  // Alone, a prompt gets the whole budget (nothing decodes yet).
  const auto p = Prompt(900, 40);
  const uint64_t a = h.Submit(p, 60, /*eog=*/-1);
  h.sched->RunStep();
  EXPECT_EQ(h.exec.batches.back()[0].n_tokens, 40);
  for (int i = 0; i < 5; ++i) h.sched->RunStep();  // `a` decodes: 1-token steps are observed
  // A long prompt arrives while `a` decodes: steps stay within 1.5x of a
  // decode-only step (11 ms -> 16.5 ms: 1 decode + 5 prefill tokens).
  const auto long_p = Prompt(901, 300);
  const uint64_t b = h.Submit(long_p, 4, -1);
  h.sched->RunStep();  // first step with b: the model has not seen 2+ tokens yet, so it explores
  int64_t capped = 0;
  for (int i = 0; i < 40; ++i) {
    h.sched->RunStep();
    int64_t n = 0;
    bool has_a = false;
    for (const auto& e : h.exec.batches.back()) {
      n += e.n_tokens;
      has_a |= e.seq_id == a;
    }
    if (has_a && h.outputs[a].size() < 60) {
      EXPECT_LE(n, 6) << "step " << i;
      capped += n == 6;
    }
  }
  EXPECT_GT(capped, 10);
  EXPECT_GT(h.sched->Stats().n_latency_limited_steps, 10);
  h.RunToCompletion();
  EXPECT_EQ(h.outputs[a], ReferenceGenerate(p, 60, kVocab, -1));
  EXPECT_EQ(h.outputs[b], ReferenceGenerate(long_p, 4, kVocab, -1));
  // Turned off at run time: the prefill gets the whole budget again.
  h.sched->SetMaxDecodeSlowdown(0);
  const uint64_t c = h.Submit(Prompt(902, 8), 50, -1);
  for (int i = 0; i < 3; ++i) h.sched->RunStep();
  h.Submit(Prompt(903, 200), 2, -1);
  h.sched->RunStep();
  int64_t n = 0;
  for (const auto& e : h.exec.batches.back()) n += e.n_tokens;
  EXPECT_EQ(n, 128);
  h.RunToCompletion();
  EXPECT_EQ(h.outputs[c], ReferenceGenerate(Prompt(902, 8), 50, kVocab, -1));
}

}  // namespace
}  // namespace chunkserve::sched
