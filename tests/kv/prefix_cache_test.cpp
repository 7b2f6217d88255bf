#include "kv/prefix_cache.h"

#include <gtest/gtest.h>

#include <numeric>

#include "kv/block_table.h"

namespace chunkserve::kv {
namespace {

constexpr uint64_t kModelA = 0xAAAA;
constexpr uint64_t kModelB = 0xBBBB;

std::unique_ptr<BlockPool> SimPool(int64_t n_blocks) {
  BlockPoolOptions o;
  o.block_tokens = 4;
  o.n_layers = 1;
  o.row_floats = 1;
  o.budget_bytes = static_cast<size_t>(n_blocks) * 2 * 4 * sizeof(float);
  o.simulated = true;
  return std::move(BlockPool::Create(o)).value();
}

std::vector<int32_t> Seq(int32_t start, int n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

// Computes a sequence into fresh blocks (as a request would) and caches it.
void ComputeAndInsert(PrefixCache& cache, BlockPool& pool, uint64_t ns, const std::vector<int32_t>& tokens) {
  BlockTable t(&pool);
  PrefixMatch m = cache.Lookup(ns, tokens);
  for (BlockId b : m.blocks) t.AdoptShared(b);
  ASSERT_TRUE(t.Reserve(static_cast<int64_t>(tokens.size())));
  cache.Insert(ns, tokens, t.blocks());
}

TEST(PrefixCache, LongestPrefixInWholeBlocks) {
  auto pool = SimPool(64);
  PrefixCache cache(pool.get(), 64);
  ComputeAndInsert(cache, *pool, kModelA, Seq(0, 10));  // 2 full blocks cached
  EXPECT_EQ(cache.n_cached_blocks(), 2);

  std::vector<int32_t> q = Seq(0, 7);
  q.push_back(99);  // diverges inside block 1
  PrefixMatch m = cache.Lookup(kModelA, q);
  EXPECT_EQ(m.n_tokens, 4);
  for (BlockId b : m.blocks) pool->Release(b);

  m = cache.Lookup(kModelA, Seq(0, 12));
  EXPECT_EQ(m.n_tokens, 8);
  for (BlockId b : m.blocks) pool->Release(b);
}

TEST(PrefixCache, NamespacesDoNotShare) {
  auto pool = SimPool(64);
  PrefixCache cache(pool.get(), 64);
  ComputeAndInsert(cache, *pool, kModelA, Seq(0, 8));
  PrefixMatch m = cache.Lookup(kModelB, Seq(0, 8));
  EXPECT_EQ(m.n_tokens, 0);
}

TEST(PrefixCache, SharedPrefixIsStoredOnce) {
  auto pool = SimPool(64);
  PrefixCache cache(pool.get(), 64);
  std::vector<int32_t> a = Seq(0, 8), b = Seq(0, 8);
  a.insert(a.end(), {50, 51, 52, 53});
  b.insert(b.end(), {60, 61, 62, 63});
  ComputeAndInsert(cache, *pool, kModelA, a);
  ComputeAndInsert(cache, *pool, kModelA, b);
  EXPECT_EQ(cache.n_cached_blocks(), 4);  // 2 shared + 1 + 1
  EXPECT_EQ(pool->n_used(), 4);           // the requests' own copies were freed
}

TEST(PrefixCache, EvictionNeverFreesPinnedBlocks) {
  auto pool = SimPool(64);
  PrefixCache cache(pool.get(), 64);
  ComputeAndInsert(cache, *pool, kModelA, Seq(0, 16));    // 4 blocks
  ComputeAndInsert(cache, *pool, kModelA, Seq(100, 8));   // 2 blocks
  // A running sequence pins the first path.
  PrefixMatch pinned = cache.Lookup(kModelA, Seq(0, 16));
  ASSERT_EQ(pinned.blocks.size(), 4u);
  EXPECT_EQ(cache.EvictAll(), 2);  // only the unpinned path goes
  EXPECT_EQ(cache.n_cached_blocks(), 4);
  for (BlockId b : pinned.blocks) EXPECT_GE(pool->ref_count(b), 2);
  for (BlockId b : pinned.blocks) pool->Release(b);
  EXPECT_EQ(cache.EvictAll(), 4);
  EXPECT_EQ(pool->n_used(), 0);
}

TEST(PrefixCache, PinnedInnerNodeProtectsNothingBelowButItself) {
  auto pool = SimPool(64);
  PrefixCache cache(pool.get(), 64);
  ComputeAndInsert(cache, *pool, kModelA, Seq(0, 12));  // 3 blocks
  PrefixMatch pinned = cache.Lookup(kModelA, Seq(0, 4));  // pins block 0 only
  EXPECT_EQ(cache.EvictAll(), 2);  // leaves 2 then 1 go, block 0 stays
  EXPECT_EQ(cache.n_cached_blocks(), 1);
  for (BlockId b : pinned.blocks) pool->Release(b);
}

TEST(PrefixCache, LruOrderAndBudget) {
  auto pool = SimPool(64);
  PrefixCache cache(pool.get(), 3);
  ComputeAndInsert(cache, *pool, kModelA, Seq(0, 4));
  ComputeAndInsert(cache, *pool, kModelA, Seq(100, 4));
  ComputeAndInsert(cache, *pool, kModelA, Seq(200, 4));
  // Touch the first: the second becomes the LRU one.
  PrefixMatch m = cache.Lookup(kModelA, Seq(0, 4));
  for (BlockId b : m.blocks) pool->Release(b);
  ComputeAndInsert(cache, *pool, kModelA, Seq(300, 4));  // over budget by 1
  EXPECT_EQ(cache.n_cached_blocks(), 3);
  auto hit = [&](int32_t start) {
    PrefixMatch r = cache.Lookup(kModelA, Seq(start, 4));
    for (BlockId b : r.blocks) pool->Release(b);
    return r.n_tokens;
  };
  EXPECT_EQ(hit(100), 0);
  EXPECT_EQ(hit(0), 4);
  EXPECT_EQ(hit(200), 4);
  EXPECT_EQ(hit(300), 4);
}

TEST(PrefixCache, PoolPressureResolvedByEviction) {
  // 4 blocks in all: cache two paths, then a new request needs them back.
  auto pool = SimPool(4);
  PrefixCache cache(pool.get(), 100);
  ComputeAndInsert(cache, *pool, kModelA, Seq(0, 8));
  ComputeAndInsert(cache, *pool, kModelA, Seq(100, 8));
  EXPECT_EQ(pool->n_free(), 0);
  BlockTable t(pool.get());
  while (!t.Reserve(12)) ASSERT_GT(cache.Evict(1), 0);
  EXPECT_EQ(t.n_blocks(), 3);
  EXPECT_EQ(cache.n_cached_blocks(), 1);
}

TEST(PrefixCache, ManyRandomOperationsKeepRefCountsConsistent) {
  auto pool = SimPool(256);
  PrefixCache cache(pool.get(), 40);
  uint64_t s = 12345;
  auto rnd = [&s](int n) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int>((s >> 33) % static_cast<uint64_t>(n));
  };
  for (int it = 0; it < 500; ++it) {
    std::vector<int32_t> toks;
    const int len = 1 + rnd(30);
    for (int i = 0; i < len; ++i) toks.push_back(rnd(3));  // small alphabet: heavy sharing
    ComputeAndInsert(cache, *pool, rnd(2) ? kModelA : kModelB, toks);
    ASSERT_LE(cache.n_cached_blocks(), 40);
    ASSERT_EQ(pool->n_used(), cache.n_cached_blocks());
  }
  cache.EvictAll();
  EXPECT_EQ(pool->n_used(), 0);
}

}  // namespace
}  // namespace chunkserve::kv
