// One call of Attention as its per-ISA tasks see it (internal to kernels/):
// the job, the per-thread scratch, cache-row addressing and the bf16 rounding
// every path shares. The tasks themselves live in attention_reference.cpp,
// attention_avx2.cpp and attention_avx512.cpp behind
// attention_kernel_table.h.
//
// Work is split into tasks of (query tile, kv head, key chunk). A task
// gathers the rows of every query head that shares that kv head
// (grouped-query attention) for the queries of its tile, then walks the keys
// of its chunk in tiles of kKeyTile: scores for the tile, a running max and
// sum per row (online softmax), and the rescaled accumulation of V. It leaves
// that state, unnormalized, in its scratch (acc, row_max, row_sum); the
// dispatcher (attention.cpp) folds the chunks of a row in order and writes
// the output. Memory per task is O(rows * (head_dim + kKeyTile)),
// independent of the context length.
//
// Chunks are fixed key ranges [c * kSplitKeys, (c + 1) * kSplitKeys), the
// same for every query whatever else is in the call, so a row's result
// depends only on its query, its kv_len and the cache: batched equals
// serial, and chunks may run on one thread or spread over many (split-K,
// flash-decoding) with the same bits.
//
// Thread safety: a job is read-only during the call; each thread has its own
// scratch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "kernels/attention.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

constexpr int64_t kQueryTile = 32;
constexpr int64_t kKeyTile = 64;
// A multiple of every level's key tile (AVX-512 walks 2 * kKeyTile), so
// chunk bounds fall on tile bounds and a chunk's tiles are the unsplit ones.
constexpr int64_t kSplitKeys = kAttentionChunkKeys;
static_assert(kSplitKeys % (2 * kKeyTile) == 0);

// The keys [begin, end) of one chunk.
struct KeyRange {
  int64_t begin = 0;
  int64_t end = 0;
};

struct AttentionJob;
struct AttentionScratch;
// See attention_kernel_table.h.
using AttentionTaskFn = void (*)(const AttentionJob& job, int64_t q_begin, int64_t q_end, int kv_head,
                                 KeyRange keys, AttentionScratch& scratch);

struct AttentionJob {
  const float* q;
  int64_t n_q;
  const int32_t* kv_len;
  const KvBlocksView* kv;
  AttentionShape shape;
  float* out;
  int64_t row_floats;  // values per cache row: n_kv_heads * head_dim
  // Set by the dispatcher from the view (KvRowBytes): bytes of row_floats
  // values and of one head's head_dim values in the view's type.
  int64_t row_bytes = 0;
  int64_t head_bytes = 0;
  // A kQ8_0 view: the f32 / bf16 task its dequantized tiles run through
  // (attention_q8.cpp); null otherwise.
  AttentionTaskFn dequantized_task = nullptr;
};

// The job's byte strides from its view (call once the fields above are set).
inline void SetStrides(AttentionJob& job) {
  job.row_bytes = static_cast<int64_t>(KvRowBytes(job.kv->type, job.row_floats));
  job.head_bytes = static_cast<int64_t>(KvRowBytes(job.kv->type, job.shape.head_dim));
}

// First slot query i sees: 0, or the start of its sliding window.
inline int64_t KvBegin(const AttentionJob& job, int64_t i) {
  return job.shape.window > 0 ? std::max<int64_t>(0, job.kv_len[i] - job.shape.window) : 0;
}
// The first key tile (of `tile` keys) any query of [q_begin, q_end) sees.
inline int64_t FirstTile(const AttentionJob& job, int64_t q_begin, int64_t q_end, int64_t tile) {
  if (job.shape.window <= 0) return 0;
  int64_t begin = KvBegin(job, q_begin);
  for (int64_t i = q_begin + 1; i < q_end; ++i) begin = std::min(begin, KvBegin(job, i));
  return begin / tile * tile;
}


// kv_head's head_dim values of `slot` in `blocks` (of the view's type).
inline const void* CacheRow(const AttentionJob& job, std::span<const void* const> blocks, int64_t slot,
                            int kv_head) {
  const int64_t block = slot / job.kv->block_tokens;
  const int64_t row = slot % job.kv->block_tokens;
  return static_cast<const uint8_t*>(blocks[block]) +
         row * job.row_bytes + static_cast<int64_t>(kv_head) * job.head_bytes;
}
// rows[j] = the row of slot j0 + j for j in [0, n): one block lookup (a
// division) per block crossed, not per row.
inline void CacheRows(const AttentionJob& job, std::span<const void* const> blocks, int64_t j0, int64_t n,
                      int kv_head, const void** rows) {
  const int64_t bt = job.kv->block_tokens;
  const int64_t row_bytes = job.row_bytes;
  const int64_t head_offset = static_cast<int64_t>(kv_head) * job.head_bytes;
  for (int64_t j = 0; j < n;) {
    const int64_t slot = j0 + j;
    const int64_t in_block = slot % bt;
    const int64_t run = std::min(n - j, bt - in_block);
    const uint8_t* row = static_cast<const uint8_t*>(blocks[slot / bt]) + in_block * row_bytes + head_offset;
    for (int64_t r = 0; r < run; ++r, row += row_bytes) rows[j + r] = row;
    j += run;
  }
}
inline const void* KeyRow(const AttentionJob& job, int64_t slot, int kv_head) {
  return CacheRow(job, job.kv->k_blocks, slot, kv_head);
}
inline const void* ValueRow(const AttentionJob& job, int64_t slot, int kv_head) {
  return CacheRow(job, job.kv->v_blocks, slot, kv_head);
}
// The f32 paths read f32 views only.
inline const float* KeyRowF32(const AttentionJob& job, int64_t slot, int kv_head) {
  return static_cast<const float*>(KeyRow(job, slot, kv_head));
}
inline const float* ValueRowF32(const AttentionJob& job, int64_t slot, int kv_head) {
  return static_cast<const float*>(ValueRow(job, slot, kv_head));
}
// Element d of a cache row (one head's values) of any KV type, widened to
// f32 (exact: a q8_0 value is its f16 scale times an int8, 18 significant
// bits at most).
inline float CacheValue(const AttentionJob& job, const void* row, int d) {
  switch (job.kv->type) {
    case DType::kBF16: return BF16ToF32(static_cast<const uint16_t*>(row)[d]);
    case DType::kQ8_0: return Q8_0KvValue(row, d);
    default: return static_cast<const float*>(row)[d];
  }
}

// Per-thread scratch, sized for the largest task. A task leaves rows
// [0, rows) of acc, row_max and row_sum as its chunk's softmax state.
struct AttentionScratch {
  std::vector<float> acc;     // (rows, head_dim): sum over keys of p * V
  std::vector<float> scores;  // (rows, kKeyTile)
  std::vector<float> row_max; // (rows,): max score, -inf before any key
  std::vector<float> row_sum; // (rows,): sum of p = exp(score - row_max)
  std::vector<float> k_tile_t;  // (head_dim, kKeyTile): keys transposed
  // kBf16 operands as bf16 pairs (two bf16 in one uint32, lower dim first).
  std::vector<uint32_t> q_pairs;     // (rows, head_dim / 2)
  std::vector<uint32_t> key_pairs;   // (2 halves, head_dim / 2, kKeyTile): keys transposed
  std::vector<uint32_t> key_rows;    // (kKeyTile, head_dim / 2): staging for the transpose
  std::vector<uint32_t> value_pairs; // (kKeyTileWide / 2, head_dim): rows 2j and 2j+1 interleaved
  std::vector<uint32_t> p_pairs;     // (4 rows, kKeyTileWide / 2): the row block's P
  // The dispatcher's fold of a task's chunks so far (attention.cpp).
  std::vector<float> fold_acc;  // (rows, head_dim)
  std::vector<float> fold_max;
  std::vector<float> fold_sum;
  // AVX2 kBf16: the operands rounded to bf16 and kept as f32.
  std::vector<float> q_rounded;  // (rows, head_dim)
  std::vector<float> k_rounded;  // (kKeyTile, head_dim)
  std::vector<float> v_rounded;  // (kKeyTile, head_dim)
};

// x as bf16, rounded as vcvtneps2bf16 rounds: nearest even, subnormals to
// signed zero, NaN stays NaN.
inline uint16_t Bf16Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) == 0) bits &= 0x80000000u;
  std::memcpy(&x, &bits, 4);
  return F32ToBF16(x);
}
inline float RoundBf16(float x) { return BF16ToF32(Bf16Bits(x)); }

}  // namespace chunkserve::kernels
