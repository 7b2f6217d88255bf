#include "rag/retrieve/near_duplicates.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "base/hash.h"

namespace chunkserve::rag {

std::vector<uint64_t> WordShingles(std::string_view text) {
  std::vector<uint64_t> words;
  std::string w;
  auto flush = [&] {
    if (!w.empty()) words.push_back(Hash64(w.data(), w.size()));
    w.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) w += static_cast<char>(std::tolower(u));
    else flush();
  }
  flush();
  std::vector<uint64_t> out;
  if (words.size() < 3) {
    out = words;
  } else {
    for (size_t i = 0; i + 2 < words.size(); ++i) out.push_back(HashCombine(HashCombine(words[i], words[i + 1]), words[i + 2]));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double ShingleJaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t common = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] == b[j]) ++common, ++i, ++j;
    else if (a[i] < b[j]) ++i;
    else ++j;
  }
  return static_cast<double>(common) / static_cast<double>(a.size() + b.size() - common);
}

NearDuplicateGroups MergeNearDuplicates(const std::vector<std::string_view>& texts,
                                        const std::vector<int64_t>& documents, double threshold) {
  NearDuplicateGroups g;
  std::vector<std::vector<uint64_t>> kept_shingles;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<uint64_t> s = WordShingles(texts[i]);
    size_t into = g.kept.size();
    for (size_t k = 0; k < g.kept.size() && into == g.kept.size(); ++k)
      if (documents[g.kept[k]] != documents[i] && ShingleJaccard(s, kept_shingles[k]) >= threshold) into = k;
    if (into < g.kept.size()) {
      g.merged[into].push_back(i);
    } else {
      g.kept.push_back(i);
      g.merged.emplace_back();
      kept_shingles.push_back(std::move(s));
    }
  }
  return g;
}

}  // namespace chunkserve::rag
