// EngineBackend: GenerationBackend over engine::Engine, which runs one
// request at a time with paged KV, the prefix cache and the Cache-Craft
// chunk cache (so `documents` segments reuse chunk KV at any position).
//
// One worker thread takes requests from a bounded FIFO and runs
// Engine::Generate; Cancel() sets the request's cancel flag (the engine
// checks it between steps) or drops it from the queue.
//
// Thread safety: as GenerationBackend.
// REQUIRES: the engine outlives the backend.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/engine.h"
#include "server/generation_backend.h"

namespace chunkserve::server {

struct EngineBackendOptions {
  int64_t max_waiting = 256;
  int64_t max_context_tokens = 4096;
  std::mutex* model_mutex = nullptr;  // held around each Generate (shared with embeddings)
};

class EngineBackend final : public GenerationBackend {
 public:
  EngineBackend(engine::Engine* engine, const EngineBackendOptions& options);
  ~EngineBackend() override;

  StatusOr<uint64_t> Start(GenerationRequest request, GenerationCallbacks callbacks) override;
  void Cancel(uint64_t id) override;
  BackendStats Stats() const override;
  void Shutdown(int64_t grace_ms) override;
  std::string name() const override { return "engine"; }

 private:
  struct Job {
    uint64_t id = 0;
    GenerationRequest request;
    GenerationCallbacks callbacks;
    std::atomic<bool> cancel{false};
  };
  void Loop();
  void Run(Job& job);

  engine::Engine* engine_;
  const EngineBackendOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;  // (mu_)
  std::shared_ptr<Job> current_;            // (mu_) the running job
  uint64_t next_id_ = 1;                    // (mu_)
  bool stopping_ = false;                   // (mu_)
  bool exit_ = false;                       // (mu_)
  BackendStats totals_;                     // (mu_) cache figures so far
  std::once_flag shutdown_once_;
  std::thread worker_;
};

}  // namespace chunkserve::server
