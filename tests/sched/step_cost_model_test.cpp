// StepCostModel: interpolation, extrapolation, unknowns and the budget search.
#include "sched/step_cost_model.h"

#include <gtest/gtest.h>

namespace chunkserve::sched {
namespace {

TEST(StepCostModelTest, UnknownUntilObserved) {
  StepCostModel m;
  EXPECT_FALSE(m.Predict(1).has_value());
  // Unknown counts as within the limit (explore).
  EXPECT_EQ(m.MaxTokensWithin(10, 1, 64), 64);
  m.Observe(1, 20);
  EXPECT_DOUBLE_EQ(*m.Predict(1), 20);
  EXPECT_FALSE(m.Predict(8).has_value());  // past the only point
}

TEST(StepCostModelTest, LinearCostIsRecovered) {
  StepCostModel m;
  // 10 ms + 2 ms per token.
  for (int n : {1, 2, 4, 8, 16, 32, 64, 128})
    for (int r = 0; r < 3; ++r) m.Observe(n, 10 + 2.0 * n);
  EXPECT_NEAR(*m.Predict(1), 12, 1e-9);
  EXPECT_NEAR(*m.Predict(24), 58, 1e-9);   // between the 16 and 32 points
  EXPECT_NEAR(*m.Predict(256), 522, 1e-9); // extrapolated
  EXPECT_EQ(m.MaxTokensWithin(30, 1, 256), 10);  // 10 + 2 * 10 = 30
  EXPECT_EQ(m.MaxTokensWithin(5, 3, 256), 3);    // even lo is over: lo
  EXPECT_EQ(m.MaxTokensWithin(1e9, 3, 256), 256);
}

TEST(StepCostModelTest, MovingAverageFollowsChanges) {
  StepCostModel m;
  m.Observe(4, 100);
  for (int i = 0; i < 40; ++i) m.Observe(4, 10);
  EXPECT_NEAR(*m.Predict(4), 10, 0.1);
  m.Observe(0, 5);    // ignored
  m.Observe(4, -1);   // ignored
  EXPECT_NEAR(*m.Predict(4), 10, 0.1);
}

}  // namespace
}  // namespace chunkserve::sched
