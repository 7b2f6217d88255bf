// The one vocabulary of a request's outcome, from the engine core up to HTTP
// usage, /metrics, the CLI's --json and the benchmarks: one finish reason and
// one statistics struct, so "tokens reused from the prefix cache" has one
// name everywhere.
//
// Prompt accounting (every request):
//   n_prompt_tokens = n_prefix_reused_tokens + n_chunk_reused_tokens + n_computed_tokens
// where n_computed_tokens counts every prompt token run through the model,
// n_chunk_recomputed_tokens of them repairing reused chunks (Cache-Craft).
// The split is taken at the request's first admission (a preempted request
// recomputes more, which n_preemptions says).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chunkserve::sched {

enum class FinishReason {
  kLength,           // max_new_tokens generated (or the forced tokens ran out)
  kEndOfGeneration,  // an end-of-generation token was sampled (not emitted)
  kCancelled,        // Cancel(), a callback returned false, or shutdown
  kError,            // the step failed or the request can never fit the KV pool
};

// "length", "stop", "cancelled", "error" (the first two are OpenAI's).
std::string_view FinishReasonName(FinishReason reason);

struct RequestStats;
// One JSON object with every field under its name above (CLI --json, bench).
std::string RequestStatsJson(const RequestStats& stats);

struct RequestStats {
  int64_t n_prompt_tokens = 0;
  int64_t n_prefix_reused_tokens = 0;     // KV shared from the prefix cache
  int64_t n_chunk_reused_tokens = 0;      // KV placed from the chunk cache, not recomputed
  int64_t n_computed_tokens = 0;          // prompt tokens run through the model
  int64_t n_chunk_recomputed_tokens = 0;  // of those, placed chunk tokens recomputed in context
  int64_t n_chunk_ram_hits = 0;
  int64_t n_chunk_disk_hits = 0;
  int64_t n_chunk_remote_hits = 0;  // from the tier shared by replicas (Redis)
  int64_t n_chunk_misses = 0;
  // Tokens the core computed to fill the chunk cache for this request's
  // missed chunks (known to the synchronous facade, which waits for them).
  int64_t n_cache_fill_tokens = 0;
  int64_t n_generated_tokens = 0;
  int64_t n_preemptions = 0;
  // KV policy (kv/kv_policy.h): compactions, and tokens dropped from each
  // KV head's cache in all (the cache ends holding the rest).
  int64_t n_kv_compactions = 0;
  int64_t n_kv_evicted_tokens = 0;
  // Speculative decoding: decode steps that verified a draft, drafted tokens
  // verified, and of those the ones kept (OpenAI's accepted/rejected
  // prediction tokens are n_draft_accepted and the difference).
  int64_t n_verifications = 0;
  int64_t n_draft_tokens = 0;
  int64_t n_draft_accepted = 0;
  double queue_ms = 0;  // submit -> first admission
  double ttft_ms = 0;   // submit -> first token (-> the end when none)
  // CPU time of the whole process from submit to the first token: on a busy
  // machine, ttft_cpu_ms / threads is what TTFT would be with the cores to
  // ourselves (spin-waiting counts, so it errs high).
  double ttft_cpu_ms = 0;
  double decode_tokens_per_s = 0;  // generated tokens after the first, per second
  double total_ms = 0;             // submit -> done

  int64_t n_chunk_hits() const { return n_chunk_ram_hits + n_chunk_disk_hits + n_chunk_remote_hits; }
  int64_t n_reused_tokens() const { return n_prefix_reused_tokens + n_chunk_reused_tokens; }
};

}  // namespace chunkserve::sched
