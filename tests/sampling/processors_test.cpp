// Each logits processor on hand-built logits, with exact expected results.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "sampling/logit_bias.h"
#include "sampling/penalties.h"
#include "sampling/rng.h"
#include "sampling/token_candidates.h"
#include "sampling/truncation.h"

namespace chunkserve::sampling {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TokenCandidates Make(std::vector<float> logits) {
  TokenCandidates c;
  c.Fill(logits);
  return c;
}

std::vector<int32_t> Ids(const TokenCandidates& c) {
  std::vector<int32_t> ids;
  for (const auto& t : c.data) ids.push_back(t.id);
  return ids;
}

// log of probabilities 0.5, 0.25, 0.125, 0.125 (up to a constant).
std::vector<float> HalvingLogits() {
  return {std::log(0.125f), std::log(0.5f), std::log(0.125f), std::log(0.25f)};
}

TEST(TokenCandidatesTest, SoftmaxIsExactOnKnownDistribution) {
  TokenCandidates c = Make(HalvingLogits());
  c.Softmax();
  ASSERT_EQ(c.size(), 4u);
  EXPECT_NEAR(c.data[0].p, 0.125f, 1e-6);
  EXPECT_NEAR(c.data[1].p, 0.5f, 1e-6);
  EXPECT_NEAR(c.data[2].p, 0.125f, 1e-6);
  EXPECT_NEAR(c.data[3].p, 0.25f, 1e-6);
}

TEST(TokenCandidatesTest, SoftmaxHandlesInfinitiesAndHugeLogits) {
  TokenCandidates c = Make({1000.0f, -kInf, 1000.0f});
  c.Softmax();
  EXPECT_FLOAT_EQ(c.data[0].p, 0.5f);
  EXPECT_FLOAT_EQ(c.data[1].p, 0.0f);
  EXPECT_FLOAT_EQ(c.data[2].p, 0.5f);

  TokenCandidates all_banned = Make({-kInf, -kInf});
  all_banned.Softmax();
  EXPECT_FLOAT_EQ(all_banned.data[0].p, 0.5f);
}

TEST(TokenCandidatesTest, NanBecomesMinusInfinity) {
  TokenCandidates c = Make({std::nanf(""), 1.0f});
  EXPECT_EQ(c.data[0].logit, -kInf);
}

TEST(TokenCandidatesTest, SortIsDescendingWithIdTieBreak) {
  TokenCandidates c = Make({1.0f, 3.0f, 1.0f, 2.0f, 3.0f});
  c.SortDescending();
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{1, 4, 3, 0, 2}));
}

TEST(LogitBiasTest, AddsBiasBansAndIgnoresOutOfRange) {
  LogitBiasProcessor bias("logit_bias", {{0, 1.5f}, {2, -kInf}, {7, 100.0f}, {-1, 3.0f}, {0, 0.5f}}, 4);
  TokenCandidates c = Make({0.0f, 1.0f, 2.0f, 3.0f});
  bias.Apply(c);
  EXPECT_FLOAT_EQ(c.data[0].logit, 2.0f);  // 0 + 1.5 + 0.5: repeats add up
  EXPECT_FLOAT_EQ(c.data[1].logit, 1.0f);
  EXPECT_EQ(c.data[2].logit, -kInf);
  EXPECT_FLOAT_EQ(c.data[3].logit, 3.0f);
}

TEST(LogitBiasTest, FindsIdsAfterReordering) {
  LogitBiasProcessor bias("logit_bias", {{1, 10.0f}}, 3);
  TokenCandidates c = Make({5.0f, 1.0f, 3.0f});
  c.SortDescending();  // ids now 0, 2, 1
  bias.Apply(c);
  EXPECT_EQ(c.data[2].id, 1);
  EXPECT_FLOAT_EQ(c.data[2].logit, 11.0f);
  EXPECT_FALSE(c.sorted);
}

TEST(PenaltiesTest, RepeatFrequencyAndPresenceFollowLlamaCppFormula) {
  PenaltiesProcessor p(/*repeat_last_n=*/64, /*repeat_penalty=*/2.0f,
                       /*frequency_penalty=*/0.5f, /*presence_penalty=*/0.25f);
  p.Accept(0);
  p.Accept(1);
  p.Accept(1);
  TokenCandidates c = Make({2.0f, -2.0f, 1.0f, 0.0f});
  p.Apply(c);
  EXPECT_FLOAT_EQ(c.data[0].logit, 2.0f / 2.0f - (1 * 0.5f + 0.25f));   // 0.25
  EXPECT_FLOAT_EQ(c.data[1].logit, -2.0f * 2.0f - (2 * 0.5f + 0.25f));  // -5.25
  EXPECT_FLOAT_EQ(c.data[2].logit, 1.0f);                                // never seen
  EXPECT_FLOAT_EQ(c.data[3].logit, 0.0f);
}

TEST(PenaltiesTest, WindowForgetsOldTokens) {
  PenaltiesProcessor p(/*repeat_last_n=*/2, 2.0f, 0.0f, 0.0f);
  p.Accept(0);
  p.Accept(1);
  p.Accept(2);  // token 0 leaves the window
  TokenCandidates c = Make({4.0f, 4.0f, 4.0f, 4.0f});
  p.Apply(c);
  EXPECT_FLOAT_EQ(c.data[0].logit, 4.0f);
  EXPECT_FLOAT_EQ(c.data[1].logit, 2.0f);
  EXPECT_FLOAT_EQ(c.data[2].logit, 2.0f);
  EXPECT_FLOAT_EQ(c.data[3].logit, 4.0f);

  p.Reset();
  TokenCandidates fresh = Make({4.0f, 4.0f, 4.0f, 4.0f});
  p.Apply(fresh);
  EXPECT_FLOAT_EQ(fresh.data[1].logit, 4.0f);
}

TEST(PenaltiesTest, WholeHistoryWhenLastNIsMinusOne) {
  PenaltiesProcessor p(/*repeat_last_n=*/-1, 1.0f, 1.0f, 0.0f);
  for (int i = 0; i < 1000; ++i) p.Accept(i % 2);
  TokenCandidates c = Make({0.0f, 0.0f, 0.0f});
  p.Apply(c);
  EXPECT_FLOAT_EQ(c.data[0].logit, -500.0f);
  EXPECT_FLOAT_EQ(c.data[1].logit, -500.0f);
  EXPECT_FLOAT_EQ(c.data[2].logit, 0.0f);
}

TEST(PenaltiesTest, NoOpDetection) {
  EXPECT_TRUE(PenaltiesProcessor::IsNoOp(64, 1.0f, 0.0f, 0.0f));
  EXPECT_TRUE(PenaltiesProcessor::IsNoOp(0, 1.3f, 0.5f, 0.5f));
  EXPECT_FALSE(PenaltiesProcessor::IsNoOp(64, 1.1f, 0.0f, 0.0f));
  EXPECT_FALSE(PenaltiesProcessor::IsNoOp(64, 1.0f, 0.0f, 0.1f));
}

TEST(TopKTest, KeepsKHighestSorted) {
  TopKProcessor k2(2);
  TokenCandidates c = Make({0.1f, 0.9f, 0.5f, 0.9f, -1.0f});
  k2.Apply(c);
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{1, 3}));
  EXPECT_TRUE(c.sorted);
}

TEST(TopKTest, LargerThanVocabAndDisabled) {
  TopKProcessor k10(10);
  TokenCandidates c = Make({0.1f, 0.9f, 0.5f});
  k10.Apply(c);
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{1, 2, 0}));

  TopKProcessor off(0);
  TokenCandidates d = Make({0.1f, 0.9f, 0.5f});
  off.Apply(d);
  EXPECT_EQ(Ids(d), (std::vector<int32_t>{0, 1, 2}));
}

TEST(TopPTest, KeepsSmallestNucleus) {
  // p = {1: 0.5, 3: 0.25, 0: 0.125, 2: 0.125}
  struct Case {
    float top_p;
    std::vector<int32_t> expected;
  };
  for (const Case& tc : {Case{0.3f, {1}}, Case{0.5f, {1}}, Case{0.6f, {1, 3}}, Case{0.75f, {1, 3}},
                         Case{0.8f, {1, 3, 0}}, Case{0.99f, {1, 3, 0, 2}}}) {
    TopPProcessor p(tc.top_p, 1);
    TokenCandidates c = Make(HalvingLogits());
    p.Apply(c);
    EXPECT_EQ(Ids(c), tc.expected) << "top_p=" << tc.top_p;
  }
}

TEST(TopPTest, MinKeepAndDisabled) {
  TopPProcessor p(0.1f, 3);
  TokenCandidates c = Make(HalvingLogits());
  p.Apply(c);
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{1, 3, 0}));

  TopPProcessor off(1.0f, 1);
  TokenCandidates d = Make(HalvingLogits());
  off.Apply(d);
  EXPECT_EQ(d.size(), 4u);
}

TEST(MinPTest, DropsTokensBelowFractionOfMax) {
  // p_max = 0.5: min_p 0.3 -> threshold 0.15 keeps {0.5, 0.25};
  // min_p 0.6 -> threshold 0.3 keeps only the max; min_p 0.2 -> 0.1 keeps all.
  struct Case {
    float min_p;
    std::vector<int32_t> expected;
  };
  for (const Case& tc : {Case{0.3f, {1, 3}}, Case{0.6f, {1}}, Case{0.2f, {1, 3, 0, 2}}}) {
    MinPProcessor p(tc.min_p, 1);
    TokenCandidates c = Make(HalvingLogits());
    p.Apply(c);
    EXPECT_EQ(Ids(c), tc.expected) << "min_p=" << tc.min_p;
  }
  MinPProcessor keep3(0.9f, 3);
  TokenCandidates c = Make(HalvingLogits());
  keep3.Apply(c);
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{1, 3, 0}));
}

TEST(TemperatureTest, ScalesLogitsAndSharpensDistribution) {
  TemperatureProcessor t(0.5f);
  TokenCandidates c = Make({std::log(1.0f), std::log(3.0f)});
  t.Apply(c);
  c.Softmax();
  // p ∝ p0^(1/T): 1 : 9
  EXPECT_NEAR(c.data[0].p, 0.1f, 1e-6);
  EXPECT_NEAR(c.data[1].p, 0.9f, 1e-6);

  TemperatureProcessor hot(2.0f);
  TokenCandidates h = Make({0.0f, std::log(4.0f)});
  hot.Apply(h);
  h.Softmax();
  // 1 : sqrt(4) = 1 : 2
  EXPECT_NEAR(h.data[0].p, 1.0f / 3.0f, 1e-6);
}

// Exact twin: the partially sorting top-p equals a full sort + cumulative scan,
// on large vocabularies with ties, peaked and flat.
TEST(TopPTest, ProgressiveSortMatchesFullSortTwin) {
  Rng rng(31);
  for (int trial = 0; trial < 40; ++trial) {
    const size_t n = 1 + rng.NextU64() % 5000;
    const double spread = trial % 2 ? 0.5 : 8.0;
    std::vector<float> logits(n);
    for (float& l : logits) l = static_cast<float>(std::round(rng.NextDouble() * spread * 4) / 4);  // many ties
    const float top_p = static_cast<float>(0.05 + 0.9 * rng.NextDouble());

    TokenCandidates naive = Make(logits);
    naive.SortDescending();
    naive.Softmax();
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += naive.data[i].p;
      if (cum >= top_p) {
        keep = i + 1;
        break;
      }
    }
    std::vector<int32_t> expected;
    for (size_t i = 0; i < keep; ++i) expected.push_back(naive.data[i].id);

    TopPProcessor p(top_p, 1);
    TokenCandidates c = Make(logits);
    p.Apply(c);
    // Float (naive) vs double (fast) sums may differ only at an exact boundary.
    ASSERT_LE(std::abs(static_cast<long>(Ids(c).size()) - static_cast<long>(expected.size())), 1) << "trial " << trial;
    const size_t common = std::min(Ids(c).size(), expected.size());
    for (size_t i = 0; i < common; ++i) ASSERT_EQ(Ids(c)[i], expected[i]) << "trial " << trial << " i " << i;
  }
}

TEST(MinPTest, PartitionMatchesFullSortTwin) {
  Rng rng(32);
  for (int trial = 0; trial < 40; ++trial) {
    const size_t n = 1 + rng.NextU64() % 5000;
    std::vector<float> logits(n);
    for (float& l : logits) l = static_cast<float>(std::round(rng.NextDouble() * 24) / 4);
    const float min_p = static_cast<float>(0.01 + 0.5 * rng.NextDouble());
    TokenCandidates naive = Make(logits);
    naive.SortDescending();
    const float threshold = naive.data.front().logit + std::log(min_p);
    std::vector<int32_t> expected;
    for (const auto& t : naive.data) {
      if (t.logit >= threshold) expected.push_back(t.id);
    }
    MinPProcessor p(min_p, 1);
    TokenCandidates c = Make(logits);
    p.Apply(c);
    ASSERT_EQ(Ids(c), expected) << "trial " << trial;
    ASSERT_TRUE(c.sorted);
  }
}

TEST(RngTest, MatchesReferenceXoshiro256StarStar) {
  // Reference values from an independent implementation of splitmix64
  // seeding + xoshiro256** (tools-free: the algorithm is public domain).
  Rng zero(0);
  EXPECT_EQ(zero.NextU64(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(zero.NextU64(), 0xbf6e1f784956452aull);
  EXPECT_EQ(zero.NextU64(), 0x1a5f849d4933e6e0ull);
  Rng answer(42);
  EXPECT_EQ(answer.NextU64(), 0x15780b2e0c2ec716ull);
  EXPECT_EQ(answer.NextU64(), 0x6104d9866d113a7eull);
  EXPECT_EQ(answer.NextU64(), 0xae17533239e499a1ull);
}

TEST(RngTest, DoublesAreInUnitInterval) {
  Rng rng(7);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.NextDouble();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

}  // namespace
}  // namespace chunkserve::sampling
