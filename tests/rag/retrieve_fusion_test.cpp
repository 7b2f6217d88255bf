// Reciprocal rank fusion, overlap de-duplication and score-drop selection on
// hand-made lists.
#include <gtest/gtest.h>

#include "rag/retrieve/fusion.h"

namespace chunkserve::rag {
namespace {

TEST(Fusion, ReciprocalRankIsWeightedAndOrdered) {
  const std::vector<RankedId> bm25 = {{1, 9.0}, {2, 5.0}, {3, 1.0}};
  const std::vector<RankedId> dense = {{3, 0.9}, {4, 0.8}, {1, 0.7}};
  auto fused = FuseReciprocalRank({bm25, dense}, {1.0, 1.0}, 60.0);
  ASSERT_EQ(fused.size(), 4u);
  // 1: 1/61 + 1/63; 3: 1/63 + 1/61 (tie, smaller id first); 2: 1/62; 4: 1/62.
  EXPECT_EQ(fused[0].id, 1);
  EXPECT_EQ(fused[1].id, 3);
  EXPECT_DOUBLE_EQ(fused[0].score, 1.0 / 61 + 1.0 / 63);
  EXPECT_EQ(fused[0].ranks, (std::vector<int>{1, 3}));
  EXPECT_EQ(fused[2].id, 2);
  EXPECT_EQ(fused[3].id, 4);
  EXPECT_EQ(fused[3].ranks, (std::vector<int>{0, 2}));
  // Weights move the balance: dense-heavy puts 3 first, 4 above 2.
  fused = FuseReciprocalRank({bm25, dense}, {0.5, 2.0}, 60.0);
  EXPECT_EQ(fused[0].id, 3);
  EXPECT_EQ(fused[2].id, 4);
  // Zero weight: that list contributes nothing but its ids still appear.
  fused = FuseReciprocalRank({bm25, dense}, {1.0, 0.0}, 60.0);
  EXPECT_EQ(fused[0].id, 1);
  EXPECT_EQ(fused[1].id, 2);
  EXPECT_EQ(fused[2].id, 3);
  EXPECT_DOUBLE_EQ(fused.back().score, 0.0);
}

TEST(Fusion, DropOverlappingKeepsBestRankedPerRegion) {
  // Doc 1 chunks [0,100) [80,180) [180,260); doc 2 [0,100).
  const std::vector<Span> spans = {{1, 80, 180}, {2, 0, 100}, {1, 0, 100}, {1, 180, 260}, {1, 90, 95}};
  EXPECT_EQ(DropOverlapping(spans), (std::vector<size_t>{0, 1, 3}));
  EXPECT_TRUE(DropOverlapping({}).empty());
}

TEST(Selection, StopsAtSharpDropAndBudget) {
  SelectionParams p;
  p.drop_fraction = 0.35;
  p.max_chunks = 10;
  // Gradual decline: everything is kept.
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.95, 0.9, 0.85, 0.8}, {10, 10, 10, 10, 10}, p), 5u);
  // A cliff after the second: keep 2.
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.97, 0.4, 0.38, 0.35}, {10, 10, 10, 10, 10}, p), 2u);
  // The budget stops first.
  p.token_budget = 25;
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.95, 0.9, 0.85, 0.8}, {10, 10, 10, 10, 10}, p), 2u);
  // min_chunks forces past a cliff; max_chunks caps.
  p.token_budget = 0;
  p.min_chunks = 3;
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.2, 0.19, 0.18}, {1, 1, 1, 1}, p), 4u);
  p.min_chunks = 1;
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.2, 0.19, 0.18}, {1, 1, 1, 1}, p), 1u);
  // A short flat list is not cut by its only (small) gap.
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.95}, {1, 1}, p), 2u);
  p.min_chunks = 1;
  p.max_chunks = 2;
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.95, 0.9}, {1, 1, 1}, p), 2u);
  // Relative floor.
  p.max_chunks = 10;
  p.drop_fraction = 0;
  p.min_relative_score = 0.5;
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.8, 0.6, 0.45, 0.4}, {1, 1, 1, 1, 1}, p), 3u);
  EXPECT_EQ(SelectByScoreDrop({}, {}, p), 0u);
  // A first chunk over the budget is still selected (issue 20: it was found;
  // the prompt cuts it to fit), the next one is not.
  p.token_budget = 5;
  EXPECT_EQ(SelectByScoreDrop({1.0}, {6}, p), 1u);
  EXPECT_EQ(SelectByScoreDrop({1.0, 0.99}, {6, 1}, p), 1u);
}

}  // namespace
}  // namespace chunkserve::rag
