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
// Outputs, in batch order: per sequence none, the logits of its last new
// token, the logits of every new token, or (embeddings) the final-norm
// hidden state of every new token, as its `output` asks.
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

enum class StepOutput {
  kNone,       // only fill the KV (a prefill slice that is not the last)
  kLastLogits,  // logits of the last new token (sampling)
  kAllLogits,   // logits of every new token (evaluation: captured logits)
  kHidden,     // final-norm hidden state of every new token (embeddings)
};

struct StepSequence {
  uint64_t seq_id = 0;               // stable for the request's life
  kv::BlockTable* table = nullptr;   // the sequence's blocks (borrowed)
  std::span<const int32_t> tokens;   // the new tokens
  int64_t first_slot = 0;
  // RoPE position of tokens[0] (then one more per token); -1: first_slot.
  // They differ once a KV policy dropped tokens (kv/kv_compaction.h).
  int64_t first_position = -1;
  StepOutput output = StepOutput::kNone;
  // > 0: the attention votes of the last vote_rows tokens come back in
  // StepLogits::votes (kernels/attention_votes.h).
  int64_t vote_rows = 0;
  // > 0 (one-token entries of a request under the pages policy): the token
  // reads about this many cached tokens per layer and KV head, the pages
  // that promise the highest scores (model/page_selection.h).
  int64_t page_budget = 0;
  // With page_budget: headwise instead (model/head_roles.h): retrieval heads
  // read everything, streaming heads the sinks and a recent window.
  bool headwise = false;

  int64_t position() const { return first_position >= 0 ? first_position : first_slot; }
};

// Attention votes of one batch entry: (n_layers, n_kv_heads, n_slots).
struct StepVotes {
  size_t entry = 0;  // index into the batch
  int n_layers = 0;
  int n_kv_heads = 0;
  int64_t n_slots = 0;
  std::vector<float> mass;
};

struct StepLogits {
  int64_t n_rows = 0;
  int64_t n_vocab = 0;
  std::vector<float> data;  // (n_rows, n_vocab)
  int64_t n_hidden_rows = 0;
  int64_t n_embd = 0;
  std::vector<float> hidden;  // (n_hidden_rows, n_embd)
  std::vector<StepVotes> votes;  // entries with vote_rows > 0, in batch order

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
  // Re-rotates the cached K rows of slots [first_slot, first_slot + n) by
  // `delta` positions (RoPE composes: a rotation by p then by delta is one
  // by p + delta), for KV policies whose positions are cache slots.
  virtual Status ShiftKeys(kv::BlockTable* table, int64_t first_slot, int64_t n, int64_t delta) {
    return UnimplementedError("this executor cannot re-rotate keys");
  }
  // GemFilter (kv/kv_policy.h): the n_keep tokens of `prompt` an early
  // layer's attention ranks highest, as ascending indices.
  virtual StatusOr<std::vector<int64_t>> FilterPrompt(std::span<const int32_t> prompt, int64_t n_keep) {
    return UnimplementedError("this executor cannot filter prompts");
  }
};

}  // namespace chunkserve::sched
