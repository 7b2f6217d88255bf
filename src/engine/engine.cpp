#include "engine/engine.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "model/draft_vocabulary.h"

namespace chunkserve::engine {
namespace {

// What the synchronous facade waits for: the outcome and the streamed tokens.
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  sched::RequestOutcome outcome;
  std::vector<int32_t> tokens;

  // Notifies under the lock: the waiter may destroy this object as soon as
  // it sees `done` (found by ThreadSanitizer).
  void Finish(const sched::RequestOutcome& o) {
    std::lock_guard<std::mutex> lock(mu);
    outcome = o;
    done = true;
    cv.notify_all();
  }
  // Waits until done, cancelling `id` on `engine` once *cancel is set.
  void Wait(Engine& engine, uint64_t id, const std::atomic<bool>* cancel) {
    std::unique_lock<std::mutex> lock(mu);
    bool cancel_sent = false;
    for (;;) {
      if (!cancel_sent && cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
        lock.unlock();
        engine.Cancel(id);  // a request not started yet ends with no token
        lock.lock();
        cancel_sent = true;
      }
      if (done) return;
      if (cancel == nullptr || cancel_sent) cv.wait(lock);
      else cv.wait_for(lock, std::chrono::milliseconds(5));
    }
  }
};

}  // namespace

std::vector<int32_t> DefaultEndOfGeneration(const model::Model& model, const tokenizer::Tokenizer* tokenizer) {
  const int64_t n_vocab = model.hparams().n_vocab;
  std::vector<int32_t> ids;
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    const std::optional<int64_t> id = model.file().GetInt(key);
    if (id && *id >= 0 && *id < n_vocab) ids.push_back(static_cast<int32_t>(*id));
  }
  if (tokenizer != nullptr)
    for (int32_t id = 0; id < tokenizer->n_vocab() && id < n_vocab; ++id)
      if (tokenizer->IsEndOfGeneration(id)) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

Engine::Engine(PrivateTag, model::Model* model, const EngineOptions& options) : model_(model), options_(options) {}

Engine::~Engine() {
  if (scheduler_) scheduler_->Shutdown(0);
}

StatusOr<std::unique_ptr<Engine>> Engine::Create(model::Model* model, const EngineOptions& options) {
  if (!(options.recompute_fraction >= 0 && options.recompute_fraction <= 1))
    return InvalidArgumentError("engine: recompute_fraction must lie in [0, 1]");
  auto e = std::make_unique<Engine>(PrivateTag{}, model, options);
  const model::HParams& hp = model->hparams();
  e->lead_in_ = options.chunk_lead_in ? *options.chunk_lead_in : DefaultChunkLeadIn(*model);
  for (int32_t t : e->lead_in_)
    if (t < 0 || t >= hp.n_vocab) return InvalidArgumentError("engine: chunk lead-in token outside the vocabulary");
  // A GGUF without a vocabulary still runs (token ids in, token ids out).
  if (auto tok = tokenizer::Tokenizer::FromGguf(model->file()); tok.ok()) e->tokenizer_ = std::move(*tok);
  e->default_eog_ = DefaultEndOfGeneration(*model, e->tokenizer_.get());

  e->executor_ = std::make_unique<sched::ModelExecutor>(model);
  ASSIGN_OR_RETURN(e->pool_, kv::BlockPool::Create(sched::PoolOptionsFor(*model, options.block_tokens,
                                                                         options.kv_budget_bytes)));
  if (options.enable_prefix_cache) {
    const int64_t max_blocks =
        options.prefix_cache_max_blocks > 0 ? options.prefix_cache_max_blocks : e->pool_->n_blocks();
    e->prefix_cache_ = std::make_unique<kv::PrefixCache>(e->pool_.get(), max_blocks);
  }
  sched::SchedulerOptions so = options.scheduler;
  so.prefix_namespace = model->fingerprint();
  // The model's trained context; a GGUF that does not say is limited by the pool.
  if (so.max_context_tokens <= 0)
    so.max_context_tokens = std::max<int64_t>(
        2, hp.n_ctx_train > 0 ? hp.n_ctx_train : e->pool_->n_blocks() * e->pool_->block_tokens());
  e->max_context_tokens_ = so.max_context_tokens;
  so.planner = nullptr;
  if (options.enable_chunk_cache) {
    e->chunk_cache_ = options.shared_chunk_cache;
    if (e->chunk_cache_ == nullptr) {
      ASSIGN_OR_RETURN(e->owned_chunk_cache_, kv::ChunkCache::Open(options.chunk_cache));
      e->chunk_cache_ = e->owned_chunk_cache_.get();
    }
    ChunkPlannerOptions po;
    po.recompute_fraction = options.recompute_fraction;
    po.recompute_signal = options.recompute_signal;
    po.chunk_lead_in = e->lead_in_;
    ASSIGN_OR_RETURN(e->planner_, ChunkPlanner::Create(model, e->chunk_cache_, po));
    so.planner = e->planner_.get();
  }
  if (options.draft_model != nullptr || options.self_draft_layers > 0) {
    sched::ModelDrafterOptions dro;
    dro.block_tokens = options.block_tokens;
    dro.kv_budget_bytes = options.draft_kv_budget_bytes;
    model::Model* drafter_model = model;
    if (options.draft_model != nullptr) {
      RETURN_IF_ERROR(model::CheckDraftVocabulary(*model, *options.draft_model));
      drafter_model = options.draft_model;
    } else if (options.self_draft_layers >= hp.n_layer) {
      return InvalidArgumentError("engine: self-drafting from " + std::to_string(options.self_draft_layers) +
                                  " layers of a model with " + std::to_string(hp.n_layer) +
                                  " (fewer than all are needed)");
    } else {
      dro.n_layers = options.self_draft_layers;
    }
    ASSIGN_OR_RETURN(e->drafter_, sched::ModelDrafter::Create(drafter_model, dro));
    so.drafter = e->drafter_.get();
  }
  ASSIGN_OR_RETURN(e->scheduler_, sched::Scheduler::Create(e->executor_.get(), e->pool_.get(),
                                                           e->prefix_cache_.get(), so));
  e->scheduler_->Start();
  return e;
}

StatusOr<sched::SchedRequest> Engine::MakeRequest(const Prompt& prompt, const RequestParams& params) const {
  if (params.recompute_fraction && !(*params.recompute_fraction >= 0 && *params.recompute_fraction <= 1))
    return InvalidArgumentError("engine: recompute_fraction must lie in [0, 1]");
  sched::SchedRequest r;
  const bool use_chunks = planner_ != nullptr && params.use_chunk_cache;
  int64_t last_begin = 0;
  for (const Segment& s : prompt) {
    last_begin = static_cast<int64_t>(r.prompt.size());
    if (use_chunks && s.kind == SegmentKind::kChunk && !s.tokens.empty())
      r.chunks.push_back(sched::ChunkSpan{last_begin, last_begin + static_cast<int64_t>(s.tokens.size())});
    r.prompt.insert(r.prompt.end(), s.tokens.begin(), s.tokens.end());
  }
  if (r.prompt.empty()) return InvalidArgumentError("engine: empty prompt");
  r.sampling = params.sampling;
  r.max_new_tokens = params.max_new_tokens;
  r.end_of_generation = params.end_of_generation.empty() ? default_eog_ : params.end_of_generation;
  r.recompute_fraction = params.recompute_fraction;
  r.use_prefix_cache = params.use_prefix_cache;
  r.forced_tokens = params.forced_tokens;
  r.lookup_draft = params.lookup_draft;
  if (params.make_constraint) r.constraint = params.make_constraint();
  r.kv_policy = params.kv_policy;
  if (params.capture_logits) {
    const auto n_prompt = static_cast<int64_t>(r.prompt.size());
    r.capture_logits_from = prompt.back().kind == SegmentKind::kTail && !prompt.back().tokens.empty()
                                ? last_begin
                                : n_prompt - 1;
  }
  return r;
}

StatusOr<uint64_t> Engine::Submit(const Prompt& prompt, const RequestParams& params, RequestCallbacks callbacks) {
  ASSIGN_OR_RETURN(sched::SchedRequest r, MakeRequest(prompt, params));
  r.on_token = std::move(callbacks.on_token);
  r.on_logits = std::move(callbacks.on_logits);
  r.on_done = std::move(callbacks.on_done);
  return scheduler_->Submit(std::move(r));
}

StatusOr<RequestResult> Engine::Generate(const Prompt& prompt, const RequestParams& params,
                                         const TokenCallback& on_token) {
  ASSIGN_OR_RETURN(sched::SchedRequest r, MakeRequest(prompt, params));
  if (params.cancel != nullptr && params.cancel->load()) {
    // Cancelled before it started: nothing runs (a Cancel sent after
    // Submit could lose the race against a short request).
    RequestResult cancelled;
    cancelled.finish = FinishReason::kCancelled;
    cancelled.stats.n_prompt_tokens = static_cast<int64_t>(r.prompt.size());
    cancelled.n_vocab = model_->hparams().n_vocab;
    return cancelled;
  }
  const int64_t fill_tokens_before = scheduler_->Stats().n_fill_tokens;
  Waiter waiter;
  r.on_token = [&](int32_t token) {
    waiter.tokens.push_back(token);  // the core's thread only, until on_done
    return on_token ? on_token(token) : true;
  };
  r.on_done = [&](const sched::RequestOutcome& o) { waiter.Finish(o); };
  ASSIGN_OR_RETURN(const uint64_t id, scheduler_->Submit(std::move(r)));
  waiter.Wait(*this, id, params.cancel);
  // The fill jobs this request queued (and any others) complete before we
  // return, as the answer's chunk-cache entries are part of its work.
  scheduler_->WaitIdle();
  sched::RequestOutcome& o = waiter.outcome;
  if (o.finish == FinishReason::kError) return o.status;
  RequestResult result;
  result.tokens = std::move(waiter.tokens);
  result.finish = o.finish;
  result.end_token = o.end_token;
  result.stats = o.stats;
  result.stats.n_cache_fill_tokens = scheduler_->Stats().n_fill_tokens - fill_tokens_before;
  result.n_vocab = model_->hparams().n_vocab;
  result.n_captured_rows = o.n_captured_rows;
  result.captured_logits = std::move(o.captured_logits);
  return result;
}

StatusOr<std::vector<float>> Engine::Embed(std::span<const int32_t> tokens, model::Pooling pooling,
                                           const std::atomic<bool>* cancel) {
  sched::SchedRequest r;
  r.prompt.assign(tokens.begin(), tokens.end());
  r.embed = true;
  if (cancel != nullptr && cancel->load()) return CancelledError("embedding cancelled");
  Waiter waiter;
  r.on_done = [&](const sched::RequestOutcome& o) { waiter.Finish(o); };
  ASSIGN_OR_RETURN(const uint64_t id, scheduler_->Submit(std::move(r)));
  waiter.Wait(*this, id, cancel);
  const sched::RequestOutcome& o = waiter.outcome;
  if (o.finish == FinishReason::kError) return o.status;
  if (o.finish == FinishReason::kCancelled) return CancelledError("embedding cancelled");
  const int64_t d = o.n_embd;
  if (o.n_hidden_rows != static_cast<int64_t>(tokens.size()) || d <= 0)
    return InternalError("engine: embedding request returned " + std::to_string(o.n_hidden_rows) + " rows for " +
                         std::to_string(tokens.size()) + " tokens");
  std::vector<float> v(static_cast<size_t>(d));
  model::PoolAndNormalize(o.hidden.data(), o.n_hidden_rows, d, pooling, v.data());
  return v;
}

}  // namespace chunkserve::engine
