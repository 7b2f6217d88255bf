// Chunk reuse under continuous batching: sched::Scheduler with the engine's
// ChunkPlanner over a real (small, random-weight) fixture model.
//   * r = 1 with every chunk cached is the exact twin of a full prefill (and
//     so is the cold pass, where misses are computed in context);
//   * r = 0.15: N concurrent requests give the same greedy tokens and the
//     same reuse figures as Engine::Generate run one by one over the same
//     chunk cache (same plan, same placed KV; the model's rows do not
//     depend on batch composition);
//   * chunk-cache entries filled by the scheduler's fill jobs equal the
//     Engine's (K, V and recorded deviation scores);
//   * preemption, cancellation and a tight pool leak no block.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "engine/chunk_planner.h"
#include "engine/engine.h"
#include "engine_test_util.h"
#include "kv/chunk_cache.h"
#include "sched/model_executor.h"
#include "sched/scheduler.h"

namespace chunkserve::engine {
namespace {

using testing::LoadSmallModel;
using testing::Tokens;

constexpr int32_t kEog = 2;

struct RagRequest {
  std::vector<int32_t> head;
  std::vector<std::vector<int32_t>> docs;
  std::vector<int32_t> question;
  int64_t max_new = 8;

  Prompt AsPrompt() const {
    Prompt p;
    p.push_back(Segment{SegmentKind::kPrefix, head, 0});
    for (const auto& d : docs) p.push_back(Segment{SegmentKind::kChunk, d, 0});
    p.push_back(Segment{SegmentKind::kTail, question, 0});
    return p;
  }
  std::vector<int32_t> Flat() const {
    std::vector<int32_t> f;
    for (const Segment& s : AsPrompt()) f.insert(f.end(), s.tokens.begin(), s.tokens.end());
    return f;
  }
};

std::vector<std::vector<int32_t>> Docs(int n) {
  std::vector<std::vector<int32_t>> d;
  for (int i = 0; i < n; ++i) d.push_back(Tokens(200 + static_cast<uint64_t>(i), 20 + 5 * i));
  return d;
}

std::vector<RagRequest> Requests(int n, const std::vector<std::vector<int32_t>>& docs, int per_request) {
  std::vector<RagRequest> out;
  const auto head = Tokens(7, 9);
  for (int r = 0; r < n; ++r) {
    RagRequest q;
    q.head = head;
    for (int k = 0; k < per_request; ++k)
      q.docs.push_back(docs[static_cast<size_t>((r * 3 + k * 2) % static_cast<int>(docs.size()))]);
    q.question = Tokens(300 + static_cast<uint64_t>(r), 6 + r % 4);
    q.max_new = 6 + r % 5;
    out.push_back(std::move(q));
  }
  return out;
}

// Greedy decoding of the flat prompt with a contiguous cache: full prefill.
std::vector<int32_t> RunAlone(model::Model& m, const std::vector<int32_t>& prompt, int64_t max_new) {
  auto kv = m.NewKvCache(static_cast<int64_t>(prompt.size()) + max_new + 1);
  model::Logits logits;
  model::SequenceBatch seq{.kv = kv.get(), .tokens = prompt, .first_slot = 0, .positions = {},
                           .logits = model::LogitsMode::kLast};
  EXPECT_TRUE(m.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits).ok());
  std::vector<int32_t> out;
  for (int64_t i = 0; i < max_new; ++i) {
    const auto row = logits.Row(0);
    const auto t = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    if (t == kEog) break;
    out.push_back(t);
    if (i + 1 == max_new) break;
    model::SequenceBatch d{.kv = kv.get(), .tokens = std::span<const int32_t>(&out.back(), 1),
                           .first_slot = static_cast<int64_t>(prompt.size()) + i, .positions = {},
                           .logits = model::LogitsMode::kLast};
    EXPECT_TRUE(m.Forward(std::span<const model::SequenceBatch>(&d, 1), &logits).ok());
  }
  return out;
}

// A scheduler with the chunk planner over `cache`.
struct Batched {
  Batched(model::Model* m, kv::ChunkCache* cache, double fraction, RecomputeSignal signal, int64_t pool_blocks,
          int64_t step_tokens = 40)
      : exec(m) {
    const int64_t B = 8;
    kv::BlockPoolOptions po = sched::PoolOptionsFor(*m, B, 0);
    po.budget_bytes = static_cast<size_t>(pool_blocks) * B * 2 * static_cast<size_t>(po.n_layers * po.row_floats) * Traits(po.type).type_size;
    pool = std::move(kv::BlockPool::Create(po)).value();
    prefix = std::make_unique<kv::PrefixCache>(pool.get(), pool->n_blocks());
    ChunkPlannerOptions cpo;
    cpo.recompute_fraction = fraction;
    cpo.recompute_signal = signal;
    auto p = ChunkPlanner::Create(m, cache, cpo);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    planner = std::move(p).value();
    sched::SchedulerOptions so;
    so.max_step_tokens = step_tokens;
    so.max_running = 16;
    so.prefix_namespace = m->fingerprint();
    so.planner = planner.get();
    sched = std::move(sched::Scheduler::Create(&exec, pool.get(), prefix.get(), so)).value();
  }

  uint64_t Submit(const RagRequest& q, int64_t cancel_after = 0) {
    sched::SchedRequest r;
    for (const Segment& s : q.AsPrompt()) {
      if (s.kind == SegmentKind::kChunk)
        r.chunks.push_back(sched::ChunkSpan{static_cast<int64_t>(r.prompt.size()),
                                            static_cast<int64_t>(r.prompt.size() + s.tokens.size())});
      r.prompt.insert(r.prompt.end(), s.tokens.begin(), s.tokens.end());
    }
    r.sampling.temperature = 0;
    r.max_new_tokens = q.max_new;
    r.end_of_generation = {kEog};
    auto holder = std::make_shared<uint64_t>(0);
    r.on_token = [this, holder, cancel_after](int32_t t) {
      out[*holder].push_back(t);
      return cancel_after == 0 || static_cast<int64_t>(out[*holder].size()) < cancel_after;
    };
    r.on_done = [this, holder](const sched::RequestOutcome& o) { outcomes[*holder] = o; };
    auto id = sched->Submit(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    *holder = id.ok() ? *id : 0;
    return *holder;
  }
  // Until nothing is left; the scheduler idles (RunStep false) while
  // requests wait for chunk reads, which finish on the prefetcher's thread,
  // and while fill entries are stored on the publisher's thread (the
  // requests that caused them end after that).
  void Run() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      while (sched->RunStep()) {
      }
      const sched::SchedulerStats st = sched->Stats();
      if (st.n_preparing == 0 && st.n_fill_jobs_pending == 0 && sched->n_in_flight() == 0) return;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the scheduler did not finish";
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void ExpectNoLeaks() {
    EXPECT_EQ(sched->n_in_flight(), 0);
    EXPECT_EQ(sched->Stats().n_fill_jobs_pending, 0);
    prefix->EvictAll();
    EXPECT_EQ(pool->n_free(), pool->n_blocks());
  }

  sched::ModelExecutor exec;
  std::unique_ptr<kv::BlockPool> pool;
  std::unique_ptr<kv::PrefixCache> prefix;
  std::unique_ptr<ChunkPlanner> planner;
  std::unique_ptr<sched::Scheduler> sched;
  std::map<uint64_t, std::vector<int32_t>> out;
  std::map<uint64_t, sched::RequestOutcome> outcomes;
};

std::unique_ptr<kv::ChunkCache> RamCache() { return std::move(kv::ChunkCache::Open({})).value(); }

TEST(ChunkPlanner, FullRecomputeUnderBatchingIsTheExactTwinOfFullPrefill) {
  auto m = LoadSmallModel("qwen2", 2);  // 2 threads: the parallel paths of Forward
  ASSERT_NE(m, nullptr);
  auto cache = RamCache();
  const auto docs = Docs(5);
  const auto reqs = Requests(6, docs, 3);
  std::vector<std::vector<int32_t>> want;
  for (const RagRequest& q : reqs) want.push_back(RunAlone(*m, q.Flat(), q.max_new));
  // Cold: misses computed in context, then filled; warm: every chunk placed
  // and all of it recomputed.
  for (int pass = 0; pass < 2; ++pass) {
    Batched b(m.get(), cache.get(), 1.0, RecomputeSignal::kPromptRecency, 512);
    std::vector<uint64_t> ids;
    for (const RagRequest& q : reqs) ids.push_back(b.Submit(q));
    b.Run();
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(b.out[ids[i]], want[i]) << "pass " << pass << " request " << i;
    const sched::SchedulerStats st = b.sched->Stats();
    if (pass == 0) {
      EXPECT_GT(st.n_chunk_misses, 0);
      EXPECT_EQ(st.n_fill_jobs_done, static_cast<int64_t>(docs.size()));
    } else {
      // Chunks wholly inside a prefix-cache match (exact rows of an earlier
      // request with the same leading documents) are not looked up.
      EXPECT_EQ(st.n_chunk_misses, 0);
      EXPECT_GE(st.n_chunk_hits, 6);
      EXPECT_EQ(st.n_chunk_reused_tokens, 0);
      EXPECT_GT(st.n_chunk_recomputed_tokens, 0);
    }
    EXPECT_GT(st.max_batch_sequences, 2);
    b.ExpectNoLeaks();
  }
}

// Entries only on the disk tier are read ahead by the planner's prefetcher
// (Prepare says "not yet" and the request waits instead of the step reading
// the disk), then placed exactly like RAM hits: the same tokens as full
// prefill at r = 1, counted as disk hits.
TEST(ChunkPlanner, DiskTierChunksAreReadAheadThenReused) {
  auto m = LoadSmallModel("qwen2", 2);
  ASSERT_NE(m, nullptr);
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("chunk_planner_disk_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  kv::ChunkCacheOptions co;
  co.disk_dir = dir.string();
  auto cache = std::move(kv::ChunkCache::Open(co)).value();
  const auto docs = Docs(4);
  const auto reqs = Requests(5, docs, 2);
  std::vector<std::vector<int32_t>> want;
  for (const RagRequest& q : reqs) want.push_back(RunAlone(*m, q.Flat(), q.max_new));
  {
    Batched cold(m.get(), cache.get(), 1.0, RecomputeSignal::kPromptRecency, 512);
    for (const RagRequest& q : reqs) cold.Submit(q);
    cold.Run();
    ASSERT_EQ(cold.sched->Stats().n_fill_jobs_done, static_cast<int64_t>(docs.size()));
  }
  cache->DropRamTier();

  Batched warm(m.get(), cache.get(), 1.0, RecomputeSignal::kPromptRecency, 512);
  // Asked directly: a disk-only chunk is not ready at first.
  sched::PlanInput probe;
  probe.seq_id = 999;
  const std::vector<int32_t> flat = reqs[0].Flat();
  probe.tokens = flat;
  probe.n_prompt = static_cast<int64_t>(flat.size());
  const std::vector<sched::ChunkSpan> spans = {
      {static_cast<int64_t>(reqs[0].head.size()), static_cast<int64_t>(reqs[0].head.size() + reqs[0].docs[0].size())}};
  probe.chunks = spans;
  std::atomic<int> woken{0};
  EXPECT_FALSE(warm.planner->Prepare(probe, [&] { ++woken; }));
  while (woken.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(warm.planner->Prepare(probe, [] {}));
  warm.planner->Release(probe.seq_id);

  cache->DropRamTier();
  const int64_t read_before = warm.planner->n_read_ahead();
  std::vector<uint64_t> ids;
  for (const RagRequest& q : reqs) ids.push_back(warm.Submit(q));
  warm.Run();
  int64_t disk_hits = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(warm.out[ids[i]], want[i]) << "request " << i;
    disk_hits += warm.outcomes[ids[i]].stats.n_chunk_disk_hits;
  }
  EXPECT_GT(disk_hits, 0);
  EXPECT_GE(warm.planner->n_read_ahead() - read_before, disk_hits);  // every disk hit was read ahead
  EXPECT_EQ(warm.sched->Stats().n_chunk_misses, 0);
  warm.ExpectNoLeaks();
  std::filesystem::remove_all(dir);
}

void PartialRecomputeTwin(RecomputeSignal signal) {
  auto m = LoadSmallModel("qwen2", 2);  // 2 threads: the parallel paths of Forward
  ASSERT_NE(m, nullptr);
  EngineOptions eo;
  eo.kv_budget_bytes = size_t{64} << 20;
  eo.recompute_fraction = 0.15;
  eo.recompute_signal = signal;
  auto engine = std::move(Engine::Create(m.get(), eo)).value();
  const auto docs = Docs(6);
  const auto reqs = Requests(8, docs, 4);
  RequestParams rp;
  rp.sampling.temperature = 0;
  rp.end_of_generation = {kEog};
  // Warm the engine's chunk cache, then run every request alone.
  for (const RagRequest& q : reqs) {
    rp.max_new_tokens = 1;
    ASSERT_TRUE(engine->Generate(q.AsPrompt(), rp).ok());
  }
  // Those runs computed every prompt exactly (all misses) and left them in
  // the prefix cache; the comparison is about chunk reuse.
  engine->ClearPrefixCache();
  std::vector<RequestResult> want;
  for (const RagRequest& q : reqs) {
    rp.max_new_tokens = q.max_new;
    auto r = engine->Generate(q.AsPrompt(), rp);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->stats.n_chunk_misses, 0);
    want.push_back(std::move(r).value());
  }
  // The same requests at once through the scheduler, over the same cache.
  Batched b(m.get(), engine->chunk_cache(), 0.15, signal, 1024, 48);
  std::vector<uint64_t> ids;
  for (const RagRequest& q : reqs) ids.push_back(b.Submit(q));
  b.Run();
  int64_t n_differs_from_full = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(b.out[ids[i]], want[i].tokens) << "request " << i;
    const sched::RequestOutcome& o = b.outcomes[ids[i]];
    EXPECT_EQ(o.stats.n_chunk_reused_tokens, want[i].stats.n_chunk_reused_tokens) << i;
    EXPECT_EQ(o.stats.n_chunk_recomputed_tokens, want[i].stats.n_chunk_recomputed_tokens) << i;
    EXPECT_EQ(o.stats.n_chunk_hits(), 4);
    EXPECT_GT(o.stats.n_chunk_reused_tokens, 0);
    if (want[i].tokens != RunAlone(*m, reqs[i].Flat(), reqs[i].max_new)) ++n_differs_from_full;
  }
  // (Informative: approximate reuse may change a few tokens of a random model.)
  ::testing::Test::RecordProperty("requests_differing_from_full_prefill", static_cast<int>(n_differs_from_full));
  EXPECT_GT(b.sched->Stats().max_batch_sequences, 2);
  b.ExpectNoLeaks();
}

TEST(ChunkPlanner, PartialRecomputeUnderBatchingEqualsEngineOneByOne) {
  PartialRecomputeTwin(RecomputeSignal::kPromptRecency);
}

// Recorded-deviation scores scatter the recomputed tokens: many runs of one
// request (single tokens included) share each step.
TEST(ChunkPlanner, ScatteredRecomputeUnderBatchingEqualsEngineOneByOne) {
  PartialRecomputeTwin(RecomputeSignal::kRecordedDeviation);
}

TEST(ChunkPlanner, FillJobsStoreWhatTheEngineStores) {
  auto m = LoadSmallModel("qwen2", 2);  // 2 threads: the parallel paths of Forward
  ASSERT_NE(m, nullptr);
  // Each document in one request only, so the context its scores are
  // recorded in is the same for both.
  const auto docs = Docs(6);
  std::vector<RagRequest> reqs(3);
  for (int r = 0; r < 3; ++r) {
    reqs[static_cast<size_t>(r)].head = Tokens(8, 5);
    reqs[static_cast<size_t>(r)].docs = {docs[static_cast<size_t>(2 * r)], docs[static_cast<size_t>(2 * r + 1)]};
    reqs[static_cast<size_t>(r)].question = Tokens(400 + static_cast<uint64_t>(r), 5);
    reqs[static_cast<size_t>(r)].max_new = 3;
  }
  EngineOptions eo;
  eo.kv_budget_bytes = size_t{64} << 20;
  eo.recompute_signal = RecomputeSignal::kRecordedDeviation;
  auto engine = std::move(Engine::Create(m.get(), eo)).value();
  RequestParams rp;
  rp.sampling.temperature = 0;
  rp.max_new_tokens = 3;
  for (const RagRequest& q : reqs) ASSERT_TRUE(engine->Generate(q.AsPrompt(), rp).ok());

  auto cache = RamCache();
  Batched b(m.get(), cache.get(), 0.15, RecomputeSignal::kRecordedDeviation, 512, 32);
  for (const RagRequest& q : reqs) b.Submit(q);
  b.Run();
  EXPECT_EQ(b.sched->Stats().n_fill_jobs_done, 6);
  const auto& lead_in = engine->chunk_lead_in();
  for (const auto& d : docs) {
    const kv::ChunkKey key{m->fingerprint(), kv::ChunkContentHash(lead_in, d)};
    auto ours = cache->Lookup(key, d);
    auto theirs = engine->chunk_cache()->Lookup(key, d);
    ASSERT_TRUE(ours && theirs);
    EXPECT_EQ(ours->kv->base_position, theirs->kv->base_position);
    EXPECT_EQ(ours->kv->k, theirs->kv->k);
    EXPECT_EQ(ours->kv->v, theirs->kv->v);
    ASSERT_EQ(ours->kv->scores.size(), theirs->kv->scores.size());
    for (size_t i = 0; i < ours->kv->scores.size(); ++i)
      EXPECT_NEAR(ours->kv->scores[i], theirs->kv->scores[i], 1e-6f) << i;
  }
  b.ExpectNoLeaks();
}

TEST(ChunkPlanner, PreemptionCancellationAndTightPoolLeakNothing) {
  auto m = LoadSmallModel("qwen2", 2);  // 2 threads: the parallel paths of Forward
  ASSERT_NE(m, nullptr);
  auto cache = RamCache();
  const auto docs = Docs(4);
  const auto reqs = Requests(6, docs, 2);
  {
    // Warm the cache.
    Batched warm(m.get(), cache.get(), 0.15, RecomputeSignal::kPromptRecency, 512);
    for (const RagRequest& q : reqs) warm.Submit(q);
    warm.Run();
    warm.ExpectNoLeaks();
  }
  // Outputs with room to spare, then in a pool that forces preemption.
  std::map<size_t, std::vector<int32_t>> want;
  {
    Batched roomy(m.get(), cache.get(), 0.15, RecomputeSignal::kPromptRecency, 512);
    std::vector<uint64_t> ids;
    for (const RagRequest& q : reqs) ids.push_back(roomy.Submit(q));
    roomy.Run();
    for (size_t i = 0; i < ids.size(); ++i) want[i] = roomy.out[ids[i]];
  }
  Batched tight(m.get(), cache.get(), 0.15, RecomputeSignal::kPromptRecency, 30, 24);
  const int64_t free_at_start = tight.pool->n_free();
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < reqs.size(); ++i) {
    RagRequest q = reqs[i];
    q.max_new = 30;  // long enough to run the pool dry while decoding
    ids.push_back(tight.Submit(q, i == 1 ? 3 : 0));
  }
  tight.sched->RunStep();
  tight.sched->Cancel(ids[4]);
  tight.Run();
  EXPECT_GT(tight.sched->Stats().n_preemptions, 0);
  EXPECT_EQ(tight.outcomes[ids[1]].finish, sched::FinishReason::kCancelled);
  EXPECT_EQ(tight.outcomes[ids[4]].finish, sched::FinishReason::kCancelled);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i == 1 || i == 4) continue;
    const auto& got = tight.out[ids[i]];
    // A preempted request is re-planned over the same cache: same KV, so the
    // first tokens (all the roomy run made) agree.
    const size_t n = std::min(got.size(), want[i].size());
    EXPECT_EQ(std::vector<int32_t>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(n)),
              std::vector<int32_t>(want[i].begin(), want[i].begin() + static_cast<std::ptrdiff_t>(n)))
        << "request " << i;
  }
  tight.prefix->EvictAll();
  EXPECT_EQ(tight.pool->n_free(), free_at_start);
  tight.ExpectNoLeaks();
}

}  // namespace
}  // namespace chunkserve::engine
