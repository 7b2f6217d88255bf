// CollectionIndexes: the server's dense retrieval state - the --embed-model
// embedder and, per collection, its rag::DenseIndex kept in memory between
// requests (DenseIndex::Open reads every vector of the collection, too much
// to repeat per question).
//
// Freshness: an index is reused only while the database is unchanged since
// it was opened. A private SQLite connection reads `PRAGMA data_version`,
// which changes whenever any other connection (an HTTP upload or delete, or
// `chunkserve ingest` in another process) commits; then the next Get()
// re-opens the index, which DenseIndex::Open does cheaply from its disk cache
// (in place when only some chunks changed). Coarse, but never stale.
//
// The embedder decides what a collection may use: a collection whose vectors
// come from another embedder is FailedPrecondition naming both (a 400 that
// tells the user which model to serve); one without vectors has no index
// (nullptr, not an error: BM25 still works).
//
// Thread safety: every method may be called from any thread. Get() holds the
// collection's own mutex while it (re)opens that collection's index, so
// concurrent questions to it wait for one build instead of each doing it,
// while other collections are served meanwhile. Returned indexes are
// immutable and shared.
// REQUIRES: the embedder outlives this object.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/retrieve/dense_index.h"
#include "rag/store/store.h"

namespace chunkserve::server {

class CollectionIndexes {
 public:
  // `db_path`: the server's database (index files go to its default cache
  // directory, shared with the CLI).
  static StatusOr<std::unique_ptr<CollectionIndexes>> Create(const std::string& db_path,
                                                             const rag::Embedder* embedder);

  const rag::Embedder& embedder() const { return *embedder_; }

  // FailedPrecondition naming both embedders when the collection was
  // embedded with another one. `name` is for messages.
  Status CheckEmbedder(rag::Store* store, int64_t collection_id, const std::string& name) const;

  // The collection's current index; nullptr when it has no vectors.
  // `store` is the caller's connection (the index is read through it).
  StatusOr<std::shared_ptr<const rag::DenseIndex>> Get(rag::Store* store, int64_t collection_id,
                                                       const std::string& name);

 private:
  CollectionIndexes() = default;
  struct Slot {
    std::mutex build_mu;  // held while the index is (re)opened
    bool valid = false;                           // (build_mu)
    int64_t data_version = 0;                     // (build_mu) when `index` was opened
    std::shared_ptr<const rag::DenseIndex> index;  // (build_mu) null: no vectors
  };
  StatusOr<int64_t> DataVersion();  // takes mu_

  const rag::Embedder* embedder_ = nullptr;
  rag::DenseIndexOptions options_;
  std::mutex mu_;
  std::unique_ptr<rag::Store> watch_;                // (mu_) never writes: sees others' commits
  std::map<int64_t, std::shared_ptr<Slot>> slots_;  // (mu_) by collection id
};

}  // namespace chunkserve::server
