#include "rag/retrieve/combination_select.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace chunkserve::rag {
namespace {

bool IsStopWord(const std::string& w) {
  static const std::unordered_set<std::string> kStop = {
      "the", "and", "for", "are", "was", "were", "with", "that", "this", "from", "have", "has", "had", "not",
      "but", "our", "you", "your", "they", "their", "them", "his", "her", "its", "who", "what", "which", "when",
      "where", "how", "why", "all", "any", "can", "will", "would", "should", "shall", "been", "being", "into",
      "than", "then", "there", "these", "those", "also", "such", "may", "more", "most", "other", "some", "upon"};
  return kStop.count(w) > 0;
}

using WordCounts = std::unordered_map<std::string, double>;

WordCounts Words(std::string_view text) {
  WordCounts out;
  std::string w;
  auto flush = [&] {
    if (w.size() >= 3 && !IsStopWord(w)) out[w] += 1;
    w.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      w.push_back(static_cast<char>(std::tolower(u)));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

double Cosine(const WordCounts& a, const WordCounts& b, double na, double nb) {
  if (na == 0 || nb == 0) return 0;
  const WordCounts& small = a.size() < b.size() ? a : b;
  const WordCounts& large = a.size() < b.size() ? b : a;
  double dot = 0;
  for (const auto& [w, n] : small)
    if (auto it = large.find(w); it != large.end()) dot += n * it->second;
  return dot / (na * nb);
}

}  // namespace

std::vector<size_t> SelectCombination(std::string_view query, const std::vector<std::string_view>& texts,
                                      const std::vector<double>& scores, const std::vector<int64_t>& n_tokens,
                                      const CombinationParams& params) {
  const size_t n = std::min({texts.size(), scores.size(), n_tokens.size(), static_cast<size_t>(std::max(params.pool, 1))});
  if (n == 0 || params.max_chunks <= 0) return {};
  double best = 0;
  for (size_t i = 0; i < n; ++i) best = std::max(best, scores[i]);
  std::vector<double> rel(n);
  for (size_t i = 0; i < n; ++i) rel[i] = best > 0 ? std::max(0.0, scores[i]) / best : 0.0;

  std::vector<WordCounts> words(n);
  std::vector<double> norms(n);
  for (size_t i = 0; i < n; ++i) {
    words[i] = Words(texts[i]);
    double s = 0;
    for (const auto& [_, c] : words[i]) s += c * c;
    norms[i] = std::sqrt(s);
  }
  // Query terms some candidate contains: what the set can cover.
  std::vector<std::string> terms;
  for (const auto& [t, _] : Words(query))
    if (std::any_of(words.begin(), words.end(), [&](const WordCounts& w) { return w.count(t) > 0; }))
      terms.push_back(t);

  std::vector<size_t> chosen;
  std::vector<double> max_sim(n, 0.0);  // to the chosen set
  std::unordered_set<std::string> covered;
  int64_t used = 0;
  double first_gain = 0;
  std::vector<bool> taken(n, false);
  while (static_cast<int>(chosen.size()) < params.max_chunks) {
    double best_gain = -1;
    size_t pick = n;
    for (size_t i = 0; i < n; ++i) {
      if (taken[i]) continue;
      const bool fits = params.token_budget <= 0 || used + n_tokens[i] <= params.token_budget;
      if (!fits && !chosen.empty()) continue;
      double gain = rel[i] * (1.0 - params.redundancy * max_sim[i]);
      if (!terms.empty()) {
        int fresh = 0;
        for (const std::string& t : terms) fresh += !covered.count(t) && words[i].count(t) ? 1 : 0;
        gain += params.coverage_weight * fresh / static_cast<double>(terms.size());
      }
      if (!fits) gain = -0.5;  // nothing chosen yet: the first chunk may exceed the budget, if nothing else fits
      if (gain > best_gain) {
        best_gain = gain;
        pick = i;
      }
    }
    if (pick == n) break;
    if (chosen.empty()) {
      first_gain = std::max(best_gain, 0.0);
    } else if (best_gain < params.min_gain * first_gain || best_gain <= 0) {
      break;
    }
    taken[pick] = true;
    chosen.push_back(pick);
    used += n_tokens[pick];
    for (const std::string& t : terms)
      if (words[pick].count(t)) covered.insert(t);
    for (size_t i = 0; i < n; ++i)
      if (!taken[i]) max_sim[i] = std::max(max_sim[i], Cosine(words[i], words[pick], norms[i], norms[pick]));
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace chunkserve::rag
