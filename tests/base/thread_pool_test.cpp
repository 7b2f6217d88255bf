#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace chunkserve {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 200; ++round) {
      std::vector<std::atomic<int>> hits(257);
      pool.ParallelFor(257, [&](int64_t task, int thread) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, threads);
        hits[static_cast<size_t>(task)].fetch_add(1);
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPoolTest, ZeroTasksIsANoOp) {
  ThreadPool pool(2);
  bool called = false;
  pool.ParallelFor(0, [&](int64_t, int) { called = true; });
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace chunkserve

namespace chunkserve {
namespace {

// Many tiny jobs back to back: a worker that wakes late must never run a task
// of a finished job or miss one of the current job.
TEST(ThreadPoolTest, BackToBackTinyJobsNeverMixGenerations) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  int64_t expected = 0;
  for (int round = 0; round < 20000; ++round) {
    int n = 2 + round % 5;
    pool.ParallelFor(n, [&](int64_t task, int) { sum.fetch_add(task + 1); });
    expected += static_cast<int64_t>(n) * (n + 1) / 2;
    ASSERT_EQ(sum.load(), expected) << "round " << round;
  }
}

}  // namespace
}  // namespace chunkserve
