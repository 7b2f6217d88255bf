// SqliteStore: the Store (store.h) in one SQLite file, the default backend.
//
// Schema (version kSchemaVersion, kept in PRAGMA user_version):
//   collections(id, name UNIQUE, created_at_s)
//   documents(id, collection_id -> collections ON DELETE CASCADE, path,
//             content_hash (Hash64 hex of the file bytes), size_bytes,
//             mtime_ns, format, chunker (fingerprint), n_chunks,
//             n_invalid_bytes, metadata (JSON object), ingested_at_s,
//             origin ('file' | 'upload')                  [version 3],
//             UNIQUE(collection_id, path))
//   chunks(id, document_id -> documents ON DELETE CASCADE, ordinal,
//          text_begin, text_end, source_begin, source_end, n_tokens,
//          heading_path ('\n'-joined), content_hash, text,
//          page_begin, page_end (PDF pages, else 0)       [version 3],
//          UNIQUE(document_id, ordinal))
//   chunks_fts_<collection id>: one FTS5 index (porter + unicode61) per
//          collection over its chunks' text, with the view
//          chunks_text_<collection id> as external content; written by
//          PutDocument / DeleteDocument*, dropped with the collection.
//          One index per collection keeps BM25's statistics (document
//          count, average length, term frequencies) per collection: adding
//          an unrelated collection never changes another's scores.
//                                                         [version 3]
//   collection_embedders(collection_id -> collections ON DELETE CASCADE,
//             embedder (Embedder::id), dim, common_component (f32 blob),
//             updated_at_s)                                   [version 2]
//             model_path, pooling, query_prefix (NULL: the model's),
//             doc_prefix: where the embedding model was loaded from and
//             how (EmbedderSource, embedding_store.h)        [version 4]
//   chunk_embeddings(chunk_id -> chunks ON DELETE CASCADE, vector (f32 blob))
//             see embedding_store.h                           [version 2]
//
// Older files are migrated when opened read-write (1 -> 2 adds the embedding
// tables; 2 -> 3 adds origin and pages, marking documents whose path is not
// absolute as uploads, and moves the one shared FTS index `chunks_fts` into
// per-collection indexes; 3 -> 4 adds the embedder's source columns, empty
// for collections embedded before), in one transaction each. Opened read-only they
// keep working as they are: version 1 without embeddings (EmbeddingStore
// reports FailedPrecondition), versions 1 and 2 with the shared BM25 index
// and no pages, versions before 4 without the embedder's source.
//
// Origins: a document ingested from disk (kFile) and an uploaded one
// (kUpload) never replace each other: PutDocument of one over the other is
// kFailedPrecondition, so an upload named like an ingested path cannot
// silently overwrite it, and `ingest` never overwrites an upload.
//
// Durability: WAL journal, foreign keys on. PutDocument writes a document and
// all its chunks in one transaction, with n_chunks on the document row, so a
// crash at any moment leaves either the old version or the new one, never a
// partial document; IsDocumentComplete-style checks compare n_chunks with the
// rows present (CheckIntegrity).
//
// Opening a database whose schema version is newer than this build's is a
// kFailedPrecondition error; a SQLite file that is not a chunkserve store is
// kFailedPrecondition too. Bad input never changes stored data.
//
// Thread safety: one Store per thread (it owns a SQLite connection). Several
// processes may open the same file; writers serialize (busy timeout 5 s).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "rag/store/sqlite_db.h"
#include "rag/store/store.h"

namespace chunkserve::rag {

class SqliteStore final : public Store {
 public:
  // kReadWrite creates the file and schema when missing; kReadOnly requires
  // an existing chunkserve database.
  static StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path, Mode mode);
  explicit SqliteStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  std::string_view backend() const override { return "sqlite"; }
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

  // FTS5's bm25() over the collection's index.
  StatusOr<std::vector<SearchHit>> Search(int64_t collection_id, std::string_view query, int k) override;

  // SQLite integrity_check, the FTS5 index check, and the chunk counts.
  Status CheckIntegrity() override;
  // PRAGMA data_version.
  StatusOr<int64_t> DataVersion() override;

  // Embeddings (sqlite_embeddings.cpp).
  Status CheckEmbeddingsAvailable() override;
  StatusOr<std::optional<CollectionEmbedder>> GetEmbedder(int64_t collection_id) override;
  Status RecordEmbedder(int64_t collection_id, const std::string& embedder_id, int dim,
                        const EmbedderSource& source) override;
  Status SetCommonComponent(int64_t collection_id, std::span<const float> common_component) override;
  StatusOr<std::vector<PendingChunk>> ChunksWithoutEmbedding(int64_t collection_id, int limit) override;
  StatusOr<int64_t> CountChunksWithoutEmbedding(int64_t collection_id) override;
  Status PutEmbeddings(std::span<const int64_t> chunk_ids, std::span<const float> vectors, int dim) override;
  StatusOr<EmbeddingRows> LoadEmbeddings(int64_t collection_id) override;
  StatusOr<std::vector<SearchHit>> GetChunksById(std::span<const int64_t> chunk_ids) override;

  Database& db() { return *db_; }

 private:
  Status InitSchema(bool writable);
  Status MigrateTo3();
  Status MigrateTo4();
  Status CreateCollectionIndex(int64_t collection_id);
  // Removes the FTS entries of the chunks of document_id (in collection_id).
  Status DeleteFtsEntries(int64_t collection_id, int64_t document_id);
  bool shared_fts() const { return schema_version_ < 3; }
  std::unique_ptr<Database> db_;
  int64_t schema_version_ = kSchemaVersion;
};

}  // namespace chunkserve::rag
