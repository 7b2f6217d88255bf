#include "server/rag_indexes.h"

#include "rag/store/embedding_store.h"

namespace chunkserve::server {

StatusOr<std::unique_ptr<CollectionIndexes>> CollectionIndexes::Create(const std::string& db_path,
                                                                        const rag::Embedder* embedder) {
  if (embedder == nullptr) return InvalidArgumentError("CollectionIndexes needs an embedder");
  std::unique_ptr<CollectionIndexes> out(new CollectionIndexes());
  out->embedder_ = embedder;
  out->options_.cache_dir = rag::DefaultIndexCacheDir(db_path);
  ASSIGN_OR_RETURN(out->watch_, rag::Store::Open(db_path, rag::Store::Mode::kReadWrite));
  return out;
}

StatusOr<int64_t> CollectionIndexes::DataVersion() {
  ASSIGN_OR_RETURN(rag::Statement st, watch_->db().Prepare("PRAGMA data_version"));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return InternalError("PRAGMA data_version returned no row");
  return st.ColumnInt64(0);
}

Status CollectionIndexes::CheckEmbedder(rag::Store* store, int64_t collection_id, const std::string& name) const {
  rag::EmbeddingStore es(store);
  ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(collection_id));
  if (recorded && recorded->embedder_id != embedder_->id())
    return FailedPreconditionError("collection '" + name + "' was embedded with '" + recorded->embedder_id +
                                   "', but this server's --embed-model is '" + embedder_->id() +
                                   "': serve with that model, or re-create the collection");
  return Status::Ok();
}

StatusOr<std::shared_ptr<const rag::DenseIndex>> CollectionIndexes::Get(rag::Store* store, int64_t collection_id,
                                                                        const std::string& name) {
  RETURN_IF_ERROR(CheckEmbedder(store, collection_id, name));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(int64_t version, DataVersion());
  auto it = entries_.find(collection_id);
  if (it != entries_.end() && it->second.data_version == version) return it->second.index;
  // Read the version before the index: a commit in between only makes the
  // next Get() open it once more.
  Entry entry;
  entry.data_version = version;
  rag::EmbeddingStore es(store);
  ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(collection_id));
  if (recorded) {
    ASSIGN_OR_RETURN(std::unique_ptr<rag::DenseIndex> index, rag::DenseIndex::Open(store, collection_id, options_));
    entry.index = std::move(index);
  }
  entries_[collection_id] = entry;
  return entry.index;
}

}  // namespace chunkserve::server
