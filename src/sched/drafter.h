// Drafter: a source of draft tokens that runs a model of its own for
// speculative decoding (SchedRequest::lookup_draft with source kModel): a
// small draft model with the target's vocabulary, or the target's own first
// layers (self-drafting). Prompt lookup needs no model and is not one.
//
// Propose() drafts for every decoding sequence of a step at once (each
// draft position is one batched forward over all of them). A query brings
// the sequence's whole token history; the drafter keeps whatever state it
// likes per sequence id (its own KV) and must bring it in line with the
// history by itself: tokens it drafted that the target rejected, or any
// history it never saw (a resumed or new sequence), are its business.
//
// Greedy queries (temperature <= 0) draft the drafter's argmax; sampled ones
// draw each token from softmax(logits / temperature) with the query's Rng
// and return that distribution too, as speculative sampling needs
// (Sampler::SampleAgainstDraftDistribution).
//
// Thread safety: the scheduler thread only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "sampling/rng.h"

namespace chunkserve::sched {

struct DraftQuery {
  uint64_t seq_id = 0;
  std::span<const int32_t> tokens;  // prompt + generated so far
  int64_t max_draft = 0;            // >= 1
  float temperature = 0;            // <= 0: greedy drafts
  sampling::Rng* rng = nullptr;     // sampled drafts' draws (the sequence's own)
  // Out: up to max_draft tokens (fewer or none when the drafter has no room).
  std::vector<int32_t> draft;
  // Out, sampled only: (draft.size(), n_vocab) the law each token was drawn from.
  std::vector<float> q;
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual int64_t n_vocab() const = 0;
  // An error fails nothing: the step runs without drafts.
  virtual Status Propose(std::span<DraftQuery> queries) = 0;
  // The sequence ended or was preempted: drop its state (and KV).
  virtual void Forget(uint64_t seq_id) = 0;
};

}  // namespace chunkserve::sched
