// ForwardAtSlots: runs tokens at arbitrary (ascending) slots of one sequence
// through the model in as few Forward calls as possible.
//
// Selective recomputation of a reused chunk recomputes scattered tokens: each
// must attend to every slot up to its own (the reused rows in between
// included) and nothing after it. Model::Forward gives token i of a
// SequenceBatch the slots [0, first_slot + i], so each maximal run of
// consecutive slots becomes one SequenceBatch, and all runs go into ONE
// Forward call over the same KvCache: per layer the forward pass writes every
// token's K/V before any attention reads them, so a token in a later run sees
// the freshly computed rows of the earlier runs at every layer: exactly the
// causal semantics of a full prefill restricted to these tokens, with one
// matrix product per weight. (tests/engine/slot_forward_test checks this
// against one contiguous Forward.)
//
// Large inputs are cut into calls of at most max_tokens_per_call tokens, in
// slot order (chunked prefill), which keeps the same semantics.
//
// Thread safety: as Model::Forward (one caller at a time).
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"
#include "model/model.h"

namespace chunkserve::engine {

struct SlotBatch {
  std::span<const int32_t> tokens;
  std::span<const int64_t> slots;      // strictly ascending, one per token
  std::span<const int32_t> positions;  // RoPE positions; empty: the slots
  // kLast: logits of the last token; kAll: one row per token, in order.
  model::LogitsMode logits = model::LogitsMode::kLast;
};

// InvalidArgument when slots are not strictly ascending or spans disagree;
// Forward's errors pass through.
Status ForwardAtSlots(model::Model& model, model::KvCache* kv, const SlotBatch& batch,
                      int64_t max_tokens_per_call, model::Logits* logits);

}  // namespace chunkserve::engine
