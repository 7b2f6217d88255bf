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

// A set of at least two queries (indices into the step's decodes) whose
// views share their first `shared_keys` slots: whole chunks
// (kernels::kAttentionChunkKeys slots) of the same leading blocks, within
// every member's kv_len.
struct SharedPrefixGroup {
  std::vector<size_t> members;  // ascending
  int64_t shared_keys = 0;
};

// The groups of a step's decodes. The same for every layer: each layer's
// views follow the same block tables, so one layer's views find them for
// all (the forward pass finds them once per step).
std::vector<SharedPrefixGroup> FindSharedPrefixes(std::span<const DecodeAttention> queries);

// Runs `groups` over one layer's `queries` (the decodes they were found
// in, in the same order) and returns which queries it ran (ascending); the
// caller runs the rest. REQUIRES: shape.window == 0.
std::vector<size_t> AttendSharedPrefixGroups(std::span<const SharedPrefixGroup> groups,
                                             std::span<const DecodeAttention> queries,
                                             const kernels::AttentionShape& shape, ThreadPool* pool);

// Both, for one layer.
std::vector<size_t> AttendSharedPrefixes(std::span<const DecodeAttention> queries,
                                         const kernels::AttentionShape& shape, ThreadPool* pool);

}  // namespace chunkserve::model
