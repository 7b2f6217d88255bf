// The scheduler's admission hook (prompt_planner.h) over the FakeExecutor:
// a fake planner "places" cached chunks by writing their tokens into the
// request's slots (the fake's KV is the token id), so a slot the scheduler
// forgets to compute, computes out of order or loses to a wrong block reads
// back wrong and changes the output. Checks: exact twins with scattered
// prefill, fewer computed tokens, fill jobs (dedupe, source blocks,
// low priority, dropped for requests), preemption, cancellation and no block
// leaks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "sched/fake_executor.h"
#include "sched/random_tokens.h"
#include "sched/prompt_planner.h"
#include "sched/scheduler.h"

namespace chunkserve::sched {
namespace {

using testing::FakeExecutor;
using testing::ReferenceGenerate;

constexpr int64_t kVocab = 97;
constexpr int32_t kEog = 0;
constexpr int32_t kLeadIn = 1;

std::vector<int32_t> Tokens(uint64_t seed, int n) { return testing::RandomTokens(seed, n, 2, kVocab); }

uint64_t KeyOf(std::span<const int32_t> chunk) {
  uint64_t h = 7;
  for (int32_t t : chunk) h = testing::Mix(h, static_cast<uint64_t>(t));
  return h;
}

// Places cached chunks by writing their tokens; recomputes the last quarter
// of every placed chunk.
class FakePlanner final : public PromptPlanner {
 public:
  explicit FakePlanner(FakeExecutor* exec) : exec_(exec) {}

  // Requests with a chunk in `on_disk` are not ready until Load() (as if
  // their entries were being read); Load wakes the scheduler.
  bool Prepare(const PlanInput& in, const std::function<void()>& wake) override {
    std::lock_guard<std::mutex> lock(mu);
    ++n_prepares;
    for (const ChunkSpan& c : in.chunks) {
      const auto chunk = in.tokens.subspan(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin));
      if (on_disk.count(KeyOf(chunk))) {
        waiting_wakes[in.seq_id] = wake;
        return false;
      }
    }
    return true;
  }
  void Release(uint64_t seq_id) override {
    std::lock_guard<std::mutex> lock(mu);
    ++n_releases;
    waiting_wakes.erase(seq_id);
  }
  // Any thread (the planner's other methods lock too).
  void Load() {
    std::map<uint64_t, std::function<void()>> wakes;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (uint64_t k : on_disk) cached.insert(k);
      on_disk.clear();
      wakes.swap(waiting_wakes);
    }
    for (auto& [id, wake] : wakes) wake();
  }

  int64_t TrimPrefixMatch(const PlanInput& in, int64_t matched, int64_t block_tokens) override {
    for (const ChunkSpan& c : in.chunks)
      if (c.begin < matched && matched < c.end) return c.begin / block_tokens * block_tokens;
    return matched;
  }

  StatusOr<AdmissionPlan> Plan(const PlanInput& in, kv::BlockTable* table) override {
    std::lock_guard<std::mutex> lock(mu);
    ++n_plans;
    if (fail_next) {
      fail_next = false;
      // Garbage in the slots: the scheduler must compute them all.
      for (int64_t s = in.n_prefix_tokens; s < static_cast<int64_t>(in.tokens.size()); ++s) exec_->WriteSlot(*table, s, 5);
      return InternalError("planner failure for the test");
    }
    EXPECT_GE(table->capacity_tokens(), static_cast<int64_t>(in.tokens.size()));
    AdmissionPlan p;
    const auto n = static_cast<int64_t>(in.tokens.size());
    int64_t next = in.n_prefix_tokens;
    for (const ChunkSpan& c : in.chunks) {
      if (c.begin < in.n_prefix_tokens) continue;
      const auto chunk = in.tokens.subspan(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin));
      const uint64_t key = KeyOf(chunk);
      if (!cached.count(key)) {
        ++p.n_chunk_misses;
        ChunkFill f;
        f.key = key;
        f.tokens = {kLeadIn};
        f.tokens.insert(f.tokens.end(), chunk.begin(), chunk.end());
        f.source = c;
        p.fills.push_back(std::move(f));
        continue;
      }
      ++p.n_chunk_ram_hits;
      for (; next < c.begin; ++next) p.compute_slots.push_back(next);
      const int64_t len = c.end - c.begin;
      const int64_t redo = static_cast<int64_t>(std::ceil(0.25 * static_cast<double>(len)));
      for (int64_t s = c.begin; s < c.end; ++s) {
        exec_->WriteSlot(*table, s, in.tokens[static_cast<size_t>(s)]);
        if (s >= c.end - redo) p.compute_slots.push_back(s);
      }
      p.first_inexact_slot = std::min(p.first_inexact_slot, c.begin);
      p.n_chunk_recomputed_tokens += redo;
      p.n_chunk_reused_tokens += len - redo;
      next = c.end;
    }
    for (; next < n; ++next) p.compute_slots.push_back(next);
    if (p.compute_slots.back() != n - 1) p.compute_slots.push_back(n - 1);
    return p;
  }

  bool NeedsFill(const ChunkFill& fill) override {
    std::lock_guard<std::mutex> lock(mu);
    return cached.count(fill.key) == 0;
  }
  uint64_t FillKey(std::span<const int32_t> chunk) override { return KeyOf(chunk); }
  bool WantsSourceKv() const override { return want_source; }

  Status CompleteFill(const ChunkFill& fill, const kv::BlockTable& fill_table, const kv::BlockTable* source,
                      int64_t source_first_slot) override {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < fill.tokens.size(); ++i)
      EXPECT_EQ(exec_->ReadSlot(fill_table, static_cast<int64_t>(i)), fill.tokens[i]) << "fill slot " << i;
    EXPECT_EQ(source != nullptr, want_source);
    if (source != nullptr) {
      // The request's in-context rows of the chunk, still held.
      for (size_t i = 1; i < fill.tokens.size(); ++i)
        EXPECT_EQ(exec_->ReadSlot(*source, source_first_slot + static_cast<int64_t>(i) - 1), fill.tokens[i]);
    }
    EXPECT_EQ(cached.count(fill.key), 0u) << "a fill ran twice";
    cached.insert(fill.key);
    ++n_fills;
    return Status::Ok();
  }

  FakeExecutor* exec_;
  std::mutex mu;  // Load may come from another thread
  std::set<uint64_t> cached;
  std::set<uint64_t> on_disk;
  std::map<uint64_t, std::function<void()>> waiting_wakes;
  int n_prepares = 0;
  int n_releases = 0;
  bool want_source = false;
  bool fail_next = false;
  int n_plans = 0;
  int n_fills = 0;
};

struct Harness {
  Harness(int64_t n_blocks, int64_t block_tokens, int64_t step_tokens, bool with_planner = true,
          int64_t max_running = 16, int64_t max_done_hold_ms = 10000)
      : exec(kVocab, block_tokens), planner(&exec) {
    kv::BlockPoolOptions po;
    po.block_tokens = block_tokens;
    po.n_layers = 1;
    po.row_floats = 1;
    po.budget_bytes = static_cast<size_t>(n_blocks * block_tokens * 2) * sizeof(float);
    po.simulated = true;
    pool = std::move(kv::BlockPool::Create(po)).value();
    cache = std::make_unique<kv::PrefixCache>(pool.get(), pool->n_blocks());
    SchedulerOptions o;
    o.max_step_tokens = step_tokens;
    o.max_running = max_running;
    o.max_waiting = 64;
    o.planner = with_planner ? &planner : nullptr;
    o.max_done_hold_ms = max_done_hold_ms;
    sched = std::move(Scheduler::Create(&exec, pool.get(), cache.get(), o)).value();
  }

  // [prefix][chunk a][chunk b]...[question]
  uint64_t Submit(const std::vector<int32_t>& head, const std::vector<std::vector<int32_t>>& chunks,
                  const std::vector<int32_t>& question, int64_t max_new) {
    SchedRequest r;
    r.prompt = head;
    for (const auto& c : chunks) {
      r.chunks.push_back(ChunkSpan{static_cast<int64_t>(r.prompt.size()), static_cast<int64_t>(r.prompt.size() + c.size())});
      r.prompt.insert(r.prompt.end(), c.begin(), c.end());
    }
    r.prompt.insert(r.prompt.end(), question.begin(), question.end());
    r.sampling.temperature = 0;
    r.max_new_tokens = max_new;
    r.end_of_generation = {kEog};
    auto holder = std::make_shared<uint64_t>(0);
    r.on_token = [this, holder](int32_t t) {
      if (outputs[*holder].empty()) fills_at_first_token[*holder] = planner.n_fills;
      outputs[*holder].push_back(t);
      return !(cancel_after.count(*holder) && static_cast<int64_t>(outputs[*holder].size()) >= cancel_after[*holder]);
    };
    r.on_done = [this, holder](const RequestOutcome& o) {
      outcomes[*holder] = o;
      fills_at_done[*holder] = planner.n_fills;
    };
    const std::vector<int32_t> prompt = r.prompt;
    StatusOr<uint64_t> id = sched->Submit(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    *holder = id.ok() ? *id : 0;
    want[*holder] = ReferenceGenerate(prompt, max_new, kVocab, kEog);
    return *holder;
  }

  void Run() {
    for (int i = 0; i < 100000 && sched->RunStep(); ++i) {
    }
  }

  void ExpectTwins() {
    for (const auto& [id, w] : want) {
      if (cancel_after.count(id)) continue;
      EXPECT_EQ(outputs[id], w) << "request " << id;
    }
  }

  // Every block back in the pool once the prefix cache lets go.
  void ExpectNoLeaks() {
    EXPECT_EQ(sched->n_in_flight(), 0);
    EXPECT_EQ(sched->Stats().n_fill_jobs_pending, 0);
    cache->EvictAll();
    EXPECT_EQ(pool->n_free(), pool->n_blocks());
  }

  FakeExecutor exec;
  FakePlanner planner;
  std::unique_ptr<kv::BlockPool> pool;
  std::unique_ptr<kv::PrefixCache> cache;
  std::unique_ptr<Scheduler> sched;
  std::map<uint64_t, std::vector<int32_t>> outputs, want;
  std::map<uint64_t, int64_t> cancel_after;
  std::map<uint64_t, RequestOutcome> outcomes;
  // planner.n_fills when each request's first token / end came.
  std::map<uint64_t, int> fills_at_first_token, fills_at_done;
};

std::vector<std::vector<int32_t>> Docs(int n, int len) {
  std::vector<std::vector<int32_t>> d;
  for (int i = 0; i < n; ++i) d.push_back(Tokens(100 + static_cast<uint64_t>(i), len + 3 * i));
  return d;
}

TEST(SchedulerPlannerTest, ScatteredPrefillOfReusedChunksIsAnExactTwin) {
  Harness h(512, 4, 24);
  const auto docs = Docs(6, 13);
  const auto head = Tokens(1, 6);
  // Half of the documents are cached before the requests arrive.
  for (int i = 0; i < 6; i += 2) h.planner.cached.insert(KeyOf(docs[static_cast<size_t>(i)]));
  for (int r = 0; r < 8; ++r) {
    std::vector<std::vector<int32_t>> chosen;
    for (int k = 0; k < 3; ++k) chosen.push_back(docs[static_cast<size_t>((r + 2 * k) % 6)]);
    h.Submit(head, chosen, Tokens(50 + static_cast<uint64_t>(r), 5 + r), 6 + r);
  }
  h.Run();
  h.ExpectTwins();
  // Scattered runs of one request share steps.
  bool multi = false;
  for (const auto& step : h.exec.batches) {
    std::map<uint64_t, int> per_seq;
    for (const auto& e : step)
      if (++per_seq[e.seq_id] > 1) multi = true;
  }
  EXPECT_TRUE(multi);
  const SchedulerStats st = h.sched->Stats();
  EXPECT_GT(st.n_chunk_reused_tokens, 0);
  EXPECT_GT(st.n_chunk_hits, 0);
  // Every missed document was filled exactly once (CompleteFill checks it).
  EXPECT_EQ(h.planner.n_fills, 3);
  EXPECT_EQ(st.n_fill_jobs_done, 3);
  int64_t reused = 0;
  for (const auto& [id, o] : h.outcomes) reused += o.stats.n_chunk_reused_tokens;
  EXPECT_EQ(reused, st.n_chunk_reused_tokens);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, ReuseComputesFewerTokensThanWithoutPlanner) {
  const auto docs = Docs(4, 16);
  const auto head = Tokens(2, 5);
  int64_t prefill[2];
  for (int with = 0; with < 2; ++with) {
    Harness h(512, 4, 32, with == 1);
    for (const auto& d : docs) h.planner.cached.insert(KeyOf(d));
    for (int r = 0; r < 4; ++r) {
      std::vector<std::vector<int32_t>> chosen = {docs[static_cast<size_t>(r)], docs[static_cast<size_t>((r + 1) % 4)]};
      h.Submit(head, chosen, Tokens(70 + static_cast<uint64_t>(r), 4), 5);
    }
    h.Run();
    h.ExpectTwins();
    prefill[with] = h.sched->Stats().n_prefill_tokens;
    h.ExpectNoLeaks();
  }
  EXPECT_LT(prefill[1], prefill[0] * 2 / 3);
}

TEST(SchedulerPlannerTest, FillJobsHoldSourceBlocksAndRunOnce) {
  Harness h(512, 4, 16);
  h.planner.want_source = true;
  const auto docs = Docs(3, 10);
  const auto head = Tokens(3, 4);
  // Three requests with the same missing documents: one fill per document.
  for (int r = 0; r < 3; ++r) h.Submit(head, docs, Tokens(90 + static_cast<uint64_t>(r), 3), 2);
  h.Run();
  h.ExpectTwins();
  EXPECT_EQ(h.planner.n_fills, 3);
  // A later request (another head: no prefix-cache match) hits all three.
  const uint64_t id = h.Submit(Tokens(33, 4), docs, Tokens(99, 3), 4);
  h.Run();
  h.ExpectTwins();
  EXPECT_EQ(h.outcomes[id].stats.n_chunk_hits(), 3);
  EXPECT_EQ(h.outcomes[id].stats.n_chunk_misses, 0);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, PreemptionOfChunkReusingRequestsKeepsOutputsAndLeaksNothing) {
  // 40 blocks of 4 tokens: six ~60-token requests cannot all hold their KV.
  Harness h(40, 4, 24);
  h.planner.want_source = true;
  const auto docs = Docs(4, 14);
  for (int i = 0; i < 4; i += 2) h.planner.cached.insert(KeyOf(docs[static_cast<size_t>(i)]));
  const auto head = Tokens(4, 4);
  for (int r = 0; r < 6; ++r) {
    std::vector<std::vector<int32_t>> chosen = {docs[static_cast<size_t>(r % 4)], docs[static_cast<size_t>((r + 1) % 4)]};
    h.Submit(head, chosen, Tokens(30 + static_cast<uint64_t>(r), 6), 40);
  }
  h.Run();
  h.ExpectTwins();
  EXPECT_GT(h.sched->Stats().n_preemptions, 0);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, CancellationAndPlannerFailureLeakNothing) {
  Harness h(256, 4, 8);
  h.planner.want_source = true;
  const auto docs = Docs(3, 12);
  h.planner.cached.insert(KeyOf(docs[0]));
  const auto head = Tokens(5, 4);
  const uint64_t a = h.Submit(head, docs, Tokens(40, 4), 10);
  h.cancel_after[a] = INT64_MAX;  // cancelled below, not compared
  h.sched->RunStep();  // admitted, partly prefilled
  h.sched->Cancel(a);
  h.sched->RunStep();
  EXPECT_EQ(h.outcomes[a].finish, FinishReason::kCancelled);
  // Cancelled by its callback after 2 tokens, once fills are queued.
  const uint64_t b = h.Submit(head, docs, Tokens(41, 4), 10);
  h.cancel_after[b] = 2;
  // A planner error: the request is computed whole, output unchanged.
  h.planner.fail_next = true;
  const uint64_t c = h.Submit(head, {docs[1]}, Tokens(42, 4), 5);
  h.Run();
  h.ExpectTwins();
  EXPECT_EQ(h.outcomes[b].finish, FinishReason::kCancelled);
  EXPECT_EQ(h.outcomes[c].stats.n_chunk_reused_tokens, 0);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, RequestsTakeBlocksFromFillJobs) {
  // Fill jobs only ever use blocks nobody else needs: a request that needs
  // them drops the jobs and runs.
  Harness h(30, 4, 8);
  h.planner.want_source = true;
  const auto docs = Docs(2, 20);
  const auto head = Tokens(6, 4);
  const uint64_t first = h.Submit(head, docs, Tokens(60, 4), 1);  // 51 tokens, leaves two fills
  while (h.outputs[first].empty()) h.sched->RunStep();
  h.sched->RunStep();  // fills start (8 of their 45 tokens)
  EXPECT_EQ(h.sched->Stats().n_fill_jobs_pending, 2);
  EXPECT_FALSE(h.outcomes.count(first)) << "its end waits for its fills";
  // A request needing nearly the whole pool.
  h.Submit(Tokens(7, 100), {}, Tokens(61, 4), 8);
  h.Run();
  h.ExpectTwins();
  EXPECT_GT(h.sched->Stats().n_fill_jobs_dropped, 0);
  // The dropped fills release the held end, counted as not stored.
  EXPECT_TRUE(h.outcomes.count(first));
  EXPECT_EQ(h.sched->Stats().n_done_held, 1);
  EXPECT_EQ(h.sched->Stats().n_done_held_unfilled, 1);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, FillJobsNeverDisplaceDecodesOrExceedTheBudget) {
  Harness h(512, 4, 12);
  const auto docs = Docs(3, 30);
  // A long decode, then a request whose three missing documents leave fills.
  const uint64_t a = h.Submit(Tokens(8, 6), {}, Tokens(80, 3), 60);
  while (h.outputs[a].empty()) h.sched->RunStep();
  h.Submit(Tokens(9, 4), docs, Tokens(81, 4), 1);
  const size_t first_step = h.exec.batches.size();
  h.Run();
  h.ExpectTwins();
  EXPECT_EQ(h.sched->Stats().n_fill_jobs_done, 3);
  // The last step that still decoded `a`: every fill before it shares its
  // step with that decode.
  size_t last_a = first_step;
  for (size_t k = first_step; k < h.exec.batches.size(); ++k)
    for (const auto& e : h.exec.batches[k])
      if (e.seq_id == a) last_a = k;
  int steps_with_fills_and_decode = 0;
  for (size_t k = first_step; k < h.exec.batches.size(); ++k) {
    int64_t n = 0;
    bool has_a = false, has_fill = false;
    for (const auto& e : h.exec.batches[k]) {
      n += e.n_tokens;
      has_a |= e.seq_id == a;
      has_fill |= (e.seq_id >> 63) != 0;  // fill jobs run under ids with the top bit set
    }
    EXPECT_LE(n, 12) << "step " << k;
    if (has_fill && k <= last_a) {
      EXPECT_TRUE(has_a) << "a fill ran in step " << k << " without the decode";
      ++steps_with_fills_and_decode;
    }
  }
  EXPECT_GT(steps_with_fills_and_decode, 0);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, FillJobsRunWhileRequestsWaitOnlyForTheRunningLimit) {
  // One request runs at a time; the next waits for the running limit, not
  // for blocks: the first one's fills still run (the cache warms up under a
  // full queue).
  Harness h(512, 4, 12, true, /*max_running=*/1);
  const auto docs = Docs(2, 20);
  const uint64_t a = h.Submit(Tokens(10, 4), docs, Tokens(82, 3), 30);
  h.Submit(Tokens(11, 4), docs, Tokens(83, 3), 3);
  while (!h.outcomes.count(a)) h.sched->RunStep();
  EXPECT_EQ(h.sched->Stats().n_fill_jobs_done, 2);
  h.Run();
  h.ExpectTwins();
  h.ExpectNoLeaks();
}

// Publish before completing: a request's missed chunks are computed by fill
// jobs while it decodes, and its end (on_done: the response's last event)
// waits for them, so the entries are stored (and published) before the
// response completes; its first token never waits for them.
TEST(SchedulerPlannerTest, RequestEndsOnlyAfterItsChunksAreStored) {
  for (const bool want_source : {true, false}) {
    SCOPED_TRACE(want_source ? "fills take the request's KV" : "fills queued at admission");
    Harness h(512, 4, 16);
    h.planner.want_source = want_source;
    const auto docs = Docs(3, 24);
    // One token: the request is done in the step its prompt is computed,
    // long before its three 25-token fills.
    const uint64_t a = h.Submit(Tokens(40, 4), docs, Tokens(86, 3), 1);
    h.Run();
    h.ExpectTwins();
    ASSERT_TRUE(h.outcomes.count(a));
    EXPECT_EQ(h.fills_at_done[a], 3) << "the response ended before its chunks were stored";
    if (want_source) EXPECT_EQ(h.fills_at_first_token[a], 0) << "the first token waited for the fills";
    const SchedulerStats st = h.sched->Stats();
    EXPECT_EQ(st.n_done_held, 1);
    EXPECT_EQ(st.n_done_held_unfilled, 0);
    EXPECT_GE(h.outcomes[a].stats.total_ms, h.outcomes[a].stats.ttft_ms);
    // A later request reuses the entries and computes nothing new: not held.
    const uint64_t b = h.Submit(Tokens(41, 4), docs, Tokens(87, 3), 1);
    h.Run();
    EXPECT_EQ(h.outcomes[b].stats.n_chunk_hits(), 3);
    EXPECT_EQ(h.sched->Stats().n_done_held, 1);
    h.ExpectNoLeaks();
  }
}

TEST(SchedulerPlannerTest, RequestWaitingForAnotherRequestsFillEndsAfterIt) {
  // Two requests with the same new chunk arrive together: one job computes
  // it (the second either joined it at admission or waited for it and
  // reused the entry), and neither response ends before it is stored.
  Harness h(512, 4, 64);
  const auto docs = Docs(1, 30);
  const uint64_t a = h.Submit(Tokens(42, 4), docs, Tokens(88, 3), 1);
  const uint64_t b = h.Submit(Tokens(43, 4), docs, Tokens(89, 3), 1);
  h.Run();
  h.ExpectTwins();
  EXPECT_EQ(h.planner.n_fills, 1);
  EXPECT_EQ(h.fills_at_done[a], 1);
  EXPECT_EQ(h.fills_at_done[b], 1);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, WithoutTheHoldARequestEndsBeforeItsFills) {
  // max_done_hold_ms = 0 (the old behaviour): the end comes first; shows the
  // tests above measure the hold.
  Harness h(512, 4, 16, true, 16, /*max_done_hold_ms=*/0);
  const auto docs = Docs(3, 24);
  const uint64_t a = h.Submit(Tokens(40, 4), docs, Tokens(86, 3), 1);
  h.Run();
  EXPECT_LT(h.fills_at_done[a], 3);
  EXPECT_EQ(h.sched->Stats().n_done_held, 0);
  h.ExpectNoLeaks();
}

TEST(SchedulerPlannerTest, ConcurrentRequestsSharingNewChunksWaitForOneFill) {
  // Six requests arrive together with the same three uncached documents:
  // the first computes them in its context and queues their fills; the
  // others wait for the fills and reuse them instead of each computing them.
  Harness h(512, 4, 32);
  const auto docs = Docs(3, 24);
  std::vector<uint64_t> ids;
  for (int r = 0; r < 6; ++r) ids.push_back(h.Submit(Tokens(20 + static_cast<uint64_t>(r), 5), docs, Tokens(85, 4), 4));
  h.Run();
  h.ExpectTwins();
  const SchedulerStats st = h.sched->Stats();
  EXPECT_EQ(st.n_chunk_misses, 3);
  EXPECT_EQ(st.n_chunk_hits, 15);
  EXPECT_EQ(h.planner.n_fills, 3);
  EXPECT_EQ(h.outcomes[ids[0]].stats.n_chunk_misses, 3);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(h.outcomes[ids[i]].stats.n_chunk_hits(), 3) << i;
  h.ExpectNoLeaks();
}

}  // namespace
}  // namespace chunkserve::sched

namespace chunkserve::sched {
namespace {

// A request whose chunks are still being fetched (PromptPlanner::Prepare said
// no) is held back while the others decode, is never failed as unplaceable
// while nothing else runs, and is admitted with its chunks reused once the
// fetch wakes the scheduler.
TEST(SchedulerPlannerTest, RequestsWaitingForChunkReadsDoNotStallOthers) {
  Harness h(512, 4, 32);
  const auto docs = Docs(2, 12);
  h.planner.on_disk.insert(KeyOf(docs[0]));
  const uint64_t slow = h.Submit(Tokens(3, 5), {docs[0]}, Tokens(4, 4), 4);
  const uint64_t fast = h.Submit(Tokens(5, 5), {docs[1]}, Tokens(6, 4), 12);
  // Only `fast` runs: the loop goes idle (RunStep false) once it is done,
  // with `slow` still queued and not failed.
  h.Run();
  EXPECT_EQ(h.outputs[fast], h.want[fast]);
  EXPECT_TRUE(h.outputs[slow].empty());
  EXPECT_EQ(h.outcomes.count(slow), 0u);
  EXPECT_EQ(h.sched->Stats().n_preparing, 1);
  EXPECT_EQ(h.sched->Stats().n_waiting, 1);
  for (const auto& step : h.exec.batches)
    for (const auto& e : step) EXPECT_NE(e.seq_id, slow);

  h.planner.Load();  // the read finished: `slow` is admitted and reuses it
  h.Run();
  h.ExpectTwins();
  EXPECT_GT(h.outcomes[slow].stats.n_chunk_reused_tokens, 0);
  EXPECT_EQ(h.sched->Stats().n_preparing, 0);
  h.ExpectNoLeaks();
}

// With the loop on its own thread, the wake from another thread resumes it;
// a request cancelled while its chunks are fetched is released.
TEST(SchedulerPlannerTest, ChunkReadWakeResumesTheLoopAndCancelReleases) {
  Harness h(512, 4, 32);
  const auto docs = Docs(2, 12);
  h.planner.on_disk.insert(KeyOf(docs[0]));
  h.planner.on_disk.insert(KeyOf(docs[1]));
  h.sched->Start();
  const uint64_t a = h.Submit(Tokens(3, 5), {docs[0]}, Tokens(4, 4), 4);
  const uint64_t b = h.Submit(Tokens(7, 5), {docs[1]}, Tokens(8, 4), 4);
  while (h.sched->Stats().n_preparing < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  h.sched->Cancel(b);
  while (h.sched->Stats().n_waiting > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  h.planner.Load();  // from this thread, as a loader thread would
  h.sched->WaitIdle();
  h.sched->Shutdown(0);
  EXPECT_EQ(h.outputs[a], h.want[a]);
  EXPECT_EQ(h.outcomes[b].finish, FinishReason::kCancelled);
  EXPECT_TRUE(h.planner.waiting_wakes.empty());  // released on cancel and at admission
  h.ExpectNoLeaks();
}

}  // namespace
}  // namespace chunkserve::sched
