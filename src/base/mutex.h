// Mutex and MutexLock: std::mutex with clang thread-safety annotations
// (base/thread_annotations.h), so members marked GUARDED_BY(mu_) are checked
// at compile time. CondVar waits on a MutexLock (std::condition_variable_any
// over the annotated lock).
//
// Thread safety: as std::mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"

namespace chunkserve {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() RELEASE() { mu_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // For CondVar only: the lock is released while waiting and held again
  // before the wait returns, so the analysis may treat it as held throughout.
  void lock() NO_THREAD_SAFETY_ANALYSIS { mu_->lock(); }
  void unlock() NO_THREAD_SAFETY_ANALYSIS { mu_->unlock(); }

 private:
  Mutex* mu_;
};

// A condition variable used with MutexLock. Callers loop on their condition
// in the function that holds the lock (so the analysis sees every guarded
// read): `while (!ready_) cv_.Wait(lock);`.
class CondVar {
 public:
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }
  void Wait(MutexLock& lock) { cv_.wait(lock); }
  // False on timeout.
  bool WaitFor(MutexLock& lock, std::chrono::milliseconds timeout) {
    return cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
  }

 private:
  std::condition_variable_any cv_;
};

}  // namespace chunkserve
