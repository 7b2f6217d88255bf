// Chunk planning: the one implementation, shared by Engine (one request at a
// time) and ChunkPlanner (the scheduler's admission hook), of
//   * how far a prefix-cache match may reach into a segmented prompt
//     (never into a chunk segment: the chunk is resolved whole by the chunk
//     cache, and cached on a miss, instead of being half shared);
//   * which chunk segments are placed from the chunk cache (K re-rotated to
//     their new positions), which slots are computed (misses, every other
//     segment, the recompute set of PlanRecompute, the prompt's last token)
//     and from which slot on the KV is no longer a full prefill's;
//   * how a chunk computed as [lead-in][chunk] becomes a cache entry, with
//     deviation scores against the same tokens computed in a prompt.
// See chunk_reuse.h for re-rotation and the recompute signals.
//
// Slots are RoPE positions: token j of the sequence is slot j, position j.
//
// Thread safety: pure functions over caller-owned data (ChunkCache locks
// itself).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/chunk_reuse.h"
#include "kv/chunk_cache.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "sched/prompt_planner.h"

namespace chunkserve::engine {

using sched::ChunkSpan;

// The model's default chunk lead-in: its BOS token when the GGUF names one
// (tokenizer.ggml.bos_token_id, add_bos_token not false), else nothing.
std::vector<int32_t> DefaultChunkLeadIn(const model::Model& model);

// Tokens of a prefix match of `matched` tokens to keep: cut back to the
// whole blocks before a chunk the match ends inside of.
int64_t TrimPrefixMatchToChunks(std::span<const ChunkSpan> chunks, int64_t matched, int64_t block_tokens);

struct ChunkPlanParams {
  uint64_t model_fingerprint = 0;
  std::span<const int32_t> lead_in;
  double recompute_fraction = 0.15;
  RecomputeSignal signal = RecomputeSignal::kPromptRecency;
  const RopeSetup* rope = nullptr;
  // Looks a chunk up (e.g. entries read ahead first); null: cache->Lookup.
  // Called in parallel when `pool` is set.
  std::function<std::optional<kv::ChunkHit>(const kv::ChunkKey&, std::span<const int32_t>)> lookup;
  // Runs the chunk lookups (disk reads) and placements in parallel; null:
  // on the calling thread. REQUIRES: no other ParallelFor on it meanwhile.
  ThreadPool* pool = nullptr;
};

struct ChunkPlan {
  std::vector<int64_t> compute_slots;  // ascending
  int64_t first_inexact_slot = 0;      // tokens.size() when all KV is exact
  std::vector<ChunkSpan> missed;       // chunk segments that missed the cache
  int64_t n_chunk_reused_tokens = 0;   // placed and not recomputed
  int64_t n_chunk_recomputed_tokens = 0;
  int64_t n_chunk_ram_hits = 0;
  int64_t n_chunk_disk_hits = 0;
  int64_t n_chunk_remote_hits = 0;     // from the shared tier (Redis)
};

// Plans `tokens` (the prompt, then possibly generated tokens, all computed
// like a tail) whose slots [0, n_matched) are shared. Chunk segments wholly
// past n_matched are looked up in `cache` (null: none) and hits are placed
// into `kv` (lookups and placements in parallel on params.pool); every slot
// past n_matched that is not placed is computed, plus the recompute set and
// always the prompt's last token.
// REQUIRES: kv has capacity for tokens.size() slots; chunks ascending,
// non-overlapping, inside [0, n_prompt); n_matched < tokens.size().
ChunkPlan PlanChunkReuse(kv::ChunkCache* cache, std::span<const int32_t> tokens, int64_t n_prompt,
                         std::span<const ChunkSpan> chunks, int64_t n_matched, model::KvCache* kv,
                         const ChunkPlanParams& params);

// The cache entry of `chunk_tokens` computed after a lead-in of
// lead_in_length tokens at slots [0, L + n) of `lead_kv`. Scores: deviation
// (chunk_reuse.h) against the same tokens at slots [seq_first_slot, ...) of
// `seq_kv`, which sat at RoPE positions seq_position + i; zeros without
// seq_kv.
std::shared_ptr<kv::ChunkKv> BuildChunkKv(const kv::ChunkKey& key, std::span<const int32_t> chunk_tokens,
                                          int64_t lead_in_length, model::KvCache* lead_kv, model::KvCache* seq_kv,
                                          int64_t seq_first_slot, int64_t seq_position, const RopeSetup& rope);

}  // namespace chunkserve::engine
