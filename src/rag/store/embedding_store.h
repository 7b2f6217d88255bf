// EmbeddingStore: the dense vectors of a collection's chunks, in the same
// database as the chunks (schema version 2, see sqlite_store.h / pg_store.h).
// A facade over the Store's embedding methods (each backend implements
// this contract; the records are declared in store.h).
//
// Each collection records at most one embedder (its id, dimension, and the
// SIF common component learned from its vectors); every vector stored for a
// chunk of the collection comes from that embedder. Vectors are float32
// blobs of exactly `dim` values, stored *raw* (before the collection
// transform), so the common component can be re-learned as the collection
// grows without re-embedding. A chunk's vector is deleted with the chunk
// (ON DELETE CASCADE), so re-ingesting a changed document leaves its new
// chunks unembedded until the next embedding pass.
//
// Each embedder also records its source (schema 4): the model file's
// absolute path and the load options that give that id, so `search`, `ask`
// and `serve` can load the same model without flags
// (rag/embed/recorded_embedder.h). Empty for collections embedded before.
//
// Errors: a vector blob of the wrong size is kDataLoss; a collection
// embedded by another embedder is kFailedPrecondition (RecordEmbedder).
//
// Thread safety: as Store (one per thread; uses the Store's connection).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/store/store.h"

namespace chunkserve::rag {

class EmbeddingStore {
 public:
  // REQUIRES: store outlives this object.
  explicit EmbeddingStore(Store* store) : store_(store) {}

  // FailedPrecondition on a version-1 database opened read-only.
  Status CheckAvailable() { return store_->CheckEmbeddingsAvailable(); }
  StatusOr<std::optional<CollectionEmbedder>> GetEmbedder(int64_t collection_id) {
    return store_->GetEmbedder(collection_id);
  }
  // Records `embedder_id` for the collection: OK when none is recorded or the
  // same one is; FailedPrecondition naming both when another one is. A
  // source with a model path replaces the recorded one (the file may have
  // moved); on a database before schema 4 the source is not kept.
  Status RecordEmbedder(int64_t collection_id, const std::string& embedder_id, int dim,
                        const EmbedderSource& source = {}) {
    return store_->RecordEmbedder(collection_id, embedder_id, dim, source);
  }
  Status SetCommonComponent(int64_t collection_id, std::span<const float> common_component) {
    return store_->SetCommonComponent(collection_id, common_component);
  }
  // Chunks of the collection without a vector, ascending by id, at most `limit`.
  StatusOr<std::vector<PendingChunk>> ChunksWithoutEmbedding(int64_t collection_id, int limit) {
    return store_->ChunksWithoutEmbedding(collection_id, limit);
  }
  StatusOr<int64_t> CountChunksWithoutEmbedding(int64_t collection_id) {
    return store_->CountChunksWithoutEmbedding(collection_id);
  }
  // Stores vectors (ids.size() rows of dim floats) in one transaction.
  Status PutEmbeddings(std::span<const int64_t> chunk_ids, std::span<const float> vectors, int dim) {
    return store_->PutEmbeddings(chunk_ids, vectors, dim);
  }
  StatusOr<EmbeddingRows> LoadEmbeddings(int64_t collection_id) { return store_->LoadEmbeddings(collection_id); }
  // Chunks (with their document path) by id, in the order given; ids that no
  // longer exist are skipped.
  StatusOr<std::vector<SearchHit>> GetChunksById(std::span<const int64_t> chunk_ids) {
    return store_->GetChunksById(chunk_ids);
  }

 private:
  Store* store_;
};

}  // namespace chunkserve::rag
