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
  std::lock_guard<std::mutex> lock(mu_);
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
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<Slot>& s = slots_[collection_id];
    if (!s) s = std::make_shared<Slot>();
    slot = s;
  }
  std::lock_guard<std::mutex> build_lock(slot->build_mu);
  // Read the version before the index (and under the build lock, so it is
  // the newest): a commit in between only makes the next Get() reopen it.
  ASSIGN_OR_RETURN(int64_t version, DataVersion());
  if (slot->valid && slot->data_version == version) return slot->index;
  std::shared_ptr<const rag::DenseIndex> index;
  rag::EmbeddingStore es(store);
  ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(collection_id));
  if (recorded) {
    ASSIGN_OR_RETURN(std::unique_ptr<rag::DenseIndex> opened, rag::DenseIndex::Open(store, collection_id, options_));
    index = std::move(opened);
  }
  slot->valid = true;
  slot->data_version = version;
  slot->index = index;
  return index;
}

}  // namespace chunkserve::server
