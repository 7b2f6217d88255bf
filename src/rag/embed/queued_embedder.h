// QueuedEmbedder: an Embedder whose forward passes run on one worker thread
// of its own, behind a bounded queue - how `serve --embed-model` keeps the
// encoder's (or a separate decoder embedder's) passes off the HTTP threads
// (issue 12: only one thread runs a model's passes; issue 15 row 4: an
// embedding whose client left must not keep computing).
//
// Every call (Embed, EmbedBatch, EmbedQuery, EmbedTokens) becomes one job,
// run by the worker in arrival order with the wrapped embedder; the caller
// waits for it. The caller's EmbedControl is honoured at three points:
//   - queued: the waiting caller re-reads it every `poll_ms`; a call told to
//     stop leaves the queue at once (Cancelled / Unavailable) and never runs;
//   - starting: the worker checks it again, and drops a job that waited in
//     the queue longer than `max_wait_ms` (Unavailable: the server is busy);
//   - running: the stop is passed on to the wrapped embedder, which checks it
//     before each forward pass (so a batch of 2,048 texts stops within one
//     pass of 512 tokens).
// A call that finds `max_queued` jobs waiting is ResourceExhausted at once
// (HTTP 503): a burst of uploads cannot queue minutes of work.
//
// Results equal the wrapped embedder's bit for bit (the same code runs; only
// the thread differs).
//
// Thread safety: every method may be called from any thread. The wrapped
// embedder is used by the worker thread only. The destructor fails queued
// jobs (Unavailable), waits for the running one, and joins the worker.
// REQUIRES: no call is in flight when the object is destroyed (callers wait
// for their jobs, so destroy it after the server's threads stopped).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "rag/embed/embedder.h"

namespace chunkserve::rag {

struct EmbeddingQueueOptions {
  int max_queued = 64;          // jobs waiting (the running one not counted)
  int64_t max_wait_ms = 30000;  // queued longer: dropped when it comes up
  int poll_ms = 20;             // how often a waiting caller re-reads its control
};

// Counters since start (a snapshot).
struct EmbeddingQueueStats {
  int64_t n_run = 0;        // jobs the worker ran to their end (OK or not)
  int64_t n_rejected = 0;   // refused: queue full or shutting down
  int64_t n_dropped = 0;    // stopped before they ran (cancelled, deadline, waited too long)
  int64_t n_queued = 0;     // waiting now
};

class QueuedEmbedder final : public Embedder {
 public:
  // InvalidArgument for options out of range (max_queued < 1, poll_ms < 1,
  // max_wait_ms < 1) or a null inner embedder.
  static StatusOr<std::unique_ptr<QueuedEmbedder>> Create(std::unique_ptr<Embedder> inner,
                                                          const EmbeddingQueueOptions& options = {});
  ~QueuedEmbedder() override;
  QueuedEmbedder(const QueuedEmbedder&) = delete;
  QueuedEmbedder& operator=(const QueuedEmbedder&) = delete;

  int dim() const override { return inner_->dim(); }
  const std::string& id() const override { return inner_->id(); }
  bool removes_common_component() const override { return inner_->removes_common_component(); }
  int64_t max_input_tokens() const override { return inner_->max_input_tokens(); }

  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;
  Status EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                    const EmbedControl& control = {}) const override;
  Status EmbedQuery(std::string_view query, std::span<float> out, const EmbedControl& control = {}) const override;
  Status EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                     const EmbedControl& control = {}) const override;

  EmbeddingQueueStats stats() const;
  const Embedder& inner() const { return *inner_; }

 private:
  // One call: `run` computes it with the wrapped embedder under the control
  // it is given (whose cancel is the job's own `stop` flag).
  struct Job {
    std::function<Status(const EmbedControl&)> run;
    EmbedControl caller;                       // read by the waiter and, before running, the worker
    EmbedControl::Clock::time_point enqueued;
    std::atomic<bool> stop{false};             // the caller's stop, passed on while running
    CondVar done_cv;
    enum class State { kQueued, kRunning, kDone } state = State::kQueued;  // (mu_)
    Status status;                                                         // (mu_) valid when kDone
  };

  QueuedEmbedder(std::unique_ptr<Embedder> inner, const EmbeddingQueueOptions& options);
  // Queues `run` and waits for its end (or for the caller's stop while queued).
  Status Submit(std::function<Status(const EmbedControl&)> run, const EmbedControl& control) const;
  void WorkerLoop();

  const std::unique_ptr<Embedder> inner_;
  const EmbeddingQueueOptions options_;
  mutable Mutex mu_;
  mutable CondVar work_cv_;                                // a job arrived, or shutdown
  mutable std::deque<std::shared_ptr<Job>> queue_ GUARDED_BY(mu_);
  mutable EmbeddingQueueStats stats_ GUARDED_BY(mu_);
  bool shutdown_ GUARDED_BY(mu_) = false;
  std::thread worker_;  // last: starts once everything above exists
};

}  // namespace chunkserve::rag
