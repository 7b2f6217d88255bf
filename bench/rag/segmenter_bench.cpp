// Sentence segmenter: precision / recall / F1 on the labelled sets in
// bench/rag/data/, and throughput in MB/s on one core over the SOTU corpus.
// Prints one JSON object per line.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mapped_file.h"
#include "rag/segmenter_gold.h"
#include "rag/text/sentence_segmenter.h"

using namespace chunkserve;
using namespace chunkserve::rag;

int main(int argc, char** argv) {
  const std::string data_dir = argc > 1 ? argv[1] : std::string(CHUNKSERVE_SOURCE_DIR) + "/bench/rag/data";
  const std::string corpus_dir = argc > 2 ? argv[2] : std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";
  BoundaryScore total;
  size_t total_sentences = 0;
  for (const char* name : {"segmenter_sotu.txt", "segmenter_hard.txt"}) {
    GoldSet gold;
    if (!LoadGoldSet(data_dir + "/" + name, &gold)) {
      std::fprintf(stderr, "cannot read %s/%s\n", data_dir.c_str(), name);
      return 1;
    }
    const BoundaryScore s = ScoreSegmenter(gold);
    std::printf("{\"bench\":\"segmenter_quality\",\"set\":\"%s\",\"sentences\":%zu,\"boundaries\":%zu,"
                "\"predicted\":%zu,\"correct\":%zu,\"precision\":%.4f,\"recall\":%.4f,\"f1\":%.4f}\n",
                name, gold.n_sentences, s.n_gold, s.n_predicted, s.n_correct, s.precision(), s.recall(), s.f1());
    total.n_gold += s.n_gold;
    total.n_predicted += s.n_predicted;
    total.n_correct += s.n_correct;
    total_sentences += gold.n_sentences;
  }
  std::printf("{\"bench\":\"segmenter_quality\",\"set\":\"all\",\"sentences\":%zu,\"precision\":%.4f,"
              "\"recall\":%.4f,\"f1\":%.4f}\n",
              total_sentences, total.precision(), total.recall(), total.f1());

  // Throughput: the whole corpus as one text, best of 5 runs, one thread.
  std::string text;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(corpus_dir))
    for (const auto& e : std::filesystem::directory_iterator(corpus_dir))
      if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto s = ReadFileToString(f.string());
    if (s.ok()) text += *s + "\n\n";
  }
  if (text.empty()) {
    std::fprintf(stderr, "corpus not found at %s; skipping throughput\n", corpus_dir.c_str());
    return 0;
  }
  double best_s = 1e30;
  size_t n_sentences = 0;
  for (int rep = 0; rep < 5; ++rep) {
    Stopwatch sw;
    n_sentences = SegmentSentences(text).size();
    best_s = std::min(best_s, sw.ElapsedSeconds());
  }
  std::printf("{\"bench\":\"segmenter_throughput\",\"corpus\":\"sotu\",\"bytes\":%zu,\"sentences\":%zu,"
              "\"seconds\":%.4f,\"mb_per_s\":%.1f,\"threads\":1}\n",
              text.size(), n_sentences, best_s, static_cast<double>(text.size()) / 1e6 / best_s);
  return 0;
}
