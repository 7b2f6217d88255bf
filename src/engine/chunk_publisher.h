// ChunkPublisher: stores computed chunk-cache entries on a thread of its own
// (ChunkCache::Persist: the disk write, then the publish to the shared tier,
// e.g. Redis), so that the scheduler's steps - the decoding of every running
// request - never wait for them. Each entry's `done` runs on that thread,
// with Persist's Status, once it is stored (the scheduler then lets the
// response that caused it end, see sched/scheduler.h).
//
// Entries are stored in the order posted. A Redis that is down costs each
// at most the tier's timeout (redis_tier.h), then nothing during its backoff.
//
// Thread safety: Post may be called from any thread. The destructor stores
// what is still queued (every `done` runs) and joins.
// REQUIRES: the cache outlives the publisher.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "kv/chunk_cache.h"

namespace chunkserve::engine {

class ChunkPublisher {
 public:
  explicit ChunkPublisher(kv::ChunkCache* cache);
  ~ChunkPublisher();
  ChunkPublisher(const ChunkPublisher&) = delete;
  ChunkPublisher& operator=(const ChunkPublisher&) = delete;

  // Queues the entry (already in the cache's RAM tier: InsertInRam).
  void Post(std::shared_ptr<const kv::ChunkKv> kv, std::function<void(Status)> done);

 private:
  struct Job {
    std::shared_ptr<const kv::ChunkKv> kv;
    std::function<void(Status)> done;
  };
  void Loop();

  kv::ChunkCache* cache_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Job> queue_ GUARDED_BY(mu_);
  bool exit_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace chunkserve::engine
