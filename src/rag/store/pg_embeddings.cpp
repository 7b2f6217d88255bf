// PgStore's embedding tables (the contract is embedding_store.h).
#include <cstring>
#include <ctime>
#include <unordered_map>

#include "rag/store/heading_path.h"
#include "rag/store/pg_store.h"

namespace chunkserve::rag {
namespace {

std::span<const uint8_t> AsBytes(std::span<const float> v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size_bytes()};
}

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

StatusOr<std::optional<CollectionEmbedder>> PgStore::GetEmbedder(int64_t collection_id) {
  // Binary results: the common component arrives as raw bytes.
  ASSIGN_OR_RETURN(PgResult r, conn_->Query(
      "SELECT embedder, dim, common_component, updated_at_s, model_path, pooling, query_prefix, doc_prefix "
      "FROM collection_embedders WHERE collection_id = $1", {collection_id}, /*binary_result=*/true));
  if (r.rows() == 0) return std::optional<CollectionEmbedder>();
  CollectionEmbedder e;
  e.embedder_id = std::string(r.Text(0, 0));
  e.dim = static_cast<int>(r.Int64(0, 1));
  if (!r.IsNull(0, 2)) {
    const std::string_view blob = r.Text(0, 2);
    if (blob.size() != static_cast<size_t>(e.dim) * sizeof(float))
      return DataLossError("collection " + std::to_string(collection_id) + ": common component has " +
                           std::to_string(blob.size()) + " bytes, expected " + std::to_string(e.dim * 4));
    e.common_component.resize(static_cast<size_t>(e.dim));
    std::memcpy(e.common_component.data(), blob.data(), blob.size());
  }
  e.updated_at_s = r.Int64(0, 3);
  e.source.model_path = std::string(r.Text(0, 4));
  e.source.pooling = std::string(r.Text(0, 5));
  if (!r.IsNull(0, 6)) e.source.query_prefix = std::string(r.Text(0, 6));
  e.source.doc_prefix = std::string(r.Text(0, 7));
  return std::optional<CollectionEmbedder>(std::move(e));
}

Status PgStore::RecordEmbedder(int64_t collection_id, const std::string& embedder_id, int dim,
                               const EmbedderSource& source) {
  return InTransaction("BEGIN", [&]() -> Status {
    RETURN_IF_ERROR(LockCollection(collection_id));
    ASSIGN_OR_RETURN(auto existing, GetEmbedder(collection_id));
    if (existing) {
      if (existing->embedder_id != embedder_id || existing->dim != dim)
        return FailedPreconditionError("the collection was embedded with '" + existing->embedder_id + "' (dim " +
                                       std::to_string(existing->dim) + "), not '" + embedder_id + "' (dim " +
                                       std::to_string(dim) + "); use the same model or a new collection");
      if (source.model_path.empty()) return Status::Ok();
    } else {
      RETURN_IF_ERROR(conn_->Query("INSERT INTO collection_embedders(collection_id, embedder, dim, common_component, "
                                   "updated_at_s) VALUES ($1, $2, $3, NULL, $4)",
                                   {collection_id, embedder_id, dim, NowSeconds()}).status());
    }
    if (!source.model_path.empty()) {
      RETURN_IF_ERROR(conn_->Query("UPDATE collection_embedders SET model_path = $2, pooling = $3, query_prefix = $4, "
                                   "doc_prefix = $5 WHERE collection_id = $1",
                                   {collection_id, source.model_path, source.pooling,
                                    source.query_prefix ? PgParam(*source.query_prefix) : PgParam(std::nullopt),
                                    source.doc_prefix}).status());
    }
    return LogChange(collection_id, 0, "embedder");
  });
}

Status PgStore::SetCommonComponent(int64_t collection_id, std::span<const float> common_component) {
  return InTransaction("BEGIN", [&]() -> Status {
    RETURN_IF_ERROR(conn_->Query("UPDATE collection_embedders SET common_component = $2, updated_at_s = $3 "
                                 "WHERE collection_id = $1",
                                 {collection_id,
                                  common_component.empty() ? PgParam(std::nullopt)
                                                           : PgParam::Bytes(AsBytes(common_component)),
                                  NowSeconds()}).status());
    return LogChange(collection_id, 0, "embedder");
  });
}

StatusOr<std::vector<PendingChunk>> PgStore::ChunksWithoutEmbedding(int64_t collection_id, int limit) {
  ASSIGN_OR_RETURN(PgResult r, conn_->Query(
      "SELECT c.id, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
      "LEFT JOIN chunk_embeddings e ON e.chunk_id = c.id "
      "WHERE d.collection_id = $1 AND e.chunk_id IS NULL ORDER BY c.id LIMIT $2", {collection_id, limit}));
  std::vector<PendingChunk> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.Int64(i, 0), std::string(r.Text(i, 1))});
  return out;
}

StatusOr<int64_t> PgStore::CountChunksWithoutEmbedding(int64_t collection_id) {
  ASSIGN_OR_RETURN(PgResult r, conn_->Query(
      "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
      "LEFT JOIN chunk_embeddings e ON e.chunk_id = c.id WHERE d.collection_id = $1 AND e.chunk_id IS NULL",
      {collection_id}));
  return r.Int64(0, 0);
}

Status PgStore::PutEmbeddings(std::span<const int64_t> chunk_ids, std::span<const float> vectors, int dim) {
  const size_t d = static_cast<size_t>(dim);
  if (vectors.size() != chunk_ids.size() * d) return InvalidArgumentError("PutEmbeddings: vectors do not match ids");
  if (chunk_ids.empty()) return Status::Ok();
  return InTransaction("BEGIN", [&]() -> Status {
    for (size_t i = 0; i < chunk_ids.size(); ++i) {
      // A chunk that no longer exists fails the batch (foreign key), as in SQLite.
      RETURN_IF_ERROR(conn_->Query("INSERT INTO chunk_embeddings(chunk_id, vector) VALUES ($1, $2) "
                                   "ON CONFLICT(chunk_id) DO UPDATE SET vector = excluded.vector",
                                   {chunk_ids[i], PgParam::Bytes(AsBytes(vectors.subspan(i * d, d)))}).status());
    }
    ASSIGN_OR_RETURN(PgResult r, conn_->Query(
        "SELECT DISTINCT d.collection_id FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE c.id = ANY($1::bigint[])", {PgInt64Array(chunk_ids)}));
    for (int i = 0; i < r.rows(); ++i) RETURN_IF_ERROR(LogChange(r.Int64(i, 0), 0, "embeddings"));
    return Status::Ok();
  });
}

StatusOr<EmbeddingRows> PgStore::LoadEmbeddings(int64_t collection_id) {
  ASSIGN_OR_RETURN(auto embedder, GetEmbedder(collection_id));
  EmbeddingRows rows;
  if (!embedder) return rows;
  rows.dim = embedder->dim;
  const size_t bytes = static_cast<size_t>(rows.dim) * sizeof(float);
  ASSIGN_OR_RETURN(PgResult r, conn_->Query(
      "SELECT e.chunk_id, e.vector, c.document_id, c.ordinal FROM chunk_embeddings e JOIN chunks c ON c.id = e.chunk_id "
      "JOIN documents d ON d.id = c.document_id WHERE d.collection_id = $1 ORDER BY e.chunk_id",
      {collection_id}, /*binary_result=*/true));
  rows.ids.reserve(static_cast<size_t>(r.rows()));
  rows.vectors.reserve(static_cast<size_t>(r.rows()) * static_cast<size_t>(rows.dim));
  for (int i = 0; i < r.rows(); ++i) {
    const std::string_view blob = r.Text(i, 1);
    if (blob.size() != bytes)
      return DataLossError("chunk " + std::to_string(r.Int64(i, 0)) + ": embedding has " +
                           std::to_string(blob.size()) + " bytes, expected " + std::to_string(bytes));
    rows.ids.push_back(r.Int64(i, 0));
    rows.document_ids.push_back(r.Int64(i, 2));
    rows.ordinals.push_back(static_cast<uint32_t>(r.Int64(i, 3)));
    const size_t at = rows.vectors.size();
    rows.vectors.resize(at + static_cast<size_t>(rows.dim));
    std::memcpy(rows.vectors.data() + at, blob.data(), bytes);
  }
  return rows;
}

StatusOr<std::vector<SearchHit>> PgStore::GetChunksById(std::span<const int64_t> chunk_ids) {
  std::vector<SearchHit> out;
  if (chunk_ids.empty()) return out;
  ASSIGN_OR_RETURN(PgResult r, conn_->Query(
      "SELECT d.path, c.id, c.document_id, c.ordinal, c.text_begin, c.text_end, c.source_begin, c.source_end, "
      "c.n_tokens, c.heading_path, c.content_hash, c.text, c.page_begin, c.page_end "
      "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ANY($1::bigint[])",
      {PgInt64Array(chunk_ids)}));
  std::unordered_map<int64_t, int> row_of;
  for (int i = 0; i < r.rows(); ++i) row_of[r.Int64(i, 1)] = i;
  for (int64_t id : chunk_ids) {  // in the order given
    auto it = row_of.find(id);
    if (it == row_of.end()) continue;
    const int i = it->second;
    SearchHit h;
    h.path = std::string(r.Text(i, 0));
    StoredChunk& c = h.chunk;
    c.id = r.Int64(i, 1);
    c.document_id = r.Int64(i, 2);
    c.ordinal = static_cast<uint32_t>(r.Int64(i, 3));
    c.text_begin = r.Int64(i, 4);
    c.text_end = r.Int64(i, 5);
    c.source_begin = r.Int64(i, 6);
    c.source_end = r.Int64(i, 7);
    c.n_tokens = static_cast<uint32_t>(r.Int64(i, 8));
    c.heading_path = SplitHeadingPath(r.Text(i, 9));
    c.content_hash = std::string(r.Text(i, 10));
    c.text = std::string(r.Text(i, 11));
    c.page_begin = static_cast<uint32_t>(r.Int64(i, 12));
    c.page_end = static_cast<uint32_t>(r.Int64(i, 13));
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace chunkserve::rag
