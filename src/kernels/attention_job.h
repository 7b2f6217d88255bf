// One call of Attention as its per-ISA tasks see it (internal to kernels/):
// the job, the per-thread scratch, cache-row addressing and the bf16 rounding
// every path shares. The tasks themselves live in attention_reference.cpp,
// attention_avx2.cpp and attention_avx512.cpp behind
// attention_kernel_table.h.
//
// Work is split into tasks of (query tile, kv head). A task gathers the rows
// of every query head that shares that kv head (grouped-query attention) for
// the queries of its tile, then walks the keys in tiles of kKeyTile: scores
// for the tile, a running max and sum per row (online softmax), and the
// rescaled accumulation of V. Memory per task is O(rows * (head_dim +
// kKeyTile)), independent of the context length.
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

struct AttentionJob {
  const float* q;
  int64_t n_q;
  const int32_t* kv_len;
  const KvBlocksView* kv;
  AttentionShape shape;
  float* out;
  int64_t row_floats;  // values per cache row: n_kv_heads * head_dim
  int64_t kv_bytes;    // bytes per cache value: 4 (f32) or 2 (bf16)
};

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
         (row * job.row_floats + static_cast<int64_t>(kv_head) * job.shape.head_dim) * job.kv_bytes;
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
// Element d of a cache row of either type, widened to f32 (exact).
inline float CacheValue(const AttentionJob& job, const void* row, int d) {
  return job.kv_bytes == 2 ? BF16ToF32(static_cast<const uint16_t*>(row)[d]) : static_cast<const float*>(row)[d];
}

// Per-thread scratch, sized for the largest task.
struct AttentionScratch {
  std::vector<float> acc;     // (rows, head_dim)
  std::vector<float> scores;  // (rows, kKeyTile)
  std::vector<float> row_max;
  std::vector<float> row_sum;
  std::vector<float> k_tile_t;  // (head_dim, kKeyTile): keys transposed
  // kBf16 operands as bf16 pairs (two bf16 in one uint32, lower dim first).
  std::vector<uint32_t> q_pairs;     // (rows, head_dim / 2)
  std::vector<uint32_t> key_pairs;   // (2 halves, head_dim / 2, kKeyTile): keys transposed
  std::vector<uint32_t> key_rows;    // (kKeyTile, head_dim / 2): staging for the transpose
  std::vector<uint32_t> value_pairs; // (kKeyTileWide / 2, head_dim): rows 2j and 2j+1 interleaved
  std::vector<uint32_t> p_pairs;     // (4 rows, kKeyTileWide / 2): the row block's P
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
