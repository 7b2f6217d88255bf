// ThreadPool: a fixed set of worker threads for data-parallel loops.
//
// Built for the inner loops of inference, where one decode step issues
// hundreds of short parallel sections: workers spin briefly on an atomic
// generation counter before sleeping, so a ParallelFor costs microseconds, not
// a condition-variable round trip. The calling thread takes part in the work,
// so a pool of size N has N-1 worker threads.
//
// Thread safety: ParallelFor may be called from one thread at a time (the
// owner); it is not re-entrant (fn must not call ParallelFor on the same pool).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace chunkserve {

class ThreadPool {
 public:
  // n_threads >= 1 counts the calling thread; 0 means the number of hardware
  // threads.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(task, thread) for every task in [0, n_tasks), spread dynamically
  // over the threads; `thread` in [0, size()) identifies the running thread
  // (for per-thread scratch). Returns when every task has finished.
  void ParallelFor(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  void WorkerLoop(int thread);
  void RunTasks(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;

  // The current job, published by bumping generation_.
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> n_busy_workers_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace chunkserve
