// GenerationBackend: how the HTTP layer runs a generation, whatever runs it.
//
// Two implementations:
//   SchedulerBackend (scheduler_backend.h) - continuous batching: many
//     requests share each forward step (the default for `serve`);
//   EngineBackend (engine_backend.h) - the Engine, one request at a time,
//     with the Cache-Craft chunk cache for `documents` segments.
// Routes (OpenAI, RAG) only see this interface.
//
// Start() queues the request and returns at once; the callbacks run on the
// backend's own thread and must not block (RequestStream queues what they
// get for the HTTP thread). on_done is called exactly once per started
// request, also when it is cancelled or fails.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/segment.h"
#include "sampling/sampling_params.h"

namespace chunkserve::server {

struct GenerationRequest {
  engine::Prompt prompt;  // segments; a plain request is one kTail segment
  sampling::SamplingParams sampling;
  int64_t max_new_tokens = 256;
  std::vector<int32_t> end_of_generation;
};

enum class GenerationFinish { kLength, kEndOfGeneration, kCancelled, kError };

struct GenerationResult {
  GenerationFinish finish = GenerationFinish::kLength;
  Status status;  // when finish == kError
  int64_t n_prompt_tokens = 0;
  int64_t n_generated_tokens = 0;
  int64_t n_prefix_cached_tokens = 0;  // KV shared from the prefix cache
  int64_t n_chunk_cached_tokens = 0;   // KV reused from the chunk cache
  int64_t n_chunk_recomputed_tokens = 0;
  int64_t n_computed_prompt_tokens = 0;
};

struct GenerationCallbacks {
  std::function<bool(int32_t token)> on_token;  // false: cancel
  std::function<void(const GenerationResult&)> on_done;
};

// Live figures for /metrics.
struct BackendStats {
  int64_t n_waiting = 0;
  int64_t n_running = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_free = 0;
  int64_t kv_blocks_cached = 0;
  int64_t prefix_hit_tokens = 0;
  int64_t chunk_hit_tokens = 0;
  int64_t chunk_recomputed_tokens = 0;
  int64_t n_preemptions = 0;
  int64_t n_steps = 0;
};

class GenerationBackend {
 public:
  virtual ~GenerationBackend() = default;
  // Errors: InvalidArgument / OutOfRange (bad or over-long prompt),
  // ResourceExhausted (queue full: retry later), Unavailable (stopping).
  virtual StatusOr<uint64_t> Start(GenerationRequest request, GenerationCallbacks callbacks) = 0;
  virtual void Cancel(uint64_t id) = 0;
  virtual BackendStats Stats() const = 0;
  // Stops accepting, lets in-flight requests run up to grace_ms, cancels
  // the rest. Idempotent.
  virtual void Shutdown(int64_t grace_ms) = 0;
  virtual std::string name() const = 0;
};

}  // namespace chunkserve::server
