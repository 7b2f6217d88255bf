#include "rag/store/bm25.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "rag/store/fts_query.h"

namespace chunkserve::rag {
namespace {

constexpr double kK1 = 1.2;
constexpr double kB = 0.75;

struct RowCount {
  int32_t row_tokens = 0;
  int64_t occurrences = 0;
};

// Rows containing the phrase, with its occurrence count (consecutive
// positions of its tokens, overlapping occurrences counted as FTS5 does).
std::map<int64_t, RowCount> PhraseRows(const std::vector<std::string>& phrase, const Bm25Corpus& corpus) {
  std::map<int64_t, RowCount> rows;
  if (phrase.empty()) return rows;
  std::vector<const std::vector<Bm25Posting>*> lists;
  for (const std::string& token : phrase) {
    auto it = corpus.postings.find(token);
    if (it == corpus.postings.end()) return rows;
    lists.push_back(&it->second);
  }
  if (lists.size() == 1) {
    for (const Bm25Posting& p : *lists[0])
      if (!p.positions.empty()) rows[p.chunk_id] = {p.row_tokens, static_cast<int64_t>(p.positions.size())};
    return rows;
  }
  // Later tokens' positions by row.
  std::vector<std::unordered_map<int64_t, const std::vector<int32_t>*>> by_row(lists.size());
  for (size_t t = 1; t < lists.size(); ++t)
    for (const Bm25Posting& p : *lists[t]) by_row[t][p.chunk_id] = &p.positions;
  for (const Bm25Posting& first : *lists[0]) {
    int64_t n = 0;
    for (int32_t start : first.positions) {
      bool all = true;
      for (size_t t = 1; t < lists.size() && all; ++t) {
        auto it = by_row[t].find(first.chunk_id);
        all = it != by_row[t].end() &&
              std::binary_search(it->second->begin(), it->second->end(), start + static_cast<int32_t>(t));
      }
      if (all) ++n;
    }
    if (n > 0) rows[first.chunk_id] = {first.row_tokens, n};
  }
  return rows;
}

}  // namespace

std::vector<std::string> Bm25Expression::Tokens() const {
  std::vector<std::string> out;
  for (const auto& phrase : phrases)
    for (const std::string& t : phrase)
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  return out;
}

StatusOr<std::optional<Bm25Expression>> MakeBm25Expression(std::string_view user_query,
                                                           const Fts5Tokenizer& tokenizer) {
  const std::optional<FtsQueryPlan> plan = PlanFtsQuery(user_query);
  if (!plan) return std::optional<Bm25Expression>();
  std::vector<std::string> texts = plan->phrases;
  if (!plan->phrases.empty() && !plan->words.empty()) texts.push_back(plan->phrases[0]);
  texts.insert(texts.end(), plan->words.begin(), plan->words.end());
  Bm25Expression e;
  e.n_required = plan->phrases.size();
  for (const std::string& text : texts) {
    ASSIGN_OR_RETURN(std::vector<std::string> tokens, tokenizer.Tokenize(text, /*query=*/true));
    e.phrases.push_back(std::move(tokens));
  }
  return std::optional<Bm25Expression>(std::move(e));
}

std::vector<Bm25Hit> RankBm25(const Bm25Expression& expression, const Bm25Corpus& corpus, int k) {
  std::vector<Bm25Hit> hits;
  if (k <= 0 || corpus.n_rows <= 0) return hits;
  const size_t n_phrases = expression.phrases.size();
  std::vector<std::map<int64_t, RowCount>> rows(n_phrases);
  std::vector<double> idf(n_phrases);
  const double n_rows = static_cast<double>(corpus.n_rows);
  for (size_t i = 0; i < n_phrases; ++i) {
    rows[i] = PhraseRows(expression.phrases[i], corpus);
    const double n_hit = static_cast<double>(rows[i].size());
    idf[i] = std::log((n_rows - n_hit + 0.5) / (n_hit + 0.5));
    if (idf[i] <= 0.0) idf[i] = 1e-6;
  }
  // Matching rows and their token counts.
  std::map<int64_t, int32_t> matches;
  if (expression.n_required > 0) {
    for (const auto& [id, rc] : rows[0]) {
      bool all = true;
      for (size_t i = 1; i < expression.n_required && all; ++i) all = rows[i].count(id) > 0;
      if (all) matches[id] = rc.row_tokens;
    }
  } else {
    for (const auto& phrase_rows : rows)
      for (const auto& [id, rc] : phrase_rows) matches[id] = rc.row_tokens;
  }
  const double avgdl = static_cast<double>(corpus.n_tokens) / n_rows;
  hits.reserve(matches.size());
  for (const auto& [id, row_tokens] : matches) {
    const double d = static_cast<double>(row_tokens);
    double score = 0.0;
    for (size_t i = 0; i < n_phrases; ++i) {
      auto it = rows[i].find(id);
      const double f = it == rows[i].end() ? 0.0 : static_cast<double>(it->second.occurrences);
      score += idf[i] * ((f * (kK1 + 1.0)) / (f + kK1 * (1 - kB + kB * d / avgdl)));
    }
    hits.push_back({id, score});
  }
  auto better = [](const Bm25Hit& a, const Bm25Hit& b) {
    return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
  };
  if (hits.size() > static_cast<size_t>(k)) {
    std::partial_sort(hits.begin(), hits.begin() + k, hits.end(), better);
    hits.resize(static_cast<size_t>(k));
  } else {
    std::sort(hits.begin(), hits.end(), better);
  }
  return hits;
}

}  // namespace chunkserve::rag
