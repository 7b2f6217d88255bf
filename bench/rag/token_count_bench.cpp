// How close is the built-in token approximation to real tokenizers? Counts
// the SOTU corpus with ApproxTokenCounter and with the vocab-only GGUF
// tokenizers in testdata, and times both. Prints one JSON object per line.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mapped_file.h"
#include "rag/text/token_counter.h"

using namespace chunkserve;
using namespace chunkserve::rag;
namespace fs = std::filesystem;

int main() {
  const std::string corpus = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";
  std::vector<std::string> docs;
  size_t bytes = 0;
  if (fs::is_directory(corpus))
    for (const auto& e : fs::directory_iterator(corpus))
      if (e.path().extension() == ".txt")
        if (auto s = ReadFileToString(e.path().string()); s.ok()) {
          bytes += s->size();
          docs.push_back(std::move(*s));
        }
  if (docs.empty()) {
    std::fprintf(stderr, "corpus not found at %s\n", corpus.c_str());
    return 1;
  }
  auto measure = [&](const std::string& label, const TokenCounter& c) {
    Stopwatch sw;
    size_t n = 0;
    for (const auto& d : docs) n += c.CountTokens(d);
    const double secs = sw.ElapsedSeconds();
    return std::make_pair(n, secs);
  };
  ApproxTokenCounter approx;
  const auto [n_approx, s_approx] = measure("approx", approx);
  std::printf("{\"bench\":\"token_count\",\"counter\":\"approx-v1\",\"bytes\":%zu,\"tokens\":%zu,\"mb_per_s\":%.1f}\n",
              bytes, n_approx, static_cast<double>(bytes) / 1e6 / s_approx);
  for (const char* vocab : {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf",
                            "ggml-vocab-falcon.gguf"}) {
    auto c = MakeTokenCounter(std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/" + vocab);
    if (!c.ok()) {
      std::fprintf(stderr, "%s: %s\n", vocab, c.status().ToString().c_str());
      continue;
    }
    const auto [n, secs] = measure(vocab, **c);
    std::printf("{\"bench\":\"token_count\",\"counter\":\"%s\",\"bytes\":%zu,\"tokens\":%zu,\"mb_per_s\":%.1f,"
                "\"approx_over_real\":%.3f}\n",
                (*c)->name().c_str(), bytes, n, static_cast<double>(bytes) / 1e6 / secs,
                static_cast<double>(n_approx) / static_cast<double>(n));
  }
  return 0;
}
