#include "rag/embed/queued_embedder.h"

#include <string>

namespace chunkserve::rag {

StatusOr<std::unique_ptr<QueuedEmbedder>> QueuedEmbedder::Create(std::unique_ptr<Embedder> inner,
                                                                  const EmbeddingQueueOptions& options) {
  if (inner == nullptr) return InvalidArgumentError("QueuedEmbedder needs an embedder");
  if (options.max_queued < 1) return InvalidArgumentError("embedding queue: max_queued must be at least 1");
  if (options.poll_ms < 1) return InvalidArgumentError("embedding queue: poll_ms must be at least 1");
  if (options.max_wait_ms < 1) return InvalidArgumentError("embedding queue: max_wait_ms must be at least 1");
  return std::unique_ptr<QueuedEmbedder>(new QueuedEmbedder(std::move(inner), options));
}

QueuedEmbedder::QueuedEmbedder(std::unique_ptr<Embedder> inner, const EmbeddingQueueOptions& options)
    : inner_(std::move(inner)), options_(options), worker_([this] { WorkerLoop(); }) {}

QueuedEmbedder::~QueuedEmbedder() {
  {
    MutexLock lock(&mu_);
    shutdown_ = true;
  }
  work_cv_.NotifyAll();
  worker_.join();
}

EmbeddingQueueStats QueuedEmbedder::stats() const {
  MutexLock lock(&mu_);
  EmbeddingQueueStats s = stats_;
  s.n_queued = static_cast<int64_t>(queue_.size());
  return s;
}

Status QueuedEmbedder::Submit(std::function<Status(const EmbedControl&)> run, const EmbedControl& control) const {
  RETURN_IF_ERROR(control.Check());  // already stopped: do not even queue it
  auto job = std::make_shared<Job>();
  job->run = std::move(run);
  job->caller = control;
  job->enqueued = EmbedControl::Clock::now();
  MutexLock lock(&mu_);
  if (shutdown_) {
    ++stats_.n_rejected;
    return UnavailableError("the embedding queue is shutting down");
  }
  if (static_cast<int>(queue_.size()) >= options_.max_queued) {
    ++stats_.n_rejected;
    return ResourceExhaustedError("the embedding queue is full (" + std::to_string(options_.max_queued) +
                                  " requests waiting); retry later");
  }
  queue_.push_back(job);
  work_cv_.NotifyOne();
  while (job->state != Job::State::kDone) {
    job->done_cv.WaitFor(lock, std::chrono::milliseconds(options_.poll_ms));
    if (job->state == Job::State::kDone) break;
    const Status stop = control.Check();
    if (stop.ok()) continue;
    if (job->state == Job::State::kQueued) {
      // Never started: leave the queue now; the worker will not see it.
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (*it == job) {
          queue_.erase(it);
          break;
        }
      }
      ++stats_.n_dropped;
      return stop;
    }
    // Running: the wrapped embedder stops before its next forward pass. The
    // job borrows the caller's buffers, so wait for it to return.
    job->stop.store(true);
  }
  return job->status;
}

void QueuedEmbedder::WorkerLoop() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      MutexLock lock(&mu_);
      while (!shutdown_ && queue_.empty()) work_cv_.Wait(lock);
      if (shutdown_) {
        // Callers still waiting get an answer; none of their jobs runs.
        for (const std::shared_ptr<Job>& j : queue_) {
          j->status = UnavailableError("the embedding queue shut down");
          j->state = Job::State::kDone;
          j->done_cv.NotifyAll();
        }
        queue_.clear();
        return;
      }
      job = queue_.front();
      queue_.pop_front();
      Status stop = job->caller.Check();
      const auto waited = EmbedControl::Clock::now() - job->enqueued;
      if (stop.ok() && waited > std::chrono::milliseconds(options_.max_wait_ms))
        stop = UnavailableError("the embedding waited more than " + std::to_string(options_.max_wait_ms) +
                                " ms in the queue (the server is busy); retry later");
      if (!stop.ok()) {
        ++stats_.n_dropped;
        job->status = stop;
        job->state = Job::State::kDone;
        job->done_cv.NotifyAll();
        continue;
      }
      job->state = Job::State::kRunning;
    }
    // Outside the lock: callers queue and poll while the pass runs.
    EmbedControl running;
    running.cancel = &job->stop;
    Status status = job->run(running);
    {
      MutexLock lock(&mu_);
      ++stats_.n_run;
      job->status = std::move(status);
      job->state = Job::State::kDone;
      job->done_cv.NotifyAll();
    }
  }
}

Status QueuedEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  return Submit([&](const EmbedControl& c) { return inner_->Embed(text, out, c); }, control);
}

Status QueuedEmbedder::EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                                  const EmbedControl& control) const {
  return Submit([&](const EmbedControl& c) { return inner_->EmbedBatch(texts, out, c); }, control);
}

Status QueuedEmbedder::EmbedQuery(std::string_view query, std::span<float> out, const EmbedControl& control) const {
  return Submit([&](const EmbedControl& c) { return inner_->EmbedQuery(query, out, c); }, control);
}

Status QueuedEmbedder::EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                                   const EmbedControl& control) const {
  return Submit([&](const EmbedControl& c) { return inner_->EmbedTokens(ids, out, c); }, control);
}

}  // namespace chunkserve::rag
