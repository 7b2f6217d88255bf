// Attention over q8_0 KV views (internal to kernels/): the task a SIMD level
// runs for a kQ8_0 view where it has no task of its own that reads q8_0
// rows (its table's q8_task: AVX-512 under bf16 operands has one, which
// dequantizes inside the key / value tile preparation it does anyway). It
// dequantizes the rows of its chunk that the
// queries can read, for its KV head only, into per-thread staging (f32, or
// bf16 under AttentionPrecision::kBf16, rounded as the bf16 kernels round
// f32 rows), and runs the level's own f32 / bf16 task over that staging.
// Dequantization is exact, so the result is that kernel's over an f32 cache
// of the dequantized values, bit for bit; the cache read from memory is the
// q8_0 bytes (34 per 32 values), the tile preparation the kernel's own.
//
// The scalar level needs none of this: its task reads q8_0 values directly
// (CacheValue), the twin both are tested against.
#include "kernels/attention_q8.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/logging.h"
#include "tensor/kv_row.h"

namespace chunkserve::kernels {
namespace {

struct Q8Staging {
  std::vector<uint8_t> k, v;              // (kSplitKeys, head_dim) values of the staged type
  std::vector<const void*> k_blocks, v_blocks;  // [chunk] -> k / v, others null
};
thread_local Q8Staging tls_staging;

}  // namespace

void DequantizeQ8_0HeadRows(const void* const* rows, int64_t n_rows, int head_dim, bool bf16, void* out) {
  static const DequantizeQ8RowsFn fn = GetAttentionKernelTable(ActiveIsa())->dequantize_q8_rows;
  fn(rows, n_rows, head_dim, bf16, out);
}

void AttentionTaskQ8(const AttentionJob& job, int64_t q_begin, int64_t q_end, int kv_head, KeyRange keys,
                     AttentionScratch& scratch) {
  CHECK(job.kv->type == DType::kQ8_0 && job.dequantized_task != nullptr);
  const int hd = job.shape.head_dim;
  const bool bf16 = job.shape.precision == AttentionPrecision::kBf16;
  const size_t value_bytes = bf16 ? 2 : 4;
  // Every key any level's tiles may read: from the first wide tile a query
  // sees to the longest query's end.
  int64_t max_len = 0;
  for (int64_t i = q_begin; i < q_end; ++i) max_len = std::max<int64_t>(max_len, job.kv_len[i]);
  const int64_t begin = std::max(keys.begin, FirstTile(job, q_begin, q_end, 2 * kKeyTile));
  const int64_t end = std::min(keys.end, max_len);

  Q8Staging& st = tls_staging;
  const size_t bytes = static_cast<size_t>(kSplitKeys * hd) * value_bytes;
  // Zero-filled once: rows no task wrote are finite, whatever a tile reads.
  if (st.k.size() < bytes) {
    st.k.assign(bytes, 0);
    st.v.assign(bytes, 0);
  }
  const int64_t chunk = keys.begin / kSplitKeys;
  st.k_blocks.assign(static_cast<size_t>(chunk + 1), nullptr);
  st.v_blocks.assign(static_cast<size_t>(chunk + 1), nullptr);
  st.k_blocks[static_cast<size_t>(chunk)] = st.k.data();
  st.v_blocks[static_cast<size_t>(chunk)] = st.v.data();

  if (end > begin) {
    const int64_t row_out = static_cast<int64_t>(hd * value_bytes);
    const void* rows[2 * kKeyTile];
    for (int64_t j0 = begin; j0 < end; j0 += 2 * kKeyTile) {
      const int64_t n = std::min<int64_t>(2 * kKeyTile, end - j0);
      const int64_t off = (j0 - keys.begin) * row_out;
      CacheRows(job, job.kv->k_blocks, j0, n, kv_head, rows);
      DequantizeQ8_0HeadRows(rows, n, hd, bf16, st.k.data() + off);
      CacheRows(job, job.kv->v_blocks, j0, n, kv_head, rows);
      DequantizeQ8_0HeadRows(rows, n, hd, bf16, st.v.data() + off);
    }
  }

  KvBlocksView staged;
  staged.k_blocks = st.k_blocks;
  staged.v_blocks = st.v_blocks;
  staged.block_tokens = kSplitKeys;
  staged.type = bf16 ? DType::kBF16 : DType::kF32;
  staged.row_floats = hd;
  AttentionJob inner = job;
  inner.kv = &staged;
  inner.row_floats = hd;
  inner.row_bytes = hd * static_cast<int64_t>(value_bytes);
  inner.head_bytes = 0;  // the staging holds kv_head's values alone
  inner.dequantized_task = nullptr;
  job.dequantized_task(inner, q_begin, q_end, kv_head, keys, scratch);
}

void DequantizeQ8RowsScalar(const void* const* rows, int64_t n_rows, int head_dim, bool bf16, void* out) {
  float tmp[1024];
  CHECK(head_dim <= 1024);
  for (int64_t r = 0; r < n_rows; ++r) {
    if (bf16) {
      DequantizeQ8_0KvRow(rows[r], head_dim, tmp);
      auto* o = static_cast<uint16_t*>(out) + r * head_dim;
      for (int d = 0; d < head_dim; ++d) o[d] = Bf16Bits(tmp[d]);
    } else {
      DequantizeQ8_0KvRow(rows[r], head_dim, static_cast<float*>(out) + r * head_dim);
    }
  }
}

}  // namespace chunkserve::kernels
