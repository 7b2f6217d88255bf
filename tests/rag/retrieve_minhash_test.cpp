// MinHashLsh (rag/retrieve/minhash_lsh.h): copies and light edits found,
// the earliest copy named, unrelated and empty texts never matched, and
// every answer at least the threshold by exact Jaccard.
#include <gtest/gtest.h>

#include <string>

#include "rag/retrieve/minhash_lsh.h"
#include "rag/retrieve/near_duplicates.h"

namespace chunkserve::rag {
namespace {

std::string Passage(int seed, int n_words) {
  static const char* kWords[] = {"fleet", "harbor", "budget", "treasury", "school", "teacher", "river", "forest",
                                 "railroad", "tariff", "congress", "union", "navy", "army", "court", "law"};
  std::string s;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (int i = 0; i < n_words; ++i) {
    x = x * 1664525u + 1013904223u;
    s += std::string(s.empty() ? "" : " ") + kWords[(x >> 24) % 16] + std::to_string((x >> 8) % 50);
  }
  return s;
}

TEST(MinHashLsh, FindsCopiesAndLightEditsOnly) {
  MinHashLsh lsh;
  const std::string a = Passage(1, 150), b = Passage(2, 150);
  EXPECT_FALSE(lsh.Add(10, a).has_value());
  EXPECT_FALSE(lsh.Add(11, b).has_value());
  EXPECT_EQ(lsh.Add(12, a), std::optional<int64_t>(10));  // exact copy
  // One word changed at the end: 3 of ~148 shingles differ.
  std::string edited = a.substr(0, a.rfind(' ')) + " entirelynew";
  ASSERT_GE(ShingleJaccard(WordShingles(edited), WordShingles(a)), 0.8);
  EXPECT_EQ(lsh.Add(13, edited), std::optional<int64_t>(10));  // the earliest of the copies
  EXPECT_FALSE(lsh.Add(14, Passage(3, 150)).has_value());
  EXPECT_FALSE(lsh.Add(15, "").has_value());
  EXPECT_FALSE(lsh.Add(16, "").has_value());  // empty texts never match
  EXPECT_EQ(lsh.size(), 7u);
}

TEST(MinHashLsh, AnswersHoldTheThresholdExactly) {
  MinHashParams p;
  p.n_bands = 64;  // many candidates: verification must reject the weak ones
  p.rows_per_band = 1;
  MinHashLsh lsh(p);
  std::vector<std::string> texts;
  const std::string base = Passage(5, 100);
  for (int cut = 0; cut < 60; cut += 5) texts.push_back(base.substr(0, base.size() - static_cast<size_t>(cut) * 8));
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::optional<int64_t> dup = lsh.Add(static_cast<int64_t>(i), texts[i]);
    if (dup) {
      EXPECT_GE(ShingleJaccard(WordShingles(texts[i]), WordShingles(texts[static_cast<size_t>(*dup)])), 0.8);
    }
  }
  EXPECT_GT(lsh.n_candidates_checked(), 0);
}

}  // namespace
}  // namespace chunkserve::rag
