#include "rag/store/sqlite_store.h"

#include <ctime>

#include "base/hash.h"
#include "rag/store/fts5_tokenizer.h"
#include "rag/store/fts_query.h"
#include "rag/store/heading_path.h"

namespace chunkserve::rag {
namespace {

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE collections(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at_s INTEGER NOT NULL
);
CREATE TABLE documents(
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  format TEXT NOT NULL,
  chunker TEXT NOT NULL,
  n_chunks INTEGER NOT NULL,
  n_invalid_bytes INTEGER NOT NULL DEFAULT 0,
  metadata TEXT NOT NULL DEFAULT '{}',
  ingested_at_s INTEGER NOT NULL,
  origin TEXT NOT NULL DEFAULT 'file',
  UNIQUE(collection_id, path)
);
CREATE TABLE chunks(
  id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  text_begin INTEGER NOT NULL,
  text_end INTEGER NOT NULL,
  source_begin INTEGER NOT NULL,
  source_end INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL,
  heading_path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  text TEXT NOT NULL,
  page_begin INTEGER NOT NULL DEFAULT 0,
  page_end INTEGER NOT NULL DEFAULT 0,
  UNIQUE(document_id, ordinal)
);
)sql";

// Schema 3: documents.origin, chunks.page_*, and per-collection FTS indexes
// instead of the shared chunks_fts kept by triggers (schemas 1 and 2).
constexpr const char* kMigrate3Sql = R"sql(
ALTER TABLE documents ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';
UPDATE documents SET origin = 'upload' WHERE substr(path, 1, 1) != '/';
ALTER TABLE chunks ADD COLUMN page_begin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN page_end INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER IF EXISTS chunks_ai;
DROP TRIGGER IF EXISTS chunks_ad;
DROP TABLE IF EXISTS chunks_fts;
)sql";

// Schema 4: where a collection's embedding model was loaded from, and how
// (embedding_store.h, EmbedderSource), so later commands load it without
// flags. Applied to new files too, after kEmbeddingSchemaSql.
constexpr const char* kMigrate4Sql = R"sql(
ALTER TABLE collection_embedders ADD COLUMN model_path TEXT NOT NULL DEFAULT '';
ALTER TABLE collection_embedders ADD COLUMN pooling TEXT NOT NULL DEFAULT '';
ALTER TABLE collection_embedders ADD COLUMN query_prefix TEXT;
ALTER TABLE collection_embedders ADD COLUMN doc_prefix TEXT NOT NULL DEFAULT '';
)sql";

// Names of a collection's FTS index and its content view (ids are integers,
// so the names are safe to splice into SQL).
std::string FtsTable(int64_t collection_id) { return "chunks_fts_" + std::to_string(collection_id); }
std::string FtsView(int64_t collection_id) { return "chunks_text_" + std::to_string(collection_id); }

// Schema 2: dense embeddings (see embedding_store.h). Applied to new files
// after kSchemaSql and to version-1 files as a migration.
constexpr const char* kEmbeddingSchemaSql = R"sql(
CREATE TABLE collection_embedders(
  collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
  embedder TEXT NOT NULL,
  dim INTEGER NOT NULL,
  common_component BLOB,
  updated_at_s INTEGER NOT NULL
);
CREATE TABLE chunk_embeddings(
  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
  vector BLOB NOT NULL
);
)sql";

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

// Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) {}
  Status Begin() {
    RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    RETURN_IF_ERROR(db_.Exec("COMMIT"));
    open_ = false;
    return Status::Ok();
  }
  ~Transaction() {
    if (open_) (void)db_.Exec("ROLLBACK");
  }

 private:
  Database& db_;
  bool open_ = false;
};

// Schemas before 3 (read-only) have no page columns.
std::string ChunkColumns(bool shared_fts) {
  return std::string("c.id, c.document_id, c.ordinal, c.text_begin, c.text_end, c.source_begin, c.source_end, "
                     "c.n_tokens, c.heading_path, c.content_hash, c.text, ") +
         (shared_fts ? "0, 0" : "c.page_begin, c.page_end");
}

StoredChunk ReadChunk(const Statement& st, int col) {
  StoredChunk c;
  c.id = st.ColumnInt64(col + 0);
  c.document_id = st.ColumnInt64(col + 1);
  c.ordinal = static_cast<uint32_t>(st.ColumnInt64(col + 2));
  c.text_begin = st.ColumnInt64(col + 3);
  c.text_end = st.ColumnInt64(col + 4);
  c.source_begin = st.ColumnInt64(col + 5);
  c.source_end = st.ColumnInt64(col + 6);
  c.n_tokens = static_cast<uint32_t>(st.ColumnInt64(col + 7));
  c.heading_path = SplitHeadingPath(st.ColumnText(col + 8));
  c.content_hash = std::string(st.ColumnText(col + 9));
  c.text = std::string(st.ColumnText(col + 10));
  c.page_begin = static_cast<uint32_t>(st.ColumnInt64(col + 11));
  c.page_end = static_cast<uint32_t>(st.ColumnInt64(col + 12));
  return c;
}

std::string DocumentColumns(bool shared_fts) {
  return std::string("id, path, content_hash, size_bytes, mtime_ns, format, chunker, n_chunks, n_invalid_bytes, "
                     "metadata, ") +
         (shared_fts ? "CASE WHEN substr(path, 1, 1) = '/' THEN 'file' ELSE 'upload' END" : "origin");
}

DocumentRecord ReadDocument(const Statement& st) {
  DocumentRecord d;
  d.id = st.ColumnInt64(0);
  d.path = std::string(st.ColumnText(1));
  d.content_hash = std::string(st.ColumnText(2));
  d.size_bytes = st.ColumnInt64(3);
  d.mtime_ns = st.ColumnInt64(4);
  d.format = std::string(st.ColumnText(5));
  d.chunker = std::string(st.ColumnText(6));
  d.n_chunks = st.ColumnInt64(7);
  d.n_invalid_bytes = st.ColumnInt64(8);
  d.metadata_json = std::string(st.ColumnText(9));
  d.origin = st.ColumnText(10) == "file" ? DocumentOrigin::kFile : DocumentOrigin::kUpload;
  return d;
}

}  // namespace

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, Mode mode) {
  ASSIGN_OR_RETURN(auto db, Database::Open(path, mode == Mode::kReadWrite ? Database::Mode::kReadWriteCreate
                                                                          : Database::Mode::kReadOnly));
  auto store = std::make_unique<SqliteStore>(std::move(db));
  Status s = store->InitSchema(mode == Mode::kReadWrite);
  if (!s.ok()) return s.WithContext(path);
  return store;
}

Status SqliteStore::InitSchema(bool writable) {
  // Reading user_version also proves the file is a SQLite database.
  ASSIGN_OR_RETURN(int64_t version, db_->QueryInt("PRAGMA user_version"));
  if (version > kSchemaVersion)
    return FailedPreconditionError("database schema version " + std::to_string(version) +
                                   " is newer than this chunkserve supports (" +
                                   std::to_string(kSchemaVersion) + "); upgrade chunkserve");
  RETURN_IF_ERROR(db_->Exec("PRAGMA foreign_keys = ON"));
  // A 32 MiB page cache and WAL checkpoints every 32 MiB: bulk ingestion
  // then writes each page about once instead of once per small checkpoint
  // (measured: 59 fdatasyncs -> a handful for the SOTU corpus).
  RETURN_IF_ERROR(db_->Exec("PRAGMA cache_size = -32768"));
  if (version >= 1 && version < kSchemaVersion && writable) {
    RETURN_IF_ERROR(db_->Exec("PRAGMA journal_mode = WAL"));
    if (version == 1) {
      // Migration 1 -> 2: add the embedding tables.
      Transaction tx(*db_);
      RETURN_IF_ERROR(tx.Begin());
      RETURN_IF_ERROR(db_->Exec(kEmbeddingSchemaSql));
      RETURN_IF_ERROR(db_->Exec("PRAGMA user_version = 2"));
      RETURN_IF_ERROR(tx.Commit());
      version = 2;
    }
    schema_version_ = version;
    if (version == 2) RETURN_IF_ERROR(MigrateTo3());
    RETURN_IF_ERROR(MigrateTo4());
    version = kSchemaVersion;
  }
  if (version >= 1) {  // current, or older opened read-only
    schema_version_ = version;
    if (writable) {
      RETURN_IF_ERROR(db_->Exec("PRAGMA journal_mode = WAL"));
      RETURN_IF_ERROR(db_->Exec("PRAGMA synchronous = NORMAL"));
      RETURN_IF_ERROR(db_->Exec("PRAGMA wal_autocheckpoint = 8192"));
    }
    return Status::Ok();
  }
  // version 0: a new file, or a SQLite file that is not ours.
  ASSIGN_OR_RETURN(int64_t n_tables, db_->QueryInt("SELECT count(*) FROM sqlite_master"));
  if (n_tables != 0)
    return FailedPreconditionError("not a chunkserve database (it has tables but no schema version)");
  if (!writable) return FailedPreconditionError("empty database (no chunkserve schema)");
  RETURN_IF_ERROR(db_->Exec("PRAGMA journal_mode = WAL"));
  RETURN_IF_ERROR(db_->Exec("PRAGMA synchronous = NORMAL"));
  RETURN_IF_ERROR(db_->Exec("PRAGMA wal_autocheckpoint = 8192"));
  Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  RETURN_IF_ERROR(db_->Exec(std::string(kSchemaSql) + kEmbeddingSchemaSql + kMigrate4Sql));
  RETURN_IF_ERROR(db_->Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)));
  schema_version_ = kSchemaVersion;
  return tx.Commit();
}

Status SqliteStore::MigrateTo3() {
  Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  RETURN_IF_ERROR(db_->Exec(kMigrate3Sql));
  schema_version_ = 3;
  std::vector<int64_t> ids;
  {
    ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT id FROM collections ORDER BY id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ids.push_back(st.ColumnInt64(0));
    }
  }
  for (int64_t id : ids) {
    RETURN_IF_ERROR(CreateCollectionIndex(id));
    const std::string t = FtsTable(id);
    RETURN_IF_ERROR(db_->Exec("INSERT INTO " + t + "(" + t + ") VALUES ('rebuild')"));
  }
  RETURN_IF_ERROR(db_->Exec("PRAGMA user_version = 3"));
  return tx.Commit();
}

Status SqliteStore::MigrateTo4() {
  Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  RETURN_IF_ERROR(db_->Exec(kMigrate4Sql));
  RETURN_IF_ERROR(db_->Exec("PRAGMA user_version = 4"));
  schema_version_ = 4;
  return tx.Commit();
}

Status SqliteStore::CreateCollectionIndex(int64_t collection_id) {
  const std::string id = std::to_string(collection_id);
  Status s = db_->Exec("CREATE VIEW IF NOT EXISTS " + FtsView(collection_id) +
                       " AS SELECT c.id AS id, c.text AS text FROM chunks c JOIN documents d ON d.id = c.document_id"
                       " WHERE d.collection_id = " + id + ";"
                       "CREATE VIRTUAL TABLE IF NOT EXISTS " + FtsTable(collection_id) +
                       " USING fts5(text, content='" + FtsView(collection_id) + "', content_rowid='id',"
                       " tokenize='" + kFts5Tokenize + "')");
  if (!s.ok() && s.message().find("fts5") != std::string::npos)
    return UnimplementedError("this SQLite library lacks FTS5 (needed for BM25 search): " + s.message());
  return s;
}

Status SqliteStore::DeleteFtsEntries(int64_t collection_id, int64_t document_id) {
  const std::string t = FtsTable(collection_id);
  ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO " + t + "(" + t +
                                              ", rowid, text) SELECT 'delete', id, text FROM chunks"
                                              " WHERE document_id = ?1"));
  RETURN_IF_ERROR(st.Bind(1, document_id));
  return st.Run();
}

StatusOr<std::optional<int64_t>> SqliteStore::FindCollection(const std::string& name) {
  ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT id FROM collections WHERE name = ?1"));
  RETURN_IF_ERROR(st.Bind(1, name));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(st.ColumnInt64(0));
}

StatusOr<int64_t> SqliteStore::GetOrCreateCollection(const std::string& name) {
  if (name.empty()) return InvalidArgumentError("collection name must not be empty");
  ASSIGN_OR_RETURN(auto found, FindCollection(name));
  if (found) return *found;
  Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  ASSIGN_OR_RETURN(Statement st,
                   db_->Prepare("INSERT INTO collections(name, created_at_s) VALUES (?1, ?2) "
                                "ON CONFLICT(name) DO NOTHING"));
  RETURN_IF_ERROR(st.Bind(1, name));
  RETURN_IF_ERROR(st.Bind(2, NowSeconds()));
  RETURN_IF_ERROR(st.Run());
  ASSIGN_OR_RETURN(auto created, FindCollection(name));
  if (!created) return InternalError("collection '" + name + "' vanished after insert");
  if (!shared_fts()) RETURN_IF_ERROR(CreateCollectionIndex(*created));
  RETURN_IF_ERROR(tx.Commit());
  return *created;
}

StatusOr<std::vector<CollectionInfo>> SqliteStore::ListCollections() {
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT c.id, c.name, c.created_at_s, "
      "  (SELECT count(*) FROM documents d WHERE d.collection_id = c.id), "
      "  (SELECT coalesce(sum(d.n_chunks), 0) FROM documents d WHERE d.collection_id = c.id), "
      "  (SELECT coalesce(sum(k.n_tokens), 0) FROM chunks k JOIN documents d ON d.id = k.document_id "
      "     WHERE d.collection_id = c.id), "
      "  (SELECT coalesce(sum(d.size_bytes), 0) FROM documents d WHERE d.collection_id = c.id), " +
      std::string(schema_version_ >= 2
                      ? "  (SELECT e.embedder FROM collection_embedders e WHERE e.collection_id = c.id), "
                        "  (SELECT e.dim FROM collection_embedders e WHERE e.collection_id = c.id), "
                        "  (SELECT count(*) FROM chunk_embeddings v JOIN chunks k ON k.id = v.chunk_id "
                        "     JOIN documents d ON d.id = k.document_id WHERE d.collection_id = c.id) "
                      : "  NULL, NULL, 0 ") +
      "FROM collections c ORDER BY c.name"));
  std::vector<CollectionInfo> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    CollectionInfo c;
    c.id = st.ColumnInt64(0);
    c.name = std::string(st.ColumnText(1));
    c.created_at_s = st.ColumnInt64(2);
    c.n_documents = st.ColumnInt64(3);
    c.n_chunks = st.ColumnInt64(4);
    c.n_tokens = st.ColumnInt64(5);
    c.size_bytes = st.ColumnInt64(6);
    if (!st.ColumnIsNull(7)) c.embedder_id = std::string(st.ColumnText(7));
    c.embedding_dim = st.ColumnIsNull(8) ? 0 : st.ColumnInt64(8);
    c.n_embedded_chunks = st.ColumnInt64(9);
    out.push_back(std::move(c));
  }
  return out;
}

Status SqliteStore::DeleteCollection(const std::string& name) {
  if (shared_fts())
    return FailedPreconditionError("database schema version " + std::to_string(schema_version_) +
                                   " must be migrated (open it read-write) before writing");
  Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  ASSIGN_OR_RETURN(auto id, FindCollection(name));
  if (!id) return NotFoundError("no collection named '" + name + "'");
  RETURN_IF_ERROR(db_->Exec("DROP TABLE IF EXISTS " + FtsTable(*id) + "; DROP VIEW IF EXISTS " + FtsView(*id)));
  ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM collections WHERE id = ?1"));
  RETURN_IF_ERROR(st.Bind(1, *id));
  RETURN_IF_ERROR(st.Run());
  return tx.Commit();
}

StatusOr<std::optional<DocumentRecord>> SqliteStore::FindDocument(int64_t collection_id, const std::string& path) {
  ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " + DocumentColumns(shared_fts()) +
                                              " FROM documents WHERE collection_id = ?1 AND path = ?2"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  RETURN_IF_ERROR(st.Bind(2, path));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<DocumentRecord>();
  return std::optional<DocumentRecord>(ReadDocument(st));
}

StatusOr<std::vector<DocumentRecord>> SqliteStore::ListDocuments(int64_t collection_id) {
  ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " + DocumentColumns(shared_fts()) +
                                              " FROM documents WHERE collection_id = ?1 ORDER BY path"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  std::vector<DocumentRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadDocument(st));
  }
  return out;
}

Status SqliteStore::PutDocument(int64_t collection_id, DocumentRecord* doc, std::span<const Chunk> chunks) {
  if (shared_fts())
    return FailedPreconditionError("database schema version " + std::to_string(schema_version_) +
                                   " must be migrated (open it read-write) before writing");
  Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  {
    // Replacing: FTS entries first (they are read from the rows), then the
    // cascade deletes the old chunks and their vectors.
    ASSIGN_OR_RETURN(Statement find, db_->Prepare("SELECT id, origin FROM documents WHERE collection_id = ?1 AND path = ?2"));
    RETURN_IF_ERROR(find.Bind(1, collection_id));
    RETURN_IF_ERROR(find.Bind(2, doc->path));
    ASSIGN_OR_RETURN(bool row, find.Step());
    if (row) {
      const int64_t old_id = find.ColumnInt64(0);
      const std::string_view origin = DocumentOriginName(doc->origin);
      if (find.ColumnText(1) != origin)
        return FailedPreconditionError(
            doc->origin == DocumentOrigin::kUpload
                ? "a document ingested from disk is stored as '" + doc->path +
                      "'; an upload does not replace it (delete it first or choose another name)"
                : "an uploaded document is stored as '" + doc->path +
                      "'; ingest does not replace it (delete it first)");
      RETURN_IF_ERROR(DeleteFtsEntries(collection_id, old_id));
      ASSIGN_OR_RETURN(Statement del, db_->Prepare("DELETE FROM documents WHERE id = ?1"));
      RETURN_IF_ERROR(del.Bind(1, old_id));
      RETURN_IF_ERROR(del.Run());
    }
  }
  doc->n_chunks = static_cast<int64_t>(chunks.size());
  {
    ASSIGN_OR_RETURN(Statement ins, db_->Prepare(
        "INSERT INTO documents(collection_id, path, content_hash, size_bytes, mtime_ns, format, chunker, "
        "n_chunks, n_invalid_bytes, metadata, ingested_at_s, origin) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    RETURN_IF_ERROR(ins.Bind(1, collection_id));
    RETURN_IF_ERROR(ins.Bind(2, doc->path));
    RETURN_IF_ERROR(ins.Bind(3, doc->content_hash));
    RETURN_IF_ERROR(ins.Bind(4, doc->size_bytes));
    RETURN_IF_ERROR(ins.Bind(5, doc->mtime_ns));
    RETURN_IF_ERROR(ins.Bind(6, doc->format));
    RETURN_IF_ERROR(ins.Bind(7, doc->chunker));
    RETURN_IF_ERROR(ins.Bind(8, doc->n_chunks));
    RETURN_IF_ERROR(ins.Bind(9, doc->n_invalid_bytes));
    RETURN_IF_ERROR(ins.Bind(10, doc->metadata_json));
    RETURN_IF_ERROR(ins.Bind(11, NowSeconds()));
    RETURN_IF_ERROR(ins.Bind(12, DocumentOriginName(doc->origin)));
    RETURN_IF_ERROR(ins.Run());
    doc->id = db_->LastInsertRowId();
  }
  ASSIGN_OR_RETURN(Statement ins, db_->Prepare(
      "INSERT INTO chunks(document_id, ordinal, text_begin, text_end, source_begin, source_end, n_tokens, "
      "heading_path, content_hash, text, page_begin, page_end) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
  ASSIGN_OR_RETURN(Statement fts, db_->Prepare("INSERT INTO " + FtsTable(collection_id) + "(rowid, text) VALUES (?1, ?2)"));
  for (const Chunk& c : chunks) {
    ins.Reset();
    RETURN_IF_ERROR(ins.Bind(1, doc->id));
    RETURN_IF_ERROR(ins.Bind(2, static_cast<int64_t>(c.ordinal)));
    RETURN_IF_ERROR(ins.Bind(3, static_cast<int64_t>(c.text_begin)));
    RETURN_IF_ERROR(ins.Bind(4, static_cast<int64_t>(c.text_end)));
    RETURN_IF_ERROR(ins.Bind(5, static_cast<int64_t>(c.source_begin)));
    RETURN_IF_ERROR(ins.Bind(6, static_cast<int64_t>(c.source_end)));
    RETURN_IF_ERROR(ins.Bind(7, static_cast<int64_t>(c.n_tokens)));
    RETURN_IF_ERROR(ins.Bind(8, JoinHeadingPath(c.heading_path)));
    RETURN_IF_ERROR(ins.Bind(9, HashToHex(Hash64(c.text))));
    RETURN_IF_ERROR(ins.Bind(10, c.text));
    RETURN_IF_ERROR(ins.Bind(11, static_cast<int64_t>(c.page_begin)));
    RETURN_IF_ERROR(ins.Bind(12, static_cast<int64_t>(c.page_end)));
    RETURN_IF_ERROR(ins.Run());
    fts.Reset();
    RETURN_IF_ERROR(fts.Bind(1, db_->LastInsertRowId()));
    RETURN_IF_ERROR(fts.Bind(2, c.text));
    RETURN_IF_ERROR(fts.Run());
  }
  return tx.Commit();
}

StatusOr<bool> SqliteStore::DeleteDocumentById(int64_t collection_id, int64_t document_id) {
  if (shared_fts())
    return FailedPreconditionError("database schema version " + std::to_string(schema_version_) +
                                   " must be migrated (open it read-write) before writing");
  Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  {
    ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT 1 FROM documents WHERE collection_id = ?1 AND id = ?2"));
    RETURN_IF_ERROR(st.Bind(1, collection_id));
    RETURN_IF_ERROR(st.Bind(2, document_id));
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return false;
  }
  RETURN_IF_ERROR(DeleteFtsEntries(collection_id, document_id));
  ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM documents WHERE collection_id = ?1 AND id = ?2"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  RETURN_IF_ERROR(st.Bind(2, document_id));
  RETURN_IF_ERROR(st.Run());
  RETURN_IF_ERROR(tx.Commit());
  return true;
}

StatusOr<std::vector<StoredChunk>> SqliteStore::GetChunks(int64_t document_id) {
  ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " + ChunkColumns(shared_fts()) +
                                              " FROM chunks c WHERE c.document_id = ?1 ORDER BY c.ordinal"));
  RETURN_IF_ERROR(st.Bind(1, document_id));
  std::vector<StoredChunk> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadChunk(st, 0));
  }
  return out;
}

StatusOr<std::vector<SearchHit>> SqliteStore::Search(int64_t collection_id, std::string_view query, int k) {
  std::vector<SearchHit> out;
  if (k <= 0) return out;
  std::optional<std::string> fts = BuildFtsQuery(query);
  if (!fts) return out;
  // Schemas 1-2 (read-only): the shared index, filtered by collection.
  const std::string t = shared_fts() ? std::string("chunks_fts") : FtsTable(collection_id);
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT d.path, bm25(" + t + ") AS rank, " + ChunkColumns(shared_fts()) +
      " FROM " + t + " JOIN chunks c ON c.id = " + t + ".rowid JOIN documents d ON d.id = c.document_id"
      " WHERE " + t + " MATCH ?1 AND d.collection_id = ?2 ORDER BY rank, c.id LIMIT ?3"));
  RETURN_IF_ERROR(st.Bind(1, *fts));
  RETURN_IF_ERROR(st.Bind(2, collection_id));
  RETURN_IF_ERROR(st.Bind(3, static_cast<int64_t>(k)));
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    SearchHit h;
    h.path = std::string(st.ColumnText(0));
    h.score = -st.ColumnDouble(1);  // FTS5's bm25() is negated: lower is better
    h.chunk = ReadChunk(st, 2);
    out.push_back(std::move(h));
  }
  return out;
}

StatusOr<std::vector<int64_t>> SqliteStore::ChunkIdsUnder(int64_t collection_id, const std::string& prefix) {
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
      "WHERE d.collection_id = ?1 AND substr(d.path, 1, length(?2)) = ?2 ORDER BY c.id"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  RETURN_IF_ERROR(st.Bind(2, prefix));
  std::vector<int64_t> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(st.ColumnInt64(0));
  }
  return out;
}

StatusOr<int64_t> SqliteStore::DataVersion() { return db_->QueryInt("PRAGMA data_version"); }

Status SqliteStore::CheckIntegrity() {
  {
    ASSIGN_OR_RETURN(Statement st, db_->Prepare("PRAGMA integrity_check"));
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row || st.ColumnText(0) != "ok")
      return DataLossError("sqlite integrity_check: " + std::string(row ? st.ColumnText(0) : "no result"));
  }
  {
    ASSIGN_OR_RETURN(Statement st, db_->Prepare("PRAGMA foreign_key_check"));
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) return DataLossError("foreign key violation in table " + std::string(st.ColumnText(0)));
  }
  if (shared_fts()) {
    if (Status s = db_->Exec("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)"); !s.ok())
      return DataLossError("fts5 index: " + s.message());
  } else {
    ASSIGN_OR_RETURN(std::vector<CollectionInfo> collections, ListCollections());
    for (const CollectionInfo& c : collections) {
      const std::string t = FtsTable(c.id);
      // rank 1: the index is also compared with its content (the collection's chunks).
      if (Status s = db_->Exec("INSERT INTO " + t + "(" + t + ", rank) VALUES ('integrity-check', 1)"); !s.ok())
        return DataLossError("fts5 index of collection '" + c.name + "': " + s.message());
    }
  }
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT d.path, d.n_chunks, count(c.id), coalesce(min(c.ordinal), 0), coalesce(max(c.ordinal), -1) "
      "FROM documents d LEFT JOIN chunks c ON c.document_id = d.id GROUP BY d.id "
      "HAVING d.n_chunks != count(c.id) OR (count(c.id) > 0 AND (min(c.ordinal) != 0 OR "
      "max(c.ordinal) != count(c.id) - 1))"));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (row)
    return DataLossError("document '" + std::string(st.ColumnText(0)) + "' records " +
                         std::to_string(st.ColumnInt64(1)) + " chunks but has " +
                         std::to_string(st.ColumnInt64(2)));
  return Status::Ok();
}

}  // namespace chunkserve::rag
