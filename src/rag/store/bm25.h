// Bm25: FTS5's bm25() ranking computed outside SQLite, for stores that keep
// their own postings (the PostgreSQL backend, pg_store.h).
//
// It reproduces what the SQLite store's `MATCH <BuildFtsQuery(q)> ORDER BY
// bm25(), chunk id` returns, hit for hit and bit for bit:
//   - The expression: FTS5 numbers every phrase of the expression in order,
//     duplicates kept, and sums over all of them. For a plan with phrases P
//     and words W (fts_query.h) that is P..., P[0], W... (the expression is
//     `P1 AND ... AND (P1 OR W...)`); P... alone; or W... alone (OR-ed).
//     A row matches when it contains every phrase of P, or (no P) any word.
//     Each phrase is tokenized by FTS5's own tokenizer (fts5_tokenizer.h);
//     one without tokens matches nothing and adds 0.
//   - The statistics: N rows (chunks) and their total token count give
//     avgdl = total / N; a phrase's IDF is log((N - n + 0.5) / (n + 0.5))
//     for the n rows that contain it, 1e-6 when that is not positive.
//   - A row's score: the sum over phrases, in order, of
//     idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl)) with
//     k1 = 1.2, b = 0.75, f the phrase's occurrences in the row (a
//     multi-token phrase occurs where its tokens sit at consecutive
//     positions) and D the row's token count. Evaluated in FTS5's order of
//     operations, so the doubles are identical.
//   - Order: score descending, then chunk id ascending.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "rag/store/fts5_tokenizer.h"

namespace chunkserve::rag {

// The phrases of the FTS5 expression of a query, as tokens.
struct Bm25Expression {
  std::vector<std::vector<std::string>> phrases;  // in expression order, duplicates kept
  // phrases[0..n_required) must all occur in a hit; 0: any phrase suffices.
  size_t n_required = 0;
  // Every distinct token of every phrase.
  std::vector<std::string> Tokens() const;
};

// nullopt when the query has no terms (no hits).
StatusOr<std::optional<Bm25Expression>> MakeBm25Expression(std::string_view user_query, const Fts5Tokenizer& tokenizer);

// One row's positions of one token, ascending, and the row's token count.
struct Bm25Posting {
  int64_t chunk_id = 0;
  int32_t row_tokens = 0;
  std::vector<int32_t> positions;
};

// What the ranking reads: the collection's statistics and the postings of
// the expression's tokens (a token absent from the map has none).
struct Bm25Corpus {
  int64_t n_rows = 0;
  int64_t n_tokens = 0;
  std::unordered_map<std::string, std::vector<Bm25Posting>> postings;
};

struct Bm25Hit {
  int64_t chunk_id = 0;
  double score = 0;  // higher is better (FTS5's bm25() negated)
};

// The best k matching rows, best first, ties by ascending chunk id.
std::vector<Bm25Hit> RankBm25(const Bm25Expression& expression, const Bm25Corpus& corpus, int k);

}  // namespace chunkserve::rag
