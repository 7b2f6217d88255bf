// PromptPlanner: the scheduler's admission hook for KV it does not compute
// itself. sched/ knows nothing about where that KV comes from (the engine
// implements the hook with its Cache-Craft chunk cache, see
// engine/chunk_planner.h); it only learns, per admitted request, which slots
// already hold KV and which must still be computed.
//
// Protocol, all on the scheduler thread:
//   1. Admission of a request with chunk spans: the scheduler looks up the
//      prefix cache, asks TrimPrefixMatch how much of the match to keep (a
//      match should not end inside a chunk: the chunk is then resolved whole
//      by the planner), adopts those blocks, reserves blocks for the whole
//      sequence, then calls Plan(). Plan may write KV into any slot at or
//      past n_prefix_tokens (never into the shared prefix blocks) and returns
//      the slots still to compute. The scheduler prefills exactly those, in
//      ascending slot order and in token-budget slices; a run of consecutive
//      slots is one StepSequence, several runs of one sequence may share a
//      step (the model writes every token's K/V of a layer before attention
//      reads it, so later runs see earlier runs' rows).
//   2. Each of the plan's fills that NeedsFill() becomes an internal job
//      (at admission; when WantsSourceKv(), once the request's prompt is
//      computed): its tokens run from slot 0 in a block table of their own,
//      in step budget that decodes and the prefill slices of running
//      requests leave (before new admissions, at most half of it while
//      requests wait), never while a waiting
//      request lacks blocks, in free blocks or (when no request waits)
//      blocks only the prefix cache holds, evicted LRU; a request that needs
//      blocks drops jobs, newest first. Jobs with the same key run once.
//      A waiting request with a chunk whose job is pending (FillKey) is held
//      back until the job is done, then reuses the entry: under load,
//      concurrent requests sharing a new chunk compute it once, as a fill,
//      instead of each in its own context.
//   3. The job's KV is handed to CompleteFillAsync (which e.g. copies it into
//      the chunk cache, and stores it to disk and a shared tier on a thread
//      of its own). The requests whose chunks the job computes end only
//      once it is stored (`stored` ran; see SchedulerOptions::max_done_hold_ms). If WantsSourceKv(), the job also holds references on
//      the request's blocks covering the chunk, so the request's in-context
//      KV is still there (for deviation scores) even after it finished.
//   0. Before admission, a waiting request with chunk spans must be
//      Prepare()d: false means the planner is fetching what it would reuse
//      (e.g. chunk-cache entries read from disk on a thread of its own); the
//      request is held back, others keep running, and the planner calls
//      `wake` once the fetch is done. Release() ends what Prepare started
//      (after admission, or when the request leaves).
// A preempted request is planned again when it is re-admitted (its
// generated tokens follow the prompt and are computed like a tail).
//
// Thread safety: called by the scheduler thread only (CompleteFillAsync's
// `stored` may run on any thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "kv/block_table.h"

namespace chunkserve::sched {

// Prompt slots [begin, end) of one chunk segment.
struct ChunkSpan {
  int64_t begin = 0;
  int64_t end = 0;
};

struct PlanInput {
  uint64_t seq_id = 0;
  std::span<const int32_t> tokens;     // the prompt, then tokens generated before a preemption
  int64_t n_prompt = 0;
  std::span<const ChunkSpan> chunks;   // ascending, non-overlapping, inside the prompt
  int64_t n_prefix_tokens = 0;         // slots [0, n) are shared prefix-cache blocks (read-only)
  std::optional<double> recompute_fraction;  // nullopt: the planner's default
};

// A cache entry to compute once the request's prompt is done.
struct ChunkFill {
  uint64_t key = 0;               // fills with equal keys compute the same entry
  std::vector<int32_t> tokens;    // run from slot 0 (e.g. [lead-in][chunk])
  ChunkSpan source;               // where the chunk sits in the request
};

struct AdmissionPlan {
  // Ascending, each in [n_prefix_tokens, tokens.size()), always including
  // tokens.size() - 1 (its logits start decoding). Every slot at or past
  // n_prefix_tokens that is not listed must hold KV written by Plan().
  std::vector<int64_t> compute_slots;
  // Slots from here on do not hold what a full prefill would compute (reused
  // chunk rows and everything after them); they never enter the prefix cache.
  int64_t first_inexact_slot = INT64_MAX;
  int64_t n_chunk_reused_tokens = 0;      // placed and not recomputed
  int64_t n_chunk_recomputed_tokens = 0;  // placed, then recomputed in context
  int64_t n_chunk_ram_hits = 0;
  int64_t n_chunk_disk_hits = 0;
  int64_t n_chunk_remote_hits = 0;  // a tier shared by replicas (Redis)
  int64_t n_chunk_misses = 0;
  std::vector<ChunkFill> fills;
};

class PromptPlanner {
 public:
  virtual ~PromptPlanner() = default;
  // Whether Plan() would find what it reuses for this request at hand. False:
  // fetching started; `wake` (any thread) runs once it is done.
  // (in.n_prefix_tokens is 0: the prefix match is not known yet.)
  virtual bool Prepare(const PlanInput& in, const std::function<void()>& wake) {
    (void)in;
    (void)wake;
    return true;
  }
  // Ends what Prepare started for this request; no `wake` of it runs after.
  virtual void Release(uint64_t seq_id) { (void)seq_id; }
  // How many tokens of a prefix-cache match of `matched` tokens to keep
  // (a multiple of block_tokens, at most matched).
  virtual int64_t TrimPrefixMatch(const PlanInput& in, int64_t matched, int64_t block_tokens) = 0;
  // REQUIRES: `table` holds the prefix blocks and capacity for
  // in.tokens.size() tokens. An error makes the scheduler compute every slot
  // past the prefix (nothing it wrote is trusted).
  virtual StatusOr<AdmissionPlan> Plan(const PlanInput& in, kv::BlockTable* table) = 0;
  // False when the entry is no longer needed (e.g. cached meanwhile).
  virtual bool NeedsFill(const ChunkFill& fill) = 0;
  // The key a fill of this chunk would carry.
  virtual uint64_t FillKey(std::span<const int32_t> chunk_tokens) = 0;
  virtual bool WantsSourceKv() const = 0;
  // `fill_table` holds fill.tokens at slots [0, n). When WantsSourceKv(),
  // `source` holds the request's chunk at slots [source_first_slot,
  // source_first_slot + chunk length), which sat at RoPE position
  // fill.source.begin; otherwise source is null. Errors are logged.
  virtual Status CompleteFill(const ChunkFill& fill, const kv::BlockTable& fill_table, const kv::BlockTable* source,
                              int64_t source_first_slot) = 0;
  // What the scheduler calls: CompleteFill whose slow part (e.g. a disk
  // write, a publish to a shared tier) may finish later on another thread.
  // When it returns, the entry is usable by Plan() (NeedsFill false);
  // `stored` runs exactly once (any thread, possibly before this returns)
  // with the final Status. Default: CompleteFill, then `stored`.
  virtual void CompleteFillAsync(const ChunkFill& fill, const kv::BlockTable& fill_table,
                                 const kv::BlockTable* source, int64_t source_first_slot,
                                 std::function<void(Status)> stored) {
    stored(CompleteFill(fill, fill_table, source, source_first_slot));
  }
};

}  // namespace chunkserve::sched
