// StopMatcher: stop strings that span streamed pieces.
#include "sampling/stop_matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sampling/rng.h"

namespace chunkserve::sampling {
namespace {

// Feeds pieces; returns (emitted text, stopped).
std::pair<std::string, bool> FeedAll(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& piece : pieces) {
    StopMatcher::Result r = m.Feed(piece);
    out += r.text;
    if (r.stopped) return {out, true};
  }
  out += m.Flush();
  return {out, false};
}

TEST(StopMatcherTest, NoStopsPassesEverythingThrough) {
  StopMatcher m;
  EXPECT_EQ(m.Feed("hello").text, "hello");
  EXPECT_EQ(m.n_held_bytes(), 0u);
}

TEST(StopMatcherTest, StopInsideOnePiece) {
  StopMatcher m({"STOP"});
  StopMatcher::Result r = m.Feed("abcSTOPdef");
  EXPECT_EQ(r.text, "abc");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "STOP");
  EXPECT_TRUE(m.Feed("more").stopped);
  EXPECT_EQ(m.Feed("more").text, "");
}

TEST(StopMatcherTest, StopSpanningPiecesIsHeldThenDropped) {
  StopMatcher m({"</s>"});
  StopMatcher::Result r1 = m.Feed("Hello <");
  EXPECT_EQ(r1.text, "Hello ");  // "<" might start "</s>"
  EXPECT_EQ(m.n_held_bytes(), 1u);
  StopMatcher::Result r2 = m.Feed("/");
  EXPECT_EQ(r2.text, "");
  EXPECT_FALSE(r2.stopped);
  StopMatcher::Result r3 = m.Feed("s> trailing");
  EXPECT_EQ(r3.text, "");
  EXPECT_TRUE(r3.stopped);
}

TEST(StopMatcherTest, HeldPrefixIsReleasedWhenItDiverges) {
  StopMatcher m({"</s>"});
  EXPECT_EQ(m.Feed("a </").text, "a ");
  EXPECT_EQ(m.Feed("b>").text, "</b>");
  EXPECT_EQ(m.n_held_bytes(), 0u);
}

TEST(StopMatcherTest, FlushReleasesHeldTail) {
  StopMatcher m({"User:"});
  EXPECT_EQ(m.Feed("answer\nUse").text, "answer\n");
  EXPECT_EQ(m.Flush(), "Use");
}

TEST(StopMatcherTest, OverlappingPrefixes) {
  // "aab" inside "aaab": the first 'a' must be released, not swallowed.
  StopMatcher m({"aab"});
  auto [out, stopped] = FeedAll(m, {"x", "a", "a", "a", "b", "y"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "xa");
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w", "\n\n"});
  auto [out, stopped] = FeedAll(m, {"hel", "lo", " wor", "ld"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "hel");
}

TEST(StopMatcherTest, EmptyStopStringsIgnoredAndResetWorks) {
  StopMatcher m({"", "END"});
  EXPECT_EQ(m.stop_strings().size(), 1u);
  EXPECT_TRUE(m.Feed("xEND").stopped);
  m.Reset();
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.Feed("abc").text, "abc");
}

TEST(StopMatcherTest, StopAtVeryStart) {
  StopMatcher m({"<|im_end|>"});
  auto [out, stopped] = FeedAll(m, {"<|", "im_", "end", "|>", "ignored"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "");
}

// Any split of the text into pieces gives the same result as cutting the
// whole text at the earliest stop string.
TEST(StopMatcherTest, RandomSplitsAgreeWithWholeTextCut) {
  const std::vector<std::string> stops = {"ab", "bca", "cc", "abcab"};
  Rng rng(99);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    const int len = 1 + static_cast<int>(rng.NextU64() % 24);
    for (int i = 0; i < len; ++i) text += "abcx"[rng.NextU64() % 4];
    // Reference: earliest position of any stop.
    size_t cut = std::string::npos;
    for (const std::string& s : stops) cut = std::min(cut, text.find(s));
    const std::string expected = cut == std::string::npos ? text : text.substr(0, cut);

    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = 1 + rng.NextU64() % 4;
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    StopMatcher m(stops);
    auto [out, stopped] = FeedAll(m, pieces);
    ASSERT_EQ(out, expected) << "text=" << text;
    ASSERT_EQ(stopped, cut != std::string::npos) << "text=" << text;
  }
}

}  // namespace
}  // namespace chunkserve::sampling
