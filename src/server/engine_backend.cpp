#include "server/engine_backend.h"

#include <chrono>

#include "base/clock.h"

namespace chunkserve::server {

EngineBackend::EngineBackend(engine::Engine* engine, const EngineBackendOptions& options)
    : engine_(engine), options_(options) {
  worker_ = std::thread([this] { Loop(); });
}

EngineBackend::~EngineBackend() { Shutdown(0); }

StatusOr<uint64_t> EngineBackend::Start(GenerationRequest request, GenerationCallbacks callbacks) {
  int64_t n_prompt = 0;
  for (const engine::Segment& s : request.prompt) n_prompt += static_cast<int64_t>(s.tokens.size());
  if (n_prompt == 0) return InvalidArgumentError("empty prompt");
  if (request.max_new_tokens < 1) return InvalidArgumentError("max_tokens must be at least 1");
  if (n_prompt + request.max_new_tokens > options_.max_context_tokens)
    return InvalidArgumentError("the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                                std::to_string(request.max_new_tokens) + ") exceeds the context of " +
                                std::to_string(options_.max_context_tokens) + " tokens");
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->callbacks = std::move(callbacks);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return UnavailableError("server is shutting down");
  if (static_cast<int64_t>(queue_.size()) >= options_.max_waiting)
    return ResourceExhaustedError(std::to_string(queue_.size()) + " requests already queued");
  job->id = next_id_++;
  queue_.push_back(job);
  cv_.notify_one();
  return job->id;
}

void EngineBackend::Cancel(uint64_t id) {
  std::shared_ptr<Job> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ && current_->id == id) current_->cancel.store(true);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if ((*it)->id == id) {
        dropped = *it;
        queue_.erase(it);
        break;
      }
    }
  }
  if (dropped && dropped->callbacks.on_done) {
    GenerationResult r;
    r.finish = GenerationFinish::kCancelled;
    dropped->callbacks.on_done(r);
  }
}

void EngineBackend::Loop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return exit_ || !queue_.empty(); });
      if (exit_) return;
      job = queue_.front();
      queue_.pop_front();
      current_ = job;
    }
    Run(*job);
    std::lock_guard<std::mutex> lock(mu_);
    current_.reset();
  }
}

void EngineBackend::Run(Job& job) {
  engine::RequestParams params;
  params.sampling = job.request.sampling;
  params.max_new_tokens = job.request.max_new_tokens;
  params.end_of_generation = job.request.end_of_generation;
  params.cancel = &job.cancel;
  GenerationResult r;
  std::unique_lock<std::mutex> model_lock;
  if (options_.model_mutex != nullptr) model_lock = std::unique_lock<std::mutex>(*options_.model_mutex);
  StatusOr<engine::RequestResult> out = engine_->Generate(job.request.prompt, params, job.callbacks.on_token);
  if (model_lock.owns_lock()) model_lock.unlock();
  if (!out.ok()) {
    r.finish = GenerationFinish::kError;
    r.status = out.status();
    for (const engine::Segment& s : job.request.prompt) r.n_prompt_tokens += static_cast<int64_t>(s.tokens.size());
  } else {
    switch (out->finish) {
      case engine::FinishReason::kLength: r.finish = GenerationFinish::kLength; break;
      case engine::FinishReason::kEndOfGeneration: r.finish = GenerationFinish::kEndOfGeneration; break;
      case engine::FinishReason::kCancelled: r.finish = GenerationFinish::kCancelled; break;
    }
    const engine::RequestStats& st = out->stats;
    r.n_prompt_tokens = st.n_prompt_tokens;
    r.n_generated_tokens = st.n_generated_tokens;
    r.n_prefix_cached_tokens = st.n_prefix_reused_tokens;
    r.n_chunk_cached_tokens = st.n_chunk_reused_tokens;
    r.n_chunk_recomputed_tokens = st.n_chunk_recomputed_tokens;
    r.n_computed_prompt_tokens = st.n_computed_tokens;
    std::lock_guard<std::mutex> lock(mu_);
    totals_.prefix_hit_tokens += st.n_prefix_reused_tokens;
    totals_.chunk_hit_tokens += st.n_chunk_reused_tokens;
    totals_.chunk_recomputed_tokens += st.n_chunk_recomputed_tokens;
    ++totals_.n_steps;
  }
  if (job.callbacks.on_done) job.callbacks.on_done(r);
}

BackendStats EngineBackend::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  BackendStats b = totals_;
  b.n_waiting = static_cast<int64_t>(queue_.size());
  b.n_running = current_ ? 1 : 0;
  b.kv_blocks_free = engine_->n_free_blocks();
  b.kv_blocks_cached = engine_->prefix_cache_stats().n_cached_blocks;
  return b;
}

void EngineBackend::Shutdown(int64_t grace_ms) {
  std::call_once(shutdown_once_, [&] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    const Stopwatch clock;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (queue_.empty() && !current_) break;
      }
      if (clock.ElapsedMillis() >= static_cast<double>(grace_ms)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::deque<std::shared_ptr<Job>> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      left.swap(queue_);
      if (current_) current_->cancel.store(true);
      exit_ = true;
    }
    cv_.notify_one();
    if (worker_.joinable()) worker_.join();
    for (auto& job : left) {
      GenerationResult r;
      r.finish = GenerationFinish::kCancelled;
      if (job->callbacks.on_done) job->callbacks.on_done(r);
    }
  });
}

}  // namespace chunkserve::server
