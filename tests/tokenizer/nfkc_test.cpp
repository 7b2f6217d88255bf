// NFKC (tokenizer/nfkc.h) against its outside reference, Python's
// unicodedata.normalize (tools/tokenizer/nfkc_reference.py, the same
// Unicode version the tables were generated from): every code point alone,
// and random sequences built to exercise canonical ordering, blocking,
// composition exclusions and Hangul. Skipped without python3.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/nfkc.h"

namespace chunkserve::tokenizer {
namespace {

std::string Hex(const std::vector<uint32_t>& cps) {
  std::string s;
  char buf[16];
  for (size_t i = 0; i < cps.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%s%X", i ? " " : "", cps[i]);
    s += buf;
  }
  return s;
}

// Python's NFKC of each sequence, as hex lines; empty when python3 fails.
std::vector<std::string> Reference(const std::vector<std::vector<uint32_t>>& inputs) {
  // Files named by test and process: ctest runs the cases in parallel.
  const std::string stem = ::testing::TempDir() + "/nfkc_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
                           std::to_string(getpid());
  const std::string in = stem + "_in.txt", out = stem + "_out.txt";
  {
    std::ofstream f(in);
    for (const auto& s : inputs) f << Hex(s) << "\n";
  }
  const std::string script = std::string(CHUNKSERVE_SOURCE_DIR) + "/tools/tokenizer/nfkc_reference.py";
  if (std::system(("python3 '" + script + "' < '" + in + "' > '" + out + "'").c_str()) != 0) return {};
  std::ifstream f(out);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) lines.push_back(line);
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  return lines;
}

TEST(Nfkc, AsciiIsItsOwnNormalForm) {
  EXPECT_EQ(NormalizeNfkc(std::string_view("Hello, world! 123")), "Hello, world! 123");
  EXPECT_EQ(NormalizeNfkc(std::string_view("")), "");
}

TEST(Nfkc, KnownForms) {
  EXPECT_EQ(NormalizeNfkc(std::string_view("\xEF\xAC\x81")), "fi");             // U+FB01 ligature
  EXPECT_EQ(NormalizeNfkc(std::string_view("\xEF\xBC\xA1")), "A");              // fullwidth A
  EXPECT_EQ(NormalizeNfkc(std::string_view("e\xCC\x81")), "\xC3\xA9");          // e + acute -> é
  EXPECT_EQ(NormalizeNfkc(std::string_view("\xE2\x91\xA0")), "1");              // circled one
  EXPECT_EQ(NormalizeNfkc(std::string_view("\xE1\x84\x80\xE1\x85\xA1")), "\xEA\xB0\x80");  // jamo -> 가
  EXPECT_EQ(CanonicalCombiningClass(0x301), 230);
  EXPECT_EQ(CanonicalCombiningClass('a'), 0);
}

TEST(Nfkc, EveryCodePointMatchesPython) {
  std::vector<std::vector<uint32_t>> inputs;
  for (uint32_t cp = 1; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;  // not characters
    if (cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 || cp == 0x2029 || cp == 0x0B || cp == 0x0C ||
        cp == 0x1C || cp == 0x1D || cp == 0x1E)
      continue;  // line breaks for Python's line reader (all their own NFKC)
    inputs.push_back({cp});
  }
  const std::vector<std::string> want = Reference(inputs);
  if (want.empty()) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(want.size(), inputs.size());
  int n_bad = 0;
  for (size_t i = 0; i < inputs.size() && n_bad < 10; ++i) {
    const std::string got = Hex(NormalizeNfkc(inputs[i]));
    if (got != want[i]) {
      ++n_bad;
      ADD_FAILURE() << "U+" << Hex(inputs[i]) << ": got " << got << ", Python " << want[i];
    }
  }
}

TEST(Nfkc, RandomSequencesMatchPython) {
  // Starters that compose, marks of several classes (some reordered, some
  // blocking), compatibility characters, jamo and syllables, exclusions.
  const std::vector<uint32_t> pool = {
      'a', 'e', 'o', 'u', 'A', 'E', 'O', 'n', 's', 'z', 0x3B1, 0x3C9, 0x415, 0x648, 0x915, 0x1025,
      0x300, 0x301, 0x302, 0x303, 0x308, 0x30A, 0x323, 0x327, 0x328, 0x31B, 0x345, 0x342, 0x344, 0x654,
      0x93C, 0x94D, 0x102E, 0x5B0, 0x5BC, 0x1100, 0x1161, 0x11A8, 0x11A7, 0xAC00, 0xAC01, 0xD7A3,
      0xFB01, 0x2460, 0xFF21, 0xB5, 0x1E9B, 0x212B, 0x2126, 0x958, 0x2ADC, 0x1F71, 0x3099, 0x304B, 0xFF76,
      0xFF9E, 0x1D15E, 0x1D165, 0x1D16E, ' ', 0xA0, 0x2002};
  std::mt19937 rng(19);
  std::vector<std::vector<uint32_t>> inputs;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint32_t> s(1 + rng() % 8);
    for (uint32_t& cp : s) cp = pool[rng() % pool.size()];
    inputs.push_back(std::move(s));
  }
  const std::vector<std::string> want = Reference(inputs);
  if (want.empty()) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(want.size(), inputs.size());
  int n_bad = 0;
  for (size_t i = 0; i < inputs.size() && n_bad < 10; ++i) {
    const std::string got = Hex(NormalizeNfkc(inputs[i]));
    if (got != want[i]) {
      ++n_bad;
      ADD_FAILURE() << Hex(inputs[i]) << ": got " << got << ", Python " << want[i];
    }
  }
}

}  // namespace
}  // namespace chunkserve::tokenizer
