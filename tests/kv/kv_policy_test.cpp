// KV policies: the selections of kv_policy.h and the row moves of
// kv_compaction.h (every kept row checked against an independent copy).
#include <gtest/gtest.h>

#include <numeric>

#include "kv/block_table.h"
#include "kv/kv_compaction.h"
#include "kv/kv_policy.h"

namespace chunkserve::kv {
namespace {

constexpr int kLayers = 2;
constexpr int kHeads = 2;
constexpr int64_t kHeadDim = 3;
constexpr int64_t kB = 4;

std::unique_ptr<BlockPool> Pool(int64_t n_blocks) {
  BlockPoolOptions o;
  o.block_tokens = kB;
  o.n_layers = kLayers;
  o.row_floats = kHeads * kHeadDim;
  o.budget_bytes = static_cast<size_t>(n_blocks) * 2 * kLayers * kB * o.row_floats * sizeof(float);
  return std::move(BlockPool::Create(o)).value();
}

// A value that names its (K or V, layer, slot, head, dim).
float Tag(int kv, int layer, int64_t slot, int head, int64_t d) {
  return static_cast<float>(kv * 100000 + layer * 10000 + slot * 100 + head * 10 + d);
}

float* Row(BlockPool& pool, const BlockTable& t, int kv, int layer, int64_t slot) {
  void* rows = kv == 0 ? pool.KRows(t.blocks()[static_cast<size_t>(slot / kB)], layer)
                       : pool.VRows(t.blocks()[static_cast<size_t>(slot / kB)], layer);
  return static_cast<float*>(rows) + (slot % kB) * kHeads * kHeadDim;
}

void Fill(BlockPool& pool, BlockTable& t, int64_t n) {
  ASSERT_TRUE(t.Reserve(n));
  for (int kv = 0; kv < 2; ++kv)
    for (int l = 0; l < kLayers; ++l)
      for (int64_t s = 0; s < n; ++s)
        for (int h = 0; h < kHeads; ++h)
          for (int64_t d = 0; d < kHeadDim; ++d) Row(pool, t, kv, l, s)[h * kHeadDim + d] = Tag(kv, l, s, h, d);
}

TEST(KvCompaction, EveryHeadGetsItsOwnKeptRowsInOrder) {
  auto pool = Pool(16);
  BlockTable t(pool.get());
  Fill(*pool, t, 20);
  KeepSets keep;
  keep.n_layers = kLayers;
  keep.n_kv_heads = kHeads;
  keep.n_keep = 6;
  keep.slots = {0, 1, 2, 3, 9, 19,    // layer 0 head 0
                0, 1, 2, 3, 4, 5,     // layer 0 head 1
                0, 1, 2, 3, 17, 18,   // layer 1 head 0
                0, 1, 2, 3, 7, 8};    // layer 1 head 1
  EXPECT_EQ(KeptInPlace(keep), 4);
  const BlockId first = t.blocks()[0];
  ASSERT_TRUE(Compact(keep, &t).ok());
  EXPECT_EQ(t.n_blocks(), 2);
  EXPECT_EQ(t.blocks()[0], first);  // the whole leading block kept in place stays
  for (int kv = 0; kv < 2; ++kv)
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kHeads; ++h)
        for (int64_t i = 0; i < keep.n_keep; ++i)
          for (int64_t d = 0; d < kHeadDim; ++d)
            EXPECT_EQ(Row(*pool, t, kv, l, i)[h * kHeadDim + d], Tag(kv, l, keep.List(l, h)[i], h, d))
                << "kv " << kv << " layer " << l << " head " << h << " row " << i;
  // The 5 old blocks, less the one kept, went back to the pool.
  EXPECT_EQ(pool->n_free(), 16 - 2);
}

TEST(KvCompaction, SharedBlocksStayWithTheirOtherHolder) {
  auto pool = Pool(16);
  BlockTable t(pool.get());
  Fill(*pool, t, 12);
  const BlockId second = t.blocks()[1];
  pool->AddRef(second);  // e.g. the prefix cache
  ASSERT_TRUE(Compact(SameForAllHeads(kLayers, 1, SinksAndRecent(12, 6, 2)), &t).ok());
  EXPECT_EQ(pool->ref_count(second), 1);  // copied, not written
  EXPECT_NE(t.blocks()[1], second);
  for (int64_t i = 2; i < 6; ++i) EXPECT_EQ(Row(*pool, t, 0, 1, i)[0], Tag(0, 1, 6 + i, 0, 0));  // 0, 1, then 8..11
  EXPECT_EQ(Row(*pool, *&t, 0, 0, 0)[0], Tag(0, 0, 0, 0, 0));
  pool->Release(second);
}

TEST(KvCompaction, WorksInPlaceWithoutFreeBlocks) {
  auto pool = Pool(3);
  BlockTable t(pool.get());
  Fill(*pool, t, 12);  // every block used
  ASSERT_TRUE(Compact(SameForAllHeads(kLayers, 1, SinksAndRecent(12, 6, 1)), &t).ok());
  EXPECT_EQ(t.n_blocks(), 2);
  EXPECT_EQ(pool->n_free(), 1);
  for (int64_t i = 1; i < 6; ++i) EXPECT_EQ(Row(*pool, t, 1, 1, i)[4], Tag(1, 1, 6 + i, 1, 1));
}

TEST(KvCompaction, ASharedBlockWithoutAFreeCopyLeavesTheTableAsItWas) {
  auto pool = Pool(3);
  BlockTable t(pool.get());
  Fill(*pool, t, 12);
  pool->AddRef(t.blocks()[0]);  // shared, and rows 1.. of it would move
  const std::vector<BlockId> before(t.blocks().begin(), t.blocks().end());
  const Status s = Compact(SameForAllHeads(kLayers, 1, SinksAndRecent(12, 6, 1)), &t);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(std::vector<BlockId>(t.blocks().begin(), t.blocks().end()), before);
  EXPECT_EQ(Row(*pool, t, 1, 0, 3)[0], Tag(1, 0, 3, 0, 0));
  EXPECT_EQ(pool->n_free(), 0);
  pool->Release(t.blocks()[0]);
}

TEST(KvCompaction, RejectsMismatchedKeepSets) {
  auto pool = Pool(8);
  BlockTable t(pool.get());
  Fill(*pool, t, 8);
  EXPECT_EQ(Compact(SameForAllHeads(kLayers + 1, 1, {0, 1}), &t).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Compact(SameForAllHeads(kLayers, 4, {0, 1}), &t).code(), StatusCode::kInvalidArgument);  // 6 % 4
  EXPECT_EQ(Compact(SameForAllHeads(kLayers, 1, {0, 8}), &t).code(), StatusCode::kInvalidArgument);
}

TEST(KvPolicy, SinksAndRecent) {
  EXPECT_EQ(SinksAndRecent(5, 8, 2), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(SinksAndRecent(10, 5, 2), (std::vector<int64_t>{0, 1, 7, 8, 9}));
  EXPECT_EQ(SinksAndRecent(10, 3, 0), (std::vector<int64_t>{7, 8, 9}));
}

TEST(KvPolicy, TopScoringKeepsTheWindowAndTheBestPerHead) {
  const int64_t n = 10;
  std::vector<float> scores(static_cast<size_t>(1 * 2 * n), 0.0f);
  scores[2] = 5;           // head 0 likes slot 2
  scores[5] = 3;           // then 5
  scores[n + 6] = 9;       // head 1 likes slot 6 (and, pooled, its neighbours)
  const KeepSets keep = TopScoring(scores, 1, 2, n, 5, 2, 1);
  EXPECT_EQ(std::vector<int64_t>(keep.List(0, 0), keep.List(0, 0) + 5), (std::vector<int64_t>{0, 2, 5, 8, 9}));
  // Ties (all zero beside slot 6) go to the lower slot.
  EXPECT_EQ(std::vector<int64_t>(keep.List(0, 1), keep.List(0, 1) + 5), (std::vector<int64_t>{0, 1, 6, 8, 9}));
  // Pooling over 3 neighbours: 5 and 7 rank with 6.
  const KeepSets pooled = TopScoring(scores, 1, 2, n, 5, 2, 3);
  EXPECT_EQ(std::vector<int64_t>(pooled.List(0, 1), pooled.List(0, 1) + 5), (std::vector<int64_t>{5, 6, 7, 8, 9}));
}

TEST(KvPolicy, NamesAndValidation) {
  for (const char* name : {"full", "sinks", "snapkv", "h2o", "streaming", "pages", "headwise", "gemfilter"})
    EXPECT_STREQ(KvPolicyName(*ParseKvPolicyKind(name)), name);
  EXPECT_FALSE(ParseKvPolicyKind("quest").has_value());
  KvPolicy p;
  p.kind = KvPolicyKind::kSnapKv;
  p.budget = 32;  // not above the window of 32
  EXPECT_EQ(ValidateKvPolicy(p).code(), StatusCode::kInvalidArgument);
  p.budget = 33;
  EXPECT_TRUE(ValidateKvPolicy(p).ok());
  p.kind = KvPolicyKind::kSinks;
  p.budget = 4;
  EXPECT_EQ(ValidateKvPolicy(p).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chunkserve::kv
