// Monotonic time for measurements (never wall-clock time).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace chunkserve {

inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of the whole process (every thread), in ms.
inline double ProcessCpuMillis() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

// Measures elapsed time since construction or the last Reset().
class Stopwatch {
 public:
  Stopwatch() : start_ns_(NowNanos()) {}
  void Reset() { start_ns_ = NowNanos(); }
  int64_t ElapsedNanos() const { return NowNanos() - start_ns_; }
  double ElapsedSeconds() const { return static_cast<double>(ElapsedNanos()) * 1e-9; }
  double ElapsedMillis() const { return static_cast<double>(ElapsedNanos()) * 1e-6; }

 private:
  int64_t start_ns_;
};

}  // namespace chunkserve
