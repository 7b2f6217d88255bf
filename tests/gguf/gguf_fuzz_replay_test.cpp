// Runs the libFuzzer harness (fuzz/gguf_fuzzer.cpp) without libFuzzer: over
// the committed seed corpus, the real vocab files, and a deterministic set of
// structured mutations of the seeds, so every CI build exercises it. The
// harness traps on any violated property, which fails this test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace chunkserve::gguf {
namespace {

std::vector<std::vector<uint8_t>> LoadDir(const std::filesystem::path& dir, const std::string& ext) {
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().extension() == ext) paths.push_back(e.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<uint8_t>> out;
  for (const auto& p : paths) {
    auto s = ReadFileToString(p.string());
    if (s.ok()) out.emplace_back(s->begin(), s->end());
  }
  return out;
}

std::vector<std::vector<uint8_t>> Seeds() {
  return LoadDir(std::filesystem::path(CHUNKSERVE_SOURCE_DIR) / "fuzz" / "corpus" / "gguf", ".gguf");
}

// xorshift64*: deterministic, so a failure reproduces.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
};

// One mutation of the kinds that reach parser edge cases: counts and lengths
// set to boundary values, bit flips, truncation, duplicated and removed spans.
std::vector<uint8_t> Mutate(std::vector<uint8_t> b, Rng& rng) {
  static const uint64_t kInteresting[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 31, 32, 33, 64, 255,
                                          256, 4096, 65535, 1ull << 31, 1ull << 32,
                                          (1ull << 62) + 1, 1ull << 63, ~0ull, ~0ull - 31};
  int n_edits = 1 + static_cast<int>(rng.Below(3));
  for (int e = 0; e < n_edits && !b.empty(); ++e) {
    size_t at = rng.Below(b.size());
    switch (rng.Below(6)) {
      case 0:
        b[at] ^= static_cast<uint8_t>(1u << rng.Below(8));
        break;
      case 1: {  // a boundary value over 1, 4 or 8 bytes
        uint64_t v = kInteresting[rng.Below(std::size(kInteresting))];
        size_t width = std::min<size_t>(size_t{1} << rng.Below(4), b.size() - at);
        for (size_t k = 0; k < width; ++k) b[at + k] = static_cast<uint8_t>(v >> (8 * k));
        break;
      }
      case 2:
        b.resize(at);
        break;
      case 3: {
        size_t len = std::min(rng.Below(64) + 1, b.size() - at);
        std::vector<uint8_t> span(b.begin() + at, b.begin() + at + len);
        size_t to = rng.Below(b.size() + 1);
        b.insert(b.begin() + to, span.begin(), span.end());
        break;
      }
      case 4: {
        size_t len = std::min(rng.Below(16) + 1, b.size() - at);
        b.erase(b.begin() + at, b.begin() + at + len);
        break;
      }
      default:
        b[at] = static_cast<uint8_t>(rng.Next());
    }
  }
  return b;
}

TEST(GgufFuzzReplay, SeedCorpusParsesAndPassesHarness) {
  std::vector<std::vector<uint8_t>> seeds = Seeds();
  if (seeds.empty()) GTEST_SKIP() << "no fuzz/corpus/gguf seeds";
  EXPECT_GE(seeds.size(), 5u);
  for (const auto& s : seeds) {
    auto g = GgufFile::Parse(MappedFile::FromBytes(s));
    EXPECT_TRUE(g.ok()) << g.status().ToString();  // seeds are valid files
    LLVMFuzzerTestOneInput(s.data(), s.size());
  }
}

TEST(GgufFuzzReplay, VocabFilesPassHarness) {
  auto files = LoadDir(std::filesystem::path(CHUNKSERVE_TESTDATA_DIR) / "vocab", ".gguf");
  if (files.empty()) GTEST_SKIP() << "no testdata/vocab";
  for (const auto& f : files) LLVMFuzzerTestOneInput(f.data(), f.size());
}

TEST(GgufFuzzReplay, DeterministicMutations) {
  std::vector<std::vector<uint8_t>> seeds = Seeds();
  if (seeds.empty()) GTEST_SKIP() << "no fuzz/corpus/gguf seeds";
  Rng rng{0x9E3779B97F4A7C15ULL};
  size_t n_accepted = 0, n_total = 0;
  for (const auto& seed : seeds) {
    for (int k = 0; k < 4000; ++k) {
      std::vector<uint8_t> m = Mutate(seed, rng);
      LLVMFuzzerTestOneInput(m.data(), m.size());
      n_accepted += GgufFile::Parse(MappedFile::FromBytes(m)).ok();
      ++n_total;
    }
  }
  // Both outcomes must occur, or the mutations are not exercising anything.
  EXPECT_GT(n_accepted, 0u);
  EXPECT_LT(n_accepted, n_total);
  RecordProperty("accepted", static_cast<int>(n_accepted));
}

}  // namespace
}  // namespace chunkserve::gguf
