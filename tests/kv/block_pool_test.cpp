#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include "kv/block_table.h"

namespace chunkserve::kv {
namespace {

BlockPoolOptions SmallOptions(int64_t n_blocks, bool simulated = false) {
  BlockPoolOptions o;
  o.block_tokens = 4;
  o.n_layers = 2;
  o.row_floats = 8;
  o.budget_bytes = static_cast<size_t>(n_blocks) * 2 * 2 * 4 * 8 * sizeof(float);
  o.simulated = simulated;
  return o;
}

TEST(BlockPool, BudgetGivesBlockCount) {
  auto pool = BlockPool::Create(SmallOptions(5));
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ((*pool)->n_blocks(), 5);
  EXPECT_EQ((*pool)->n_free(), 5);
  EXPECT_EQ((*pool)->block_bytes(), size_t{2 * 2 * 4 * 8 * 4});
}

TEST(BlockPool, RejectsBadOptions) {
  BlockPoolOptions o = SmallOptions(1);
  o.budget_bytes = 10;
  EXPECT_EQ(BlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = SmallOptions(1);
  o.row_floats = 0;
  EXPECT_EQ(BlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockPool, ExhaustionIsAnExpectedResultAndReleaseReturnsBlocks) {
  auto pool = std::move(BlockPool::Create(SmallOptions(3))).value();
  std::vector<BlockId> got;
  for (int i = 0; i < 3; ++i) {
    auto b = pool->Allocate();
    ASSERT_TRUE(b.has_value());
    got.push_back(*b);
  }
  EXPECT_FALSE(pool->Allocate().has_value());
  pool->AddRef(got[1]);
  pool->Release(got[1]);
  EXPECT_EQ(pool->n_free(), 0);  // still one reference
  pool->Release(got[1]);
  EXPECT_EQ(pool->n_free(), 1);
  auto again = pool->Allocate();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, got[1]);
}

TEST(BlockPool, RowsOfLayersAndBlocksAreDisjoint) {
  auto pool = std::move(BlockPool::Create(SmallOptions(2))).value();
  const BlockId a = *pool->Allocate(), b = *pool->Allocate();
  // Write a distinct value through every row pointer, then read them back.
  float tag = 0;
  for (BlockId blk : {a, b})
    for (int l = 0; l < 2; ++l)
      for (int r = 0; r < 4; ++r) {
        std::fill_n(static_cast<float*>(pool->KRows(blk, l)) + r * 8, 8, tag++);
        std::fill_n(static_cast<float*>(pool->VRows(blk, l)) + r * 8, 8, tag++);
      }
  tag = 0;
  for (BlockId blk : {a, b})
    for (int l = 0; l < 2; ++l)
      for (int r = 0; r < 4; ++r) {
        EXPECT_EQ(static_cast<float*>(pool->KRows(blk, l))[r * 8 + 7], tag++);
        EXPECT_EQ(static_cast<float*>(pool->VRows(blk, l))[r * 8], tag++);
      }
}

// A bf16 pool: half the bytes per block (twice the blocks in a budget), rows
// of 2-byte values, still disjoint; other value types are refused.
TEST(BlockPool, Bf16BlocksAreHalfTheBytes) {
  BlockPoolOptions o = SmallOptions(4);
  auto f32 = std::move(BlockPool::Create(o)).value();
  o.type = DType::kBF16;
  o.budget_bytes = f32->block_bytes() * 4;
  auto pool = std::move(BlockPool::Create(o)).value();
  EXPECT_EQ(pool->block_bytes() * 2, f32->block_bytes());
  EXPECT_EQ(pool->n_blocks(), 8);
  EXPECT_EQ(pool->type(), DType::kBF16);
  const BlockId a = *pool->Allocate(), b = *pool->Allocate();
  uint16_t tag = 0;
  for (BlockId blk : {a, b})
    for (int l = 0; l < 2; ++l)
      for (int r = 0; r < 4; ++r) {
        std::fill_n(static_cast<uint16_t*>(pool->KRows(blk, l)) + r * 8, 8, tag++);
        std::fill_n(static_cast<uint16_t*>(pool->VRows(blk, l)) + r * 8, 8, tag++);
      }
  tag = 0;
  for (BlockId blk : {a, b})
    for (int l = 0; l < 2; ++l)
      for (int r = 0; r < 4; ++r) {
        EXPECT_EQ(static_cast<uint16_t*>(pool->KRows(blk, l))[r * 8 + 7], tag++);
        EXPECT_EQ(static_cast<uint16_t*>(pool->VRows(blk, l))[r * 8], tag++);
      }
  o.type = DType::kF16;
  EXPECT_EQ(BlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
}

// q8_0 blocks: KvRowBytes per row (34 bytes per 32 values), so a budget
// holds 64/17 as many tokens as f32 and 32/17 as many as bf16; rows whose
// width is not whole blocks are refused.
TEST(BlockPool, Q8BlocksAreWholeQ8Rows) {
  BlockPoolOptions o = SmallOptions(4);
  o.row_floats = 64;
  o.budget_bytes = size_t{17} * 1000;
  o.type = DType::kBF16;
  auto bf16 = std::move(BlockPool::Create(o)).value();
  o.type = DType::kQ8_0;
  auto pool = std::move(BlockPool::Create(o)).value();
  EXPECT_EQ(pool->row_bytes(), 68u);
  EXPECT_EQ(pool->block_bytes(), size_t{2 * 2 * 4 * 68});
  EXPECT_EQ(bf16->block_bytes() * 17, pool->block_bytes() * 32);
  EXPECT_EQ(pool->n_blocks(), static_cast<int64_t>(o.budget_bytes / pool->block_bytes()));
  // Rows and layers do not overlap: V of layer 0 starts after its 4 K rows.
  const BlockId a = *pool->Allocate(), b = *pool->Allocate();
  EXPECT_EQ(static_cast<uint8_t*>(pool->VRows(a, 0)) - static_cast<uint8_t*>(pool->KRows(a, 0)), 4 * 68);
  EXPECT_EQ(static_cast<uint8_t*>(pool->KRows(a, 1)) - static_cast<uint8_t*>(pool->KRows(a, 0)), 2 * 4 * 68);
  EXPECT_EQ(static_cast<uint8_t*>(pool->KRows(b, 0)) - static_cast<uint8_t*>(pool->KRows(a, 0)),
            static_cast<std::ptrdiff_t>(pool->block_bytes()));
  o.row_floats = 40;
  EXPECT_EQ(BlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockPool, SimulatedPoolHasNoMemory) {
  auto pool = std::move(BlockPool::Create(SmallOptions(1000000, /*simulated=*/true))).value();
  EXPECT_EQ(pool->n_blocks(), 1000000);
  const BlockId b = *pool->Allocate();
  EXPECT_EQ(pool->KRows(b, 0), nullptr);
}

TEST(BlockTable, ReserveAndReleaseOnDestruction) {
  auto pool = std::move(BlockPool::Create(SmallOptions(4))).value();
  {
    BlockTable t(pool.get());
    EXPECT_TRUE(t.Reserve(9));  // 3 blocks of 4
    EXPECT_EQ(t.n_blocks(), 3);
    EXPECT_EQ(pool->n_free(), 1);
    EXPECT_FALSE(t.Reserve(20));  // needs 5 blocks; keeps the 4th
    EXPECT_EQ(t.n_blocks(), 4);
    EXPECT_EQ(pool->n_free(), 0);
  }
  EXPECT_EQ(pool->n_free(), 4);
}

TEST(BlockTable, SharedBlocksKeepTheirOtherReferences) {
  auto pool = std::move(BlockPool::Create(SmallOptions(4))).value();
  const BlockId shared = *pool->Allocate();
  {
    BlockTable t(pool.get());
    pool->AddRef(shared);
    t.AdoptShared(shared);
    EXPECT_EQ(pool->ref_count(shared), 2);
  }
  EXPECT_EQ(pool->ref_count(shared), 1);
  BlockTable moved_from(pool.get());
  ASSERT_TRUE(moved_from.Reserve(4));
  BlockTable moved_to = std::move(moved_from);
  EXPECT_EQ(moved_to.n_blocks(), 1);
  EXPECT_EQ(moved_from.n_blocks(), 0);
}

}  // namespace
}  // namespace chunkserve::kv
