// Ingestion and BM25 search over the State of the Union corpus.
//   ingest:  whole corpus into a fresh database (MB/s, chunks/s), 1 and 2
//            extraction threads; chunk-only throughput without the database.
//   search:  BM25 latency p50 / p99 over a fixed query set, k = 10.
// Prints one JSON object per line. Usage: rag_ingest_bench [CORPUS_DIR] [TMP_DIR]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mapped_file.h"
#include "rag/ingest/ingester.h"
#include "rag/store/store.h"
#include "rag/text/chunker.h"
#include "rag/text/token_counter.h"

using namespace chunkserve;
using namespace chunkserve::rag;
namespace fs = std::filesystem;

namespace {

const char* kQueries[] = {
    "tariff on imported goods", "slavery and emancipation", "railroad land grants", "income tax reform",
    "national debt reduction", "war with Mexico", "Indian tribes treaties", "gold standard currency",
    "social security benefits", "nuclear weapons arms control", "health insurance for all Americans",
    "education and schools", "immigration laws", "civil rights act", "Panama canal", "federal reserve banking",
    "farm prices agriculture", "veterans pensions", "navy ships and coastal defense", "Soviet Union cold war",
    "terrorism and homeland security", "energy independence oil imports", "unemployment and jobs",
    "inflation and wages", "foreign trade deficit", "Great Depression relief", "postal service",
    "territory of Alaska purchase", "Louisiana purchase", "Spain and Cuba", "public lands and homesteads",
    "tax cuts for families", "balanced budget amendment", "climate change clean energy",
    "Vietnam war", "League of Nations", "Supreme Court decision", "the economy is growing",
    "what did the president say about China", "Medicare and prescription drugs"};

// CPU seconds of this process: the figure that does not depend on how busy
// a shared machine is (wall-clock figures do).
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string corpus = argc > 1 ? argv[1] : std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";
  const fs::path tmp = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / "chunkserve_rag_bench";
  if (!fs::is_directory(corpus)) {
    std::fprintf(stderr, "corpus not found at %s\n", corpus.c_str());
    return 1;
  }
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  ApproxTokenCounter counter;
  const ChunkerParams chunker{ChunkerKind::kSentence, 256, 32};

  // Chunking alone (read + extract + segment + pack), one thread.
  {
    int64_t bytes = 0, n_chunks = 0;
    const double cpu0 = CpuSeconds();
    Stopwatch sw;
    for (const auto& e : fs::directory_iterator(corpus)) {
      if (e.path().extension() != ".txt") continue;
      auto s = ReadFileToString(e.path().string());
      if (!s.ok()) continue;
      bytes += static_cast<int64_t>(s->size());
      n_chunks += static_cast<int64_t>(ChunkDocument(ExtractPlainText(*s), chunker, counter).size());
    }
    const double secs = sw.ElapsedSeconds();
    const double cpu = CpuSeconds() - cpu0;
    std::printf("{\"bench\":\"chunk_only\",\"chunker\":\"sentence/256/32\",\"bytes\":%lld,\"chunks\":%lld,"
                "\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"mb_per_s\":%.1f,\"chunks_per_s\":%.0f}\n",
                static_cast<long long>(bytes), static_cast<long long>(n_chunks), secs, cpu,
                static_cast<double>(bytes) / 1e6 / secs, static_cast<double>(n_chunks) / secs);
  }

  std::string db_path;
  for (int threads : {1, 2}) {
    db_path = (tmp / ("sotu_t" + std::to_string(threads) + ".db")).string();
    auto store = Store::Open(db_path, Store::Mode::kReadWrite);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    Ingester ingester(store->get(), &counter);
    const double cpu0 = CpuSeconds();
    IngestParams p;
    p.paths = {corpus};
    p.collection = "sotu";
    p.chunker = chunker;
    p.n_threads = threads;
    auto r = ingester.Run(p);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      return 1;
    }
    const double cpu = CpuSeconds() - cpu0;
    std::printf("{\"bench\":\"ingest\",\"corpus\":\"sotu\",\"threads\":%d,\"files\":%zu,\"bytes\":%lld,"
                "\"chunks\":%lld,\"tokens\":%lld,\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"mb_per_s\":%.2f,"
                "\"chunks_per_s\":%.0f}\n",
                threads, r->n_files, static_cast<long long>(r->bytes_ingested), static_cast<long long>(r->n_chunks),
                static_cast<long long>(r->n_tokens), r->elapsed_s, cpu,
                static_cast<double>(r->bytes_ingested) / 1e6 / r->elapsed_s,
                static_cast<double>(r->n_chunks) / r->elapsed_s);
  }

  // BM25 latency on the last database.
  auto store = Store::Open(db_path, Store::Mode::kReadOnly);
  if (!store.ok()) return 1;
  const int64_t cid = *(*store)->FindCollection("sotu").value();
  std::vector<double> ms;
  size_t n_hits = 0;
  for (int rep = 0; rep < 6; ++rep) {
    for (const char* q : kQueries) {
      Stopwatch sw;
      auto hits = (*store)->Search(cid, q, 10);
      const double t = sw.ElapsedMillis();
      if (!hits.ok()) {
        std::fprintf(stderr, "%s\n", hits.status().ToString().c_str());
        return 1;
      }
      if (rep == 0) continue;  // warm-up pass (page cache, statement compile)
      ms.push_back(t);
      n_hits += hits->size();
    }
  }
  std::printf("{\"bench\":\"bm25_search\",\"corpus\":\"sotu\",\"queries\":%zu,\"runs\":%zu,\"k\":10,"
              "\"mean_hits\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
              std::size(kQueries), ms.size(), static_cast<double>(n_hits) / static_cast<double>(ms.size()),
              Percentile(ms, 0.5), Percentile(ms, 0.99), Percentile(ms, 1.0));
  fs::remove_all(tmp);
  return 0;
}
