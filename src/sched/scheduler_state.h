// The scheduler's per-request and per-fill-job state (scheduler.h's private
// Seq and FillJob), shared by the files that implement Scheduler:
// scheduler.cpp (the step), scheduler_fills.cpp (chunk-cache fill jobs) and
// scheduler_speculation.cpp (drafts and their verification).
//
// Thread safety: the scheduler thread's only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

#include "base/logging.h"
#include "kv/block_table.h"
#include "sampling/sampler.h"
#include "sched/scheduler.h"

namespace chunkserve::sched {

// One request's state; only the scheduler thread touches it after Submit.
struct Scheduler::Seq {
  Seq(kv::BlockPool* pool, SchedRequest r, int n_vocab)
      : req(std::move(r)), table(pool), sampler(req.sampling, n_vocab) {}

  uint64_t id = 0;
  SchedRequest req;
  std::vector<int32_t> tokens;  // prompt, then every generated token
  int64_t n_prompt = 0;
  // Slots [n_computed, tokens.size()) are still to compute, and so are the
  // runs in `todo` (all below n_computed, ascending, computed first); every
  // other slot below n_computed holds KV (computed, shared or planned).
  int64_t n_computed = 0;
  std::deque<ChunkSpan> todo;
  // Slots from here on are not what a full prefill computes (planner).
  int64_t first_inexact_slot = INT64_MAX;
  std::vector<ChunkFill> fills;  // queued as jobs once the prompt is computed
  std::vector<uint64_t> chunk_keys;  // planner FillKey of each chunk (lazily)
  // Keys of the fill jobs computing this request's missed chunks (its own or
  // another request's job of the same key): its end is held until they are
  // done, so what it computed is published before it completes.
  std::vector<uint64_t> awaited_fill_keys;
  int64_t held_since_ns = 0;  // when its end began waiting for them
  bool awaited_fill_lost = false;  // one of them was dropped or failed
  int64_t n_generated = 0;
  kv::BlockTable table;
  sampling::Sampler sampler;
  // KV policy: tokens dropped from the cache since admission. Token i >=
  // the last compaction's end is at slot i - n_evicted; below it, slots hold
  // what each head kept (kv/kv_compaction.h).
  int64_t n_evicted = 0;
  std::vector<float> attention_mass;  // h2o: (n_layers, n_kv_heads, n_slots()) accumulated votes
  bool admitted_once = false;
  bool prompt_filtered = false;  // gemfilter ran (or had nothing to drop)
  bool prepared = false;  // the planner's Prepare said yes (since the last admission)
  // Speculation: the fed tokens of this step's verification (last token +
  // draft), the draft length allowed next (halved on a miss, doubled on a
  // full hit), and whether drafting stopped for good.
  std::vector<int32_t> feed;
  // Sampled model drafts: the law each draft token of `feed` was drawn from
  // ((feed.size() - 1) rows of n_vocab), and the draws' Rng.
  std::vector<float> draft_q;
  sampling::Rng draft_rng;
  int64_t draft_limit = 0;
  bool drafting_stopped = false;
  int64_t submit_ns = 0;
  double submit_cpu_ms = 0;
  int64_t first_token_ns = 0;
  int64_t last_token_ns = 0;
  // Captured logits / hidden rows cover slots below these (a preempted
  // request's recomputation is not captured twice).
  int64_t next_capture_slot = 0;
  int64_t next_hidden_slot = 0;
  RequestOutcome outcome;
  // Set during a step when the request ends; removed after the step.
  bool done = false;
  FinishReason done_reason = FinishReason::kLength;

  int64_t n_pending() const {
    int64_t n = static_cast<int64_t>(tokens.size()) - n_computed;
    for (const ChunkSpan& r : todo) n += r.end - r.begin;
    return n;
  }
  // Slots the cache holds (or reserves) for every token so far.
  int64_t n_slots() const { return static_cast<int64_t>(tokens.size()) - n_evicted; }
  // Slots [0, n_valid()) all hold KV.
  int64_t n_valid() const { return todo.empty() ? n_computed : todo.front().begin; }
  // Leading slots whose KV is exactly a full prefill's (prefix-cacheable).
  int64_t n_exact() const { return std::min(n_valid(), first_inexact_slot); }
  bool prompt_computed() const { return todo.empty() && n_computed >= n_prompt; }
  bool uses_prefix_cache() const { return req.use_prefix_cache && !req.embed; }
  // Generating: exactly the last sampled token is still to be fed back.
  bool decoding() const { return n_generated > 0 && todo.empty() && n_pending() == 1; }
  // `n` slots starting at `first_slot` were computed (in the order planned).
  void Advance(int64_t first_slot, int64_t n) {
    if (!todo.empty() && todo.front().begin == first_slot) {
      todo.front().begin += n;
      CHECK(todo.front().begin <= todo.front().end);
      if (todo.front().begin == todo.front().end) todo.pop_front();
    } else {
      CHECK(first_slot == n_computed);
      n_computed += n;
    }
  }
};

// An internal job computing a chunk-cache entry (prompt_planner.h).
struct Scheduler::FillJob {
  FillJob(kv::BlockPool* pool, ChunkFill f) : fill(std::move(f)), table(pool), source(pool) {}

  uint64_t id = 0;
  ChunkFill fill;
  kv::BlockTable table;    // fill.tokens at slots [0, n)
  kv::BlockTable source;   // the request's blocks over the chunk (or empty)
  int64_t source_first_slot = 0;
  int64_t n_computed = 0;
  bool started = false;    // table reserved
  bool in_step = false;    // has an entry in the step being built: never dropped then
};

}  // namespace chunkserve::sched
