// dedup_bench: MinHashLsh (rag/retrieve/minhash_lsh.h) on a constructed
// near-duplicate set, and its cost per MB of text.
//
//   dedup_bench [--base N] [--words W] [--copies-per-rate C] [--seed S]
//
// The set: N passages of W consecutive words of the State of the Union
// corpus (shared test data), plus, for each edit rate in {1, 3, 5, 10, 20,
// 30}%, C copies of distinct passages in which every word is independently
// replaced (or deleted, or followed by an inserted word) with that
// probability, all shuffled with seed S. Truth: a text is a near-duplicate
// when some text before it has exact shingle Jaccard >= 0.8 (all pairs
// compared); MinHashLsh's answers (Add in order) are scored against that
// (precision, recall), and the copies are also reported per edit rate (the
// share detected). Then every SOTU passage of 200 words goes through Add
// for the throughput (MB/s of text, one thread, thread CPU time).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "rag/retrieve/minhash_lsh.h"
#include "rag/retrieve/near_duplicates.h"

namespace {

using namespace chunkserve;

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<std::vector<std::string>> Passages(size_t n, size_t n_words) {
  const std::filesystem::path dir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::vector<std::string>> out(1);
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string w;
    while (in >> w) {
      out.back().push_back(w);
      if (out.back().size() == n_words) {
        if (out.size() == n) return out;
        out.emplace_back();
      }
    }
  }
  out.pop_back();
  return out;
}

std::string Join(const std::vector<std::string>& words) {
  std::string s;
  for (const std::string& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n_base = 3000, n_words = 120, copies = 100;
  unsigned seed = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--base") n_base = std::stoul(v);
    else if (k == "--words") n_words = std::stoul(v);
    else if (k == "--copies-per-rate") copies = std::stoul(v);
    else if (k == "--seed") seed = static_cast<unsigned>(std::stoul(v));
    else {
      std::fprintf(stderr, "dedup_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  const std::vector<std::vector<std::string>> base = Passages(n_base, n_words);
  const std::vector<double> rates = {0.01, 0.03, 0.05, 0.10, 0.20, 0.30};
  if (base.size() < rates.size() * copies) {
    std::fprintf(stderr, "dedup_bench: too few passages (%zu) under %s/corpora/sotu\n", base.size(), CHUNKSERVE_TESTDATA_DIR);
    return 1;
  }
  std::mt19937 rng(seed);
  std::vector<std::string> vocab;
  for (const auto& p : base) vocab.insert(vocab.end(), p.begin(), p.end());
  struct Text {
    std::string text;
    double rate = -1;     // < 0: an original
    size_t original = 0;  // a copy's original (index into base)
  };
  std::vector<Text> texts;
  for (size_t b = 0; b < base.size(); ++b) texts.push_back({Join(base[b]), -1, b});
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<size_t> pick(0, vocab.size() - 1);
  for (size_t r = 0; r < rates.size(); ++r)
    for (size_t c = 0; c < copies; ++c) {
      std::vector<std::string> words;
      for (const std::string& w : base[r * copies + c]) {
        const double x = u(rng);
        if (x < rates[r] / 3) continue;                             // delete
        if (x < 2 * rates[r] / 3) words.push_back(vocab[pick(rng)]);  // replace
        else words.push_back(w);
        if (x >= 2 * rates[r] / 3 && x < rates[r]) words.push_back(vocab[pick(rng)]);  // insert
      }
      texts.push_back({Join(words), rates[r], r * copies + c});
    }
  std::shuffle(texts.begin(), texts.end(), rng);

  // Truth by exact all-pairs comparison.
  std::vector<std::vector<uint64_t>> sh;
  for (const Text& t : texts) sh.push_back(rag::WordShingles(t.text));
  std::vector<bool> truth(texts.size(), false);
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t j = 0; j < i && !truth[i]; ++j) truth[i] = rag::ShingleJaccard(sh[i], sh[j]) >= 0.8;

  rag::MinHashLsh lsh;
  size_t tp = 0, fp = 0, fn = 0;
  std::vector<int64_t> dup_of(texts.size(), -1);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::optional<int64_t> found = lsh.Add(static_cast<int64_t>(i), texts[i].text);
    if (found) dup_of[i] = *found;
    tp += found && truth[i];
    fp += found && !truth[i];
    fn += !found && truth[i];
  }
  // Per edit rate: copies linked to their original (whichever came first).
  std::vector<int64_t> where(base.size(), -1);  // base passage -> its original's position
  for (size_t i = 0; i < texts.size(); ++i)
    if (texts[i].rate < 0) where[texts[i].original] = static_cast<int64_t>(i);
  std::map<double, std::pair<size_t, size_t>> by_rate;  // rate -> (linked, copies)
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].rate < 0) continue;
    const int64_t o = where[texts[i].original];
    by_rate[texts[i].rate].second++;
    by_rate[texts[i].rate].first += dup_of[i] == o || dup_of[static_cast<size_t>(o)] == static_cast<int64_t>(i);
  }
  std::printf("{\"set\":\"constructed\",\"texts\":%zu,\"true_near_duplicates\":%zu,\"precision\":%.4f,\"recall\":%.4f,"
              "\"candidates_checked\":%lld}\n",
              texts.size(), tp + fn, tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 1.0,
              tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 1.0,
              static_cast<long long>(lsh.n_candidates_checked()));
  for (const auto& [rate, c] : by_rate)
    std::printf("{\"edit_rate\":%.2f,\"copies\":%zu,\"linked_to_original\":%zu}\n", rate, c.second, c.first);

  // Throughput over every 200-word passage of the corpus.
  const std::vector<std::vector<std::string>> all = Passages(1000000, 200);
  std::vector<std::string> chunks;
  size_t bytes = 0;
  for (const auto& p : all) {
    chunks.push_back(Join(p));
    bytes += chunks.back().size();
  }
  rag::MinHashLsh corpus;
  size_t dups = 0;
  const double t0 = ThreadCpuSeconds();
  for (size_t i = 0; i < chunks.size(); ++i) dups += corpus.Add(static_cast<int64_t>(i), chunks[i]).has_value();
  const double secs = ThreadCpuSeconds() - t0;
  std::printf("{\"set\":\"sotu-200-word-passages\",\"passages\":%zu,\"mb\":%.2f,\"cpu_s\":%.3f,\"mb_per_cpu_s\":%.2f,"
              "\"near_duplicates\":%zu}\n",
              chunks.size(), static_cast<double>(bytes) / 1e6, secs, static_cast<double>(bytes) / 1e6 / secs, dups);
  return 0;
}
