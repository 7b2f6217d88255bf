// Chunk reuse: placing a cached chunk's KV at new positions, choosing which
// of its tokens to recompute, and scoring tokens when a chunk is cached.
//
// Re-rotation. The chunk cache stores K after RoPE at positions
// base_position + i (kv/chunk_kv.h). Placing the chunk so that token i sits at
// position p_i rotates its stored K by (p_i - base_position - i): RoPE at a
// position is a rotation by angle position * freq per pair, and rotations
// compose (R(a) R(b) = R(a + b)), so this equals K rotated at p_i directly, up
// to float rounding. Linear RoPE scaling and per-pair frequency factors
// compose the same way (the angle stays linear in the position). V carries no
// position and is copied unchanged.
//
// Which tokens to recompute (RecomputeSignal; the engine's default is
// kPromptRecency). Two kinds of signal are implemented:
//
//  * Recorded KV deviation (kRecordedDeviation), Cache-Craft-style scores
//    saved with the chunk. When a prompt misses the chunk cache, the engine
//    computes the chunk in that prompt's context anyway (exactly), then
//    computes [lead-in][chunk] for storage; the score of token i is
//      sum over layers of |K_ctx - R(delta) K_lead|^2 + |V_ctx - V_lead|^2
//      -------------------------------------------------------------------
//      sum over layers of |K_ctx|^2 + |V_ctx|^2
//    i.e. CacheBlend's KV-deviation signal, measured once at caching time so
//    reuse pays nothing to rank tokens. Per chunk, the ceil(r n) highest
//    scores are recomputed; ties go to the earliest tokens.
//  * Position (kChunkTrailing: the last ceil(r n) tokens of every chunk;
//    kPromptRecency: the last ceil(r N) reused tokens of the whole prompt,
//    N = all reused chunk tokens). The next-token distribution depends most
//    on the KV nearest the question, so repairing the reused tokens closest
//    to the tail buys the most fidelity per recomputed token, and a
//    contiguous run is also the cheapest to recompute.
//
// On stories260K (bench-rag, 6 chunks x 64 tokens, shuffled orders) the
// recorded deviation barely beats random choice (scores from the caching
// context do not transfer to a new one), while kPromptRecency at r = 0.15
// reaches top-1 agreement 0.98 vs 0.95 for pure reuse; hence the default.
// A chunk that lands right after an exact copy of the lead-in is exact as
// stored and is never recomputed.
//
// Thread safety: pure functions over caller-owned data.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kernels/ops.h"
#include "kv/chunk_kv.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace chunkserve::engine {

// The model's RoPE as its forward pass applies it to K.
struct RopeSetup {
  kernels::RopeParams params;
  std::vector<float> freq_factors;  // owned; params.freq_factors points here
  int n_kv_heads = 0;
  // Gemma 3: layers l with local_layers[l] rotate with local_theta and
  // local_freq_scale instead of params' (empty: every layer with params).
  std::vector<uint8_t> local_layers;
  float local_theta = 0;
  float local_freq_scale = 1;

  RopeSetup() = default;
  RopeSetup(const RopeSetup& other) { *this = other; }
  RopeSetup& operator=(const RopeSetup& other);
};

// The model's frequency factors (rope_freqs, LongRoPE's chosen pair) included.
StatusOr<RopeSetup> RopeSetupFor(const model::Model& model);

// Copies the chunk's K/V into slots [first_slot, first_slot + n) of `kv`,
// with K re-rotated so token i is at RoPE position first_position + i.
// REQUIRES: shapes match; the slots are below kv->capacity_tokens().
void PlaceChunk(const kv::ChunkKv& chunk, model::KvCache* kv, int64_t first_slot, int64_t first_position,
                const RopeSetup& rope);

// Indices (ascending) of the ceil(fraction * n) highest-scoring tokens; ties
// prefer earlier tokens. fraction is clamped to [0, 1].
std::vector<int64_t> SelectRecompute(std::span<const float> scores, double fraction);

// How the tokens to recompute are chosen (see the measurements in
// docs/architecture.md, section engine).
enum class RecomputeSignal {
  kRecordedDeviation,  // per chunk: ceil(r n) highest recorded deviation scores
  kChunkTrailing,      // per chunk: its last ceil(r n) tokens
  kPromptRecency,      // over all reused chunks: the last ceil(r N) reused tokens
};

// "deviation" | "trailing" | "recency" (the CLI's names); InvalidArgument
// naming the choices otherwise.
StatusOr<RecomputeSignal> ParseRecomputeSignal(std::string_view name);

struct ReusedChunk {
  int64_t first_slot = 0;
  std::span<const float> scores;  // one per token
};

// Slots (ascending) to recompute among the reused chunks' slots.
// REQUIRES: chunks in ascending, non-overlapping slot order.
std::vector<int64_t> PlanRecompute(std::span<const ReusedChunk> chunks, double fraction, RecomputeSignal signal);

// Deviation scores (see above) of `lead_kv` (chunk after the lead-in) against
// the same tokens computed in context at slots [first_slot, ...) of `seq_kv`,
// positions first_position + i.
std::vector<float> DeviationScores(const kv::ChunkKv& lead_kv, model::KvCache* seq_kv, int64_t first_slot,
                                   int64_t first_position, const RopeSetup& rope);

}  // namespace chunkserve::engine
