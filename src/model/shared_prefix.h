// Shared-prefix attention for a step's decodes (Hydragen): decode queries
// whose caches begin with the same blocks (prefix-cache hits on one system
// prompt or the same documents) run their shared whole chunks once, as one
// attention over all their queries (kernels::AttentionSharedPrefix), and
// their own keys after. Results equal per-sequence attention bit for bit.
//
// Thread safety: call from the forward pass's thread (it parallelizes inside).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/attention.h"

namespace chunkserve::model {

// One decode token's attention: q and out rows (n_heads, head_dim), over
// view's slots [0, kv_len).
struct DecodeAttention {
  const float* q = nullptr;
  float* out = nullptr;
  int32_t kv_len = 0;
  kernels::KvBlocksView view;
};

// Runs every set of at least two queries whose views share at least one
// whole chunk (kernels::kAttentionChunkKeys slots) of leading blocks, and
// returns which queries it ran (indices into `queries`, ascending); the
// caller runs the rest. REQUIRES: shape.window == 0.
std::vector<size_t> AttendSharedPrefixes(std::span<const DecodeAttention> queries,
                                         const kernels::AttentionShape& shape, ThreadPool* pool);

}  // namespace chunkserve::model
