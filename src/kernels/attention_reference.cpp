// The scalar level of attention (see attention_kernel_table.h): the
// reference every SIMD level is tested against, and what runs on CPUs
// without AVX2 or under CHUNKSERVE_ISA=scalar.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_kernel_table.h"
#include "kernels/attention_q8.h"

namespace chunkserve::kernels {
namespace {

// Scalar reference: one (query, head) row at a time, one key at a time. With
// AttentionPrecision::kBf16 it rounds every operand of both products to bf16
// first: the twin of the vdpbf16ps path, which computes P per key tile, so
// the two agree to the bf16 rounding of P, not bit for bit.
void AttentionTaskScalar(const AttentionJob& job, int64_t q_begin, int64_t q_end, int kv_head, KeyRange keys,
                         AttentionScratch& scratch) {
  const int hd = job.shape.head_dim;
  const int group = job.shape.n_heads / job.shape.n_kv_heads;
  const bool bf16 = job.shape.precision == AttentionPrecision::kBf16;
  auto operand = [bf16](float x) { return bf16 ? RoundBf16(x) : x; };
  const int64_t n_rows = (q_end - q_begin) * group;
  scratch.acc.assign(static_cast<size_t>(n_rows * hd), 0.0f);
  scratch.row_max.assign(static_cast<size_t>(n_rows), -std::numeric_limits<float>::infinity());
  scratch.row_sum.assign(static_cast<size_t>(n_rows), 0.0f);
  const float cap = job.shape.softcap;
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t i = q_begin + r / group;
    const int head = kv_head * group + static_cast<int>(r % group);
    const float* qrow = job.q + (i * job.shape.n_heads + head) * hd;
    float* acc = scratch.acc.data() + r * hd;
    float m = -std::numeric_limits<float>::infinity();
    float l = 0;
    const int64_t key_end = std::min<int64_t>(job.kv_len[i], keys.end);
    for (int64_t j = std::max(KvBegin(job, i), keys.begin); j < key_end; ++j) {
      const void* krow = KeyRow(job, j, kv_head);
      float s = 0;
      for (int d = 0; d < hd; ++d) s += operand(qrow[d]) * operand(CacheValue(job, krow, d));
      s *= job.shape.scale;
      if (cap > 0) s = cap * std::tanh(s / cap);
      const float m_new = std::max(m, s);
      const float corr = std::exp(m - m_new);
      const float p = std::exp(s - m_new);
      l = l * corr + p;
      const void* vrow = ValueRow(job, j, kv_head);
      const float p_op = operand(p);
      for (int d = 0; d < hd; ++d) acc[d] = acc[d] * corr + p_op * operand(CacheValue(job, vrow, d));
      m = m_new;
    }
    scratch.row_max[r] = m;
    scratch.row_sum[r] = l;
  }
}

AttentionTaskFn ScalarTask(const AttentionShape&) { return AttentionTaskScalar; }

void StoreBf16RowScalar(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16Bits(src[i]);
}

}  // namespace

const AttentionKernelTable* ReferenceAttentionKernelTable() {
  static const AttentionKernelTable table{Isa::kScalar, ScalarTask, StoreBf16RowScalar, DequantizeQ8RowsScalar, ScalarTask};
  return &table;
}

}  // namespace chunkserve::kernels
