// Store: the durable home of collections, documents, chunks and their
// embeddings. One interface, two backends:
//   - SQLite (sqlite_store.h), the default: `--db FILE`, one machine.
//   - PostgreSQL (pg_store.h): `--db postgresql://...` (or postgres://),
//     shared by several `serve` replicas.
// Store::Open is the one place a `--db` string becomes a store.
//
// The contract both backends keep (tests/rag/store_contract_test.cpp runs
// the same cases against each):
//   - Collections have unique non-empty names; deleting one deletes its
//     documents, chunks and vectors.
//   - A document is unique by (collection, path). PutDocument writes it with
//     all its chunks (byte offsets, heading paths, pages) in one transaction,
//     replacing an earlier version atomically: a reader or a crash sees the
//     old version or the new one, never a mix. n_chunks on the document row
//     equals its chunk rows (CheckIntegrity).
//   - Origins: a document ingested from disk (kFile) and an uploaded one
//     (kUpload) never replace each other: PutDocument of one over the other
//     is kFailedPrecondition, so an upload named like an ingested path
//     cannot silently overwrite it, and `ingest` never overwrites an upload.
//   - Search is BM25 with FTS5's definition (porter + unicode61
//     remove_diacritics 2 tokens, k1 = 1.2, b = 0.75, FTS5's IDF), over the
//     collection's own statistics, best score first, ties by chunk id: both
//     backends return the same hits with the same scores (bm25.h).
//   - Embeddings: see embedding_store.h (the facade callers use).
//   - A schema newer than this build's is kFailedPrecondition ("upgrade
//     chunkserve"); bad input never changes stored data.
//   - DataVersion() changes whenever another connection commits a change,
//     so long-lived readers know when to refresh cached indexes.
//
// Thread safety: one Store per thread (each owns one connection). Several
// processes may open the same database.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "rag/text/chunker.h"

namespace chunkserve::rag {

// The newest schema of either backend (each keeps its own version number in
// step with this one).
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

// Embedding records (embedding_store.h documents them).
struct EmbedderSource {
  std::string model_path;                   // absolute; empty: unknown
  std::string pooling;                      // "" (the model's) | mean | cls | last
  std::optional<std::string> query_prefix;  // nullopt: the model's default
  std::string doc_prefix;
};

struct CollectionEmbedder {
  std::string embedder_id;
  EmbedderSource source;
  int dim = 0;
  std::vector<float> common_component;  // empty or dim values
  int64_t updated_at_s = 0;
};

struct PendingChunk {
  int64_t chunk_id = 0;
  std::string text;
};

// Chunk ids and their raw vectors (row i of `vectors` belongs to ids[i]),
// ascending by id.
struct EmbeddingRows {
  int dim = 0;
  std::vector<int64_t> ids;
  std::vector<float> vectors;
  std::vector<int64_t> document_ids;  // per row: the chunk's document
  std::vector<uint32_t> ordinals;     // per row: the chunk's ordinal
};

// True for a PostgreSQL connection URI (postgresql://... or postgres://...).
bool IsPostgresUrl(std::string_view location);

class Store {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  // `location`: a SQLite file path, or a PostgreSQL URI. kReadWrite creates
  // the schema when missing (and the file, for SQLite); kReadOnly requires
  // an existing chunkserve database.
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& location, Mode mode);
  virtual ~Store() = default;

  // "sqlite" or "postgresql".
  virtual std::string_view backend() const = 0;
  // The schema version of the open database (older than kSchemaVersion only
  // for a SQLite file opened read-only).
  virtual int64_t schema_version() const = 0;

  // Collections.
  virtual StatusOr<int64_t> GetOrCreateCollection(const std::string& name) = 0;
  virtual StatusOr<std::optional<int64_t>> FindCollection(const std::string& name) = 0;
  virtual StatusOr<std::vector<CollectionInfo>> ListCollections() = 0;
  // Deletes the collection with its documents and chunks; kNotFound if absent.
  virtual Status DeleteCollection(const std::string& name) = 0;

  // Documents.
  virtual StatusOr<std::optional<DocumentRecord>> FindDocument(int64_t collection_id, const std::string& path) = 0;
  virtual StatusOr<std::vector<DocumentRecord>> ListDocuments(int64_t collection_id) = 0;  // by path
  // Inserts or replaces (same collection and path) the document with exactly
  // these chunks, atomically. Sets doc->id and doc->n_chunks.
  // kFailedPrecondition (nothing changed) when a document of that path
  // exists with another origin.
  virtual Status PutDocument(int64_t collection_id, DocumentRecord* doc, std::span<const Chunk> chunks) = 0;
  // True when a document was deleted.
  StatusOr<bool> DeleteDocument(int64_t collection_id, const std::string& path);
  // By id (HTTP API); true when a document of that collection was deleted.
  virtual StatusOr<bool> DeleteDocumentById(int64_t collection_id, int64_t document_id) = 0;

  // A document's chunks by ordinal.
  virtual StatusOr<std::vector<StoredChunk>> GetChunks(int64_t document_id) = 0;
  // Ids of the chunks of the collection's documents whose path starts with
  // `prefix`, ascending.
  virtual StatusOr<std::vector<int64_t>> ChunkIdsUnder(int64_t collection_id, const std::string& prefix) = 0;

  // BM25 search over a collection's chunks with the collection's own
  // statistics; at most k hits, best first, ties by ascending chunk id.
  // Words are matched as terms (OR), "quoted phrases" as phrases that every
  // hit must contain (see fts_query.h). An empty query (no terms) returns
  // no hits.
  virtual StatusOr<std::vector<SearchHit>> Search(int64_t collection_id, std::string_view query, int k) = 0;

  // The backend's own consistency checks, and every document's n_chunks
  // equal to its stored chunk rows (ordinals 0..n-1). kDataLoss naming the
  // first problem.
  virtual Status CheckIntegrity() = 0;

  // A number that changes whenever another connection commits a change to
  // the database (commits of this connection may or may not change it).
  virtual StatusOr<int64_t> DataVersion() = 0;
  // The same for changes of one collection (documents, chunks, vectors, its
  // embedder, its deletion); a backend that cannot tell them apart returns
  // DataVersion() (SQLite).
  virtual StatusOr<int64_t> CollectionVersion(int64_t /*collection_id*/) { return DataVersion(); }
  // Makes CollectionVersion() cheap for a store asked before every search
  // (the watcher of a long-lived process): PostgreSQL LISTENs for the
  // change notifications on a connection of its own instead of querying
  // the change log each time (pg_store.h). A no-op where the version is
  // already cheap (SQLite's data_version).
  virtual Status WatchChanges() { return Status::Ok(); }

  // Embeddings: the contract is EmbeddingStore's (embedding_store.h), which
  // forwards here.
  virtual Status CheckEmbeddingsAvailable() = 0;
  virtual StatusOr<std::optional<CollectionEmbedder>> GetEmbedder(int64_t collection_id) = 0;
  virtual Status RecordEmbedder(int64_t collection_id, const std::string& embedder_id, int dim,
                                const EmbedderSource& source) = 0;
  virtual Status SetCommonComponent(int64_t collection_id, std::span<const float> common_component) = 0;
  virtual StatusOr<std::vector<PendingChunk>> ChunksWithoutEmbedding(int64_t collection_id, int limit) = 0;
  virtual StatusOr<int64_t> CountChunksWithoutEmbedding(int64_t collection_id) = 0;
  virtual Status PutEmbeddings(std::span<const int64_t> chunk_ids, std::span<const float> vectors, int dim) = 0;
  virtual StatusOr<EmbeddingRows> LoadEmbeddings(int64_t collection_id) = 0;
  virtual StatusOr<std::vector<SearchHit>> GetChunksById(std::span<const int64_t> chunk_ids) = 0;
};

}  // namespace chunkserve::rag
