#include "rag/store/fts5_tokenizer.h"

#include <sqlite3.h>

#include <climits>

namespace chunkserve::rag {

struct Fts5Tokenizer::Impl {
  sqlite3* db = nullptr;
  fts5_tokenizer api{};
  ::Fts5Tokenizer* tokenizer = nullptr;  // SQLite's opaque tokenizer instance
  ~Impl() {
    if (tokenizer != nullptr) api.xDelete(tokenizer);
    if (db != nullptr) sqlite3_close(db);
  }
};

namespace {

// FTS5's documented way to reach its C API from a connection.
fts5_api* Fts5Api(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr) == SQLITE_OK) {
    sqlite3_bind_pointer(st, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    sqlite3_step(st);
  }
  sqlite3_finalize(st);
  return api;
}

int CollectToken(void* ctx, int flags, const char* token, int n_token, int /*start*/, int /*end*/) {
  // Porter and unicode61 never emit colocated synonyms; if one did, FTS5
  // would index it at the previous position, so it adds no position here.
  if (flags & FTS5_TOKEN_COLOCATED) return SQLITE_OK;
  static_cast<std::vector<std::string>*>(ctx)->emplace_back(token, static_cast<size_t>(n_token));
  return SQLITE_OK;
}

}  // namespace

Fts5Tokenizer::Fts5Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Fts5Tokenizer::~Fts5Tokenizer() = default;

StatusOr<std::unique_ptr<Fts5Tokenizer>> Fts5Tokenizer::Create() {
  auto impl = std::make_unique<Impl>();
  if (sqlite3_open_v2(":memory:", &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
    return InternalError("cannot open an in-memory SQLite connection for the FTS5 tokenizer");
  fts5_api* api = Fts5Api(impl->db);
  if (api == nullptr) return UnimplementedError("this SQLite library lacks FTS5 (needed for BM25 search)");
  // kFts5Tokenize, split as FTS5 splits it: the first word names the
  // tokenizer, the rest are its arguments (porter's first is its base).
  const char* args[] = {"unicode61", "remove_diacritics", "2"};
  void* user_data = nullptr;
  if (api->xFindTokenizer(api, "porter", &user_data, &impl->api) != SQLITE_OK)
    return UnimplementedError("FTS5 has no porter tokenizer");
  if (impl->api.xCreate(user_data, args, 3, &impl->tokenizer) != SQLITE_OK)
    return InternalError("cannot create the FTS5 tokenizer '" + std::string(kFts5Tokenize) + "'");
  return std::unique_ptr<Fts5Tokenizer>(new Fts5Tokenizer(std::move(impl)));
}

StatusOr<std::vector<std::string>> Fts5Tokenizer::Tokenize(std::string_view text, bool query) const {
  std::vector<std::string> tokens;
  if (text.size() > static_cast<size_t>(INT_MAX)) return InvalidArgumentError("text too long to tokenize");
  const int rc = impl_->api.xTokenize(impl_->tokenizer, &tokens, query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT,
                                      text.data(), static_cast<int>(text.size()), CollectToken);
  if (rc != SQLITE_OK) return InternalError("FTS5 tokenizer failed (" + std::string(sqlite3_errstr(rc)) + ")");
  return tokens;
}

}  // namespace chunkserve::rag
