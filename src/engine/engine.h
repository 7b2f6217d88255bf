// Engine: the one engine core. It owns what generation needs besides the
// model's weights - the paged KV block pool, the prefix cache, the Cache-Craft
// chunk cache and its planner - and ONE scheduler thread (sched/scheduler.h)
// that runs every forward pass on the model and every parallel section on its
// thread pool. Every path that generates or embeds with the decoder model
// submits requests here: `serve`'s OpenAI and RAG routes and /v1/embeddings
// (Submit / Embed), and the CLI's generate, chat, ask, bench and bench --rag
// (Generate, the synchronous facade). Nothing else runs the model, so no lock
// around it is needed.
//
// A request is a prompt of segments (engine/segment.h):
//   1. Prefix cache: the longest cached run of whole blocks of the prompt's
//      tokens is shared (no copy, no compute); a match never ends inside a
//      chunk segment.
//   2. Chunk segments past that point are looked up in the chunk cache
//      (RAM -> disk). A hit is copied into the sequence's blocks with K
//      re-rotated to its new positions, and a fraction r of the reused chunk
//      tokens (chosen by options.recompute_signal, see chunk_reuse.h) is
//      recomputed in the new context. r = 1 recomputes everything: the exact
//      twin of a full prefill; r = 0 is pure reuse. A chunk right after an
//      exact copy of the lead-in is exact as stored and never recomputed.
//      Chunks that missed are computed in context and, as fill jobs, once
//      more after the lead-in for the cache (sched/prompt_planner.h).
//   3. Everything else is prefilled in token-budget slices, batched with the
//      other requests' decodes (continuous batching, chunked prefill).
//   4. Tokens are sampled (or teacher-forced) and streamed; exactly computed
//      blocks go into the prefix cache.
//
// Chunk lead-in (documented, part of every chunk key): by default the BOS
// token when the GGUF names one (tokenizer.ggml.bos_token_id and
// add_bos_token not false), else nothing. A chunk is cached as the sequence
// [lead-in][chunk] at positions 0..L+n-1 (kv/chunk_kv.h).
//
// End of generation: params.end_of_generation, or by default the model's
// (DefaultEndOfGeneration: the GGUF's eos/eot ids and every control token
// the tokenizer names end-of-generation, e.g. <|im_end|>), the same for every
// path.
//
// Errors (Submit, Generate, Embed): InvalidArgument for an empty prompt, an
// out-of-vocabulary token, a bad recompute fraction, or a request larger than
// the context or the whole KV pool; ResourceExhausted when the queue is full;
// Unavailable while shutting down. Cancellation is not an error: the result
// says kCancelled and holds the tokens so far.
//
// Thread safety: every method may be called from any thread. Callbacks of
// Submit run on the core's thread and must not block.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "engine/chunk_planner.h"
#include "engine/chunk_reuse.h"
#include "engine/segment.h"
#include "kv/block_pool.h"
#include "kv/chunk_cache.h"
#include "kv/prefix_cache.h"
#include "model/encoder.h"
#include "model/model.h"
#include "sampling/sampling_params.h"
#include "sched/model_drafter.h"
#include "sched/model_executor.h"
#include "sched/request_stats.h"
#include "sched/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::engine {

using sched::FinishReason;
using sched::FinishReasonName;
using sched::RequestStats;

struct EngineOptions {
  int64_t block_tokens = 16;
  size_t kv_budget_bytes = size_t{1} << 30;  // the block pool
  bool enable_prefix_cache = true;
  // Cached blocks kept at most (0: as many as the pool holds; they are
  // evicted LRU whenever a request needs the room).
  int64_t prefix_cache_max_blocks = 0;
  bool enable_chunk_cache = true;
  kv::ChunkCacheOptions chunk_cache;
  // Borrow this chunk cache instead of opening one (e.g. shared by two cores).
  kv::ChunkCache* shared_chunk_cache = nullptr;
  // Lead-in under which chunks are cached; nullopt: BOS when the model has
  // one (see above).
  std::optional<std::vector<int32_t>> chunk_lead_in;
  double recompute_fraction = 0.15;
  RecomputeSignal recompute_signal = RecomputeSignal::kPromptRecency;
  // Continuous batching: step token budget, running/queue limits, decode
  // latency limit. max_context_tokens <= 0 means the model's context length
  // (GGUF context_length; the pool's size when absent); prefix_namespace and
  // planner are set by the engine.
  sched::SchedulerOptions scheduler = DefaultSchedulerOptions();
  // Speculative decoding with a model drafter (requests whose lookup_draft
  // source is kModel, sched/model_drafter.h): a second, small model with the
  // same vocabulary (borrowed, e.g. --draft-model; Create checks the
  // vocabulary: model::CheckDraftVocabulary), or, with self_draft_layers > 0 and no
  // draft model, this model's own first self_draft_layers layers through
  // its final norm and head. Neither: such requests are refused.
  model::Model* draft_model = nullptr;
  int64_t self_draft_layers = 0;
  size_t draft_kv_budget_bytes = size_t{256} << 20;  // the drafter's own KV pool

  static sched::SchedulerOptions DefaultSchedulerOptions() {
    sched::SchedulerOptions o;
    o.max_step_tokens = 512;  // one prefill slice: the matrix-matrix kernels at full speed
    o.max_context_tokens = 0;
    return o;
  }
};

struct RequestParams {
  sampling::SamplingParams sampling;
  int64_t max_new_tokens = 256;
  std::optional<double> recompute_fraction;  // nullopt: the engine's
  bool use_prefix_cache = true;
  bool use_chunk_cache = true;
  // End-of-generation ids; empty: the model's (see above).
  std::vector<int32_t> end_of_generation;
  // Evaluation: emit exactly these tokens instead of sampling (teacher
  // forcing), so two runs are compared on one continuation.
  std::vector<int32_t> forced_tokens;
  // Evaluation: keep the logits of every computed token of the last segment
  // (when it is a tail) or of the last prompt token, then of every token fed
  // back during decode.
  bool capture_logits = false;
  // Speculative decoding with prompt-lookup drafts (see
  // sched::SchedRequest::lookup_draft: same output, fewer forward passes when
  // the answer copies its prompt); nullopt: off.
  std::optional<sched::LookupDraftOptions> lookup_draft;
  // Structured outputs: makes the request's constraint (sched::SchedRequest::
  // constraint; one per submission, as a constraint has state); empty: none.
  std::function<std::unique_ptr<sampling::TokenConstraint>()> make_constraint;
  // A KV budget for long contexts (kv/kv_policy.h, sched::SchedRequest::
  // kv_policy); full by default.
  kv::KvPolicy kv_policy;
  // Generate only: checked between steps.
  const std::atomic<bool>* cancel = nullptr;
};

struct RequestResult {
  std::vector<int32_t> tokens;  // generated
  FinishReason finish = FinishReason::kLength;
  int32_t end_token = -1;  // with kEndOfGeneration: the token that ended it (not emitted)
  RequestStats stats;
  int64_t n_vocab = 0;
  int64_t n_captured_rows = 0;
  std::vector<float> captured_logits;  // (n_captured_rows, n_vocab)
};

// Called with each generated token; returning false cancels the request.
using TokenCallback = std::function<bool(int32_t token)>;

struct RequestCallbacks {
  TokenCallback on_token;  // core thread
  // Core thread: each sampled token's logits row, before the pick (see
  // sched::SchedRequest::on_logits); may be null.
  std::function<void(std::span<const float> logits)> on_logits;
  // Core thread (or the Submit/Shutdown caller), exactly once per accepted
  // request, also when it is cancelled or fails (outcome.status).
  std::function<void(const sched::RequestOutcome&)> on_done;
};

// The model's end-of-generation ids (see above), ascending; `tokenizer` may
// be null (a GGUF without a vocabulary: its eos/eot ids only).
std::vector<int32_t> DefaultEndOfGeneration(const model::Model& model, const tokenizer::Tokenizer* tokenizer);

class Engine {
 public:
  // REQUIRES: model outlives the engine. Errors from the pool (budget below
  // one block), the chunk cache's directory and the options pass through.
  static StatusOr<std::unique_ptr<Engine>> Create(model::Model* model, const EngineOptions& options);
  ~Engine();  // Shutdown(0)
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; returns its id for Cancel.
  StatusOr<uint64_t> Submit(const Prompt& prompt, const RequestParams& params, RequestCallbacks callbacks);
  void Cancel(uint64_t id) { scheduler_->Cancel(id); }

  // The synchronous facade: runs one request to its end, streaming tokens to
  // on_token (on the core's thread), and returns once the chunk-cache
  // entries it started are stored too (so a later request hits them;
  // stats.n_cache_fill_tokens counts their work).
  StatusOr<RequestResult> Generate(const Prompt& prompt, const RequestParams& params,
                                   const TokenCallback& on_token = nullptr);

  // An embedding through the decoder model: the final-norm hidden states of
  // `tokens`, pooled and L2-normalised, computed as a scheduled request
  // (queued, batched, cancellable like a generation). Returns Cancelled when
  // *cancel becomes true first.
  StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens, model::Pooling pooling,
                                     const std::atomic<bool>* cancel = nullptr);

  // Live figures (a snapshot published after every step).
  sched::SchedulerStats Stats() const { return scheduler_->Stats(); }
  void SetMaxDecodeSlowdown(double factor) { scheduler_->SetMaxDecodeSlowdown(factor); }
  // Stops accepting, lets in-flight requests run up to grace_ms, cancels the
  // rest. Idempotent.
  void Shutdown(int64_t grace_ms) { scheduler_->Shutdown(grace_ms); }
  bool accepting() const { return scheduler_->accepting(); }
  int64_t n_in_flight() const { return scheduler_->n_in_flight(); }
  // Drops every unpinned prefix-cache block (on the core's thread).
  void ClearPrefixCache() { scheduler_->ClearPrefixCache(); }

  const std::vector<int32_t>& chunk_lead_in() const { return lead_in_; }
  // The recompute fraction of requests that do not set their own.
  double recompute_fraction() const { return options_.recompute_fraction; }
  const std::vector<int32_t>& end_of_generation() const { return default_eog_; }
  int64_t max_context_tokens() const { return max_context_tokens_; }
  // Tokens the draft model (or early exit) has run so far: the drafter's
  // cost, in its own forward tokens (0 without one).
  int64_t drafter_computed_tokens() const { return drafter_ ? drafter_->n_computed_tokens() : 0; }
  const model::Model& model() const { return *model_; }
  // The model's tokenizer (null when its GGUF has no vocabulary).
  const tokenizer::Tokenizer* tokenizer() const { return tokenizer_.get(); }
  // Null when disabled. The cache locks itself.
  kv::ChunkCache* chunk_cache() { return chunk_cache_; }
  // Free blocks of the pool after the last step.
  int64_t n_free_blocks() const { return Stats().n_blocks_free; }

 private:
  struct PrivateTag {};

 public:
  Engine(PrivateTag, model::Model* model, const EngineOptions& options);

 private:
  // The scheduler request for a prompt (validated), without callbacks.
  StatusOr<sched::SchedRequest> MakeRequest(const Prompt& prompt, const RequestParams& params) const;

  model::Model* model_;
  EngineOptions options_;
  std::vector<int32_t> lead_in_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::vector<int32_t> default_eog_;
  int64_t max_context_tokens_ = 0;
  std::unique_ptr<sched::ModelExecutor> executor_;
  std::unique_ptr<kv::BlockPool> pool_;
  std::unique_ptr<kv::PrefixCache> prefix_cache_;  // null when disabled
  std::unique_ptr<kv::ChunkCache> owned_chunk_cache_;
  kv::ChunkCache* chunk_cache_ = nullptr;          // null when disabled
  std::unique_ptr<ChunkPlanner> planner_;          // null without a chunk cache
  std::unique_ptr<sched::ModelDrafter> drafter_;   // speculate draft (null: none)
  std::unique_ptr<sched::Scheduler> scheduler_;    // declared last: stopped first
};

}  // namespace chunkserve::engine
