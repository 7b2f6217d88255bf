// SelectCombination (rag/retrieve/combination_select.h) on hand-made lists:
// redundancy is discounted, complementary chunks are preferred, the budget
// and max_chunks hold, and the result comes back in rank order.
#include <gtest/gtest.h>

#include "rag/retrieve/combination_select.h"

namespace chunkserve::rag {
namespace {

TEST(CombinationSelect, SkipsANearCopyForTheNextDifferentChunk) {
  const std::vector<std::string_view> texts = {"the navy fleet sailed from the harbor at dawn",
                                               "the navy fleet sailed from the harbor at dawn today",
                                               "sailors of the fleet were paid from the treasury"};
  CombinationParams p;
  p.token_budget = 20;
  const std::vector<size_t> got = SelectCombination("navy fleet", texts, {1.0, 0.95, 0.8}, {10, 10, 10}, p);
  EXPECT_EQ(got, (std::vector<size_t>{0, 2}));
}

TEST(CombinationSelect, PrefersAChunkThatBringsMissingQueryTerms) {
  const std::vector<std::string_view> texts = {"kitten kitten paws fur", "kitten whiskers fur", "budget taxes revenue"};
  CombinationParams p;
  p.token_budget = 20;
  p.redundancy = 0;  // only the coverage term separates the second and third chunks
  // Second chunk: 0.6 + 0 new terms; third: 0.5 + 0.5 * (1 of 2 terms).
  EXPECT_EQ(SelectCombination("kitten budget", texts, {1.0, 0.6, 0.5}, {10, 10, 10}, p), (std::vector<size_t>{0, 2}));
  p.coverage_weight = 0;  // by relevance alone the second chunk wins
  EXPECT_EQ(SelectCombination("kitten budget", texts, {1.0, 0.6, 0.5}, {10, 10, 10}, p), (std::vector<size_t>{0, 1}));
}

TEST(CombinationSelect, BudgetMaxChunksAndTheFirstChunk) {
  const std::vector<std::string_view> texts = {"alpha one", "beta two", "gamma three", "delta four"};
  const std::vector<double> scores = {1.0, 0.9, 0.8, 0.7};
  CombinationParams p;
  p.min_gain = 0;
  p.token_budget = 25;
  EXPECT_EQ(SelectCombination("x", texts, scores, {10, 10, 10, 10}, p), (std::vector<size_t>{0, 1}));
  p.token_budget = 0;
  p.max_chunks = 3;
  EXPECT_EQ(SelectCombination("x", texts, scores, {10, 10, 10, 10}, p), (std::vector<size_t>{0, 1, 2}));
  // Nothing fits: the best-ranked chunk alone.
  p.token_budget = 5;
  EXPECT_EQ(SelectCombination("x", texts, scores, {10, 10, 10, 10}, p), (std::vector<size_t>{0}));
  // A big first chunk is passed over for ones that fit.
  EXPECT_EQ(SelectCombination("x", texts, scores, {10, 4, 10, 1}, p), (std::vector<size_t>{1, 3}));
  EXPECT_TRUE(SelectCombination("x", {}, {}, {}, p).empty());
}

TEST(CombinationSelect, StopsWhenTheGainFallsAway) {
  const std::vector<std::string_view> texts = {"war with spain over cuba", "the maine exploded in havana",
                                               "weather report for tuesday"};
  CombinationParams p;
  p.min_gain = 0.5;
  // The third chunk's relevance (0.1) is under half of the first's gain.
  EXPECT_EQ(SelectCombination("spain", texts, {1.0, 0.8, 0.1}, {10, 10, 10}, p), (std::vector<size_t>{0, 1}));
}

}  // namespace
}  // namespace chunkserve::rag
