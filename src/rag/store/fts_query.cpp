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

// Terms of q in order (duplicates kept), lowercased ASCII.
std::vector<std::string> Terms(std::string_view q) {
  std::vector<std::string> terms;
  size_t i = 0;
  while (i < q.size()) {
    if (!IsTermByte(static_cast<unsigned char>(q[i]))) {
      ++i;
      continue;
    }
    std::string term;
    while (i < q.size() && IsTermByte(static_cast<unsigned char>(q[i]))) {
      char c = q[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      term.push_back(c);
      ++i;
    }
    terms.push_back(std::move(term));
  }
  return terms;
}

// Splits q into the text outside paired quotes and the phrases inside them.
void SplitQuotes(std::string_view q, std::string* outside, std::vector<std::string_view>* phrases) {
  size_t i = 0;
  while (i < q.size()) {
    const size_t open = q.find('"', i);
    const size_t close = open == std::string_view::npos ? open : q.find('"', open + 1);
    if (close == std::string_view::npos) {
      outside->append(q.substr(i));
      for (char& c : *outside)
        if (c == '"') c = ' ';
      return;
    }
    outside->append(q.substr(i, open - i));
    outside->push_back(' ');
    phrases->push_back(q.substr(open + 1, close - open - 1));
    i = close + 1;
  }
}

std::string JoinTerms(const std::vector<std::string>& terms) {
  std::string out;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (i > 0) out.push_back(' ');
    out += terms[i];
  }
  return out;
}

}  // namespace

std::vector<std::string> QueryTerms(std::string_view q) {
  std::vector<std::string> terms;
  for (std::string& t : Terms(q))
    if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(std::move(t));
  return terms;
}

std::vector<std::vector<std::string>> QueryPhrases(std::string_view user_query) {
  std::string outside;
  std::vector<std::string_view> quoted;
  SplitQuotes(user_query, &outside, &quoted);
  std::vector<std::vector<std::string>> phrases;
  for (std::string_view p : quoted) {
    std::vector<std::string> terms = Terms(p);
    if (!terms.empty() && std::find(phrases.begin(), phrases.end(), terms) == phrases.end())
      phrases.push_back(std::move(terms));
  }
  return phrases;
}

std::optional<FtsQueryPlan> PlanFtsQuery(std::string_view user_query) {
  std::string outside;
  std::vector<std::string_view> quoted;
  SplitQuotes(user_query, &outside, &quoted);
  FtsQueryPlan plan;
  for (const auto& p : QueryPhrases(user_query)) plan.phrases.push_back(JoinTerms(p));
  std::vector<std::string> terms = QueryTerms(outside);
  for (const auto& t : terms)
    if (!IsStopWord(t)) plan.words.push_back(t);
  if (plan.words.empty() && plan.phrases.empty()) plan.words = std::move(terms);
  if (plan.words.empty() && plan.phrases.empty()) return std::nullopt;
  return plan;
}

std::optional<std::string> BuildFtsQuery(std::string_view user_query) {
  const std::optional<FtsQueryPlan> plan = PlanFtsQuery(user_query);
  if (!plan) return std::nullopt;
  auto quote = [](const std::string& s) { return "\"" + s + "\""; };  // terms never include '"'
  std::string words;
  for (const auto& t : plan->words) {
    if (!words.empty()) words += " OR ";
    words += quote(t);
  }
  if (plan->phrases.empty()) return words;
  std::string out;
  for (const auto& p : plan->phrases) {
    if (!out.empty()) out += " AND ";
    out += quote(p);
  }
  if (plan->words.empty()) return out;
  return out + " AND (" + quote(plan->phrases[0]) + " OR " + words + ")";
}

}  // namespace chunkserve::rag
