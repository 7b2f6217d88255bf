// SqliteStore's embedding tables (the contract is embedding_store.h).
#include "rag/store/sqlite_store.h"

#include <cstring>
#include <ctime>

namespace chunkserve::rag {

namespace {

std::span<const uint8_t> AsBytes(std::span<const float> v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size_bytes()};
}

}  // namespace

Status SqliteStore::CheckEmbeddingsAvailable() {
  ASSIGN_OR_RETURN(int64_t n, db_->QueryInt(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'chunk_embeddings'"));
  if (n == 0)
    return FailedPreconditionError(
        "this database predates embeddings (schema 1); open it read-write once (e.g. `chunkserve ingest`) to upgrade");
  return Status::Ok();
}

StatusOr<std::optional<CollectionEmbedder>> SqliteStore::GetEmbedder(int64_t collection_id) {
  RETURN_IF_ERROR(CheckEmbeddingsAvailable());
  const bool has_source = schema_version_ >= 4;
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      std::string("SELECT embedder, dim, common_component, updated_at_s, ") +
      (has_source ? "model_path, pooling, query_prefix, doc_prefix" : "'', '', NULL, ''") +
      " FROM collection_embedders WHERE collection_id = ?1"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<CollectionEmbedder>();
  CollectionEmbedder e;
  e.embedder_id = std::string(st.ColumnText(0));
  e.dim = static_cast<int>(st.ColumnInt64(1));
  const auto blob = st.ColumnBlob(2);
  if (!blob.empty()) {
    if (blob.size() != static_cast<size_t>(e.dim) * sizeof(float))
      return DataLossError("collection " + std::to_string(collection_id) + ": common component has " +
                           std::to_string(blob.size()) + " bytes, expected " + std::to_string(e.dim * 4));
    e.common_component.resize(static_cast<size_t>(e.dim));
    std::memcpy(e.common_component.data(), blob.data(), blob.size());
  }
  e.updated_at_s = st.ColumnInt64(3);
  e.source.model_path = std::string(st.ColumnText(4));
  e.source.pooling = std::string(st.ColumnText(5));
  if (!st.ColumnIsNull(6)) e.source.query_prefix = std::string(st.ColumnText(6));
  e.source.doc_prefix = std::string(st.ColumnText(7));
  return std::optional<CollectionEmbedder>(std::move(e));
}

Status SqliteStore::RecordEmbedder(int64_t collection_id, const std::string& embedder_id, int dim,
                                      const EmbedderSource& source) {
  ASSIGN_OR_RETURN(auto existing, GetEmbedder(collection_id));
  if (existing) {
    if (existing->embedder_id != embedder_id || existing->dim != dim)
      return FailedPreconditionError("the collection was embedded with '" + existing->embedder_id + "' (dim " +
                                     std::to_string(existing->dim) + "), not '" + embedder_id + "' (dim " +
                                     std::to_string(dim) + "); use the same model or a new collection");
    if (source.model_path.empty() || schema_version_ < 4) return Status::Ok();
  } else {
    ASSIGN_OR_RETURN(Statement st, db_->Prepare(
        "INSERT INTO collection_embedders(collection_id, embedder, dim, common_component, updated_at_s) "
        "VALUES (?1, ?2, ?3, NULL, ?4)"));
    RETURN_IF_ERROR(st.Bind(1, collection_id));
    RETURN_IF_ERROR(st.Bind(2, embedder_id));
    RETURN_IF_ERROR(st.Bind(3, static_cast<int64_t>(dim)));
    RETURN_IF_ERROR(st.Bind(4, static_cast<int64_t>(std::time(nullptr))));
    RETURN_IF_ERROR(st.Run());
    if (source.model_path.empty() || schema_version_ < 4) return Status::Ok();
  }
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "UPDATE collection_embedders SET model_path = ?2, pooling = ?3, query_prefix = ?4, doc_prefix = ?5 "
      "WHERE collection_id = ?1"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  RETURN_IF_ERROR(st.Bind(2, source.model_path));
  RETURN_IF_ERROR(st.Bind(3, source.pooling));
  if (source.query_prefix) {
    RETURN_IF_ERROR(st.Bind(4, *source.query_prefix));
  } else {
    RETURN_IF_ERROR(st.BindNull(4));
  }
  RETURN_IF_ERROR(st.Bind(5, source.doc_prefix));
  return st.Run();
}

Status SqliteStore::SetCommonComponent(int64_t collection_id, std::span<const float> common_component) {
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "UPDATE collection_embedders SET common_component = ?2, updated_at_s = ?3 WHERE collection_id = ?1"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  if (common_component.empty()) {
    RETURN_IF_ERROR(st.BindNull(2));
  } else {
    RETURN_IF_ERROR(st.BindBlob(2, AsBytes(common_component)));
  }
  RETURN_IF_ERROR(st.Bind(3, static_cast<int64_t>(std::time(nullptr))));
  return st.Run();
}

StatusOr<std::vector<PendingChunk>> SqliteStore::ChunksWithoutEmbedding(int64_t collection_id, int limit) {
  RETURN_IF_ERROR(CheckEmbeddingsAvailable());
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT c.id, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
      "LEFT JOIN chunk_embeddings e ON e.chunk_id = c.id "
      "WHERE d.collection_id = ?1 AND e.chunk_id IS NULL ORDER BY c.id LIMIT ?2"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  RETURN_IF_ERROR(st.Bind(2, static_cast<int64_t>(limit)));
  std::vector<PendingChunk> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.ColumnInt64(0), std::string(st.ColumnText(1))});
  }
  return out;
}

StatusOr<int64_t> SqliteStore::CountChunksWithoutEmbedding(int64_t collection_id) {
  RETURN_IF_ERROR(CheckEmbeddingsAvailable());
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
      "LEFT JOIN chunk_embeddings e ON e.chunk_id = c.id WHERE d.collection_id = ?1 AND e.chunk_id IS NULL"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnInt64(0) : 0;
}

Status SqliteStore::PutEmbeddings(std::span<const int64_t> chunk_ids, std::span<const float> vectors, int dim) {
  const size_t d = static_cast<size_t>(dim);
  if (vectors.size() != chunk_ids.size() * d) return InvalidArgumentError("PutEmbeddings: vectors do not match ids");
  Database& db = *db_;
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(Statement st, db.Prepare("INSERT OR REPLACE INTO chunk_embeddings(chunk_id, vector) VALUES (?1, ?2)"));
    for (size_t i = 0; i < chunk_ids.size(); ++i) {
      st.Reset();
      RETURN_IF_ERROR(st.Bind(1, chunk_ids[i]));
      RETURN_IF_ERROR(st.BindBlob(2, AsBytes(vectors.subspan(i * d, d))));
      RETURN_IF_ERROR(st.Run());
    }
    return Status::Ok();
  };
  Status s = run();
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s;
  }
  return db.Exec("COMMIT");
}

StatusOr<EmbeddingRows> SqliteStore::LoadEmbeddings(int64_t collection_id) {
  ASSIGN_OR_RETURN(auto embedder, GetEmbedder(collection_id));
  EmbeddingRows rows;
  if (!embedder) return rows;
  rows.dim = embedder->dim;
  const size_t bytes = static_cast<size_t>(rows.dim) * sizeof(float);
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT e.chunk_id, e.vector, c.document_id, c.ordinal FROM chunk_embeddings e JOIN chunks c ON c.id = e.chunk_id "
      "JOIN documents d ON d.id = c.document_id WHERE d.collection_id = ?1 ORDER BY e.chunk_id"));
  RETURN_IF_ERROR(st.Bind(1, collection_id));
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const auto blob = st.ColumnBlob(1);
    if (blob.size() != bytes)
      return DataLossError("chunk " + std::to_string(st.ColumnInt64(0)) + ": embedding has " +
                           std::to_string(blob.size()) + " bytes, expected " + std::to_string(bytes));
    rows.ids.push_back(st.ColumnInt64(0));
    rows.document_ids.push_back(st.ColumnInt64(2));
    rows.ordinals.push_back(static_cast<uint32_t>(st.ColumnInt64(3)));
    const size_t at = rows.vectors.size();
    rows.vectors.resize(at + static_cast<size_t>(rows.dim));
    std::memcpy(rows.vectors.data() + at, blob.data(), bytes);
  }
  return rows;
}

StatusOr<std::vector<SearchHit>> SqliteStore::GetChunksById(std::span<const int64_t> chunk_ids) {
  std::vector<SearchHit> out;
  ASSIGN_OR_RETURN(Statement st, db_->Prepare(
      "SELECT d.path, c.id, c.document_id, c.ordinal, c.text_begin, c.text_end, c.source_begin, c.source_end, "
      "c.n_tokens, c.heading_path, c.content_hash, c.text, " +
      std::string(schema_version_ >= 3 ? "c.page_begin, c.page_end" : "0, 0") +
      " FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?1"));
  for (int64_t id : chunk_ids) {
    st.Reset();
    RETURN_IF_ERROR(st.Bind(1, id));
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) continue;
    SearchHit h;
    h.path = std::string(st.ColumnText(0));
    StoredChunk& c = h.chunk;
    c.id = st.ColumnInt64(1);
    c.document_id = st.ColumnInt64(2);
    c.ordinal = static_cast<uint32_t>(st.ColumnInt64(3));
    c.text_begin = st.ColumnInt64(4);
    c.text_end = st.ColumnInt64(5);
    c.source_begin = st.ColumnInt64(6);
    c.source_end = st.ColumnInt64(7);
    c.n_tokens = static_cast<uint32_t>(st.ColumnInt64(8));
    const std::string_view heads = st.ColumnText(9);
    for (size_t i = 0; i < heads.size();) {
      size_t j = heads.find('\n', i);
      if (j == std::string_view::npos) j = heads.size();
      c.heading_path.emplace_back(heads.substr(i, j - i));
      i = j + 1;
    }
    c.content_hash = std::string(st.ColumnText(10));
    c.text = std::string(st.ColumnText(11));
    c.page_begin = static_cast<uint32_t>(st.ColumnInt64(12));
    c.page_end = static_cast<uint32_t>(st.ColumnInt64(13));
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace chunkserve::rag
