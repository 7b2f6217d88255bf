// SchedulerBackend: GenerationBackend over sched::Scheduler (continuous
// batching with chunked prefill) and a real model: owns the executor, the KV
// block pool and the prefix cache. Segments are flattened into one token
// sequence; shared leading blocks still come from the prefix cache (the
// chunk cache needs the Engine: see EngineBackend).
//
// Thread safety: as GenerationBackend.
// REQUIRES: the model outlives the backend.
#pragma once

#include <memory>
#include <mutex>

#include "kv/block_pool.h"
#include "kv/prefix_cache.h"
#include "model/model.h"
#include "sched/model_executor.h"
#include "sched/scheduler.h"
#include "server/generation_backend.h"

namespace chunkserve::server {

struct SchedulerBackendOptions {
  int64_t block_tokens = 16;
  size_t kv_budget_bytes = size_t{1} << 30;
  bool enable_prefix_cache = true;
  sched::SchedulerOptions scheduler;  // prefix_namespace is set from the model
  std::mutex* model_mutex = nullptr;  // held around each Forward (shared with embeddings)
};

class SchedulerBackend final : public GenerationBackend {
 public:
  static StatusOr<std::unique_ptr<SchedulerBackend>> Create(model::Model* model,
                                                            const SchedulerBackendOptions& options);
  ~SchedulerBackend() override;

  StatusOr<uint64_t> Start(GenerationRequest request, GenerationCallbacks callbacks) override;
  void Cancel(uint64_t id) override { scheduler_->Cancel(id); }
  BackendStats Stats() const override;
  void Shutdown(int64_t grace_ms) override { scheduler_->Shutdown(grace_ms); }
  std::string name() const override { return "scheduler"; }
  sched::Scheduler& scheduler() { return *scheduler_; }

 private:
  struct PrivateTag {};

 public:
  explicit SchedulerBackend(PrivateTag) {}

 private:
  std::unique_ptr<sched::ModelExecutor> executor_;
  std::unique_ptr<kv::BlockPool> pool_;
  std::unique_ptr<kv::PrefixCache> prefix_cache_;
  std::unique_ptr<sched::Scheduler> scheduler_;
};

}  // namespace chunkserve::server
