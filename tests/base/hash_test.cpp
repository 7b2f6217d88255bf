#include "base/hash.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace chunkserve {
namespace {

TEST(HashTest, StableAndSeeded) {
  EXPECT_EQ(Hash64("hello"), Hash64("hello"));
  EXPECT_NE(Hash64("hello"), Hash64("hellp"));
  EXPECT_NE(Hash64("hello", 1), Hash64("hello", 2));
  EXPECT_EQ(HashToHex(0x0123456789abcdefull), "0123456789abcdef");
}

TEST(HashTest, NoCollisionsOnSmallInputsAndPrefixes) {
  std::set<uint64_t> seen;
  std::string s;
  for (int i = 0; i < 2000; ++i) {
    s.push_back(static_cast<char>(i % 7));
    EXPECT_TRUE(seen.insert(Hash64(s)).second) << "length " << s.size();
  }
  // Zero bytes of different lengths must differ.
  std::string zeros;
  std::set<uint64_t> zero_hashes;
  for (int i = 0; i < 64; ++i) {
    EXPECT_TRUE(zero_hashes.insert(Hash64(zeros)).second);
    zeros.push_back('\0');
  }
}

TEST(HashTest, SingleBitFlipsChangeAboutHalfTheBits) {
  std::string s(40, 'a');
  uint64_t base = Hash64(s);
  int total = 0;
  for (size_t byte = 0; byte < s.size(); ++byte) {
    std::string t = s;
    t[byte] ^= 1;
    total += __builtin_popcountll(base ^ Hash64(t));
  }
  double mean = static_cast<double>(total) / static_cast<double>(s.size());
  EXPECT_GT(mean, 24.0);
  EXPECT_LT(mean, 40.0);
}

}  // namespace
}  // namespace chunkserve
