#include "engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "engine_test_util.h"

namespace chunkserve::engine {
namespace {

using testing::LoadSmallModel;
using testing::MaxAbsDiff;
using testing::Tokens;

// Twins whose rows were computed in different batch splits (a contiguous
// cache in one Forward, or a chunk entry computed by a fill job): attention
// groups its queries differently there (32-query tasks without a mask for
// rows that see whole key tiles, masked rows otherwise), so sums round
// differently, by ~4e-6 on these models. Where the core computes both sides
// through the same steps (r = 1 against a full prefill, prefix-cache reuse)
// the twins are compared bit for bit.
constexpr double kTwinTol = 2e-3;

struct Fixture {
  std::unique_ptr<model::Model> model;
  std::vector<int32_t> prefix, tail;
  std::vector<std::vector<int32_t>> chunks;

  explicit Fixture(const std::string& arch) : model(LoadSmallModel(arch)) {
    prefix = {1};
    const std::vector<int32_t> sys = Tokens(10, 9);
    prefix.insert(prefix.end(), sys.begin(), sys.end());
    for (int c = 0; c < 4; ++c) chunks.push_back(Tokens(20 + static_cast<uint64_t>(c), 24 + 5 * c));
    tail = Tokens(30, 11);
  }

  Prompt MakePrompt(const std::vector<int>& order) const {
    Prompt p;
    p.push_back(Segment{SegmentKind::kPrefix, prefix});
    for (int c : order) p.push_back(Segment{SegmentKind::kChunk, chunks[static_cast<size_t>(c)]});
    p.push_back(Segment{SegmentKind::kTail, tail});
    return p;
  }
};

EngineOptions SmallOptions(const std::string& disk_dir = "") {
  EngineOptions o;
  o.block_tokens = 8;
  o.kv_budget_bytes = size_t{8} << 20;
  o.chunk_cache.ram_budget_bytes = size_t{16} << 20;
  o.chunk_cache.disk_dir = disk_dir;
  o.chunk_cache.disk_budget_bytes = size_t{64} << 20;
  o.scheduler.max_step_tokens = 64;
  o.chunk_lead_in = std::vector<int32_t>{1};  // the fixture vocabulary has no BOS
  return o;
}

RequestParams Eval(std::span<const int32_t> forced, double r, bool prefix, bool chunks) {
  RequestParams p;
  p.sampling.temperature = 0;
  p.forced_tokens.assign(forced.begin(), forced.end());
  p.max_new_tokens = static_cast<int64_t>(forced.size());
  p.recompute_fraction = r;
  p.use_prefix_cache = prefix;
  p.use_chunk_cache = chunks;
  p.capture_logits = true;
  return p;
}

const std::vector<int32_t> kForced = Tokens(99, 6);

RequestResult RunRequest(Engine& e, const Prompt& p, const RequestParams& params) {
  auto r = e.Generate(p, params);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : RequestResult{};
}

TEST(Engine, PagedPrefillEqualsContiguousForward) {
  Fixture f("llama");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  const Prompt p = f.MakePrompt({0, 1});
  RequestResult got = RunRequest(*engine, p, Eval(kForced, 1.0, false, false));

  std::vector<int32_t> all;
  for (const Segment& s : p) all.insert(all.end(), s.tokens.begin(), s.tokens.end());
  const int64_t n_prompt = static_cast<int64_t>(all.size());
  all.insert(all.end(), kForced.begin(), kForced.end() - 1);
  auto kv = f.model->NewKvCache(static_cast<int64_t>(all.size()));
  auto ref = f.model->ForwardAll(kv.get(), all);
  ASSERT_TRUE(ref.ok());
  const int64_t n_tail = static_cast<int64_t>(f.tail.size());
  ASSERT_EQ(got.n_captured_rows, n_tail + static_cast<int64_t>(kForced.size()) - 1);
  std::vector<float> want(ref->data.begin() + (n_prompt - n_tail) * ref->n_vocab, ref->data.end());
  EXPECT_LT(MaxAbsDiff(got.captured_logits, want), kTwinTol);
  EXPECT_EQ(got.stats.n_computed_tokens, n_prompt);
  EXPECT_EQ(got.tokens, kForced);
}

TEST(Engine, RecomputeFractionOneIsTheExactTwinOfFullPrefill) {
  for (const char* arch : {"llama", "qwen2"})
  for (RecomputeSignal signal : {RecomputeSignal::kRecordedDeviation, RecomputeSignal::kChunkTrailing,
                                 RecomputeSignal::kPromptRecency}) {
    SCOPED_TRACE(std::string(arch) + " signal " + std::to_string(static_cast<int>(signal)));
    Fixture f(arch);
    ASSERT_TRUE(f.model);
    EngineOptions o = SmallOptions();
    o.recompute_signal = signal;
    auto engine = std::move(Engine::Create(f.model.get(), o)).value();
    RunRequest(*engine, f.MakePrompt({0, 1, 2, 3}), Eval(kForced, 1.0, false, true));  // fills the chunk cache
    EXPECT_EQ(engine->chunk_cache()->stats().n_inserts, 4);

    const Prompt shuffled = f.MakePrompt({2, 0, 3, 1});
    RequestResult full = RunRequest(*engine, shuffled, Eval(kForced, 1.0, false, false));
    RequestResult twin = RunRequest(*engine, shuffled, Eval(kForced, 1.0, false, true));
    EXPECT_EQ(twin.stats.n_chunk_ram_hits, 4);
    EXPECT_EQ(twin.stats.n_chunk_reused_tokens, 0);
    int64_t chunk_tokens = 0;
    for (const auto& c : f.chunks) chunk_tokens += static_cast<int64_t>(c.size());
    EXPECT_EQ(twin.stats.n_chunk_recomputed_tokens, chunk_tokens);
    EXPECT_EQ(twin.captured_logits, full.captured_logits);  // bit for bit
  }
}

TEST(Engine, RecomputeFractionZeroIsPureReuse) {
  Fixture f("qwen2");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  RunRequest(*engine, f.MakePrompt({0, 1, 2, 3}), Eval(kForced, 0.0, false, true));
  const Prompt shuffled = f.MakePrompt({3, 2, 1, 0});
  RequestResult full = RunRequest(*engine, shuffled, Eval(kForced, 0.0, false, false));
  RequestResult reuse = RunRequest(*engine, shuffled, Eval(kForced, 0.0, false, true));
  int64_t chunk_tokens = 0;
  for (const auto& c : f.chunks) chunk_tokens += static_cast<int64_t>(c.size());
  EXPECT_EQ(reuse.stats.n_chunk_reused_tokens, chunk_tokens);
  EXPECT_EQ(reuse.stats.n_chunk_recomputed_tokens, 0);
  EXPECT_EQ(reuse.stats.n_computed_tokens, static_cast<int64_t>(f.prefix.size() + f.tail.size()));
  EXPECT_EQ(reuse.stats.n_prompt_tokens, reuse.stats.n_computed_tokens + reuse.stats.n_chunk_reused_tokens);
  // The stale cross-chunk attention shows: logits differ, but stay finite.
  EXPECT_GT(MaxAbsDiff(reuse.captured_logits, full.captured_logits), 1e-3);
  for (float x : reuse.captured_logits) ASSERT_TRUE(std::isfinite(x));

  // Recomputing more moves the answer towards the full prefill.
  RequestResult part = RunRequest(*engine, shuffled, Eval(kForced, 0.5, false, true));
  EXPECT_LT(MaxAbsDiff(part.captured_logits, full.captured_logits),
            MaxAbsDiff(reuse.captured_logits, full.captured_logits));
}

TEST(Engine, ChunkRightAfterTheLeadInIsExactWithoutRecompute) {
  // Prompt [BOS][chunk][tail]: the chunk sits exactly where and after what it
  // was cached, so pure reuse equals the full prefill.
  Fixture f("llama");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  ASSERT_EQ(engine->chunk_lead_in(), std::vector<int32_t>{1});
  Prompt p;
  p.push_back(Segment{SegmentKind::kPrefix, {1}});
  p.push_back(Segment{SegmentKind::kChunk, f.chunks[1]});
  p.push_back(Segment{SegmentKind::kTail, f.tail});
  RequestResult full = RunRequest(*engine, p, Eval(kForced, 0.0, false, true));  // miss: computes and caches
  RequestResult reuse = RunRequest(*engine, p, Eval(kForced, 0.0, false, true));
  EXPECT_EQ(full.stats.n_chunk_misses, 1);
  EXPECT_EQ(reuse.stats.n_chunk_ram_hits, 1);
  EXPECT_EQ(reuse.stats.n_chunk_reused_tokens, static_cast<int64_t>(f.chunks[1].size()));
  EXPECT_LT(MaxAbsDiff(reuse.captured_logits, full.captured_logits), kTwinTol);
}

TEST(Engine, PrefixCacheReusesBlocksAndEqualsRecompute) {
  Fixture f("qwen2");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  const Prompt p = f.MakePrompt({0, 1});
  RequestResult first = RunRequest(*engine, p, Eval(kForced, 1.0, true, false));
  EXPECT_EQ(first.stats.n_prefix_reused_tokens, 0);
  RequestResult second = RunRequest(*engine, p, Eval(kForced, 1.0, true, false));
  // Captured rows are never taken from the cache: the match stops at the
  // tail, whose rows come back complete and equal the first run's.
  const int64_t n = second.stats.n_prompt_tokens;
  const auto tail_begin = n - static_cast<int64_t>(f.tail.size());
  EXPECT_EQ(second.stats.n_prefix_reused_tokens, tail_begin / 8 * 8);
  EXPECT_EQ(second.stats.n_computed_tokens, n - second.stats.n_prefix_reused_tokens);
  ASSERT_EQ(second.n_captured_rows, first.n_captured_rows);
  EXPECT_EQ(second.captured_logits, first.captured_logits);  // bit for bit
  // Without capture every whole block but the last token's is shared.
  RequestParams plain = Eval(kForced, 1.0, true, false);
  plain.capture_logits = false;
  RequestResult third_run = RunRequest(*engine, p, plain);
  EXPECT_EQ(third_run.stats.n_prefix_reused_tokens, ((n - 1) / 8) * 8);
  EXPECT_EQ(third_run.tokens, kForced);
  // A prompt sharing only the prefix segment reuses its whole blocks.
  const Prompt other = f.MakePrompt({2});
  RequestResult third = RunRequest(*engine, other, Eval(kForced, 1.0, true, false));
  EXPECT_EQ(third.stats.n_prefix_reused_tokens, static_cast<int64_t>(f.prefix.size() / 8 * 8));
}

TEST(Engine, PrefixMatchEndingInsideAChunkIsCutBackToTheChunk) {
  // Two prompts whose different chunks begin with the same tokens: the second
  // prompt's prefix-cache match runs into its chunk. The match must stop
  // before the chunk so the chunk is looked up (a miss, then cached) and a
  // later request without the prefix cache reuses it whole from the chunk
  // cache.
  Fixture f("qwen2");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  const std::vector<int32_t> shared_start = Tokens(40, 12);
  std::vector<int32_t> chunk_a = shared_start, chunk_b = shared_start;
  const std::vector<int32_t> rest_a = Tokens(41, 20), rest_b = Tokens(42, 20);
  chunk_a.insert(chunk_a.end(), rest_a.begin(), rest_a.end());
  chunk_b.insert(chunk_b.end(), rest_b.begin(), rest_b.end());
  auto make = [&](const std::vector<int32_t>& chunk) {
    Prompt p;
    p.push_back(Segment{SegmentKind::kPrefix, f.prefix});  // 10 tokens: the chunk starts mid-block
    p.push_back(Segment{SegmentKind::kChunk, chunk});
    p.push_back(Segment{SegmentKind::kTail, f.tail});
    return p;
  };
  RunRequest(*engine, make(chunk_a), Eval(kForced, 0.0, true, true));
  RequestResult b1 = RunRequest(*engine, make(chunk_b), Eval(kForced, 0.0, true, true));
  EXPECT_EQ(b1.stats.n_prefix_reused_tokens, static_cast<int64_t>(f.prefix.size() / 8 * 8));
  EXPECT_EQ(b1.stats.n_chunk_misses, 1);
  RequestResult b2 = RunRequest(*engine, make(chunk_b), Eval(kForced, 0.0, false, true));
  EXPECT_EQ(b2.stats.n_chunk_ram_hits, 1);
  EXPECT_EQ(b2.stats.n_chunk_reused_tokens, static_cast<int64_t>(chunk_b.size()));
  RequestResult full = RunRequest(*engine, make(chunk_b), Eval(kForced, 0.0, false, false));
  EXPECT_LT(MaxAbsDiff(b1.captured_logits, full.captured_logits), kTwinTol);
}

TEST(Engine, ApproximateKvNeverEntersThePrefixCache) {
  Fixture f("llama");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  RunRequest(*engine, f.MakePrompt({0, 1, 2}), Eval(kForced, 0.0, false, true));  // cache chunks
  const Prompt p = f.MakePrompt({2, 1, 0});
  RequestResult approx = RunRequest(*engine, p, Eval(kForced, 0.0, true, true));  // reuse, inserts prefix
  EXPECT_GT(approx.stats.n_chunk_reused_tokens, 0);
  RequestResult full = RunRequest(*engine, p, Eval(kForced, 0.0, false, false));
  RequestResult via_prefix = RunRequest(*engine, p, Eval(kForced, 0.0, true, false));
  // Only the prefix segment's exact blocks may have been cached.
  EXPECT_LE(via_prefix.stats.n_prefix_reused_tokens, static_cast<int64_t>(f.prefix.size() + f.chunks[2].size()));
  EXPECT_EQ(via_prefix.captured_logits, full.captured_logits);  // bit for bit
}

TEST(Engine, DiskTierSurvivesRestartAndMatchesRam) {
  const std::string dir = (std::filesystem::path(::testing::TempDir()) / "engine_test_disk").string();
  std::filesystem::remove_all(dir);
  Fixture f("llama");
  ASSERT_TRUE(f.model);
  const Prompt shuffled = f.MakePrompt({1, 0});
  RequestResult from_ram;
  {
    auto engine = std::move(Engine::Create(f.model.get(), SmallOptions(dir))).value();
    RunRequest(*engine, f.MakePrompt({0, 1}), Eval(kForced, 0.15, false, true));
    from_ram = RunRequest(*engine, shuffled, Eval(kForced, 0.15, false, true));
    EXPECT_EQ(from_ram.stats.n_chunk_ram_hits, 2);
  }
  auto restarted = std::move(Engine::Create(f.model.get(), SmallOptions(dir))).value();
  RequestResult from_disk = RunRequest(*restarted, shuffled, Eval(kForced, 0.15, false, true));
  EXPECT_EQ(from_disk.stats.n_chunk_disk_hits, 2);
  EXPECT_EQ(from_disk.captured_logits, from_ram.captured_logits);  // same bytes, same math
  std::filesystem::remove_all(dir);
}

TEST(Engine, CorruptDiskEntryIsRecomputedNotTrusted) {
  const std::string dir = (std::filesystem::path(::testing::TempDir()) / "engine_test_corrupt").string();
  std::filesystem::remove_all(dir);
  Fixture f("qwen2");
  ASSERT_TRUE(f.model);
  const Prompt p = f.MakePrompt({1, 0});
  {
    auto engine = std::move(Engine::Create(f.model.get(), SmallOptions(dir))).value();
    RunRequest(*engine, f.MakePrompt({0, 1}), Eval(kForced, 0.0, false, true));
  }
  // Flip one payload byte of every stored chunk.
  int n_files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::fstream file(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(200);
    const char c = static_cast<char>(file.get());
    file.seekp(200);
    file.put(static_cast<char>(c ^ 0x20));
    ++n_files;
  }
  ASSERT_EQ(n_files, 2);
  auto restarted = std::move(Engine::Create(f.model.get(), SmallOptions(dir))).value();
  RequestResult got = RunRequest(*restarted, p, Eval(kForced, 0.0, false, true));
  EXPECT_EQ(got.stats.n_chunk_misses, 2);
  EXPECT_EQ(got.stats.n_chunk_reused_tokens, 0);
  EXPECT_EQ(restarted->chunk_cache()->stats().n_rejected_files, 2);
  // Recomputed, so exactly the full prefill's answer.
  RequestResult full = RunRequest(*restarted, p, Eval(kForced, 0.0, false, false));
  EXPECT_LT(MaxAbsDiff(got.captured_logits, full.captured_logits), kTwinTol);
  // And the entries were rewritten: the next request hits the cache.
  RequestResult again = RunRequest(*restarted, p, Eval(kForced, 0.0, false, true));
  EXPECT_EQ(again.stats.n_chunk_ram_hits, 2);
  std::filesystem::remove_all(dir);
}

TEST(Engine, StreamsTokensAndCancels) {
  Fixture f("llama");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  RequestParams p;
  p.sampling.temperature = 0;
  p.max_new_tokens = 10;
  p.end_of_generation = {-1};  // nothing ends early
  std::vector<int32_t> streamed;
  auto r = engine->Generate(f.MakePrompt({0}), p, [&](int32_t t) {
    streamed.push_back(t);
    return streamed.size() < 3;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish, FinishReason::kCancelled);
  EXPECT_EQ(streamed.size(), 3u);
  EXPECT_EQ(r->tokens, streamed);

  std::atomic<bool> cancel{true};
  p.cancel = &cancel;
  auto c = engine->Generate(f.MakePrompt({0}), p);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->finish, FinishReason::kCancelled);
  EXPECT_TRUE(c->tokens.empty());

  cancel = false;
  auto full = engine->Generate(f.MakePrompt({0}), p);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->finish, FinishReason::kLength);
  EXPECT_EQ(full->tokens.size(), 10u);
  // Greedy: the same prompt gives the same first tokens.
  EXPECT_TRUE(std::equal(streamed.begin(), streamed.end(), full->tokens.begin()));
  EXPECT_GT(full->stats.ttft_ms, 0);
  EXPECT_GT(full->stats.decode_tokens_per_s, 0);
}

TEST(Engine, PoolExhaustionIsAnErrorAndLeaksNothing) {
  Fixture f("llama");
  ASSERT_TRUE(f.model);
  EngineOptions o = SmallOptions();
  // 2 layers x 2 x 8 tokens x 32 values of the model's KV type per block: 6 blocks.
  o.kv_budget_bytes = 6 * 2 * 2 * 8 * 32 * Traits(f.model->kv_type()).type_size;
  auto engine = std::move(Engine::Create(f.model.get(), o)).value();
  ASSERT_EQ(engine->n_free_blocks(), 6);
  // A request larger than the whole pool can never run: refused at once.
  auto r = engine->Generate(f.MakePrompt({0, 1, 2}), Eval(kForced, 1.0, true, true));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->n_free_blocks(), 6);
  // A prompt that fits still runs, evicting cached prefixes as needed.
  Prompt small;
  small.push_back(Segment{SegmentKind::kTail, Tokens(7, 20)});
  for (int i = 0; i < 3; ++i) {
    small[0].tokens[0] = 3 + i;  // distinct prompts fill the prefix cache
    auto ok = engine->Generate(small, Eval(kForced, 1.0, true, false));
    ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  }
  engine->ClearPrefixCache();
  EXPECT_EQ(engine->n_free_blocks(), 6);
}

TEST(Engine, RejectsBadPrompts) {
  Fixture f("llama");
  ASSERT_TRUE(f.model);
  auto engine = std::move(Engine::Create(f.model.get(), SmallOptions())).value();
  EXPECT_EQ(engine->Generate(Prompt{}, RequestParams{}).status().code(), StatusCode::kInvalidArgument);
  Prompt bad;
  bad.push_back(Segment{SegmentKind::kTail, {1, 5000}});
  EXPECT_EQ(engine->Generate(bad, RequestParams{}).status().code(), StatusCode::kInvalidArgument);
  RequestParams p;
  p.recompute_fraction = 1.5;
  EXPECT_EQ(engine->Generate(f.MakePrompt({0}), p).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chunkserve::engine
