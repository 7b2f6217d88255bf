#include "engine/fidelity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace chunkserve::engine {
namespace {

TEST(Fidelity, IdenticalRowsAgreeWithZeroKl) {
  const std::vector<float> a = {1, 2, 3, 0, 5, 1};
  FidelityAccumulator f;
  f.Add(a, a, 3);
  EXPECT_EQ(f.n_rows(), 2);
  EXPECT_DOUBLE_EQ(f.top1_agreement(), 1.0);
  EXPECT_NEAR(f.kl_mean(), 0.0, 1e-12);
}

TEST(Fidelity, KlMatchesClosedForm) {
  // p = softmax(0, 0) = (0.5, 0.5); q = softmax(0, ln 3) = (0.25, 0.75).
  const std::vector<float> p = {0, 0}, q = {0, static_cast<float>(std::log(3.0))};
  FidelityAccumulator f;
  f.Add(p, q, 2);
  const double want = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);
  EXPECT_NEAR(f.kl_mean(), want, 1e-6);
  // argmax of p is index 0 (first of a tie), of q index 1.
  EXPECT_DOUBLE_EQ(f.top1_agreement(), 0.0);
}

}  // namespace
}  // namespace chunkserve::engine
