// CollectionIndexes: dense retrieval state of a long-lived process (the
// server, through RagService) - the embedder and, per collection, its
// DenseIndex kept in memory between requests (DenseIndex::Open reads every
// vector of the collection, too much to repeat per question).
//
// Freshness: an index is reused only while the database is unchanged since
// it was opened. A private connection reads Store::CollectionVersion()
// (SQLite's `PRAGMA data_version`, for any change; on PostgreSQL the
// notifications of that collection's commits, LISTENed for on a connection
// of its own, or its change log while that connection is down), which changes whenever any other connection (an
// HTTP upload or delete, `chunkserve ingest` in another process, another
// replica) commits; then the next Get()
// re-opens the index, which DenseIndex::Open does cheaply from its disk cache
// (in place when only some chunks changed). Coarse, but never stale.
//
// The embedder decides what a collection may use: a collection whose vectors
// come from another embedder is FailedPrecondition naming both (a 400 that
// tells the user which model to serve); one without vectors has no index
// (nullptr, not an error: BM25 still works). `embedder_role` names where the
// embedder came from in that message ("this server's --embed-model").
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

namespace chunkserve::rag {

class CollectionIndexes {
 public:
  // `db_path`: the database (index files go to its default cache
  // directory, shared by the CLI and the server). `mode`: how the private
  // connection that watches for commits opens it (read-only for the CLI).
  static StatusOr<std::unique_ptr<CollectionIndexes>> Create(const std::string& db_path, const Embedder* embedder,
                                                             Store::Mode mode = Store::Mode::kReadWrite,
                                                             std::string embedder_role = "the --embed-model");

  const Embedder& embedder() const { return *embedder_; }

  // FailedPrecondition naming both embedders when the collection was
  // embedded with another one. `name` is for messages.
  Status CheckEmbedder(Store* store, int64_t collection_id, const std::string& name) const;

  // The collection's current index; nullptr when it has no vectors.
  // `store` is the caller's connection (the index is read through it).
  StatusOr<std::shared_ptr<const DenseIndex>> Get(Store* store, int64_t collection_id,
                                                       const std::string& name);

 private:
  CollectionIndexes() = default;
  struct Slot {
    std::mutex build_mu;  // held while the index is (re)opened
    bool valid = false;                           // (build_mu)
    int64_t data_version = 0;                     // (build_mu) when `index` was opened
    std::shared_ptr<const DenseIndex> index;  // (build_mu) null: no vectors
  };
  StatusOr<int64_t> DataVersion(int64_t collection_id);  // takes mu_

  const Embedder* embedder_ = nullptr;
  std::string embedder_role_;
  DenseIndexOptions options_;
  std::mutex mu_;
  std::unique_ptr<Store> watch_;                // (mu_) never writes: sees others' commits
  std::map<int64_t, std::shared_ptr<Slot>> slots_;  // (mu_) by collection id
};

}  // namespace chunkserve::rag
