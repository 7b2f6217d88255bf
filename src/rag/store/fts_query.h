// Turning a user's search text into a safe FTS5 MATCH expression.
//
// FTS5 has its own query syntax (AND, OR, NOT, NEAR, quotes, column filters,
// '*', '^'), so passing user text through would turn "C++ vs. C#" or an
// unbalanced quote into a syntax error. We split the text into terms the way
// the index's unicode61 tokenizer does (letters, digits and non-ASCII
// characters form terms; everything else separates), and quote every term.
//
// Words outside quotes are OR-ed together, after dropping common English
// stop words when other words remain (they match nearly every chunk, cost
// time and add almost nothing to BM25). Text between a pair of double
// quotes is a phrase: its terms, stop words included, must occur next to
// each other and in order in every hit (FTS5 phrase matching, so stemming
// applies as for words). With phrases and words, the words only rank:
//   "kill processes" by name  ->  "kill processes" AND ("kill processes" OR "name")
// A quote without a partner is ignored. The result is always valid FTS5
// syntax.
//
// Thread safety: pure function.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::rag {

// The query terms, lowercased ASCII, deduplicated, in order of first use
// (quotes ignored).
std::vector<std::string> QueryTerms(std::string_view user_query);

// The quoted phrases of a query, each as its terms in order; a phrase
// without terms is dropped, and so is an unpaired quote.
std::vector<std::vector<std::string>> QueryPhrases(std::string_view user_query);

// The structure of that expression: every hit contains all `phrases`;
// `words` (OR-ed) only rank when there are phrases. Without phrases the
// expression is the words OR-ed. Each entry is a string FTS5 tokenizes
// (a phrase's terms joined by spaces, or one word).
struct FtsQueryPlan {
  std::vector<std::string> phrases;
  std::vector<std::string> words;
};
// nullopt when the text has no terms.
std::optional<FtsQueryPlan> PlanFtsQuery(std::string_view user_query);

// The FTS5 expression (see above), or nullopt when the text has no terms.
std::optional<std::string> BuildFtsQuery(std::string_view user_query);

}  // namespace chunkserve::rag
