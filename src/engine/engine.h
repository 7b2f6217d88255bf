// Engine: the public entry point for generation over a segmented prompt, with
// paged KV, automatic prefix caching and the Cache-Craft chunk cache.
//
// One request: Generate(prompt, params, on_token)
//   1. Prefix cache: the longest cached run of whole blocks of the prompt's
//      tokens is shared (no copy, no compute).
//   2. Chunk segments past that point are looked up in the chunk cache
//      (RAM -> disk). A hit is copied into the sequence's blocks with K
//      re-rotated to its new positions, and a fraction r of the reused chunk
//      tokens (chosen by options.recompute_signal, see chunk_reuse.h) is
//      recomputed in the new context. r = 1 recomputes everything: the exact
//      twin of a full prefill; r = 0 is pure reuse. A chunk right after an
//      exact copy of the lead-in is exact as stored and never recomputed.
//   3. Everything else (misses, prefix/tail segments, recomputed tokens) runs
//      in slot order through ForwardAtSlots: one Forward per slice of
//      max_tokens_per_forward tokens.
//   4. Tokens are sampled (or teacher-forced) and streamed to on_token;
//      decode runs one token per step into the same block table.
//   5. Chunks that missed are computed after the lead-in and stored with
//      their scores; the exactly computed leading blocks of the sequence go
//      into the prefix cache.
//
// Chunk lead-in (documented, part of every chunk key): by default the BOS
// token when the GGUF names one (tokenizer.ggml.bos_token_id and
// add_bos_token not false), else nothing. A chunk is cached as the sequence
// [lead-in][chunk] at positions 0..L+n-1 (kv/chunk_kv.h).
//
// Slots are positions: token j of the prompt is slot j and RoPE position j.
//
// Stats per request (RequestStats): n_prompt_tokens = n_prefix_reused_tokens
// + n_chunk_reused_tokens + n_computed_tokens, where n_computed_tokens counts
// every prompt token run through the model (n_chunk_recomputed_tokens of them
// repair reused chunks). Work done after the answer to fill the chunk cache
// is n_cache_fill_tokens. ttft_ms runs from the call to the first token.
//
// Errors: InvalidArgument for an empty prompt or out-of-vocabulary token;
// ResourceExhausted when the KV pool cannot hold the sequence even after
// evicting the prefix cache (nothing leaks: the request's blocks return to
// the pool). Cancellation (params.cancel or on_token returning false) is not
// an error: the result says kCancelled and holds the tokens so far.
//
// Thread safety: Generate() may be called from any thread; requests run one
// at a time (an internal mutex), as the model's Forward requires.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "engine/chunk_reuse.h"
#include "engine/segment.h"
#include "kv/block_pool.h"
#include "kv/block_table.h"
#include "kv/chunk_cache.h"
#include "kv/prefix_cache.h"
#include "model/model.h"
#include "sampling/sampling_params.h"

namespace chunkserve::engine {

struct EngineOptions {
  int64_t block_tokens = 16;
  size_t kv_budget_bytes = size_t{1} << 30;  // the block pool
  bool enable_prefix_cache = true;
  // Cached blocks kept at most (0: as many as the pool holds; they are
  // evicted LRU whenever a request needs the room).
  int64_t prefix_cache_max_blocks = 0;
  bool enable_chunk_cache = true;
  kv::ChunkCacheOptions chunk_cache;
  // Lead-in under which chunks are cached; nullopt: BOS when the model has
  // one (see above).
  std::optional<std::vector<int32_t>> chunk_lead_in;
  double recompute_fraction = 0.15;
  RecomputeSignal recompute_signal = RecomputeSignal::kPromptRecency;
  int64_t max_tokens_per_forward = 512;
};

struct RequestParams {
  sampling::SamplingParams sampling;
  int64_t max_new_tokens = 256;
  std::optional<double> recompute_fraction;  // nullopt: the engine's
  bool use_prefix_cache = true;
  bool use_chunk_cache = true;
  // End-of-generation ids; empty: the GGUF's eos (and eot) token.
  std::vector<int32_t> end_of_generation;
  // Evaluation: emit exactly these tokens instead of sampling (teacher
  // forcing), so two runs are compared on one continuation.
  std::span<const int32_t> forced_tokens;
  // Evaluation: keep the logits of every computed token of the last segment
  // (when it is a tail) or of the last prompt token, then of every token fed
  // back during decode.
  bool capture_logits = false;
  const std::atomic<bool>* cancel = nullptr;  // checked between steps
};

struct RequestStats {
  int64_t n_prompt_tokens = 0;
  int64_t n_prefix_reused_tokens = 0;
  int64_t n_chunk_reused_tokens = 0;
  int64_t n_computed_tokens = 0;
  int64_t n_chunk_recomputed_tokens = 0;
  int64_t n_chunk_ram_hits = 0;
  int64_t n_chunk_disk_hits = 0;
  int64_t n_chunk_misses = 0;
  int64_t n_cache_fill_tokens = 0;
  int64_t n_generated_tokens = 0;
  double ttft_ms = 0;
  // CPU time of the whole process from the call to the first token: on a
  // busy machine, ttft_cpu_ms / threads is what TTFT would be with the cores
  // to ourselves (spin-waiting counts, so it errs high).
  double ttft_cpu_ms = 0;
  double decode_tokens_per_s = 0;
  double total_ms = 0;
};

enum class FinishReason { kLength, kEndOfGeneration, kCancelled };

struct RequestResult {
  std::vector<int32_t> tokens;  // generated
  FinishReason finish = FinishReason::kLength;
  RequestStats stats;
  int64_t n_vocab = 0;
  int64_t n_captured_rows = 0;
  std::vector<float> captured_logits;  // (n_captured_rows, n_vocab)
};

// Called with each generated token; returning false cancels the request.
using TokenCallback = std::function<bool(int32_t token)>;

class Engine {
 public:
  // REQUIRES: model outlives the engine. Errors from the pool (budget below
  // one block) and the chunk cache's directory pass through.
  static StatusOr<std::unique_ptr<Engine>> Create(model::Model* model, const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  StatusOr<RequestResult> Generate(const Prompt& prompt, const RequestParams& params,
                                   const TokenCallback& on_token = nullptr);

  const std::vector<int32_t>& chunk_lead_in() const { return lead_in_; }
  model::Model& model() { return *model_; }
  // Null when disabled.
  kv::ChunkCache* chunk_cache() { return chunk_cache_.get(); }
  kv::PrefixCacheStats prefix_cache_stats() const;
  int64_t n_free_blocks() const;
  // Drops every unpinned prefix-cache block.
  void ClearPrefixCache();

 private:
  struct PrivateTag {};

 public:
  Engine(PrivateTag, model::Model* model, const EngineOptions& options);

 private:
  struct Request;  // per-request working state (engine.cpp)
  Status EnsureCapacity(kv::BlockTable& table, int64_t n_tokens);
  Status FillChunkCache(Request& req);

  model::Model* model_;
  EngineOptions options_;
  RopeSetup rope_;
  std::vector<int32_t> lead_in_;
  std::vector<int32_t> default_eog_;
  std::mutex mu_;  // one request at a time
  std::unique_ptr<kv::BlockPool> pool_;
  std::unique_ptr<kv::PrefixCache> prefix_cache_;  // null when disabled
  std::unique_ptr<kv::ChunkCache> chunk_cache_;    // null when disabled
};

}  // namespace chunkserve::engine
