#include "rag/retrieve/collection_indexes.h"

#include "rag/embed/situated_text.h"
#include "rag/store/embedding_store.h"

namespace chunkserve::rag {

StatusOr<std::unique_ptr<CollectionIndexes>> CollectionIndexes::Create(const std::string& db_path,
                                                                        const Embedder* embedder, Store::Mode mode,
                                                                        std::string embedder_role) {
  if (embedder == nullptr) return InvalidArgumentError("CollectionIndexes needs an embedder");
  std::unique_ptr<CollectionIndexes> out(new CollectionIndexes());
  out->embedder_ = embedder;
  out->embedder_role_ = std::move(embedder_role);
  out->options_.cache_dir = DefaultIndexCacheDir(db_path);
  ASSIGN_OR_RETURN(out->watch_, Store::Open(db_path, mode));
  // PostgreSQL: LISTEN instead of a change-log query per search.
  RETURN_IF_ERROR(out->watch_->WatchChanges());
  return out;
}

StatusOr<int64_t> CollectionIndexes::DataVersion(int64_t collection_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return watch_->CollectionVersion(collection_id);
}

Status CollectionIndexes::CheckEmbedder(Store* store, int64_t collection_id, const std::string& name) const {
  EmbeddingStore es(store);
  ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(collection_id));
  if (recorded && QueryEmbedderId(recorded->embedder_id) != embedder_->id())
    return FailedPreconditionError("collection '" + name + "' was embedded with '" + recorded->embedder_id +
                                   "', but " + embedder_role_ + " is '" + embedder_->id() +
                                   "': use that model, or re-create the collection");
  return Status::Ok();
}

StatusOr<std::shared_ptr<const DenseIndex>> CollectionIndexes::Get(Store* store, int64_t collection_id,
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
  ASSIGN_OR_RETURN(int64_t version, DataVersion(collection_id));
  if (slot->valid && slot->data_version == version) return slot->index;
  std::shared_ptr<const DenseIndex> index;
  EmbeddingStore es(store);
  ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(collection_id));
  if (recorded) {
    ASSIGN_OR_RETURN(std::unique_ptr<DenseIndex> opened, DenseIndex::Open(store, collection_id, options_));
    index = std::move(opened);
  }
  slot->valid = true;
  slot->data_version = version;
  slot->index = index;
  return index;
}

}  // namespace chunkserve::rag
