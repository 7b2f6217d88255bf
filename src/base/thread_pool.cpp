#include "base/thread_pool.h"

#include <algorithm>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/logging.h"

namespace chunkserve {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// How long a worker spins waiting for the next job before it sleeps. Decode
// steps issue jobs every few tens of microseconds; spinning across that gap
// avoids a wake-up per job.
constexpr int kSpinIterations = 1 << 14;

inline uint32_t GenerationOf(uint64_t state) { return static_cast<uint32_t>(state >> 32); }
inline uint32_t IndexOf(uint64_t state) { return static_cast<uint32_t>(state); }

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  workers_.reserve(static_cast<size_t>(n_threads - 1));
  for (int t = 1; t < n_threads; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  state_.fetch_add(uint64_t{1} << 32);  // a new generation wakes every worker
  state_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::RunTasks(uint32_t generation, int thread) {
  uint64_t state = state_.load();
  for (;;) {
    if (GenerationOf(state) != generation) return;
    // n_tasks_ may already belong to a newer job here; then the word has
    // moved on (the closing generation) and the CAS below fails.
    if (IndexOf(state) >= static_cast<uint64_t>(n_tasks_.load())) return;
    if (!state_.compare_exchange_weak(state, state + 1)) continue;  // `state` was reloaded
    // The claim succeeded, so the caller of this generation is still waiting
    // for this task: fn_ and n_tasks_ are this job's.
    (*fn_.load())(static_cast<int64_t>(IndexOf(state)), thread);
    n_done_.fetch_add(1);
    state = state_.load();
  }
}

void ThreadPool::WorkerLoop(int thread) {
  uint32_t seen = 0;
  for (;;) {
    uint64_t state = state_.load(std::memory_order_acquire);
    for (int i = 0; GenerationOf(state) == seen && i < kSpinIterations; ++i) {
      CpuRelax();
      state = state_.load(std::memory_order_acquire);
    }
    if (GenerationOf(state) == seen) {
      state_.wait(state, std::memory_order_acquire);
      continue;
    }
    if (stop_.load()) return;
    seen = GenerationOf(state);
    RunTasks(seen, thread);
  }
}

void ThreadPool::ParallelFor(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  CHECK_MSG(n_tasks < std::numeric_limits<uint32_t>::max(), "ParallelFor: too many tasks");
  const uint32_t closing = GenerationOf(state_.load()) + 1;
  state_.store(static_cast<uint64_t>(closing) << 32 | std::numeric_limits<uint32_t>::max());
  fn_.store(&fn);
  n_tasks_.store(n_tasks);
  n_done_.store(0);
  const uint32_t generation = closing + 1;
  state_.store(static_cast<uint64_t>(generation) << 32);
  state_.notify_all();
  RunTasks(generation, 0);
  while (n_done_.load() != n_tasks) CpuRelax();
}

}  // namespace chunkserve
