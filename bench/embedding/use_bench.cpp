// use_bench: USE-lite embedding throughput, the fast path per ISA level and
// thread count against the plain f32 reference (rag/embed/use_embedder.h).
//
//   use_bench --model use.gguf [--chunks N] [--words W] [--threads 1,2]
//             [--batch-tokens B] [--write-texts FILE]
//
// Chunks are consecutive windows of W words of the State of the Union corpus
// (shared test data); the default W = 60 keeps most chunks under the
// encoder's 128-token cut, so TensorFlow.js (which does not cut) runs the
// same tokens: --write-texts writes them as JSON lines for
// `node tools/reference/use_golden.cjs NODE_MODULES FILE`, which reports its
// own sentences/s on stderr. One JSON line per run: path, isa, threads,
// chunks/s, and chunks per CPU second (steadier on a shared machine).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/clock.h"
#include "kernels/isa.h"
#include "rag/embed/use_embedder.h"

namespace {

using namespace chunkserve;

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<std::string> CorpusChunks(size_t n_chunks, size_t n_words) {
  const std::filesystem::path dir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".txt") files.push_back(e.path());
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

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
      continue;
    }
    out += static_cast<char>(c);
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, write_texts, threads_list = "1,2";
  size_t n_chunks = 64, n_words = 60;
  int64_t batch_tokens = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--chunks") n_chunks = std::stoul(v);
    else if (k == "--words") n_words = std::stoul(v);
    else if (k == "--threads") threads_list = v;
    else if (k == "--batch-tokens") batch_tokens = std::stoll(v);
    else if (k == "--write-texts") write_texts = v;
    else {
      std::fprintf(stderr, "use_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (model.empty()) {
    std::fprintf(stderr, "usage: use_bench --model use.gguf [--chunks N] [--words W] [--threads 1,2]\n");
    return 2;
  }
  const std::vector<std::string> chunks = CorpusChunks(n_chunks, n_words);
  if (chunks.empty()) {
    std::fprintf(stderr, "use_bench: no corpus under %s/corpora/sotu\n", CHUNKSERVE_TESTDATA_DIR);
    return 1;
  }
  if (!write_texts.empty()) {
    std::ofstream f(write_texts);
    for (const std::string& c : chunks) f << JsonString(c) << "\n";
  }
  std::vector<std::string_view> views(chunks.begin(), chunks.end());
  std::vector<float> out(chunks.size() * 512);

  auto report = [&](const char* path, const char* isa, int threads, double wall, double cpu, double tokens) {
    std::printf("{\"path\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"chunks\":%zu,\"mean_tokens\":%.1f,"
                "\"chunks_per_s\":%.2f,\"chunks_per_cpu_s\":%.2f}\n",
                path, isa, threads, chunks.size(), tokens / static_cast<double>(chunks.size()),
                static_cast<double>(chunks.size()) / wall, static_cast<double>(chunks.size()) / cpu);
    std::fflush(stdout);
  };
  double tokens = 0;
  {
    auto e = rag::UseEmbedder::Load(model);
    if (!e.ok()) {
      std::fprintf(stderr, "use_bench: %s\n", e.status().ToString().c_str());
      return 1;
    }
    for (const std::string& c : chunks) tokens += static_cast<double>((*e)->Tokenize(c).size());
    const size_t n_ref = std::min<size_t>(chunks.size(), 16);  // the reference is slow
    Stopwatch sw;
    const double cpu0 = ProcessCpuSeconds();
    for (size_t i = 0; i < n_ref; ++i)
      if (!(*e)->EmbedReference(chunks[i], std::span<float>(out).subspan(i * 512, 512)).ok()) return 1;
    const double scale = static_cast<double>(chunks.size()) / static_cast<double>(n_ref);
    report("reference", "scalar", 1, sw.ElapsedSeconds() * scale, (ProcessCpuSeconds() - cpu0) * scale, tokens);
  }
  std::stringstream ts(threads_list);
  std::string t;
  while (std::getline(ts, t, ',')) {
    const int threads = std::stoi(t);
    for (kernels::Isa isa : kernels::AvailableIsas()) {
      rag::UseLoadOptions opt;
      opt.isa = isa;
      opt.n_threads = threads;
      opt.batch_tokens = batch_tokens;
      auto e = rag::UseEmbedder::Load(model, opt);
      if (!e.ok()) return 1;
      if (!(*e)->EmbedBatch(std::span<const std::string_view>(views.data(), 4),
                            std::span<float>(out).subspan(0, 4 * 512)).ok())
        return 1;  // warm-up
      Stopwatch sw;
      const double cpu0 = ProcessCpuSeconds();
      if (!(*e)->EmbedBatch(views, out).ok()) return 1;
      report("fast", std::string(kernels::IsaName(isa)).c_str(), threads, sw.ElapsedSeconds(),
             ProcessCpuSeconds() - cpu0, tokens);
    }
  }
  return 0;
}
