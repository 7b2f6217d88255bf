// The engine core under concurrency: requests with chunk segments (what
// OpenAI `documents` and RAG prompts become) submitted at once, batched on the
// core's thread with the chunk cache. At r = 1 the tokens equal a core
// without a chunk cache; at r = 0.5 a second round reuses the chunks the
// first round cached and reports it in the outcome's RequestStats.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <atomic>

#include "fixture/fixture_model.h"
#include "engine/engine.h"
#include "engine_test_util.h"

namespace chunkserve::engine {
namespace {

std::unique_ptr<model::Model> LoadFixture() {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "engine_concurrency_test.gguf").string();
  if (!std::filesystem::exists(path)) {
    fixture::FixtureSpec spec;
    spec.arch = "qwen2";
    spec.type = "q8_0";
    spec.seed = 21;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_head = 4;
    spec.n_head_kv = 2;
    spec.n_ff = 96;
    spec.n_vocab = 300;
    const Status s = fixture::WriteFixtureModel(spec, path, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  model::LoadOptions lo;
  lo.n_threads = 1;
  auto m = model::Model::Load(path, lo);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

// The shared generator (engine_test_util.h), ids 3..292 as this file always used.
std::vector<int32_t> Tokens(uint64_t seed, int n) { return testing::Tokens(seed, n, 3, 293); }

// Five requests of [prefix][3 documents][question]; another head_seed
// gives another prefix (so a later round cannot reuse whole prompts from
// the prefix cache) and another order of the documents.
struct Request {
  Prompt prompt;
  RequestParams params;
};

std::vector<Request> Requests(uint64_t head_seed) {
  std::vector<std::vector<int32_t>> docs;
  for (int i = 0; i < 5; ++i) docs.push_back(Tokens(50 + static_cast<uint64_t>(i), 24 + 4 * i));
  std::vector<Request> out;
  for (int r = 0; r < 5; ++r) {
    Request g;
    g.prompt.push_back(Segment{SegmentKind::kPrefix, Tokens(head_seed, 6), 0});
    for (int k = 0; k < 3; ++k)
      g.prompt.push_back(
          Segment{SegmentKind::kChunk, docs[static_cast<size_t>((r + static_cast<int>(head_seed) * k) % 5)], 0});
    g.prompt.push_back(Segment{SegmentKind::kTail, Tokens(90 + static_cast<uint64_t>(r), 5), 0});
    g.params.sampling.temperature = 0;
    g.params.max_new_tokens = 6;
    out.push_back(std::move(g));
  }
  return out;
}

struct Round {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<sched::RequestOutcome> results;
};

// Starts every request at once and waits for all of them.
Round RunRound(Engine& engine, const std::vector<Request>& reqs) {
  Round round;
  round.tokens.resize(reqs.size());
  round.results.resize(reqs.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t n_done = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    RequestCallbacks cb;
    cb.on_token = [&, i](int32_t t) {
      std::lock_guard<std::mutex> lock(mu);
      round.tokens[i].push_back(t);
      return true;
    };
    cb.on_done = [&, i](const sched::RequestOutcome& r) {
      std::lock_guard<std::mutex> lock(mu);
      round.results[i] = r;
      ++n_done;
      cv.notify_all();
    };
    auto id = engine.Submit(reqs[i].prompt, reqs[i].params, std::move(cb));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
  }
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return n_done == reqs.size(); }));
  return round;
}

void WaitForFills(Engine& e) {
  for (int i = 0; i < 2000 && e.Stats().n_fill_jobs_pending > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(e.Stats().n_fill_jobs_pending, 0);
}

std::unique_ptr<Engine> MakeEngine(model::Model* m, bool chunks, double r) {
  EngineOptions o;
  o.block_tokens = 8;
  o.kv_budget_bytes = size_t{16} << 20;
  o.enable_chunk_cache = chunks;
  o.recompute_fraction = r;
  o.scheduler.max_step_tokens = 64;
  auto e = Engine::Create(m, o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(EngineConcurrency, FullRecomputeEqualsNoChunkCache) {
  auto m = LoadFixture();
  ASSERT_NE(m, nullptr);
  const std::vector<Request> rounds[2] = {Requests(1), Requests(2)};
  Round want[2];
  auto plain = MakeEngine(m.get(), false, 1.0);
  for (int round = 0; round < 2; ++round) want[round] = RunRound(*plain, rounds[round]);
  plain->Shutdown(0);
  auto cached = MakeEngine(m.get(), true, 1.0);
  ASSERT_NE(cached->chunk_cache(), nullptr);
  for (int round = 0; round < 2; ++round) {
    const auto& reqs = rounds[round];
    const Round got = RunRound(*cached, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(got.tokens[i], want[round].tokens[i]) << "round " << round << " request " << i;
      EXPECT_EQ(got.results[i].finish, want[round].results[i].finish);
      EXPECT_EQ(got.results[i].stats.n_chunk_reused_tokens, 0);  // r = 1 recomputes all it reuses
    }
    WaitForFills(*cached);
  }
  EXPECT_GT(cached->Stats().n_chunk_recomputed_tokens, 0);
  EXPECT_EQ(cached->chunk_cache()->stats().n_inserts, 5);
}

TEST(EngineConcurrency, SecondRoundReusesChunksAndReportsIt) {
  auto m = LoadFixture();
  ASSERT_NE(m, nullptr);
  auto b = MakeEngine(m.get(), true, 0.5);
  const Round first = RunRound(*b, Requests(1));
  WaitForFills(*b);
  // Later requests of the first round already reuse what earlier ones
  // queued for the cache (they wait for those fills).
  int64_t reused = 0;
  for (const sched::RequestOutcome& r : first.results) reused += r.stats.n_chunk_reused_tokens;
  const auto reqs = Requests(3);
  const Round second = RunRound(*b, reqs);
  int64_t reused_second = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const RequestStats& r = second.results[i].stats;
    EXPECT_NE(second.results[i].finish, FinishReason::kError);
    EXPECT_EQ(r.n_prompt_tokens, r.n_prefix_reused_tokens + r.n_chunk_reused_tokens + r.n_computed_tokens);
    reused_second += r.n_chunk_reused_tokens;
    EXPECT_GT(r.n_chunk_recomputed_tokens, 0);
    EXPECT_EQ(second.tokens[i].size(), 6u);
  }
  EXPECT_GT(reused_second, 0);
  const sched::SchedulerStats st = b->Stats();
  EXPECT_EQ(st.n_chunk_reused_tokens, reused + reused_second);
  b->Shutdown(0);
}

// Race found by reading (one engine core issue): the old EngineBackend read
// the block pool and prefix cache for /metrics without the lock Generate held.
// Stats() is now a snapshot the core publishes after each step; under
// ThreadSanitizer (make tsan) this test is the reproduction.
TEST(EngineConcurrency, StatsAreReadableWhileRequestsRun) {
  auto m = LoadFixture();
  ASSERT_NE(m, nullptr);
  auto e = MakeEngine(m.get(), true, 0.5);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> n_reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      const sched::SchedulerStats st = e->Stats();
      EXPECT_LE(st.n_blocks_free, st.n_blocks_total);
      EXPECT_LE(e->n_free_blocks(), st.n_blocks_total);
      n_reads.fetch_add(1);
    }
  });
  // The requests start once the reader reads: on a loaded machine it could
  // otherwise be scheduled only after they all ended (a CI run saw 0 reads).
  while (n_reads.load() == 0) std::this_thread::yield();
  const Round first = RunRound(*e, Requests(1));
  const Round second = RunRound(*e, Requests(2));
  stop.store(true);
  reader.join();
  EXPECT_GT(n_reads.load(), 0);
  for (const auto& r : second.results) EXPECT_NE(r.finish, FinishReason::kError);
}

// The synchronous facade from several threads at once: each call gets its
// own request's tokens, equal to the same request run alone (greedy).
TEST(EngineConcurrency, GenerateFromManyThreadsEqualsOneAtATime) {
  auto m = LoadFixture();
  ASSERT_NE(m, nullptr);
  auto e = MakeEngine(m.get(), false, 1.0);
  const std::vector<Request> reqs = Requests(4);
  std::vector<std::vector<int32_t>> alone;
  for (const Request& r : reqs) {
    auto got = e->Generate(r.prompt, r.params);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    alone.push_back(got->tokens);
  }
  std::vector<std::vector<int32_t>> together(reqs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i)
    threads.emplace_back([&, i] {
      auto got = e->Generate(reqs[i].prompt, reqs[i].params);
      if (got.ok()) together[i] = got->tokens;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(together, alone);
}

// An embedding is a scheduled request: it batches with generations and gives
// the same vector alone or under load.
TEST(EngineConcurrency, EmbeddingsAreScheduledRequests) {
  auto m = LoadFixture();
  ASSERT_NE(m, nullptr);
  auto e = MakeEngine(m.get(), false, 1.0);
  const std::vector<int32_t> text = Tokens(7, 40);
  auto alone = e->Embed(text, model::Pooling::kMean);
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  double norm = 0;
  for (float v : *alone) norm += double{v} * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  std::thread load([&] { RunRound(*e, Requests(5)); });
  for (int i = 0; i < 4; ++i) {
    auto busy = e->Embed(text, model::Pooling::kMean);
    ASSERT_TRUE(busy.ok()) << busy.status().ToString();
    // Under load the prompt may be split over steps differently, which only
    // changes attention's rounding.
    ASSERT_EQ(busy->size(), alone->size());
    for (size_t j = 0; j < busy->size(); ++j) EXPECT_NEAR((*busy)[j], (*alone)[j], 1e-5) << j;
  }
  load.join();
  std::atomic<bool> cancel{true};
  EXPECT_EQ(e->Embed(text, model::Pooling::kMean, &cancel).status().code(), StatusCode::kCancelled);
  EXPECT_EQ(e->Embed({}, model::Pooling::kMean).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chunkserve::engine
