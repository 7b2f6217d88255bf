// StepExecutor: what the scheduler needs from a model, one forward step at a
// time. Injected so that sched/ runs in tests without a model (a fake
// executor computes deterministic logits from each sequence's history).
//
// One Run() call is one scheduler step: every sequence of the batch brings
// n >= 1 new tokens that occupy slots [first_slot, first_slot + n) of its
// block table, attending to all its slots [0, first_slot + i]. Slots below
// first_slot hold KV computed by earlier steps (or shared from the prefix
// cache); a sequence whose first_slot is 0 again after earlier steps was
// preempted and is being recomputed.
//
// Logits: one row per sequence with want_logits (that sequence's last new
// token), in batch order.
//
// Thread safety: Run() is called by the scheduler thread only.
// REQUIRES: each table has capacity for first_slot + n tokens.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "kv/block_table.h"

namespace chunkserve::sched {

struct StepSequence {
  uint64_t seq_id = 0;               // stable for the request's life
  kv::BlockTable* table = nullptr;   // the sequence's blocks (borrowed)
  std::span<const int32_t> tokens;   // the new tokens
  int64_t first_slot = 0;
  bool want_logits = false;
};

struct StepLogits {
  int64_t n_rows = 0;
  int64_t n_vocab = 0;
  std::vector<float> data;  // (n_rows, n_vocab)

  std::span<const float> Row(int64_t i) const {
    return {data.data() + i * n_vocab, static_cast<size_t>(n_vocab)};
  }
};

class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  virtual int64_t n_vocab() const = 0;
  // Runs one step; `logits` is resized and filled. An error fails every
  // request of the step (the scheduler reports it to each of them).
  virtual Status Run(std::span<const StepSequence> batch, StepLogits* logits) = 0;
  // The sequence ended or was preempted: drop any state kept for it.
  virtual void Forget(uint64_t seq_id) {}
};

}  // namespace chunkserve::sched
