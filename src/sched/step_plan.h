// PlanStep: one scheduler step's decisions as a pure function of a snapshot of
// the scheduler's state, so every batching policy reads in one place and is
// unit-tested without a model, a KV pool or a thread (step_plan_test.cpp).
//
// The policies, in the order they take the step's token budget
// (Sarathi-Serve's stall-free batching: decodes never wait for prefills):
//  1. Decodes, in admission order while budget is left: each decoding
//     sequence feeds its last token plus as much of its draft
//     (speculation) as the budget allows.
//  2. The decode latency limit: prefill work is cut so that the step's
//     predicted time stays within max_decode_slowdown x that of a
//     decode-only step (StepCostModel; off when the factor is 0).
//  3. Prefill slices of running sequences, in admission order.
//  4. Chunk-cache fill jobs: what is left, at most half of it when requests
//     wait (both progress); none while the last admission attempt lacked
//     KV blocks (requests first); at most max_fill_jobs jobs in a step.
//  5. Admissions: waiting requests that are not held back, in queue order,
//     up to max_running; each one's prefill takes from admission_budget.
//
// KV blocks are not decided here but claimed by the Scheduler as it carries
// the plan out (scheduler.cpp): a decode that finds no block preempts from
// the back of the running list, which also cancels the back sequences'
// entries, every fill job and every admission of the step (the pool is
// full); a fill job or an admission that finds no blocks ends its phase. So
// the plan's entries and token counts are upper bounds of what runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sched/step_cost_model.h"

namespace chunkserve::sched {

struct RunningView {
  bool decoding = false;   // exactly its last sampled token is to be fed
  int64_t n_draft = 0;     // decoding: draft tokens it could verify
  int64_t n_pending = 0;   // prefilling: slots still to compute
};

struct WaitingView {
  // False while held back: it shares a prefix another sequence is still
  // computing, waits for a fill job of one of its chunks, or its reused KV
  // is still being read.
  bool ready = false;
};

struct FillView {
  bool started = false;  // its blocks are held
  int64_t n_left = 0;    // tokens still to compute
};

struct StepView {
  std::vector<RunningView> running;  // admission order
  std::vector<WaitingView> waiting;  // queue order
  std::vector<FillView> fills;       // started ones first
  int64_t max_step_tokens = 0;
  int64_t max_running = 0;
  int64_t max_fill_jobs = 0;
  bool admission_lacked_blocks = false;  // the last admission attempt found no room
  double max_decode_slowdown = 0;        // 0: no latency limit
};

struct DecodeEntry {
  size_t running = 0;    // index into StepView::running
  int64_t n_draft = 0;   // draft tokens fed after the last token
};

struct SliceEntry {
  size_t index = 0;      // into StepView::running (prefills) or ::fills
  int64_t n_tokens = 0;
};

struct StepPlan {
  std::vector<DecodeEntry> decodes;  // ascending running index
  std::vector<SliceEntry> prefills;  // ascending running index
  std::vector<SliceEntry> fills;     // ascending fill index
  std::vector<size_t> admissions;    // waiting indices to try, in order
  int64_t admission_budget = 0;      // tokens the admitted prefills may take
  bool latency_limited = false;      // the latency limit cut the prefill work
};

// REQUIRES: view.max_step_tokens > 0. `cost` is only read.
StepPlan PlanStep(const StepView& view, const StepCostModel& cost);

}  // namespace chunkserve::sched
