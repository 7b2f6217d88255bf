// Tokenizer throughput on the State of the Union corpus (233 addresses,
// ~10 MB of English), one JSON line per vocabulary:
//   {"bench":"tokenizer","vocab":...,"kind":...,"bytes":...,"tokens":...,
//    "mb_per_s_cold":...,"mb_per_s_median":...,"cpu_mb_per_s_median":...,...}
// Each document is encoded separately (as ingestion does), single-threaded.
// "cold" is the first pass over a fresh tokenizer (empty word cache),
// "median" the median of --runs further passes, "uncached" the exact twin
// without the word cache (BPE and SPM) on the first --uncached-mb of text.
// mb_per_s_* divide by wall time, cpu_mb_per_s_* by this thread's CPU time
// (the per-core figure; wall time also counts other processes' turns).
//
//   tokenizer_bench [--runs N] [--max-mb M] [--uncached-mb U] [--vocab NAME]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <ctime>
#include <vector>

#include "base/mapped_file.h"
#include "tokenizer/bpe_encoder.h"
#include "tokenizer/spm_encoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace {

namespace fs = std::filesystem;
using chunkserve::tokenizer::Tokenizer;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// CPU time of this thread: the machine is shared, so wall-clock MB/s
// understates what one core does; both are reported.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  double max_mb = 1e9, uncached_mb = 1.0;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--max-mb") max_mb = std::atof(argv[i + 1]);
    else if (a == "--uncached-mb") uncached_mb = std::atof(argv[i + 1]);
    else if (a == "--vocab") only = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  const fs::path data = fs::path(CHUNKSERVE_TESTDATA_DIR);
  std::vector<fs::path> files;
  if (fs::exists(data / "corpora/sotu")) {
    for (const auto& e : fs::directory_iterator(data / "corpora/sotu")) {
      if (e.path().extension() == ".txt") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> docs;
  size_t total_bytes = 0;
  for (const auto& f : files) {
    if (total_bytes >= max_mb * 1e6) break;
    auto s = chunkserve::ReadFileToString(f.string());
    if (!s.ok()) continue;
    total_bytes += s->size();
    docs.push_back(std::move(*s));
  }
  if (docs.empty()) {
    std::printf("{\"bench\":\"tokenizer\",\"skipped\":\"no corpus under %s\"}\n", data.c_str());
    return 0;
  }

  const char* vocabs[] = {"gpt-2", "falcon", "llama-spm", "phi-3", "bert-bge"};
  for (const char* name : vocabs) {
    if (!only.empty() && only != name) continue;
    const std::string path = (data / "vocab" / ("ggml-vocab-" + std::string(name) + ".gguf")).string();
    auto tok = Tokenizer::Open(path);
    if (!tok.ok()) {
      std::printf("{\"bench\":\"tokenizer\",\"vocab\":\"%s\",\"error\":\"%s\"}\n", name,
                  tok.status().ToString().c_str());
      continue;
    }
    size_t n_tokens = 0;
    double cpu_s = 0;
    auto pass = [&] {
      n_tokens = 0;
      const double c0 = ThreadCpuSeconds();
      const auto t0 = Clock::now();
      for (const std::string& d : docs) n_tokens += (*tok)->Encode(d, false, false).size();
      cpu_s = ThreadCpuSeconds() - c0;
      return Seconds(t0, Clock::now());
    };
    const double cold_s = pass();
    const double cold_cpu_s = cpu_s;
    std::vector<double> mbps, cpu_mbps;
    for (int r = 0; r < runs; ++r) {
      mbps.push_back(total_bytes / 1e6 / pass());
      cpu_mbps.push_back(total_bytes / 1e6 / cpu_s);
    }

    // The exact twins, without the word cache, on a prefix of the corpus.
    double uncached_mbps = 0;
    const auto& impl = (*tok)->impl();
    std::vector<int32_t> ids;
    size_t uncached_bytes = 0;
    const double c0 = ThreadCpuSeconds();
    for (const std::string& d : docs) {
      if (uncached_bytes >= uncached_mb * 1e6) break;
      ids.clear();
      if (auto* bpe = dynamic_cast<const chunkserve::tokenizer::BpeEncoder*>(impl.encoder.get())) {
        bpe->EncodeExact(d, &ids);
      } else if (auto* spm = dynamic_cast<const chunkserve::tokenizer::SpmEncoder*>(impl.encoder.get())) {
        spm->EncodeExact(d, true, &ids);
      } else {
        break;
      }
      uncached_bytes += d.size();
    }
    if (uncached_bytes > 0) uncached_mbps = uncached_bytes / 1e6 / (ThreadCpuSeconds() - c0);

    std::printf(
        "{\"bench\":\"tokenizer\",\"vocab\":\"%s\",\"kind\":\"%s\",\"pre\":\"%s\",\"docs\":%zu,\"bytes\":%zu,"
        "\"tokens\":%zu,\"bytes_per_token\":%.3f,\"mb_per_s_cold\":%.2f,\"mb_per_s_median\":%.2f,"
        "\"runs\":%d,\"cpu_mb_per_s_cold\":%.2f,\"cpu_mb_per_s_median\":%.2f,\"cpu_mb_per_s_uncached\":%.2f,\"uncached_bytes\":%zu,\"threads\":1}\n",
        name, std::string(chunkserve::tokenizer::TokenizerKindName((*tok)->kind())).c_str(),
        (*tok)->pre_name().c_str(), docs.size(), total_bytes, n_tokens,
        n_tokens ? static_cast<double>(total_bytes) / n_tokens : 0.0, total_bytes / 1e6 / cold_s, Median(mbps),
        runs, total_bytes / 1e6 / cold_cpu_s, Median(cpu_mbps), uncached_mbps, uncached_bytes);
    std::fflush(stdout);
  }
  return 0;
}
