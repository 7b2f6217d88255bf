// SchedulerBackend with the chunk cache: concurrent requests with chunk
// segments (what OpenAI `documents` become) through the GenerationBackend
// interface on its own scheduler thread. At r = 1 the tokens equal the
// backend without a chunk cache; at r = 0.5 a second round reuses the chunks
// the first round cached and reports it in GenerationResult.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "fixture/fixture_model.h"
#include "server/scheduler_backend.h"

namespace chunkserve::server {
namespace {

std::unique_ptr<model::Model> LoadFixture() {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "backend_chunk_test.gguf").string();
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

std::vector<int32_t> Tokens(uint64_t seed, int n) {
  std::vector<int32_t> v;
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    v.push_back(3 + static_cast<int32_t>(s % 290));
  }
  return v;
}

// Five requests of [prefix][3 documents][question]; another head_seed
// gives another prefix (so a later round cannot reuse whole prompts from
// the prefix cache) and another order of the documents.
std::vector<GenerationRequest> Requests(uint64_t head_seed) {
  std::vector<std::vector<int32_t>> docs;
  for (int i = 0; i < 5; ++i) docs.push_back(Tokens(50 + static_cast<uint64_t>(i), 24 + 4 * i));
  std::vector<GenerationRequest> out;
  for (int r = 0; r < 5; ++r) {
    GenerationRequest g;
    g.prompt.push_back(engine::Segment{engine::SegmentKind::kPrefix, Tokens(head_seed, 6), 0});
    for (int k = 0; k < 3; ++k)
      g.prompt.push_back(engine::Segment{engine::SegmentKind::kChunk,
                                         docs[static_cast<size_t>((r + static_cast<int>(head_seed) * k) % 5)], 0});
    g.prompt.push_back(engine::Segment{engine::SegmentKind::kTail, Tokens(90 + static_cast<uint64_t>(r), 5), 0});
    g.sampling.temperature = 0;
    g.max_new_tokens = 6;
    out.push_back(std::move(g));
  }
  return out;
}

struct Round {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<GenerationResult> results;
};

// Starts every request at once and waits for all of them.
Round RunRound(GenerationBackend& backend, const std::vector<GenerationRequest>& reqs) {
  Round round;
  round.tokens.resize(reqs.size());
  round.results.resize(reqs.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t n_done = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    GenerationCallbacks cb;
    cb.on_token = [&, i](int32_t t) {
      std::lock_guard<std::mutex> lock(mu);
      round.tokens[i].push_back(t);
      return true;
    };
    cb.on_done = [&, i](const GenerationResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      round.results[i] = r;
      ++n_done;
      cv.notify_all();
    };
    auto id = backend.Start(reqs[i], std::move(cb));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
  }
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return n_done == reqs.size(); }));
  return round;
}

void WaitForFills(SchedulerBackend& b) {
  for (int i = 0; i < 2000 && b.scheduler().Stats().n_fill_jobs_pending > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(b.scheduler().Stats().n_fill_jobs_pending, 0);
}

std::unique_ptr<SchedulerBackend> MakeBackend(model::Model* m, bool chunks, double r) {
  SchedulerBackendOptions o;
  o.block_tokens = 8;
  o.kv_budget_bytes = size_t{16} << 20;
  o.enable_chunk_cache = chunks;
  o.recompute_fraction = r;
  o.scheduler.max_step_tokens = 64;
  auto b = SchedulerBackend::Create(m, o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

TEST(SchedulerBackendChunk, FullRecomputeEqualsNoChunkCache) {
  auto m = LoadFixture();
  ASSERT_NE(m, nullptr);
  const std::vector<GenerationRequest> rounds[2] = {Requests(1), Requests(2)};
  Round want[2];
  auto plain = MakeBackend(m.get(), false, 1.0);
  for (int round = 0; round < 2; ++round) want[round] = RunRound(*plain, rounds[round]);
  plain->Shutdown(0);
  auto cached = MakeBackend(m.get(), true, 1.0);
  ASSERT_NE(cached->chunk_cache(), nullptr);
  for (int round = 0; round < 2; ++round) {
    const auto& reqs = rounds[round];
    const Round got = RunRound(*cached, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(got.tokens[i], want[round].tokens[i]) << "round " << round << " request " << i;
      EXPECT_EQ(got.results[i].finish, want[round].results[i].finish);
      EXPECT_EQ(got.results[i].n_chunk_cached_tokens, 0);  // r = 1 recomputes all it reuses
    }
    WaitForFills(*cached);
  }
  EXPECT_GT(cached->Stats().chunk_recomputed_tokens, 0);
  EXPECT_EQ(cached->chunk_cache()->stats().n_inserts, 5);
}

TEST(SchedulerBackendChunk, SecondRoundReusesChunksAndReportsIt) {
  auto m = LoadFixture();
  ASSERT_NE(m, nullptr);
  auto b = MakeBackend(m.get(), true, 0.5);
  const Round first = RunRound(*b, Requests(1));
  WaitForFills(*b);
  // Later requests of the first round already reuse what earlier ones
  // queued for the cache (they wait for those fills).
  int64_t reused = 0;
  for (const GenerationResult& r : first.results) reused += r.n_chunk_cached_tokens;
  const auto reqs = Requests(3);
  const Round second = RunRound(*b, reqs);
  int64_t reused_second = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const GenerationResult& r = second.results[i];
    EXPECT_EQ(r.finish == GenerationFinish::kError, false);
    EXPECT_EQ(r.n_prompt_tokens, r.n_prefix_cached_tokens + r.n_chunk_cached_tokens + r.n_computed_prompt_tokens);
    reused_second += r.n_chunk_cached_tokens;
    EXPECT_GT(r.n_chunk_recomputed_tokens, 0);
    EXPECT_EQ(second.tokens[i].size(), 6u);
  }
  EXPECT_GT(reused_second, 0);
  const BackendStats st = b->Stats();
  EXPECT_EQ(st.chunk_hit_tokens, reused + reused_second);
  b->Shutdown(0);
}

}  // namespace
}  // namespace chunkserve::server
