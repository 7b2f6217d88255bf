// Turning a user's search text into a safe FTS5 MATCH expression.
//
// FTS5 has its own query syntax (AND, OR, NOT, NEAR, quotes, column filters,
// '*', '^'), so passing user text through would turn "C++ vs. C#" or an
// unbalanced quote into a syntax error. We split the text into terms the way
// the index's unicode61 tokenizer does (letters, digits and non-ASCII
// characters form terms; everything else separates), drop common English
// stop words when other terms remain (they match nearly every chunk, cost time
// and add almost nothing to BM25), and OR together the terms, each as a
// double-quoted string. The result is always valid FTS5 syntax.
//
// Thread safety: pure function.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::rag {

// The query terms, lowercased ASCII, deduplicated, in order of first use.
std::vector<std::string> QueryTerms(std::string_view user_query);

// `"t1" OR "t2" ...`, or nullopt when the text has no terms.
std::optional<std::string> BuildFtsQuery(std::string_view user_query);

}  // namespace chunkserve::rag
