#include "server/scheduler_backend.h"

#include <utility>

namespace chunkserve::server {

StatusOr<std::unique_ptr<SchedulerBackend>> SchedulerBackend::Create(model::Model* model,
                                                                     const SchedulerBackendOptions& options) {
  auto b = std::make_unique<SchedulerBackend>(PrivateTag{});
  b->executor_ = std::make_unique<sched::ModelExecutor>(model, options.model_mutex);
  ASSIGN_OR_RETURN(b->pool_, kv::BlockPool::Create(sched::PoolOptionsFor(*model, options.block_tokens,
                                                                         options.kv_budget_bytes)));
  if (options.enable_prefix_cache)
    b->prefix_cache_ = std::make_unique<kv::PrefixCache>(b->pool_.get(), b->pool_->n_blocks());
  sched::SchedulerOptions so = options.scheduler;
  so.prefix_namespace = model->fingerprint();
  if (options.enable_chunk_cache) {
    b->chunk_cache_ = options.shared_chunk_cache;
    if (b->chunk_cache_ == nullptr) {
      ASSIGN_OR_RETURN(b->owned_chunk_cache_, kv::ChunkCache::Open(options.chunk_cache));
      b->chunk_cache_ = b->owned_chunk_cache_.get();
    }
    engine::ChunkPlannerOptions po;
    po.recompute_fraction = options.recompute_fraction;
    po.recompute_signal = options.recompute_signal;
    ASSIGN_OR_RETURN(b->planner_, engine::ChunkPlanner::Create(model, b->chunk_cache_, po));
    so.planner = b->planner_.get();
  } else {
    so.planner = nullptr;
  }
  ASSIGN_OR_RETURN(b->scheduler_,
                   sched::Scheduler::Create(b->executor_.get(), b->pool_.get(), b->prefix_cache_.get(), so));
  b->scheduler_->Start();
  return b;
}

SchedulerBackend::~SchedulerBackend() {
  if (scheduler_) scheduler_->Shutdown(0);
}

StatusOr<uint64_t> SchedulerBackend::Start(GenerationRequest request, GenerationCallbacks callbacks) {
  sched::SchedRequest r;
  for (const engine::Segment& s : request.prompt) {
    if (s.kind == engine::SegmentKind::kChunk && !s.tokens.empty())
      r.chunks.push_back(sched::ChunkSpan{static_cast<int64_t>(r.prompt.size()),
                                          static_cast<int64_t>(r.prompt.size() + s.tokens.size())});
    r.prompt.insert(r.prompt.end(), s.tokens.begin(), s.tokens.end());
  }
  r.sampling = std::move(request.sampling);
  r.max_new_tokens = request.max_new_tokens;
  r.end_of_generation = std::move(request.end_of_generation);
  r.on_token = std::move(callbacks.on_token);
  r.on_done = [done = std::move(callbacks.on_done)](const sched::RequestOutcome& o) {
    GenerationResult g;
    switch (o.finish) {
      case sched::FinishReason::kLength: g.finish = GenerationFinish::kLength; break;
      case sched::FinishReason::kEndOfGeneration: g.finish = GenerationFinish::kEndOfGeneration; break;
      case sched::FinishReason::kCancelled: g.finish = GenerationFinish::kCancelled; break;
      case sched::FinishReason::kError: g.finish = GenerationFinish::kError; break;
    }
    g.status = o.status;
    g.n_prompt_tokens = o.n_prompt_tokens;
    g.n_generated_tokens = o.n_generated_tokens;
    g.n_prefix_cached_tokens = o.n_cached_prompt_tokens;
    g.n_chunk_cached_tokens = o.n_chunk_reused_tokens;
    g.n_chunk_recomputed_tokens = o.n_chunk_recomputed_tokens;
    g.n_computed_prompt_tokens = o.n_prompt_tokens - o.n_cached_prompt_tokens - o.n_chunk_reused_tokens;
    if (done) done(g);
  };
  return scheduler_->Submit(std::move(r));
}

BackendStats SchedulerBackend::Stats() const {
  const sched::SchedulerStats s = scheduler_->Stats();
  BackendStats b;
  b.n_waiting = s.n_waiting;
  b.n_running = s.n_running;
  b.kv_blocks_total = s.n_blocks_total;
  b.kv_blocks_free = s.n_blocks_free;
  b.kv_blocks_cached = s.n_blocks_cached;
  b.prefix_hit_tokens = s.n_prefix_hit_tokens;
  b.chunk_hit_tokens = s.n_chunk_reused_tokens;
  b.chunk_recomputed_tokens = s.n_chunk_recomputed_tokens;
  b.n_preemptions = s.n_preemptions;
  b.n_steps = s.n_steps;
  return b;
}

}  // namespace chunkserve::server
