#include "rag/store/store.h"

#include "rag/store/pg_store.h"
#include "rag/store/sqlite_store.h"

namespace chunkserve::rag {

std::string_view DocumentOriginName(DocumentOrigin origin) {
  return origin == DocumentOrigin::kFile ? "file" : "upload";
}

bool IsPostgresUrl(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& location, Mode mode) {
  if (IsPostgresUrl(location)) {
    ASSIGN_OR_RETURN(std::unique_ptr<PgStore> pg, PgStore::Open(location, mode));
    return std::unique_ptr<Store>(std::move(pg));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> sqlite, SqliteStore::Open(location, mode));
  return std::unique_ptr<Store>(std::move(sqlite));
}

StatusOr<bool> Store::DeleteDocument(int64_t collection_id, const std::string& path) {
  ASSIGN_OR_RETURN(auto doc, FindDocument(collection_id, path));
  if (!doc) return false;
  return DeleteDocumentById(collection_id, doc->id);
}

}  // namespace chunkserve::rag
