// Store: the durable home of collections, documents and chunks (SQLite).
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
#include <vector>

#include "base/status.h"
#include "rag/store/sqlite_db.h"
#include "rag/text/chunker.h"

namespace chunkserve::rag {

inline constexpr int64_t kSchemaVersion = 4;

struct CollectionInfo {
  int64_t id = 0;
  std::string name;
  int64_t created_at_s = 0;
  int64_t n_documents = 0;
  int64_t n_chunks = 0;
  int64_t n_tokens = 0;
  int64_t size_bytes = 0;
  std::string embedder_id;      // empty when the collection has no embedder recorded
  int64_t embedding_dim = 0;
  int64_t n_embedded_chunks = 0;  // chunks with a vector
};

// Where a document came from: a file walked by `ingest`, or bytes sent to
// the HTTP API. The default is kUpload so that only the ingester, which
// sets kFile, can claim a path on disk.
enum class DocumentOrigin { kUpload, kFile };
std::string_view DocumentOriginName(DocumentOrigin origin);  // "upload" | "file"

struct DocumentRecord {
  int64_t id = 0;               // assigned by the store
  std::string path;
  DocumentOrigin origin = DocumentOrigin::kUpload;
  std::string content_hash;
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;
  std::string format;
  std::string chunker;          // ChunkerFingerprint
  int64_t n_chunks = 0;
  int64_t n_invalid_bytes = 0;
  std::string metadata_json = "{}";
};

struct StoredChunk {
  int64_t id = 0;
  int64_t document_id = 0;
  uint32_t ordinal = 0;
  int64_t text_begin = 0, text_end = 0;
  int64_t source_begin = 0, source_end = 0;
  uint32_t n_tokens = 0;
  uint32_t page_begin = 0, page_end = 0;  // PDF pages (1-based), else 0
  std::vector<std::string> heading_path;
  std::string content_hash;
  std::string text;
};

struct SearchHit {
  std::string path;             // the document's path
  StoredChunk chunk;
  double score = 0;             // BM25, higher is better
  // Paths of near-duplicate passages merged into this one (retriever.h).
  std::vector<std::string> also_in;
};

class Store {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  // kReadWrite creates the file and schema when missing; kReadOnly requires
  // an existing chunkserve database.
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& path, Mode mode);
  explicit Store(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  // Collections.
  StatusOr<int64_t> GetOrCreateCollection(const std::string& name);
  StatusOr<std::optional<int64_t>> FindCollection(const std::string& name);
  StatusOr<std::vector<CollectionInfo>> ListCollections();
  // Deletes the collection with its documents and chunks; kNotFound if absent.
  Status DeleteCollection(const std::string& name);

  // Documents.
  StatusOr<std::optional<DocumentRecord>> FindDocument(int64_t collection_id, const std::string& path);
  StatusOr<std::vector<DocumentRecord>> ListDocuments(int64_t collection_id);
  // Inserts or replaces (same collection and path) the document with exactly
  // these chunks, atomically. Sets doc->id and doc->n_chunks.
  // kFailedPrecondition (nothing changed) when a document of that path
  // exists with another origin.
  Status PutDocument(int64_t collection_id, DocumentRecord* doc, std::span<const Chunk> chunks);
  // True when a document was deleted.
  StatusOr<bool> DeleteDocument(int64_t collection_id, const std::string& path);
  // By id (HTTP API); true when a document of that collection was deleted.
  StatusOr<bool> DeleteDocumentById(int64_t collection_id, int64_t document_id);

  StatusOr<std::vector<StoredChunk>> GetChunks(int64_t document_id);

  // BM25 search over a collection's chunks with the collection's own
  // statistics; at most k hits, best first. Words are matched as terms
  // (OR), "quoted phrases" as phrases that every hit must contain (see
  // fts_query.h). An empty query (no terms) returns no hits.
  StatusOr<std::vector<SearchHit>> Search(int64_t collection_id, std::string_view query, int k);

  // SQLite integrity_check, the FTS5 index check, and every document's
  // n_chunks equal to its stored chunk rows (ordinals 0..n-1). kDataLoss
  // naming the first problem.
  Status CheckIntegrity();

  Database& db() { return *db_; }
  // The schema version of the open file (older than kSchemaVersion only
  // when opened read-only).
  int64_t schema_version() const { return schema_version_; }

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
