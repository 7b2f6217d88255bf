#include "engine/chunk_publisher.h"

namespace chunkserve::engine {

ChunkPublisher::ChunkPublisher(kv::ChunkCache* cache) : cache_(cache) {
  thread_ = std::thread([this] { Loop(); });
}

ChunkPublisher::~ChunkPublisher() {
  {
    MutexLock lock(&mu_);
    exit_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
}

void ChunkPublisher::Post(std::shared_ptr<const kv::ChunkKv> kv, std::function<void(Status)> done) {
  {
    MutexLock lock(&mu_);
    queue_.push_back(Job{std::move(kv), std::move(done)});
  }
  cv_.NotifyOne();
}

void ChunkPublisher::Loop() {
  for (;;) {
    Job job;
    {
      MutexLock lock(&mu_);
      while (queue_.empty() && !exit_) cv_.Wait(lock);
      if (queue_.empty()) return;  // exiting with nothing left to store
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const Status s = cache_->Persist(job.kv);
    if (job.done) job.done(s);
  }
}

}  // namespace chunkserve::engine
