// Two engines ("replicas") sharing a Redis chunk-KV tier (kv/redis_tier.h)
// on a redis-server the test starts: a chunk computed by a request on
// replica A is in Redis before that request's response ends (its end is
// held for the fill job, sched/scheduler.h), so replica B, asked right
// after, hits it there; per-request stats count that hit as remote, not as
// a disk hit. Skipped when redis-server is not installed.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "kv/kv_test_util.h"
#include "kv/redis_test_server.h"

namespace chunkserve::engine {
namespace {

using testing::LoadSmallModel;
using testing::Tokens;

class EngineRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<kv::testing::TempDir>("engine_redis");
    server_ = std::make_unique<kv::testing::RedisTestServer>(dir_->path());
    if (!server_->Start()) GTEST_SKIP() << "redis-server is not installed (" << kv::testing::kRedisServer << ")";
    model_ = LoadSmallModel("llama");
    ASSERT_TRUE(model_);
  }
  // A replica: its own RAM tier and KV pool, no disk tier, the shared Redis.
  std::unique_ptr<Engine> Replica(int64_t max_done_hold_ms = 10000) {
    EngineOptions o;
    o.block_tokens = 8;
    o.kv_budget_bytes = size_t{8} << 20;
    o.chunk_cache.ram_budget_bytes = size_t{16} << 20;
    o.chunk_cache.remote.url = server_->url();
    o.chunk_cache.remote.timeout_ms = 500;
    o.scheduler.max_step_tokens = 32;  // fills take several steps after the answer's one token
    o.scheduler.max_done_hold_ms = max_done_hold_ms;
    o.chunk_lead_in = std::vector<int32_t>{1};
    auto e = Engine::Create(model_.get(), o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  Prompt MakePrompt(uint64_t seed) const {
    Prompt p;
    p.push_back(Segment{SegmentKind::kPrefix, {1, 5, 6, 7}});
    for (int c = 0; c < 3; ++c) p.push_back(Segment{SegmentKind::kChunk, Tokens(seed + static_cast<uint64_t>(c), 40)});
    p.push_back(Segment{SegmentKind::kTail, Tokens(seed + 9, 6)});
    return p;
  }
  struct Answer {
    sched::RequestOutcome outcome;
    int64_t published_at_end = 0;  // A's remote publishes when its response ended
  };
  // Submits on `e` the way the server does (no wait for idle) and returns
  // once the response's end (on_done) came.
  static Answer AskAsync(Engine& e, const Prompt& p) {
    RequestParams params;
    params.sampling.temperature = 0;
    params.max_new_tokens = 1;
    params.end_of_generation = {-1};
    std::promise<Answer> done;
    RequestCallbacks cb;
    cb.on_token = [](int32_t) { return true; };
    cb.on_done = [&](const sched::RequestOutcome& o) {
      done.set_value(Answer{o, e.chunk_cache()->stats().n_remote_published});
    };
    auto id = e.Submit(p, params, std::move(cb));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return done.get_future().get();
  }
  std::unique_ptr<kv::testing::TempDir> dir_;
  std::unique_ptr<kv::testing::RedisTestServer> server_;
  std::unique_ptr<model::Model> model_;
};

TEST_F(EngineRedisTest, ChunksArePublishedBeforeTheResponseThatComputedThemEnds) {
  auto a = Replica();
  auto b = Replica();
  ASSERT_TRUE(a && b);
  const Prompt prompt = MakePrompt(500);
  const Answer first = AskAsync(*a, prompt);
  EXPECT_EQ(first.outcome.stats.n_chunk_misses, 3);
  EXPECT_EQ(first.published_at_end, 3) << "A's response ended before its chunks reached Redis";
  EXPECT_EQ(a->Stats().n_done_held, 1);
  EXPECT_EQ(a->Stats().n_done_held_unfilled, 0);
  // Replica B, asked as soon as A answered: every chunk from Redis, and the
  // per-request stats say so (not "disk").
  const Answer second = AskAsync(*b, prompt);
  const sched::RequestStats& s = second.outcome.stats;
  EXPECT_EQ(s.n_chunk_remote_hits, 3);
  EXPECT_EQ(s.n_chunk_disk_hits, 0);
  EXPECT_EQ(s.n_chunk_ram_hits, 0);
  EXPECT_EQ(s.n_chunk_misses, 0);
  EXPECT_EQ(s.n_chunk_hits(), 3);
  EXPECT_GT(s.n_chunk_reused_tokens, 0);
  EXPECT_EQ(b->Stats().n_done_held, 0) << "B computed no new chunk";
  // Again on B: its own RAM tier now.
  const Answer third = AskAsync(*b, prompt);
  EXPECT_EQ(third.outcome.stats.n_chunk_ram_hits, 3);
  EXPECT_EQ(third.outcome.stats.n_chunk_remote_hits, 0);
}

TEST_F(EngineRedisTest, WithoutTheHoldTheResponseEndsBeforeThePublish) {
  // The old behaviour (max_done_hold_ms = 0): shows the test above measures
  // the hold, not a lucky schedule.
  auto a = Replica(/*max_done_hold_ms=*/0);
  ASSERT_TRUE(a);
  const Answer first = AskAsync(*a, MakePrompt(600));
  EXPECT_LT(first.published_at_end, 3);
}

TEST_F(EngineRedisTest, RedisDownDoesNotHangTheHeldResponse) {
  server_->Kill();
  auto a = Replica();
  ASSERT_TRUE(a);
  const Answer first = AskAsync(*a, MakePrompt(700));
  EXPECT_EQ(first.outcome.finish, sched::FinishReason::kLength);
  EXPECT_EQ(first.published_at_end, 0);
  // One timeout (500 ms) at most, then the tier backs off and answers at once.
  EXPECT_LT(first.outcome.stats.total_ms, 5000);
  EXPECT_GE(a->chunk_cache()->stats().n_remote_publish_failures, 1);
  EXPECT_EQ(a->Stats().n_done_held, 1);
}

}  // namespace
}  // namespace chunkserve::engine
