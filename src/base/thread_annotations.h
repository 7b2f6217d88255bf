// Clang thread-safety annotations (-Wthread-safety): which mutex guards a
// member, which functions need or take it. They compile to nothing elsewhere;
// the clang build that CI runs (make thread-safety) turns a member touched
// without its lock into a compile error.
//
// Usage (see base/mutex.h):
//   Mutex mu_;
//   int64_t n_queued_ GUARDED_BY(mu_) = 0;
//   void LeaveQueue() EXCLUDES(mu_);
#pragma once

#if defined(__clang__)
#define CS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CS_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) CS_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY CS_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) CS_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) CS_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) CS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) CS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) CS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) CS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) CS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) CS_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS CS_THREAD_ANNOTATION(no_thread_safety_analysis)
