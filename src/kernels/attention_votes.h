// Attention votes: how much attention each cached slot receives from a few
// query rows, the statistic SnapKV (an observation window at the end of the
// prompt) and H2O (accumulated attention mass) rank tokens by.
//
// For query rows i in [0, n_q) (each (n_heads, head_dim), attending to
// slots [begin_i, kv_len[i]) exactly as Attention() would: same scale,
// soft-cap and sliding window), the softmax probabilities of every query
// head are added into mass[kv_head * n_slots + slot], kv_head being the KV
// head the query head reads (grouped-query attention sums its group).
// Computed in f32 from the cache rows as stored (bf16 rows widened).
//
// Thread safety: pure; parallel over KV heads on `pool` (may be null).
// REQUIRES: kv_len[i] <= n_slots; mass holds n_kv_heads * n_slots floats.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "kernels/attention.h"

namespace chunkserve::kernels {

void AddAttentionVotes(const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
                       const AttentionShape& shape, int64_t n_slots, float* mass, ThreadPool* pool);

}  // namespace chunkserve::kernels
