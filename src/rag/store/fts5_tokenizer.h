// Fts5Tokenizer: SQLite's own FTS5 tokenizer, configured exactly as the
// SQLite store's indexes are (kFts5Tokenize), called as a function.
//
// The PostgreSQL backend (pg_store.h) keeps its own term postings and ranks
// them with FTS5's BM25 (bm25.h); tokenizing with the very tokenizer FTS5
// uses (porter stemming over unicode61 with diacritics removed) rather than
// a re-implementation is what makes both backends index, match and score
// the same terms. It runs on a private in-memory SQLite connection.
//
// Thread safety: one instance per thread (it owns a connection).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct sqlite3;

namespace chunkserve::rag {

// The FTS5 `tokenize=` option of every chunk index.
inline constexpr const char* kFts5Tokenize = "porter unicode61 remove_diacritics 2";

class Fts5Tokenizer {
 public:
  // kUnimplemented when the SQLite library lacks FTS5.
  static StatusOr<std::unique_ptr<Fts5Tokenizer>> Create();
  ~Fts5Tokenizer();
  Fts5Tokenizer(const Fts5Tokenizer&) = delete;
  Fts5Tokenizer& operator=(const Fts5Tokenizer&) = delete;

  // The tokens of `text` in order: token i is at FTS5 position i. `query`
  // selects FTS5_TOKENIZE_QUERY (else _DOCUMENT); the tokenizer treats both
  // alike, the flag is passed for fidelity.
  StatusOr<std::vector<std::string>> Tokenize(std::string_view text, bool query = false) const;

 private:
  struct Impl;
  explicit Fts5Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chunkserve::rag
