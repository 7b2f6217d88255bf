// ChunkPrefetcher: reads chunk-cache entries from the disk tier ahead of
// admission, on a thread of its own, so that a request whose chunks are on
// disk waits while the others decode instead of stalling the step.
//
// For each owner (a request id) Prepare queues the disk reads of the chunks
// that are only on disk, once; each read is a ChunkCache::Lookup (verified,
// promoted to RAM) whose hit is staged for the owner, so eviction cannot
// take it away before the owner's plan uses it, and its tier stays kDisk for
// the statistics. When an owner's last read is done, `wake` runs (on the
// loader thread) so the scheduler tries the request again.
//
// Thread safety: every method may be called from any thread. After
// Release(owner) returns, no `wake` of that owner runs or will run.
// REQUIRES: the cache outlives the prefetcher.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "kv/chunk_cache.h"

namespace chunkserve::engine {

struct WantedChunk {
  kv::ChunkKey key;
  std::span<const int32_t> tokens;  // copied by Prepare when a read is queued
};

class ChunkPrefetcher {
 public:
  explicit ChunkPrefetcher(kv::ChunkCache* cache);
  ~ChunkPrefetcher();  // drops queued reads, finishes the running one
  ChunkPrefetcher(const ChunkPrefetcher&) = delete;
  ChunkPrefetcher& operator=(const ChunkPrefetcher&) = delete;

  // True when none of `wanted` needs a disk read any more (in RAM, absent,
  // or read and staged for `owner`). Otherwise the reads are queued (on the
  // first call for this owner; later calls only ask) and false returned;
  // `wake` runs once they are all done.
  bool Prepare(uint64_t owner, std::span<const WantedChunk> wanted, std::function<void()> wake);
  // The hit staged for `owner` under `key`, if any (it stays staged).
  std::optional<kv::ChunkHit> Staged(uint64_t owner, const kv::ChunkKey& key) const;
  // Forgets `owner`: its staged hits are unpinned, its queued reads dropped.
  void Release(uint64_t owner);

  int64_t n_reads_done() const;

 private:
  struct Owner {
    int64_t n_pending = 0;
    std::function<void()> wake;
    std::unordered_map<kv::ChunkKey, kv::ChunkHit, kv::ChunkKeyHash> staged;
  };
  struct Read {
    uint64_t owner = 0;
    kv::ChunkKey key;
    std::vector<int32_t> tokens;
  };

  void Loop();

  kv::ChunkCache* cache_;
  mutable Mutex mu_;
  CondVar cv_;
  std::unordered_map<uint64_t, Owner> owners_ GUARDED_BY(mu_);
  std::deque<Read> queue_ GUARDED_BY(mu_);
  int64_t n_reads_done_ GUARDED_BY(mu_) = 0;
  bool exit_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace chunkserve::engine
