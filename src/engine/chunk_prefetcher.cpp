#include "engine/chunk_prefetcher.h"

#include <utility>

namespace chunkserve::engine {

ChunkPrefetcher::ChunkPrefetcher(kv::ChunkCache* cache) : cache_(cache) {
  thread_ = std::thread([this] { Loop(); });
}

ChunkPrefetcher::~ChunkPrefetcher() {
  {
    MutexLock lock(&mu_);
    exit_ = true;
    queue_.clear();
  }
  cv_.NotifyAll();
  thread_.join();
}

bool ChunkPrefetcher::Prepare(uint64_t owner, std::span<const WantedChunk> wanted, std::function<void()> wake) {
  MutexLock lock(&mu_);
  if (auto it = owners_.find(owner); it != owners_.end()) return it->second.n_pending == 0;
  Owner& o = owners_[owner];
  for (const WantedChunk& w : wanted) {
    // Only disk-only entries are read ahead; RAM hits cost nothing at
    // admission, and a miss is computed.
    if (cache_->Where(w.key) != kv::ChunkTier::kDisk) continue;
    queue_.push_back(Read{owner, w.key, std::vector<int32_t>(w.tokens.begin(), w.tokens.end())});
    ++o.n_pending;
  }
  if (o.n_pending == 0) return true;
  o.wake = std::move(wake);
  cv_.NotifyOne();
  return false;
}

std::optional<kv::ChunkHit> ChunkPrefetcher::Staged(uint64_t owner, const kv::ChunkKey& key) const {
  MutexLock lock(&mu_);
  auto it = owners_.find(owner);
  if (it == owners_.end()) return std::nullopt;
  auto hit = it->second.staged.find(key);
  if (hit == it->second.staged.end()) return std::nullopt;
  return hit->second;
}

void ChunkPrefetcher::Release(uint64_t owner) {
  MutexLock lock(&mu_);
  if (owners_.erase(owner) == 0) return;
  std::erase_if(queue_, [&](const Read& r) { return r.owner == owner; });
}

int64_t ChunkPrefetcher::n_reads_done() const {
  MutexLock lock(&mu_);
  return n_reads_done_;
}

void ChunkPrefetcher::Loop() {
  for (;;) {
    Read read;
    {
      MutexLock lock(&mu_);
      while (!exit_ && queue_.empty()) cv_.Wait(lock);
      if (exit_) return;
      read = std::move(queue_.front());
      queue_.pop_front();
    }
    // The read and its verification run without the lock.
    std::optional<kv::ChunkHit> hit = cache_->Lookup(read.key, read.tokens);
    MutexLock lock(&mu_);
    ++n_reads_done_;
    auto it = owners_.find(read.owner);
    if (it == owners_.end()) continue;  // released meanwhile
    Owner& o = it->second;
    if (hit) o.staged.emplace(read.key, std::move(*hit));
    // Under the lock, so that Release waits for a wake in progress.
    if (--o.n_pending == 0 && o.wake) o.wake();
  }
}

}  // namespace chunkserve::engine
