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
  // Claims and runs tasks of the job whose generation is `generation` until
  // none is left; a worker that wakes after its job ended claims nothing.
  void RunTasks(uint32_t generation, int thread);

  int n_threads_;
  std::vector<std::thread> workers_;

  // The current job. `state_` packs (generation << 32 | next task index);
  // tasks are claimed by compare-and-swap on the whole word, so a claim can
  // only succeed for the job it was meant for. Each job takes two
  // generations: the first, with an exhausted index, closes the previous job
  // before fn_ and n_tasks_ change (a worker that read the old word cannot
  // claim a task of the new job through it); the second opens the new job.
  // The caller waits for `n_done_` to reach the task count, never for workers
  // to check in, so a descheduled worker cannot stall a call. The job fields
  // are sequentially consistent atomics so those orderings hold formally.
  std::atomic<const std::function<void(int64_t, int)>*> fn_{nullptr};
  std::atomic<int64_t> n_tasks_{0};
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> n_done_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace chunkserve
