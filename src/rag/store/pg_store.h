// PgStore: the Store (store.h) on PostgreSQL, selected by
// `--db postgresql://user@host/dbname` (any libpq URI), so that several
// `serve` replicas share one set of collections.
//
// Schema (version kPgSchemaVersion in chunkserve_schema(version), created on
// the first read-write open under an advisory lock, so replicas starting
// together create it once; a version 4 database is upgraded there too,
// its postings regrouped per document; a read-only open of one refuses):
//   collections(id, name UNIQUE, created_at_s,
//               fts_rows, fts_tokens: the BM25 statistics, chunk count and
//               their total FTS5 token count)
//   documents, chunks: as the SQLite schema (sqlite_store.h), plus
//               chunks.fts_tokens (the chunk's FTS5 token count)
//   doc_terms(collection_id, term, document_id, chunk_ids bigint[],
//             row_tokens int[], n_positions int[], positions int[]):
//               the postings of every FTS5 token (fts5_tokenizer.h), one row
//               per term and document (keyed so): the chunks holding it in id
//               order, each chunk's token count, how many positions each
//               has, and those positions concatenated. Ingest writes a
//               document's rows with one COPY; a row per term and chunk
//               (schema 4) was 4x the rows and index entries and most of
//               ingest's time. Ranked in C++ with FTS5's BM25 (bm25.h), so
//               hits and scores equal the SQLite backend's.
//   collection_embedders, chunk_embeddings: as SQLite's (bytea vectors,
//               little-endian float32).
//   change_log(id, collection_id, document_id, kind, at_s): one row per
//               committed change (document put or deleted, collection
//               deleted, vectors or embedder changed); its newest id is
//               DataVersion(), and each commit also sends
//               NOTIFY chunkserve_changes with "collection_id kind doc_id".
//               Pruned as it is written: a write deletes its collection's
//               entries older than kChangeLogRetentionS but keeps the
//               newest one. Nothing replays the log (a replica's dense
//               index reopens from the store when the version moved, in
//               place from its disk cache), so a replica that was away
//               longer than the bound just sees a newer version and
//               re-reads the store; no per-replica watermark is needed.
//
// Freshness (WatchChanges, the server's watcher store): a second
// connection LISTENs on chunkserve_changes; CollectionVersion() then reads
// the notifications already received (a non-blocking read of that socket,
// no round trip) and counts them per collection, instead of a change-log
// query per search. A commit on another replica is seen as soon as its
// notification arrives (PostgreSQL sends it at commit; milliseconds on a
// LAN). A lost listener connection falls back to the change-log query
// (retrying the LISTEN at most once a second); once it listens again the
// version moves (notifications sent meanwhile were lost), so indexes
// reopen once.
//
// Durability: every write is one transaction that first locks its
// collection's row (writers of one collection serialize; readers never
// wait), so a crash or a lost connection leaves whole documents only.
// Search reads postings and statistics in one REPEATABLE READ snapshot.
// Read-only stores set default_transaction_read_only.
//
// Faults: a transaction that fails with kUnavailable (the server restarted
// or went away, a serialization failure or deadlock) is retried whole on a
// new connection, with backoff (0.1 s doubling, about 25 s in all), so a
// PostgreSQL restart pauses writers instead of failing them; a document
// put twice (its first commit's answer lost) is replaced by itself, never
// duplicated. Statements outside transactions reconnect as pg_conn.h says.
//
// Connections: a closed store leaves its idle connection to the next Open
// of the same URI and mode (at most 16 kept per URI and mode, process-wide):
// the server opens a store per request, and a new PostgreSQL connection
// costs a server process. A reused connection skips the schema check its
// first Open made.
//
// Errors: an unreachable server is kUnavailable (pg_conn.h); a database
// that has chunkserve's table names but no schema version, or a newer
// schema, is kFailedPrecondition.
//
// Thread safety: one PgStore per thread (it owns a connection).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "rag/store/fts5_tokenizer.h"
#include "rag/store/pg_conn.h"
#include "rag/store/store.h"

namespace chunkserve::rag {

class PgStore final : public Store {
 public:
  static StatusOr<std::unique_ptr<PgStore>> Open(const std::string& url, Mode mode);
  ~PgStore() override;

  std::string_view backend() const override { return "postgresql"; }
  int64_t schema_version() const override { return schema_version_; }

  StatusOr<int64_t> GetOrCreateCollection(const std::string& name) override;
  StatusOr<std::optional<int64_t>> FindCollection(const std::string& name) override;
  StatusOr<std::vector<CollectionInfo>> ListCollections() override;
  Status DeleteCollection(const std::string& name) override;

  StatusOr<std::optional<DocumentRecord>> FindDocument(int64_t collection_id, const std::string& path) override;
  StatusOr<std::vector<DocumentRecord>> ListDocuments(int64_t collection_id) override;
  Status PutDocument(int64_t collection_id, DocumentRecord* doc, std::span<const Chunk> chunks) override;
  StatusOr<bool> DeleteDocumentById(int64_t collection_id, int64_t document_id) override;
  StatusOr<std::vector<StoredChunk>> GetChunks(int64_t document_id) override;
  StatusOr<std::vector<int64_t>> ChunkIdsUnder(int64_t collection_id, const std::string& prefix) override;

  StatusOr<std::vector<SearchHit>> Search(int64_t collection_id, std::string_view query, int k) override;
  // Chunk counts, the BM25 statistics against the chunks, and postings
  // that point at existing chunks of their collection.
  Status CheckIntegrity() override;
  // The newest change_log id (of the collection). After WatchChanges(), a
  // collection's version comes from the notifications instead (see above).
  StatusOr<int64_t> DataVersion() override;
  StatusOr<int64_t> CollectionVersion(int64_t collection_id) override;
  Status WatchChanges() override;
  // Change-log entries older than this are deleted by later writes of their
  // collection (each collection's newest entry stays: it is its version).
  static constexpr int64_t kChangeLogRetentionS = 24 * 3600;
  // PostgreSQL's own schema version (SQLite's is kSchemaVersion).
  static constexpr int64_t kPgSchemaVersion = 5;

  // Embeddings (pg_embeddings.cpp).
  Status CheckEmbeddingsAvailable() override { return Status::Ok(); }
  StatusOr<std::optional<CollectionEmbedder>> GetEmbedder(int64_t collection_id) override;
  Status RecordEmbedder(int64_t collection_id, const std::string& embedder_id, int dim,
                        const EmbedderSource& source) override;
  Status SetCommonComponent(int64_t collection_id, std::span<const float> common_component) override;
  StatusOr<std::vector<PendingChunk>> ChunksWithoutEmbedding(int64_t collection_id, int limit) override;
  StatusOr<int64_t> CountChunksWithoutEmbedding(int64_t collection_id) override;
  Status PutEmbeddings(std::span<const int64_t> chunk_ids, std::span<const float> vectors, int dim) override;
  StatusOr<EmbeddingRows> LoadEmbeddings(int64_t collection_id) override;
  StatusOr<std::vector<SearchHit>> GetChunksById(std::span<const int64_t> chunk_ids) override;

  PgConnection& connection() { return *conn_; }

 private:
  PgStore(std::unique_ptr<PgConnection> conn, std::unique_ptr<Fts5Tokenizer> tokenizer, std::string pool_key)
      : conn_(std::move(conn)), tokenizer_(std::move(tokenizer)), pool_key_(std::move(pool_key)) {}
  Status InitSchema(bool writable);
  // Runs body inside BEGIN (begin_sql) ... COMMIT, retrying the whole
  // transaction on kUnavailable as described above.
  Status InTransaction(std::string_view begin_sql, const std::function<Status()>& body);
  // Inside a transaction: locks the collection's row; kNotFound if absent.
  Status LockCollection(int64_t collection_id);
  // Inside a transaction: removes a document, its chunks, postings and
  // vectors, and takes its chunks out of the collection's statistics.
  Status RemoveDocumentRows(int64_t collection_id, int64_t document_id);
  // Inside a transaction: appends to change_log and notifies listeners;
  // prunes the collection's entries older than kChangeLogRetentionS.
  Status LogChange(int64_t collection_id, int64_t document_id, std::string_view kind);
  // The collection's version from the notifications received; kUnavailable
  // while the listener is down (the caller then polls the change log).
  StatusOr<int64_t> ListenedVersion(int64_t collection_id);

  std::unique_ptr<PgConnection> conn_;
  std::string url_;                            // for the listener's connection
  std::unique_ptr<PgConnection> listener_;     // after WatchChanges()
  std::map<int64_t, int64_t> notified_;        // notifications received, by collection
  std::chrono::steady_clock::time_point listen_retry_at_{};
  bool listener_down_logged_ = false;
  std::unique_ptr<Fts5Tokenizer> tokenizer_;
  std::string pool_key_;  // mode and URI: where the connection goes back to
  int64_t schema_version_ = kPgSchemaVersion;
};

// Rolls back unless committed (PostgreSQL).
class PgTransaction {
 public:
  explicit PgTransaction(PgConnection& conn) : conn_(conn) {}
  Status Begin(std::string_view begin_sql = "BEGIN") {
    RETURN_IF_ERROR(conn_.Exec(begin_sql));
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    open_ = false;
    return conn_.Exec("COMMIT");
  }
  ~PgTransaction() {
    if (open_ && conn_.ok()) (void)conn_.Exec("ROLLBACK");  // a lost connection rolled back already
  }

 private:
  PgConnection& conn_;
  bool open_ = false;
};

}  // namespace chunkserve::rag
