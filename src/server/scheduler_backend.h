// SchedulerBackend: GenerationBackend over sched::Scheduler (continuous
// batching with chunked prefill) and a real model: owns the executor, the KV
// block pool, the prefix cache and (unless disabled) the Cache-Craft chunk
// cache with its engine::ChunkPlanner, so `documents` chunk segments of
// concurrent requests are placed from the chunk cache (K re-rotated, a
// fraction recomputed) instead of being prefilled, and chunks that missed
// are cached afterwards in spare step budget (sched/prompt_planner.h).
// Usage reports chunk-reused and recomputed prompt tokens per request.
//
// Thread safety: as GenerationBackend.
// REQUIRES: the model outlives the backend.
#pragma once

#include <memory>
#include <mutex>

#include "engine/chunk_planner.h"
#include "kv/block_pool.h"
#include "kv/chunk_cache.h"
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
  // Chunk cache for chunk segments (RAM budget, optional disk tier).
  bool enable_chunk_cache = true;
  kv::ChunkCacheOptions chunk_cache;
  kv::ChunkCache* shared_chunk_cache = nullptr;  // borrow this one instead (e.g. an Engine's)
  double recompute_fraction = 0.15;
  engine::RecomputeSignal recompute_signal = engine::RecomputeSignal::kPromptRecency;
  sched::SchedulerOptions scheduler;  // prefix_namespace and planner are set here
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
  // Null when the chunk cache is disabled.
  kv::ChunkCache* chunk_cache() { return chunk_cache_; }

 private:
  struct PrivateTag {};

 public:
  explicit SchedulerBackend(PrivateTag) {}

 private:
  std::unique_ptr<sched::ModelExecutor> executor_;
  std::unique_ptr<kv::BlockPool> pool_;
  std::unique_ptr<kv::PrefixCache> prefix_cache_;
  std::unique_ptr<kv::ChunkCache> owned_chunk_cache_;
  kv::ChunkCache* chunk_cache_ = nullptr;
  std::unique_ptr<engine::ChunkPlanner> planner_;
  std::unique_ptr<sched::Scheduler> scheduler_;
};

}  // namespace chunkserve::server
