#include "rag/store/fts_query.h"

#include <algorithm>
#include <unordered_set>

namespace chunkserve::rag {
namespace {

bool IsTermByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool IsStopWord(std::string_view w) {
  static const std::unordered_set<std::string_view> kStop = {
      "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have",
      "he", "her", "his", "i", "in", "is", "it", "its", "of", "on", "or", "our", "she", "that",
      "the", "their", "them", "there", "these", "they", "this", "to", "was", "we", "were",
      "what", "when", "where", "which", "who", "will", "with", "would", "you", "your", "did",
      "do", "does", "how", "about", "can", "could", "should", "been", "so", "than", "then",
      "into", "any", "all", "not", "no", "s", "t"};
  return kStop.count(w) > 0;
}

}  // namespace

std::vector<std::string> QueryTerms(std::string_view q) {
  std::vector<std::string> terms;
  size_t i = 0;
  while (i < q.size()) {
    if (!IsTermByte(static_cast<unsigned char>(q[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    std::string term;
    while (j < q.size() && IsTermByte(static_cast<unsigned char>(q[j]))) {
      char c = q[j];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      term.push_back(c);
      ++j;
    }
    if (std::find(terms.begin(), terms.end(), term) == terms.end()) terms.push_back(std::move(term));
    i = j;
  }
  return terms;
}

std::optional<std::string> BuildFtsQuery(std::string_view user_query) {
  std::vector<std::string> terms = QueryTerms(user_query);
  std::vector<std::string> kept;
  for (const auto& t : terms)
    if (!IsStopWord(t)) kept.push_back(t);
  if (kept.empty()) kept = std::move(terms);
  if (kept.empty()) return std::nullopt;
  std::string out;
  for (const auto& t : kept) {
    if (!out.empty()) out += " OR ";
    out.push_back('"');
    for (char c : t) {
      if (c == '"') out.push_back('"');  // cannot occur (not a term byte); kept for safety
      out.push_back(c);
    }
    out.push_back('"');
  }
  return out;
}

}  // namespace chunkserve::rag
