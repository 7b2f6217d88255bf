#include "engine/chunk_reuse.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "engine_test_util.h"

namespace chunkserve::engine {
namespace {

using testing::LoadSmallModel;
// Tests of RoPE's relative-position algebra pin f32 attention: bf16 operands
// turn the rounding noise of other positions into ~1e-2 logit differences.
constexpr auto kF32 = kernels::AttentionPrecision::kF32;
using testing::MaxAbsDiff;
using testing::Tokens;

// Re-rotation by delta vs rotation at the final position: float rounding of
// the angles only.
constexpr double kRotTol = 1e-4;
constexpr double kLogitsTol = 5e-3;

TEST(SelectRecompute, FractionTiesAndBounds) {
  const std::vector<float> scores = {0.1f, 0.9f, 0.5f, 0.5f, 0.0f, 0.7f, 0.5f, 0.2f, 0.3f, 0.4f};
  EXPECT_TRUE(SelectRecompute(scores, 0.0).empty());
  EXPECT_EQ(SelectRecompute(scores, 0.1), (std::vector<int64_t>{1}));
  EXPECT_EQ(SelectRecompute(scores, 0.2), (std::vector<int64_t>{1, 5}));
  // Three tokens tie at 0.5: the earliest ones win.
  EXPECT_EQ(SelectRecompute(scores, 0.4), (std::vector<int64_t>{1, 2, 3, 5}));
  EXPECT_EQ(SelectRecompute(scores, 0.15), (std::vector<int64_t>{1, 5}));  // ceil(1.5)
  EXPECT_EQ(SelectRecompute(scores, 1.0).size(), 10u);
  EXPECT_EQ(SelectRecompute(scores, 7.0).size(), 10u);
  const std::vector<float> flat(20, 0.0f);
  EXPECT_EQ(SelectRecompute(flat, 0.15), (std::vector<int64_t>{0, 1, 2}));
}

TEST(PlanRecompute, EachSignal) {
  const std::vector<float> a = {0.0f, 0.9f, 0.1f, 0.8f}, b = {0.5f, 0.4f, 0.3f, 0.2f, 0.1f, 0.0f};
  const std::vector<ReusedChunk> chunks = {{10, a}, {20, b}};
  EXPECT_EQ(PlanRecompute(chunks, 0.5, RecomputeSignal::kRecordedDeviation),
            (std::vector<int64_t>{11, 13, 20, 21, 22}));
  EXPECT_EQ(PlanRecompute(chunks, 0.5, RecomputeSignal::kChunkTrailing),
            (std::vector<int64_t>{12, 13, 23, 24, 25}));
  // 10 reused tokens, r = 0.7: the last 7 of the prompt, across chunks.
  EXPECT_EQ(PlanRecompute(chunks, 0.7, RecomputeSignal::kPromptRecency),
            (std::vector<int64_t>{13, 20, 21, 22, 23, 24, 25}));
  for (RecomputeSignal s : {RecomputeSignal::kRecordedDeviation, RecomputeSignal::kChunkTrailing,
                            RecomputeSignal::kPromptRecency}) {
    EXPECT_TRUE(PlanRecompute(chunks, 0.0, s).empty());
    EXPECT_EQ(PlanRecompute(chunks, 1.0, s).size(), 10u);
  }
}

// Runs `tokens` at slots [0, n) of `kv` with RoPE positions offset + i.
void RunAt(model::Model& m, model::KvCache* kv, const std::vector<int32_t>& tokens, int32_t offset,
           model::Logits* out, int64_t first_slot = 0) {
  std::vector<int32_t> pos(tokens.size());
  std::iota(pos.begin(), pos.end(), offset);
  model::SequenceBatch seq{.kv = kv, .tokens = tokens, .first_slot = first_slot, .positions = pos,
                           .logits = model::LogitsMode::kAll};
  ASSERT_TRUE(m.Forward(std::span<const model::SequenceBatch>(&seq, 1), out).ok());
}

kv::ChunkKv Extract(model::KvCache* kv, const std::vector<int32_t>& chunk, int64_t first_slot, int64_t base_position) {
  kv::ChunkKv c;
  c.n_layers = kv->n_layers();
  c.row_floats = kv->row_floats();
  c.base_position = base_position;
  c.tokens = chunk;
  c.scores.assign(chunk.size(), 0.0f);
  const auto n = static_cast<int64_t>(chunk.size());
  std::vector<float> ks, vs;
  for (int l = 0; l < c.n_layers; ++l)
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<float> k = testing::KValues(kv, l, first_slot + i), v = testing::VValues(kv, l, first_slot + i);
      ks.insert(ks.end(), k.begin(), k.end());
      vs.insert(vs.end(), v.begin(), v.end());
    }
  c.AssignF32(ks, vs);
  return c;
}

TEST(ChunkReuse, ReRotationEqualsRopeAtTheNewPosition) {
  for (const char* arch : {"llama", "qwen2"}) {  // normal and NeoX RoPE
    SCOPED_TRACE(arch);
    auto model = LoadSmallModel(arch, 1, kF32);
    ASSERT_TRUE(model);
    auto rope = RopeSetupFor(*model);
    ASSERT_TRUE(rope.ok());
    std::vector<int32_t> seq = {1};
    const std::vector<int32_t> chunk = Tokens(2, 20);
    seq.insert(seq.end(), chunk.begin(), chunk.end());
    for (int32_t from : {0, 50}) {
      for (int32_t to : {0, 37, 50, 300}) {
        auto a = model->NewKvCache(21), b = model->NewKvCache(21), placed = model->NewKvCache(40);
        model::Logits unused;
        RunAt(*model, a.get(), seq, from, &unused);
        RunAt(*model, b.get(), seq, to, &unused);
        const kv::ChunkKv c = Extract(a.get(), chunk, 1, 1 + from);
        PlaceChunk(c, placed.get(), /*first_slot=*/5, /*first_position=*/1 + to, *rope);
        for (int l = 0; l < model->hparams().n_layer; ++l)
          for (int64_t i = 0; i < 20; ++i) {
            std::vector<float> got = testing::KValues(placed.get(), l, 5 + i);
            std::vector<float> want = testing::KValues(b.get(), l, 1 + i);
            EXPECT_LT(MaxAbsDiff(got, want), kRotTol) << from << " -> " << to << " layer " << l << " token " << i;
            std::vector<float> gv = testing::VValues(placed.get(), l, 5 + i);
            std::vector<float> wv = testing::VValues(b.get(), l, 1 + i);
            EXPECT_LT(MaxAbsDiff(gv, wv), kRotTol);
          }
      }
    }
  }
}

// A chunk reused in exactly the context it was cached in (the lead-in), but
// at other positions, must equal recomputing it there: RoPE attention only
// sees relative positions.
TEST(ChunkReuse, IdenticalContextAtAnotherPositionEqualsRecompute) {
  // phi3: LongRoPE's frequency factors and attention factor (a move must
  // rotate with the factors the forward pass chose, and not scale again);
  // gemma3: local and global layers rotate with different RoPE bases.
  for (const char* arch : {"llama", "qwen2", "phi3", "gemma3"}) {
    SCOPED_TRACE(arch);
    auto model = LoadSmallModel(arch, 1, kF32);
    ASSERT_TRUE(model);
    auto rope = RopeSetupFor(*model);
    ASSERT_TRUE(rope.ok());
    const std::vector<int32_t> lead = {1};
    const std::vector<int32_t> chunk = Tokens(3, 24), tail = Tokens(4, 8);
    std::vector<int32_t> lead_chunk = lead;
    lead_chunk.insert(lead_chunk.end(), chunk.begin(), chunk.end());
    std::vector<int32_t> full = lead_chunk;
    full.insert(full.end(), tail.begin(), tail.end());
    constexpr int32_t kShift = 45;

    // Reference: everything recomputed at positions kShift + i.
    auto ref_kv = model->NewKvCache(33);
    model::Logits ref;
    RunAt(*model, ref_kv.get(), full, kShift, &ref);

    // Cached once at positions 0.. (the chunk cache's contract), then reused.
    auto cache_kv = model->NewKvCache(25);
    model::Logits unused;
    RunAt(*model, cache_kv.get(), lead_chunk, 0, &unused);
    const kv::ChunkKv c = Extract(cache_kv.get(), chunk, 1, 1);

    auto kv = model->NewKvCache(33);
    RunAt(*model, kv.get(), lead, kShift, &unused);               // lead-in computed
    PlaceChunk(c, kv.get(), 1, 1 + kShift, *rope);                // chunk reused
    model::Logits got;
    RunAt(*model, kv.get(), tail, kShift + 25, &got, /*first_slot=*/25);  // tail computed
    ASSERT_EQ(got.n_rows, 8);
    for (int64_t i = 0; i < 8; ++i) {
      const auto g = got.Row(i), w = ref.Row(25 + i);
      EXPECT_LT(MaxAbsDiff({g.begin(), g.end()}, {w.begin(), w.end()}), kLogitsTol) << "tail token " << i;
    }
  }
}

TEST(ChunkReuse, DeviationScoresAreZeroInTheCachedContextAndPositiveElsewhere) {
  auto model = LoadSmallModel("llama", 1, kF32);
  ASSERT_TRUE(model);
  auto rope = RopeSetupFor(*model);
  ASSERT_TRUE(rope.ok());
  const std::vector<int32_t> chunk = Tokens(5, 16), other = Tokens(6, 10);
  std::vector<int32_t> lead_chunk = {1};
  lead_chunk.insert(lead_chunk.end(), chunk.begin(), chunk.end());
  auto a = model->NewKvCache(17);
  model::Logits unused;
  RunAt(*model, a.get(), lead_chunk, 0, &unused);
  const kv::ChunkKv c = Extract(a.get(), chunk, 1, 1);

  // Same context, shifted: deviations are rounding noise.
  auto same = model->NewKvCache(17);
  RunAt(*model, same.get(), lead_chunk, 20, &unused);
  for (float s : DeviationScores(c, same.get(), 1, 21, *rope)) EXPECT_LT(s, 1e-8);

  // Other tokens before the chunk: every token deviates, none is NaN.
  std::vector<int32_t> ctx = {1};
  ctx.insert(ctx.end(), other.begin(), other.end());
  ctx.insert(ctx.end(), chunk.begin(), chunk.end());
  auto b = model->NewKvCache(27);
  RunAt(*model, b.get(), ctx, 0, &unused);
  const std::vector<float> s = DeviationScores(c, b.get(), 11, 11, *rope);
  ASSERT_EQ(s.size(), 16u);
  for (float x : s) EXPECT_GT(x, 1e-6);
}

}  // namespace
}  // namespace chunkserve::engine

namespace chunkserve::engine {
namespace {

// PlaceChunk's batched rotation must be exactly kernels::ApplyRope by delta.
TEST(ChunkReuse, PlaceChunkRotatesExactlyLikeApplyRope) {
  for (const char* arch : {"llama", "qwen2"}) {
    SCOPED_TRACE(arch);
    auto model = testing::LoadSmallModel(arch);
    ASSERT_TRUE(model);
    auto rope = RopeSetupFor(*model);
    ASSERT_TRUE(rope.ok());
    kv::ChunkKv c;
    c.n_layers = static_cast<int>(model->hparams().n_layer);
    c.row_floats = model->hparams().n_embd_kv();
    c.base_position = 3;
    c.tokens = testing::Tokens(8, 5);
    c.scores.assign(5, 0.0f);
    std::vector<float> ks, vs;
    for (int64_t i = 0; i < c.n_layers * 5 * c.row_floats; ++i) {
      ks.push_back(std::sin(0.37f * static_cast<float>(i)));
      vs.push_back(std::cos(0.11f * static_cast<float>(i)));
    }
    c.AssignF32(ks, vs);
    for (int64_t to : {int64_t{0}, int64_t{3}, int64_t{1000}}) {
      auto kv = model->NewKvCache(16, DType::kF32);
      PlaceChunk(c, kv.get(), 2, to, *rope);
      for (int l = 0; l < c.n_layers; ++l)
        for (int64_t i = 0; i < 5; ++i) {
          std::vector<float> want(static_cast<size_t>(c.row_floats));
          c.LoadKRow(l, i, want.data());
          kernels::ApplyRope(want.data(), rope->n_kv_heads, to - 3, rope->params);
          const std::vector<float> got = testing::KValues(kv.get(), l, 2 + i);
          EXPECT_EQ(got, want) << "layer " << l << " token " << i << " to " << to;
        }
      // Into a bf16 cache: the same rotation, then the cache's rounding.
      auto kv16 = model->NewKvCache(16, DType::kBF16);
      PlaceChunk(c, kv16.get(), 2, to, *rope);
      for (int l = 0; l < c.n_layers; ++l)
        for (int64_t i = 0; i < 5; ++i) {
          std::vector<float> want(static_cast<size_t>(c.row_floats));
          c.LoadKRow(l, i, want.data());
          kernels::ApplyRope(want.data(), rope->n_kv_heads, to - 3, rope->params);
          std::vector<uint16_t> rounded(want.size());
          kernels::StoreKvRow(want.data(), c.row_floats, DType::kBF16, rounded.data());
          kernels::LoadKvRow(rounded.data(), c.row_floats, DType::kBF16, want.data());
          EXPECT_EQ(testing::KValues(kv16.get(), l, 2 + i), want) << "bf16 layer " << l << " token " << i;
        }
      // A bf16 entry (e.g. from a disk cache written under bf16 attention)
      // into an f32 cache: its rows widened, then rotated.
      kv::ChunkKv c16 = c;
      c16.type = DType::kBF16;
      c16.k.resize(c.k.size() / 2);
      c16.v.resize(c.v.size() / 2);
      const int64_t n_rows = c.n_layers * c.n_tokens();
      std::vector<float> row(static_cast<size_t>(c.row_floats));
      for (int64_t r = 0; r < n_rows; ++r) {
        c.LoadKRow(0, r, row.data());  // rows are contiguous across layers
        kernels::StoreKvRow(row.data(), c.row_floats, DType::kBF16, c16.k.data() + r * c16.row_bytes());
        c.LoadVRow(0, r, row.data());
        kernels::StoreKvRow(row.data(), c.row_floats, DType::kBF16, c16.v.data() + r * c16.row_bytes());
      }
      // Into a q8_0 cache: the same rotation, then the cache's quantization
      // (dequantize, rotate, requantize for a moved q8_0 entry; its bytes as
      // they are when it does not move).
      model::ContiguousKvCache kv8(c.n_layers, c.row_floats, 16, DType::kQ8_0);
      PlaceChunk(c, &kv8, 2, to, *rope);
      for (int l = 0; l < c.n_layers; ++l)
        for (int64_t i = 0; i < 5; ++i) {
          std::vector<float> want(static_cast<size_t>(c.row_floats));
          c.LoadKRow(l, i, want.data());
          kernels::ApplyRope(want.data(), rope->n_kv_heads, to - 3, rope->params);
          std::vector<uint8_t> q(KvRowBytes(DType::kQ8_0, c.row_floats));
          kernels::StoreKvRow(want.data(), c.row_floats, DType::kQ8_0, q.data());
          EXPECT_EQ(0, std::memcmp(kv8.KRow(l, 2 + i), q.data(), q.size())) << "q8_0 layer " << l << " token " << i;
        }
      kv::ChunkKv c8 = c;
      c8.type = DType::kQ8_0;
      c8.k.assign(static_cast<size_t>(c.n_layers * c.n_tokens()) * c8.row_bytes(), 0);
      c8.v = c8.k;
      for (int64_t r = 0; r < c.n_layers * c.n_tokens(); ++r) {
        std::vector<float> row(static_cast<size_t>(c.row_floats));
        c.LoadKRow(0, r, row.data());
        kernels::StoreKvRow(row.data(), c.row_floats, DType::kQ8_0, c8.k.data() + r * c8.row_bytes());
        c.LoadVRow(0, r, row.data());
        kernels::StoreKvRow(row.data(), c.row_floats, DType::kQ8_0, c8.v.data() + r * c8.row_bytes());
      }
      ASSERT_TRUE(c8.ShapeConsistent());
      model::ContiguousKvCache kv8b(c.n_layers, c.row_floats, 16, DType::kQ8_0);
      PlaceChunk(c8, &kv8b, 2, to, *rope);
      for (int l = 0; l < c.n_layers; ++l)
        for (int64_t i = 0; i < 5; ++i) {
          std::vector<float> want(static_cast<size_t>(c.row_floats));
          c8.LoadKRow(l, i, want.data());
          kernels::ApplyRope(want.data(), rope->n_kv_heads, to - 3, rope->params);
          std::vector<uint8_t> q(c8.row_bytes());
          kernels::StoreKvRow(want.data(), c.row_floats, DType::kQ8_0, q.data());
          const void* expect_k = to == 3 ? c8.KRow(l, i) : q.data();
          EXPECT_EQ(0, std::memcmp(kv8b.KRow(l, 2 + i), expect_k, q.size())) << "q8_0 entry, layer " << l;
          EXPECT_EQ(0, std::memcmp(kv8b.VRow(l, 2 + i), c8.VRow(l, i), q.size())) << "q8_0 entry V, layer " << l;
        }
      auto kv32 = model->NewKvCache(16, DType::kF32);
      PlaceChunk(c16, kv32.get(), 2, to, *rope);
      for (int l = 0; l < c.n_layers; ++l)
        for (int64_t i = 0; i < 5; ++i) {
          std::vector<float> want(static_cast<size_t>(c.row_floats));
          c16.LoadKRow(l, i, want.data());
          kernels::ApplyRope(want.data(), rope->n_kv_heads, to - 3, rope->params);
          EXPECT_EQ(testing::KValues(kv32.get(), l, 2 + i), want) << "bf16 entry, layer " << l << " token " << i;
          c16.LoadVRow(l, i, want.data());
          EXPECT_EQ(testing::VValues(kv32.get(), l, 2 + i), want);
        }
    }
  }
}

}  // namespace
}  // namespace chunkserve::engine
