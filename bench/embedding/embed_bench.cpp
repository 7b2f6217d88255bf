// embed_bench: how fast ingestion embeds chunks with a neural embedder.
//
//   embed_bench [--types q8_0,f16] [--chunks N] [--words W] [--threads T]
//               [--batch-tokens B] [--model M.gguf] [--dir DIR]
//
// Writes (once, into --dir) a bert fixture of bge-small's shape (384 wide,
// 12 layers, 12 heads, 1536 FFN, 512 positions, the real 30522-token
// WordPiece vocabulary from the shared test data) per weight type, or uses
// --model. Chunks are consecutive windows of W words of the State of the
// Union corpus (shared test data), as a chunker of ~W words would cut them.
// For each type it embeds the chunks through LoadEmbedder's EmbedBatch (what
// EmbedCollection calls) and one text at a time (Embed), and prints one JSON
// line each: chunks/s, tokens/s, mean tokens per chunk, and chunks per CPU
// second (the figure to compare on a busy machine, with --threads 1).
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/logging.h"
#include "base/thread_pool.h"
#include "fixture/fixture_model.h"
#include "rag/embed/embedder_loader.h"
#include "rag/embed/encoder_embedder.h"

namespace {

using namespace chunkserve;

// CPU seconds of the whole process (all threads): on a shared machine the
// wall time is noisy, the CPU time of a --threads 1 run is not.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<std::string> CorpusChunks(size_t n_chunks, size_t n_words) {
  const std::filesystem::path dir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> chunks;
  std::string cur;
  size_t words = 0;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string w;
    while (in >> w) {
      cur += (cur.empty() ? "" : " ") + w;
      if (++words == n_words) {
        chunks.push_back(std::move(cur));
        cur.clear();
        words = 0;
        if (chunks.size() == n_chunks) return chunks;
      }
    }
  }
  return chunks;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> types = {"q8_0", "f16"};
  size_t n_chunks = 128, n_words = 150;
  int n_threads = 0;
  int64_t batch_tokens = 512;
  std::string model, dir = std::filesystem::temp_directory_path().string() + "/chunkserve_embed_bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--types") types = Split(v, ',');
    else if (k == "--chunks") n_chunks = std::stoul(v);
    else if (k == "--words") n_words = std::stoul(v);
    else if (k == "--threads") n_threads = std::stoi(v);
    else if (k == "--batch-tokens") batch_tokens = std::stoll(v);
    else if (k == "--model") model = v;
    else if (k == "--dir") dir = v;
    else {
      std::fprintf(stderr, "embed_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  const std::vector<std::string> chunks = CorpusChunks(n_chunks, n_words);
  if (chunks.empty()) {
    std::fprintf(stderr, "embed_bench: no corpus under %s/corpora/sotu\n", CHUNKSERVE_TESTDATA_DIR);
    return 1;
  }
  std::vector<std::string_view> views(chunks.begin(), chunks.end());
  if (!model.empty()) types = {"file"};
  std::filesystem::create_directories(dir);
  ThreadPool pool(n_threads);
  for (const std::string& type : types) {
    std::string path = model;
    if (path.empty()) {
      path = dir + "/bge-small-" + type + ".gguf";
      if (!std::filesystem::exists(path)) {
        auto spec = fixture::ShapePreset("bge-small");
        if (!spec.ok()) return 1;
        spec->type = type;
        spec->vocab_gguf = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-bert-bge.gguf";
        if (Status s = fixture::WriteFixtureModel(*spec, path, &pool); !s.ok()) {
          std::fprintf(stderr, "embed_bench: %s\n", s.ToString().c_str());
          return 1;
        }
      }
    }
    auto e = rag::LoadEmbedder(path, {.pool = &pool, .batch_tokens = batch_tokens});
    if (!e.ok()) {
      std::fprintf(stderr, "embed_bench: %s\n", e.status().ToString().c_str());
      return 1;
    }
    size_t n_tokens = 0;
    if (const auto* enc = dynamic_cast<const rag::EncoderEmbedder*>(e->get()))
      for (const auto& c : chunks) n_tokens += enc->Tokenize(c).size();
    const size_t d = static_cast<size_t>((*e)->dim());
    std::vector<float> out(chunks.size() * d);
    CHECK_OK((*e)->EmbedBatch(std::span(views).first(std::min<size_t>(8, views.size())),
                              std::span(out).first(std::min<size_t>(8, views.size()) * d)));  // warm-up
    for (const char* mode : {"batch", "single"}) {
      Stopwatch sw;
      const double cpu0 = ProcessCpuSeconds();
      if (std::string(mode) == "batch") {
        CHECK_OK((*e)->EmbedBatch(views, out));
      } else {
        for (size_t i = 0; i < views.size(); ++i) CHECK_OK((*e)->Embed(views[i], std::span(out).subspan(i * d, d)));
      }
      const double s = sw.ElapsedSeconds();
      const double cpu_s = ProcessCpuSeconds() - cpu0;
      std::printf(
          "{\"bench\":\"embed\",\"model\":\"%s\",\"type\":\"%s\",\"mode\":\"%s\",\"threads\":%d,\"n_chunks\":%zu,"
          "\"words_per_chunk\":%zu,\"tokens_per_chunk\":%.1f,\"batch_tokens\":%lld,\"seconds\":%.3f,"
          "\"chunks_per_s\":%.2f,\"tokens_per_s\":%.0f,\"cpu_seconds\":%.3f,\"chunks_per_cpu_s\":%.2f}\n",
          model.empty() ? "bge-small-shape" : path.c_str(), type.c_str(), mode, pool.size(), chunks.size(), n_words,
          static_cast<double>(n_tokens) / chunks.size(), static_cast<long long>(batch_tokens), s, chunks.size() / s,
          n_tokens / s, cpu_s, chunks.size() / cpu_s);
      std::fflush(stdout);
    }
  }
  return 0;
}
