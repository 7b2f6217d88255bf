// The AVX2 level of attention (see attention_kernel_table.h): f32 operands,
// and bf16 operands multiplied in f32 (AVX2 has no bf16 product), so AVX2
// CPUs read bf16 caches at f32 speed. Every function carries the level's
// target attribute; nothing here runs unless the CPU supports AVX2.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_kernel_table.h"
#include "kernels/attention_q8.h"
#include "kernels/simd_math.h"

namespace chunkserve::kernels {

// 8x8 register transposes where the width allows, scalar moves otherwise.
__attribute__((target("avx2,fma"))) void TransposeRows(const float* const* rows, int64_t n_rows, int width,
                                                       float* out) {
  if (width % 8 != 0) {
    for (int64_t j = 0; j < n_rows; ++j)
      for (int d = 0; d < width; ++d) out[d * kKeyTile + j] = rows[j][d];
    for (int64_t j = n_rows; j < kKeyTile; ++j)
      for (int d = 0; d < width; ++d) out[d * kKeyTile + j] = 0.0f;
    return;
  }
  alignas(32) static const float kZeros[8] = {};
  for (int64_t jb = 0; jb < kKeyTile; jb += 8) {
    for (int d0 = 0; d0 < width; d0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = jb + i < n_rows ? _mm256_loadu_ps(rows[jb + i] + d0) : _mm256_load_ps(kZeros);
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* dst = out + static_cast<int64_t>(d0) * kKeyTile + jb;
      _mm256_storeu_ps(dst + 0 * kKeyTile, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(dst + 1 * kKeyTile, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(dst + 2 * kKeyTile, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(dst + 3 * kKeyTile, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(dst + 4 * kKeyTile, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(dst + 5 * kKeyTile, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(dst + 6 * kKeyTile, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(dst + 7 * kKeyTile, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
}

__attribute__((target("avx2,fma"))) void TransposeKeyTile(const AttentionJob& job, int64_t j0, int64_t n_keys,
                                                          int kv_head, float* kt) {
  const float* k_rows[kKeyTile];
  CacheRows(job, job.kv->k_blocks, j0, n_keys, kv_head, reinterpret_cast<const void**>(k_rows));
  TransposeRows(k_rows, n_keys, job.shape.head_dim, kt);
}

namespace {

// x rounded to bf16 and back, 8 lanes, as Bf16Bits rounds finite values.
__attribute__((target("avx2,fma"))) inline __m256 RoundBf16Avx2(__m256 x) {
  const __m256i b = _mm256_castps_si256(x);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb);
  r = _mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xffff0000u)));
  const __m256i subnormal =
      _mm256_cmpeq_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7f800000)), _mm256_setzero_si256());
  r = _mm256_blendv_epi8(r, _mm256_and_si256(b, _mm256_set1_epi32(static_cast<int>(0x80000000u))), subnormal);
  return _mm256_castsi256_ps(r);
}

// out (n,) = a cache row (or a q row, type kF32) as bf16 operands in f32:
// bf16 rows widened, f32 rows rounded. REQUIRES: n % 8 == 0 for the vector
// loop; the tail is scalar.
__attribute__((target("avx2,fma"))) void Bf16OperandsAvx2(const void* row, DType type, int n, float* out) {
  int d = 0;
  if (type == DType::kBF16) {
    const auto* in = static_cast<const uint16_t*>(row);
    for (; d + 8 <= n; d += 8) {
      const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + d)));
      _mm256_storeu_ps(out + d, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; d < n; ++d) out[d] = BF16ToF32(in[d]);
    return;
  }
  const auto* in = static_cast<const float*>(row);
  for (; d + 8 <= n; d += 8) _mm256_storeu_ps(out + d, RoundBf16Avx2(_mm256_loadu_ps(in + d)));
  for (; d < n; ++d) out[d] = RoundBf16(in[d]);
}

// AVX2: keys of a tile are transposed once into (head_dim, kKeyTile) so each
// row's scores are 8-wide FMAs with a broadcast query element, no horizontal
// sums; the tile's transpose is shared by all rows (queries x grouped heads).
// kBf16: the same loop over operands rounded to bf16 in f32 (Q once per task,
// each K and V tile once for all rows, P as it is computed; the row sums
// stay f32), so AVX2 CPUs read bf16 caches at f32 speed.
template <bool kBf16>
__attribute__((target("avx2,fma"))) void AttentionTaskAvx2(const AttentionJob& job, int64_t q_begin,
                                                           int64_t q_end, int kv_head, KeyRange keys,
                                                           AttentionScratch& scratch) {
  const int hd = job.shape.head_dim;
  const int group = job.shape.n_heads / job.shape.n_kv_heads;
  const int64_t n_rows = (q_end - q_begin) * group;
  scratch.acc.assign(static_cast<size_t>(n_rows * hd), 0.0f);
  scratch.scores.resize(static_cast<size_t>(n_rows * kKeyTile));
  scratch.row_max.assign(static_cast<size_t>(n_rows), -std::numeric_limits<float>::infinity());
  scratch.row_sum.assign(static_cast<size_t>(n_rows), 0.0f);
  scratch.k_tile_t.resize(static_cast<size_t>(hd * kKeyTile));
  float* kt = scratch.k_tile_t.data();
  auto q_row = [&](int64_t r) {
    const int64_t i = q_begin + r / group;
    const int head = kv_head * group + static_cast<int>(r % group);
    return job.q + (i * job.shape.n_heads + head) * hd;
  };
  if constexpr (kBf16) {
    scratch.q_rounded.resize(static_cast<size_t>(n_rows * hd));
    scratch.k_rounded.resize(static_cast<size_t>(kKeyTile * hd));
    scratch.v_rounded.resize(static_cast<size_t>(kKeyTile * hd));
    for (int64_t r = 0; r < n_rows; ++r) Bf16OperandsAvx2(q_row(r), DType::kF32, hd, &scratch.q_rounded[r * hd]);
  }

  int64_t max_len = 0;
  for (int64_t i = q_begin; i < q_end; ++i) max_len = std::max<int64_t>(max_len, job.kv_len[i]);
  const __m256 scale = _mm256_set1_ps(job.shape.scale);
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256i lane_ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const float cap = job.shape.softcap;

  const int64_t keys_end = std::min(max_len, keys.end);
  for (int64_t j0 = std::max(FirstTile(job, q_begin, q_end, kKeyTile), keys.begin); j0 < keys_end; j0 += kKeyTile) {
    const int64_t n_keys = std::min(kKeyTile, keys_end - j0);
    // Row pointers once per tile: the block lookup divides, and the inner
    // loops below would otherwise pay it per key per row.
    const float* v_rows[kKeyTile];
    CacheRows(job, job.kv->v_blocks, j0, n_keys, kv_head, reinterpret_cast<const void**>(v_rows));
    if constexpr (kBf16) {
      const void* cache_k[kKeyTile];
      CacheRows(job, job.kv->k_blocks, j0, n_keys, kv_head, cache_k);
      const float* k_rows[kKeyTile];
      for (int64_t j = 0; j < n_keys; ++j) {
        float* k = &scratch.k_rounded[j * hd];
        float* v = &scratch.v_rounded[j * hd];
        Bf16OperandsAvx2(cache_k[j], job.kv->type, hd, k);
        Bf16OperandsAvx2(v_rows[j], job.kv->type, hd, v);
        k_rows[j] = k;
        v_rows[j] = v;
      }
      TransposeRows(k_rows, n_keys, hd, kt);
    } else {
      // Transpose the tile's keys; columns past n_keys are zero (masked later).
      TransposeKeyTile(job, j0, n_keys, kv_head, kt);
    }

    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t i = q_begin + r / group;
      const int64_t valid = std::min<int64_t>(job.kv_len[i] - j0, n_keys);
      // Keys [lo, valid) of the tile are this row's; a row that sees none
      // of them skips the tile (so a row's first tile has a finite max).
      const int64_t lo = std::max<int64_t>(KvBegin(job, i) - j0, 0);
      if (valid <= lo) continue;
      const float* qrow = kBf16 ? &scratch.q_rounded[r * hd] : q_row(r);
      float* s = scratch.scores.data() + r * kKeyTile;
      // s (kKeyTile,) = K_tile (kKeyTile, hd) @ q (hd,), 8 keys per register.
      static_assert(kKeyTile == 64);
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
      for (int d = 0; d < hd; ++d) {
        const __m256 qd = _mm256_broadcast_ss(qrow + d);
        const float* k = kt + d * kKeyTile;
        s0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 0), s0);
        s1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 8), s1);
        s2 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 16), s2);
        s3 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 24), s3);
        s4 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 32), s4);
        s5 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 40), s5);
        s6 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 48), s6);
        s7 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 56), s7);
      }
      const __m256 acc_s[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
      __m256 tile_max = neg_inf;
      const int n_vec = static_cast<int>((valid + 7) / 8);
      for (int c = 0; c < n_vec; ++c) {
        __m256 v = _mm256_mul_ps(acc_s[c], scale);
        if (cap > 0) v = SoftcapAvx2(v, cap);
        // Mask keys past this row's kv_len (causality) and before its
        // window to -inf.
        const __m256i idx = _mm256_add_epi32(lane_ids, _mm256_set1_epi32(c * 8));
        __m256i keep_i = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)), idx);
        if (lo > 0) {
          keep_i = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lo)), idx), keep_i);
        }
        v = _mm256_blendv_ps(neg_inf, v, _mm256_castsi256_ps(keep_i));
        _mm256_storeu_ps(s + c * 8, v);
        tile_max = _mm256_max_ps(tile_max, v);
      }
      const float m_old = scratch.row_max[r];
      const float m_new = std::max(m_old, HorizontalMax(tile_max));
      const float corr = std::exp(m_old - m_new);  // 0 on the first tile
      const __m256 m_vec = _mm256_set1_ps(m_new);
      __m256 sum = _mm256_setzero_ps();
      for (int c = 0; c < n_vec; ++c) {
        const __m256 p = ExpNonPositive(_mm256_sub_ps(_mm256_loadu_ps(s + c * 8), m_vec));
        _mm256_storeu_ps(s + c * 8, kBf16 ? RoundBf16Avx2(p) : p);
        sum = _mm256_add_ps(sum, p);
      }
      scratch.row_sum[r] = scratch.row_sum[r] * corr + HorizontalSum(sum);
      scratch.row_max[r] = m_new;

      // acc (hd,) = acc * corr + P (valid,) @ V_tile (valid, hd).
      float* acc = scratch.acc.data() + r * hd;
      const __m256 corr_v = _mm256_set1_ps(corr);
      int d = 0;
      for (; d + 32 <= hd; d += 32) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d), corr_v);
        __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 8), corr_v);
        __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 16), corr_v);
        __m256 a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 24), corr_v);
        for (int64_t j = 0; j < valid; ++j) {
          const float* v = v_rows[j] + d;
          const __m256 p = _mm256_broadcast_ss(s + j);
          a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v), a0);
          a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8), a1);
          a2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 16), a2);
          a3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 24), a3);
        }
        _mm256_storeu_ps(acc + d, a0);
        _mm256_storeu_ps(acc + d + 8, a1);
        _mm256_storeu_ps(acc + d + 16, a2);
        _mm256_storeu_ps(acc + d + 24, a3);
      }
      for (; d + 8 <= hd; d += 8) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d), corr_v);
        for (int64_t j = 0; j < valid; ++j) {
          const __m256 p = _mm256_broadcast_ss(s + j);
          a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v_rows[j] + d), a0);
        }
        _mm256_storeu_ps(acc + d, a0);
      }
      for (; d < hd; ++d) {
        float a = acc[d] * corr;
        for (int64_t j = 0; j < valid; ++j) a += s[j] * v_rows[j][d];
        acc[d] = a;
      }
    }
  }
}

AttentionTaskFn Avx2Task(const AttentionShape& shape) {
  return shape.precision == AttentionPrecision::kBf16 ? AttentionTaskAvx2<true> : AttentionTaskAvx2<false>;
}

// AVX2 has no bf16 conversion instruction: the scalar rounding is the store.
void StoreBf16RowAvx2(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16Bits(src[i]);
}

}  // namespace

const AttentionKernelTable* Avx2AttentionKernelTable() {
  static const AttentionKernelTable table{Isa::kAvx2, Avx2Task, StoreBf16RowAvx2, DequantizeQ8RowsScalar, nullptr};
  return &table;
}

}  // namespace chunkserve::kernels
