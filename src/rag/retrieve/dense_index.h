// DenseIndex: the vector index of one collection, built from the vectors in
// the database and cached on disk beside it.
//
// Open() reads the collection's raw vectors and its transform (common
// component), and fingerprints them: a base key (Hash64 of the embedder id,
// the component, the index kind and situated settings: what every vector
// depends on) and a content key (every id and vector). The cache file
// `<cache_dir>/c<collection id>-<base>-<content>.idx` is loaded when present
// and valid. When only the content changed (documents deleted or added
// while the common component stayed, e.g. deletions), the old file is
// loaded and updated in place: removed chunks become tombstones (the HNSW
// repairs around them), new ones are inserted. Otherwise (missing, corrupt:
// checksum or structure, or another base key) the index is rebuilt from the
// database. Either way it is saved again and the collection's other files
// are removed. Saving is best effort: a read-only directory only costs the
// rebuild next time.
//
// Collections smaller than hnsw_min_vectors use the exact FlatIndex (a scan
// of a few thousand 100-d vectors is faster than any graph); larger ones an
// HnswIndex (cosine). Chunks whose vector is zero (no known word) are not
// indexed.
//
// Thread safety: Search is const and may run concurrently.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/index/hnsw_index.h"
#include "rag/store/embedding_store.h"

namespace chunkserve::rag {

struct DenseIndexOptions {
  std::string cache_dir;            // empty: no disk cache
  size_t hnsw_min_vectors = 4096;
  HnswParams hnsw;                  // metric is forced to cosine
  // Situated chunk vectors (after SitEmb's idea, without training): each
  // indexed vector is normalize(v + w * normalize(sum of the vectors of the
  // chunks within `situated_window` ordinals in the same document)), so a
  // chunk is found through its context too. 0 disables.
  double situated_weight = 0.0;
  int situated_window = 1;
};

// "<db path>.index": the default cache directory of a database; for a
// PostgreSQL URI, $XDG_CACHE_HOME (or ~/.cache)/chunkserve/pg-<hash>.index.
std::string DefaultIndexCacheDir(const std::string& db_path);

class DenseIndex {
 public:
  // NotFound-free: a collection without embeddings gives FailedPrecondition
  // ("ingest with --embed-model").
  static StatusOr<std::unique_ptr<DenseIndex>> Open(Store* store, int64_t collection_id,
                                                    const DenseIndexOptions& options);

  // `raw_query` straight from Embedder::Embed; the collection transform is
  // applied here. A query with no known words returns no neighbours.
  StatusOr<std::vector<Neighbor>> Search(std::span<const float> raw_query, const SearchOptions& options) const;

  const CollectionEmbedder& embedder() const { return embedder_; }
  const CollectionTransform& transform() const { return transform_; }
  const VectorIndex& index() const { return *index_; }
  bool loaded_from_cache() const { return loaded_from_cache_; }
  bool updated_in_place() const { return updated_in_place_; }
  // Why the cache was not used as is ("missing", "corrupt: ...", "stale: updated
  // in place (-removed +added)", "stale"), or "".
  const std::string& rebuild_reason() const { return rebuild_reason_; }

 private:
  CollectionEmbedder embedder_;
  CollectionTransform transform_;
  std::unique_ptr<VectorIndex> index_;
  bool loaded_from_cache_ = false;
  bool updated_in_place_ = false;
  std::string rebuild_reason_;
};

}  // namespace chunkserve::rag
