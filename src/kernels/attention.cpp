// Tiled online-softmax attention (see attention.h).
//
// Attention's cost grows with the context, so it has a scalar reference, an
// AVX2+FMA and an AVX-512 path (f32 operands, and bf16 operands on
// vdpbf16ps) chosen once at start-up; tests run each against a materialized
// softmax and the SIMD paths against the scalar twin.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/logging.h"
#include "kernels/simd_math.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

//
// Work is split into tasks of (query tile, kv head). A task gathers the rows
// of every query head that shares that kv head (grouped-query attention) for
// the queries of its tile, then walks the keys in tiles of kKeyTile: scores
// for the tile, a running max and sum per row (online softmax), and the
// rescaled accumulation of V. Memory per task is O(rows * (head_dim +
// kKeyTile)), independent of the context length.

namespace {

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

// Scalar reference: one (query, head) row at a time, one key at a time. With
// AttentionPrecision::kBf16 it rounds every operand of both products to bf16
// first: the twin of the vdpbf16ps path, which computes P per key tile, so
// the two agree to the bf16 rounding of P, not bit for bit.
void AttentionTaskScalar(const AttentionJob& job, int64_t q_begin, int64_t q_end, int kv_head,
                         AttentionScratch& scratch) {
  const int hd = job.shape.head_dim;
  const int group = job.shape.n_heads / job.shape.n_kv_heads;
  const bool bf16 = job.shape.precision == AttentionPrecision::kBf16;
  auto operand = [bf16](float x) { return bf16 ? RoundBf16(x) : x; };
  scratch.acc.resize(static_cast<size_t>(hd));
  float* acc = scratch.acc.data();
  const float cap = job.shape.softcap;
  for (int64_t i = q_begin; i < q_end; ++i) {
    const int64_t n_keys = job.kv_len[i];
    const int64_t first_key = KvBegin(job, i);
    for (int g = 0; g < group; ++g) {
      const int head = kv_head * group + g;
      const float* qrow = job.q + (i * job.shape.n_heads + head) * hd;
      float* orow = job.out + (i * job.shape.n_heads + head) * hd;
      std::fill(acc, acc + hd, 0.0f);
      float m = -std::numeric_limits<float>::infinity();
      float l = 0;
      for (int64_t j = first_key; j < n_keys; ++j) {
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
      const float inv = l > 0 ? 1.0f / l : 0.0f;
      for (int d = 0; d < hd; ++d) orow[d] = acc[d] * inv;
    }
  }
}

#if defined(__x86_64__)

// out (width, kKeyTile) = rows (n_rows <= kKeyTile, width)^T of 32-bit
// elements; columns past n_rows are zero. 8x8 register transposes where the
// width allows, scalar moves otherwise.
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

// kt (head_dim, kKeyTile) = keys [j0, j0 + n_keys) of kv_head, transposed.
__attribute__((target("avx2,fma"))) void TransposeKeyTile(const AttentionJob& job, int64_t j0, int64_t n_keys,
                                                          int kv_head, float* kt) {
  const float* k_rows[kKeyTile];
  for (int64_t j = 0; j < n_keys; ++j) k_rows[j] = KeyRowF32(job, j0 + j, kv_head);
  TransposeRows(k_rows, n_keys, job.shape.head_dim, kt);
}

// AVX2: keys of a tile are transposed once into (head_dim, kKeyTile) so each
// row's scores are 8-wide FMAs with a broadcast query element, no horizontal
// sums; the tile's transpose is shared by all rows (queries x grouped heads).
// kBf16: the same loop over operands rounded to bf16 in f32 (Q once per task,
// each K and V tile once for all rows, P as it is computed; the row sums
// stay f32), so AVX2 CPUs read bf16 caches at f32 speed.
template <bool kBf16>
__attribute__((target("avx2,fma"))) void AttentionTaskAvx2(const AttentionJob& job, int64_t q_begin,
                                                           int64_t q_end, int kv_head,
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

  for (int64_t j0 = FirstTile(job, q_begin, q_end, kKeyTile); j0 < max_len; j0 += kKeyTile) {
    const int64_t n_keys = std::min(kKeyTile, max_len - j0);
    // Row pointers once per tile: the block lookup divides, and the inner
    // loops below would otherwise pay it per key per row.
    const float* v_rows[kKeyTile];
    if constexpr (kBf16) {
      const float* k_rows[kKeyTile];
      for (int64_t j = 0; j < n_keys; ++j) {
        float* k = &scratch.k_rounded[j * hd];
        float* v = &scratch.v_rounded[j * hd];
        Bf16OperandsAvx2(KeyRow(job, j0 + j, kv_head), job.kv->type, hd, k);
        Bf16OperandsAvx2(ValueRow(job, j0 + j, kv_head), job.kv->type, hd, v);
        k_rows[j] = k;
        v_rows[j] = v;
      }
      TransposeRows(k_rows, n_keys, hd, kt);
    } else {
      for (int64_t j = 0; j < n_keys; ++j) v_rows[j] = ValueRowF32(job, j0 + j, kv_head);
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

  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t i = q_begin + r / group;
    const int head = kv_head * group + static_cast<int>(r % group);
    float* orow = job.out + (i * job.shape.n_heads + head) * hd;
    const float l = scratch.row_sum[r];
    const float inv = l > 0 ? 1.0f / l : 0.0f;
    const float* acc = scratch.acc.data() + r * hd;
    for (int d = 0; d < hd; ++d) orow[d] = acc[d] * inv;
  }
}

// AVX-512: the AVX2 scheme at 16 lanes, with four rows at a time in both
// products so each loaded key / value vector feeds four FMAs (the AVX2 path
// is load-bound). The rows of a task are (queries of the tile) x (query
// heads sharing the kv head), so each K/V row is read once per group and
// query tile, not once per head. REQUIRES: head_dim % 16 == 0.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Keys per AVX-512 tile: two 64-key halves (each half's transpose is the
// AVX2 layout, (head_dim, kKeyTile)). A wider tile halves the per-tile
// bookkeeping of the online softmax (horizontal max and sum, the correction
// exp, the rescale of the accumulators), which with GQA rows is most of the
// work that is not an FMA.
constexpr int64_t kKeyTileWide = 2 * kKeyTile;

// acc (4 rows, dims [d, d + 16 kDVec)) = acc * corr + P (4, n_keys) @ V.
// The width is a template argument so the 4 x kDVec accumulators live in
// registers: with a run-time width GCC 12 kept them on the stack and copied
// each value row with memcpy, which cost a fifth of the kernel.
template <int kDVec>
CS_AVX512 inline void PvRowBlock(float* acc, int hd, int d, const float* corr, const void* const* v_rows,
                                 int64_t n_keys, const float* p_block) {
  constexpr int kRowBlock = 4;
  __m512 a[kRowBlock][kDVec];
  for (int k = 0; k < kRowBlock; ++k) {
    const __m512 c = _mm512_set1_ps(corr[k]);
    for (int c4 = 0; c4 < kDVec; ++c4) a[k][c4] = _mm512_mul_ps(_mm512_loadu_ps(acc + k * hd + d + 16 * c4), c);
  }
  for (int64_t j = 0; j < n_keys; ++j) {
    const float* vr = static_cast<const float*>(v_rows[j]) + d;
    __m512 vv[kDVec];
    for (int c4 = 0; c4 < kDVec; ++c4) vv[c4] = _mm512_loadu_ps(vr + 16 * c4);
    for (int k = 0; k < kRowBlock; ++k) {
      const __m512 pk = _mm512_set1_ps(p_block[k * kKeyTileWide + j]);
      for (int c4 = 0; c4 < kDVec; ++c4) a[k][c4] = _mm512_fmadd_ps(pk, vv[c4], a[k][c4]);
    }
  }
  for (int k = 0; k < kRowBlock; ++k)
    for (int c4 = 0; c4 < kDVec; ++c4) _mm512_storeu_ps(acc + k * hd + d + 16 * c4, a[k][c4]);
}

// The kBf16 building blocks: out of line with their own target (vdpbf16ps
// needs AVX512_BF16, which the f32 path must not assume), called per key tile
// or row block, so the calls cost nothing next to the products.
#define CS_AVX512_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma"), noinline))

CS_AVX512 inline __m512bh AsBf16(__m512i x) { return reinterpret_cast<__m512bh&>(x); }

// dst[0, n / 2) = src[0, n) rounded to bf16 pairs (element 2i in the low
// half of dst[i]). REQUIRES: n % 16 == 0.
CS_AVX512_BF16 void PackBf16Pairs(const float* src, int64_t n, uint32_t* dst) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i / 2, reinterpret_cast<const __m512i&>(b));
  }
  if (i < n) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i / 2), reinterpret_cast<const __m256i&>(b));
  }
}

// key_pairs (head_dim / 2, kKeyTile) = keys [j0, j0 + n_keys) of kv_head as
// bf16 pairs, transposed (pair d of key j at [d * kKeyTile + j]); columns
// past n_keys are zero. A bf16 cache row already is head_dim / 2 pairs; f32
// rows are rounded into staging, (kKeyTile, head_dim / 2), first.
CS_AVX512_BF16 void PairKeyTileBf16(const AttentionJob& job, int64_t j0, int64_t n_keys, int kv_head,
                                    uint32_t* staging, uint32_t* key_pairs) {
  const int half_dim = job.shape.head_dim / 2;
  const float* rows[kKeyTile];  // 32-bit units (pairs) to transpose
  for (int64_t j = 0; j < n_keys; ++j) {
    if (job.kv->type == DType::kBF16) {
      rows[j] = static_cast<const float*>(KeyRow(job, j0 + j, kv_head));
    } else {
      PackBf16Pairs(KeyRowF32(job, j0 + j, kv_head), job.shape.head_dim, staging + j * half_dim);
      rows[j] = reinterpret_cast<const float*>(staging + j * half_dim);
    }
  }
  TransposeRows(rows, n_keys, half_dim, reinterpret_cast<float*>(key_pairs));
}

// value_pairs (ceil(n_keys / 2), head_dim): element (j, d) pairs the bf16 of
// V[2j][d] (low half) with V[2j + 1][d]; a missing last odd row is zero.
// v_rows are cache rows of `type` (f32 rows are rounded).
CS_AVX512_BF16 void PairValueTileBf16(const void* const* v_rows, int64_t n_keys, int hd, DType type,
                                      uint32_t* value_pairs) {
  // cvtne2ps gives [a0 .. a15, b0 .. b15]; interleave to [a0, b0, a1, b1, ...].
  alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                       21, 6, 22, 7, 23, 8,  24, 9,  25, 10, 26,
                                                       11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i interleave = _mm512_load_si512(kInterleave);
  for (int64_t j = 0; j < n_keys; j += 2) {
    const void* a = v_rows[j];
    const void* b = j + 1 < n_keys ? v_rows[j + 1] : nullptr;
    uint32_t* out = value_pairs + (j / 2) * hd;
    for (int d = 0; d < hd; d += 16) {
      __m512i ab;
      if (type == DType::kBF16) {
        const auto* a16 = static_cast<const uint16_t*>(a);
        const auto* b16 = static_cast<const uint16_t*>(b);
        const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a16 + d));
        const __m256i vb = b ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b16 + d)) : _mm256_setzero_si256();
        ab = _mm512_inserti64x4(_mm512_castsi256_si512(va), vb, 1);
      } else {
        const auto* af = static_cast<const float*>(a);
        const auto* bf = static_cast<const float*>(b);
        const __m512 vb = b ? _mm512_loadu_ps(bf + d) : _mm512_setzero_ps();
        const __m512bh pair = _mm512_cvtne2ps_pbh(vb, _mm512_loadu_ps(af + d));
        ab = reinterpret_cast<const __m512i&>(pair);
      }
      _mm512_storeu_si512(out + d, _mm512_permutexvar_epi16(interleave, ab));
    }
  }
}

// s (4 rows, 64 keys) = Q rows (bf16 pairs) @ K^T (bf16 pairs, transposed),
// two multiply-adds per lane per vdpbf16ps.
CS_AVX512_BF16 void ScoresBf16(const uint32_t* key_pairs, int half_dim, const uint32_t* const* q_pairs,
                               __m512 (*s)[4]) {
  __m512 acc[4][4];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_ps();
  for (int d = 0; d < half_dim; ++d) {
    const uint32_t* k = key_pairs + d * kKeyTile;
    const __m512bh k0 = AsBf16(_mm512_loadu_si512(k)), k1 = AsBf16(_mm512_loadu_si512(k + 16)),
                   k2 = AsBf16(_mm512_loadu_si512(k + 32)), k3 = AsBf16(_mm512_loadu_si512(k + 48));
    for (int r = 0; r < 4; ++r) {
      const __m512bh q = AsBf16(_mm512_set1_epi32(static_cast<int>(q_pairs[r][d])));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], q, k0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], q, k1);
      acc[r][2] = _mm512_dpbf16_ps(acc[r][2], q, k2);
      acc[r][3] = _mm512_dpbf16_ps(acc[r][3], q, k3);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) s[r][c] = acc[r][c];
}

// PvRowBlock with bf16 pairs: acc (4 rows, dims [d, d + 16 kDVec)) =
// acc * corr + P (4, 2 n_pairs) @ V, one key pair per vdpbf16ps.
template <int kDVec>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma"))) inline void PvRowBlockBf16(
    float* acc, int hd, int d, const float* corr, const uint32_t* value_pairs, int64_t n_pairs,
    const uint32_t* p_pairs) {
  constexpr int kRowBlock = 4;
  __m512 a[kRowBlock][kDVec];
  for (int k = 0; k < kRowBlock; ++k) {
    const __m512 c = _mm512_set1_ps(corr[k]);
    for (int c4 = 0; c4 < kDVec; ++c4) a[k][c4] = _mm512_mul_ps(_mm512_loadu_ps(acc + k * hd + d + 16 * c4), c);
  }
  for (int64_t j = 0; j < n_pairs; ++j) {
    const uint32_t* vr = value_pairs + j * hd + d;
    __m512bh vv[kDVec];
    for (int c4 = 0; c4 < kDVec; ++c4) vv[c4] = AsBf16(_mm512_loadu_si512(vr + 16 * c4));
    for (int k = 0; k < kRowBlock; ++k) {
      const __m512bh pk = AsBf16(_mm512_set1_epi32(static_cast<int>(p_pairs[k * (kKeyTileWide / 2) + j])));
      for (int c4 = 0; c4 < kDVec; ++c4) a[k][c4] = _mm512_dpbf16_ps(a[k][c4], pk, vv[c4]);
    }
  }
  for (int k = 0; k < kRowBlock; ++k)
    for (int c4 = 0; c4 < kDVec; ++c4) _mm512_storeu_ps(acc + k * hd + d + 16 * c4, a[k][c4]);
}

// P (4 rows, keys [0, 16 n_vec) of the tile) = exp(score - m_new[row]),
// rounded to bf16 pairs as it is computed (p_pairs, (4, kKeyTileWide / 2));
// sums[row] = its f32 sum. A row with valid == 0 gets P = 0, sum 0.
CS_AVX512_BF16 void ExpRowsBf16(const float* p_block, const int64_t* valid, const float* m_new, int n_vec,
                                float* sums, uint32_t* p_pairs) {
  for (int k = 0; k < 4; ++k) {
    const float* p = p_block + k * kKeyTileWide;
    uint32_t* pp = p_pairs + k * (kKeyTileWide / 2);
    if (valid[k] == 0) {
      for (int c = 0; c < n_vec; c += 2) _mm512_storeu_si512(pp + 8 * c, _mm512_setzero_si512());
      sums[k] = 0;
      continue;
    }
    const __m512 m_vec = _mm512_set1_ps(m_new[k]);
    __m512 sum = _mm512_setzero_ps();
    for (int c = 0; c < n_vec; c += 2) {
      const __m512 e0 = ExpNonPositive512(_mm512_sub_ps(_mm512_loadu_ps(p + 16 * c), m_vec));
      const __m512 e1 = c + 1 < n_vec ? ExpNonPositive512(_mm512_sub_ps(_mm512_loadu_ps(p + 16 * c + 16), m_vec))
                                      : _mm512_setzero_ps();
      sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
      const __m512bh b = _mm512_cvtne2ps_pbh(e1, e0);
      _mm512_storeu_si512(pp + 8 * c, reinterpret_cast<const __m512i&>(b));
    }
    sums[k] = HorizontalSum512(sum);
  }
}

// acc = acc * corr + P @ V over the first n_keys keys of the tile (pairs
// from ExpRowsBf16; a pair's second key past n_keys has P = 0).
CS_AVX512_BF16 void PvBf16(float* acc_block, int hd, const float* corr, const uint32_t* value_pairs,
                           int64_t n_keys, const uint32_t* p_pairs) {
  const int64_t n_pairs = (n_keys + 1) / 2;
  int d = 0;
  for (; d + 64 <= hd; d += 64) PvRowBlockBf16<4>(acc_block, hd, d, corr, value_pairs, n_pairs, p_pairs);
  switch ((hd - d) / 16) {
    case 3: PvRowBlockBf16<3>(acc_block, hd, d, corr, value_pairs, n_pairs, p_pairs); break;
    case 2: PvRowBlockBf16<2>(acc_block, hd, d, corr, value_pairs, n_pairs, p_pairs); break;
    case 1: PvRowBlockBf16<1>(acc_block, hd, d, corr, value_pairs, n_pairs, p_pairs); break;
    default: break;
  }
}

// One (query tile, kv head) task. kBf16 runs the same tiles and online
// softmax with bf16 operands: Q rounded once per task, each key / value
// tile paired once for all its row blocks, P rounded as it is computed, both
// products on vdpbf16ps (the helpers above); kF32 reads f32 rows only.
template <bool kBf16>
CS_AVX512 void AttentionTaskAvx512(const AttentionJob& job, int64_t q_begin, int64_t q_end, int kv_head,
                                   AttentionScratch& scratch) {
  const int hd = job.shape.head_dim;
  const int group = job.shape.n_heads / job.shape.n_kv_heads;
  const int64_t n_rows = (q_end - q_begin) * group;
  constexpr int kRowBlock = 4;
  const int64_t n_rows_padded = (n_rows + kRowBlock - 1) / kRowBlock * kRowBlock;
  scratch.acc.assign(static_cast<size_t>(n_rows_padded * hd), 0.0f);
  scratch.scores.assign(static_cast<size_t>(kRowBlock * kKeyTileWide), 0.0f);
  scratch.row_max.assign(static_cast<size_t>(n_rows_padded), -std::numeric_limits<float>::infinity());
  scratch.row_sum.assign(static_cast<size_t>(n_rows_padded), 0.0f);
  scratch.k_tile_t.resize(static_cast<size_t>(2 * hd * kKeyTile));
  float* kt = scratch.k_tile_t.data();
  // P of the current row block only: (kRowBlock, kKeyTileWide), stays in L1.
  float* p_block = scratch.scores.data();

  // Row r -> (query index, its q row); padding rows repeat the last row and
  // are never written out.
  auto q_row = [&](int64_t r) {
    r = std::min(r, n_rows - 1);
    const int64_t i = q_begin + r / group;
    const int head = kv_head * group + static_cast<int>(r % group);
    return job.q + (i * job.shape.n_heads + head) * hd;
  };
  auto row_len = [&](int64_t r) { return r < n_rows ? int64_t{job.kv_len[q_begin + r / group]} : int64_t{0}; };
  const int half_dim = hd / 2;
  if constexpr (kBf16) {
    scratch.q_pairs.resize(static_cast<size_t>(n_rows_padded * half_dim));
    scratch.key_pairs.resize(static_cast<size_t>(2 * half_dim * kKeyTile));
    scratch.key_rows.resize(static_cast<size_t>(kKeyTile * half_dim));
    scratch.value_pairs.resize(static_cast<size_t>(kKeyTileWide / 2 * hd));
    scratch.p_pairs.resize(static_cast<size_t>(4 * kKeyTileWide / 2));
    for (int64_t r = 0; r < n_rows_padded; ++r) PackBf16Pairs(q_row(r), hd, &scratch.q_pairs[r * half_dim]);
  }

  int64_t max_len = 0;
  for (int64_t i = q_begin; i < q_end; ++i) max_len = std::max<int64_t>(max_len, job.kv_len[i]);
  const __m512 scale = _mm512_set1_ps(job.shape.scale);
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i lane_ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const float cap = job.shape.softcap;
  auto row_begin = [&](int64_t r) { return r < n_rows ? KvBegin(job, q_begin + r / group) : int64_t{0}; };

  for (int64_t j0 = FirstTile(job, q_begin, q_end, kKeyTileWide); j0 < max_len; j0 += kKeyTileWide) {
    const int64_t n_keys = std::min(kKeyTileWide, max_len - j0);
    const void* v_rows[kKeyTileWide];
    for (int64_t j = 0; j < n_keys; ++j) v_rows[j] = ValueRow(job, j0 + j, kv_head);
    if constexpr (kBf16) {
      uint32_t* kp = scratch.key_pairs.data();
      PairKeyTileBf16(job, j0, std::min(kKeyTile, n_keys), kv_head, scratch.key_rows.data(), kp);
      if (n_keys > kKeyTile)
        PairKeyTileBf16(job, j0 + kKeyTile, n_keys - kKeyTile, kv_head, scratch.key_rows.data(),
                        kp + half_dim * kKeyTile);
      PairValueTileBf16(v_rows, n_keys, hd, job.kv->type, scratch.value_pairs.data());
    } else {
      TransposeKeyTile(job, j0, std::min(kKeyTile, n_keys), kv_head, kt);
      if (n_keys > kKeyTile) TransposeKeyTile(job, j0 + kKeyTile, n_keys - kKeyTile, kv_head, kt + hd * kKeyTile);
    }

    for (int64_t rb = 0; rb < n_rows_padded; rb += kRowBlock) {
      // Row k sees keys [lo[k], valid[k]) of the tile; one that sees none
      // of them counts as valid 0 (so a row's first tile has a finite max).
      int64_t valid[kRowBlock], lo[kRowBlock];
      int64_t block_valid = 0;
      for (int k = 0; k < kRowBlock; ++k) {
        valid[k] = std::clamp<int64_t>(row_len(rb + k) - j0, 0, n_keys);
        lo[k] = std::clamp<int64_t>(row_begin(rb + k) - j0, 0, n_keys);
        if (valid[k] <= lo[k]) valid[k] = 0;
        block_valid = std::max(block_valid, valid[k]);
      }
      if (block_valid == 0) continue;  // no row of the block sees this tile
      const float* q0 = q_row(rb), *q1 = q_row(rb + 1), *q2 = q_row(rb + 2), *q3 = q_row(rb + 3);
      __m512 tile_max[kRowBlock] = {neg_inf, neg_inf, neg_inf, neg_inf};
      const int n_halves = static_cast<int>((block_valid + kKeyTile - 1) / kKeyTile);
      for (int half = 0; half < n_halves; ++half) {
        // S (4, 64) = Q (4, hd) @ K_half^T (hd, 64): each loaded key vector
        // feeds the four rows (grouped heads of one query, or of neighbours).
        static_assert(kKeyTile == 64);
        __m512 s[kRowBlock][4];
        if constexpr (kBf16) {
          const uint32_t* qp[kRowBlock];
          for (int k = 0; k < kRowBlock; ++k) qp[k] = &scratch.q_pairs[(rb + k) * half_dim];
          ScoresBf16(scratch.key_pairs.data() + half * half_dim * kKeyTile, half_dim, qp, s);
        } else {
          const float* kh = kt + half * hd * kKeyTile;
          for (auto& row : s)
            for (auto& v : row) v = _mm512_setzero_ps();
          for (int d = 0; d < hd; ++d) {
            const float* k = kh + d * kKeyTile;
            const __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16), k2 = _mm512_loadu_ps(k + 32),
                         k3 = _mm512_loadu_ps(k + 48);
            const __m512 b[kRowBlock] = {_mm512_set1_ps(q0[d]), _mm512_set1_ps(q1[d]), _mm512_set1_ps(q2[d]),
                                         _mm512_set1_ps(q3[d])};
            for (int k2i = 0; k2i < kRowBlock; ++k2i) {
              s[k2i][0] = _mm512_fmadd_ps(b[k2i], k0, s[k2i][0]);
              s[k2i][1] = _mm512_fmadd_ps(b[k2i], k1, s[k2i][1]);
              s[k2i][2] = _mm512_fmadd_ps(b[k2i], k2, s[k2i][2]);
              s[k2i][3] = _mm512_fmadd_ps(b[k2i], k3, s[k2i][3]);
            }
          }
        }
        // Scale, mask keys past each row's kv_len (causality) to -inf, keep
        // the raw scores of the half and the running tile max per row. Rows
        // that see the whole half skip the mask.
        for (int k = 0; k < kRowBlock; ++k) {
          float* p = p_block + k * kKeyTileWide + half * kKeyTile;
          const bool whole_half = valid[k] >= (half + 1) * kKeyTile && lo[k] <= half * kKeyTile;
          for (int c = 0; c < 4; ++c) {
            __m512 v = _mm512_mul_ps(s[k][c], scale);
            if (cap > 0) v = Softcap512(v, cap);
            if (!whole_half) {
              const __m512i idx = _mm512_add_epi32(lane_ids, _mm512_set1_epi32(half * kKeyTile + 16 * c));
              const __mmask16 keep =
                  _mm512_cmplt_epi32_mask(idx, _mm512_set1_epi32(static_cast<int>(valid[k]))) &
                  _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(static_cast<int>(lo[k])));
              v = _mm512_mask_mov_ps(neg_inf, keep, v);
            }
            _mm512_storeu_ps(p + 16 * c, v);
            tile_max[k] = _mm512_max_ps(tile_max[k], v);
          }
        }
      }
      // Online softmax per row over the tile's [0, 16 * n_vec) keys; masked
      // keys get p = 0. One vector exp gives the four rows' corrections.
      const int n_vec = static_cast<int>((block_valid + 15) / 16);
      alignas(16) float m_old[kRowBlock], m_new[kRowBlock];
      for (int k = 0; k < kRowBlock; ++k) {
        m_old[k] = scratch.row_max[rb + k];
        // A row that sees none of the tile keeps its max (and corr = 1).
        m_new[k] = valid[k] == 0 ? m_old[k] : std::max(m_old[k], HorizontalMax512(tile_max[k]));
      }
      alignas(16) float corr[kRowBlock];
      {
        const __m128 mo = _mm_load_ps(m_old), mn = _mm_load_ps(m_new);
        // exp(m_old - m_new) <= 1; -inf - x is -inf and flushes to 0 (first
        // tile); rows with m_old == m_new (incl. both -inf) get exactly 1.
        const __m128 diff = _mm_blendv_ps(_mm_sub_ps(mo, mn), _mm_setzero_ps(), _mm_cmpeq_ps(mo, mn));
        const __m256 e = ExpNonPositive(_mm256_zextps128_ps256(diff));
        _mm_store_ps(corr, _mm256_castps256_ps128(e));
      }
      float* acc_block = scratch.acc.data() + rb * hd;
      if constexpr (kBf16) {
        float sums[kRowBlock];
        uint32_t* p_pairs = scratch.p_pairs.data();
        ExpRowsBf16(p_block, valid, m_new, n_vec, sums, p_pairs);
        for (int k = 0; k < kRowBlock; ++k) {
          if (valid[k] == 0) continue;
          scratch.row_sum[rb + k] = scratch.row_sum[rb + k] * corr[k] + sums[k];
          scratch.row_max[rb + k] = m_new[k];
        }
        PvBf16(acc_block, hd, corr, scratch.value_pairs.data(), block_valid, p_pairs);
        continue;
      }
      for (int k = 0; k < kRowBlock; ++k) {
        const int64_t r = rb + k;
        float* p = p_block + k * kKeyTileWide;
        if (valid[k] == 0) {
          for (int c = 0; c < n_vec; ++c) _mm512_storeu_ps(p + 16 * c, _mm512_setzero_ps());
          continue;
        }
        const __m512 m_vec = _mm512_set1_ps(m_new[k]);
        __m512 sum = _mm512_setzero_ps();
        for (int c = 0; c < n_vec; ++c) {
          const __m512 e = ExpNonPositive512(_mm512_sub_ps(_mm512_loadu_ps(p + 16 * c), m_vec));
          _mm512_storeu_ps(p + 16 * c, e);
          sum = _mm512_add_ps(sum, e);
        }
        scratch.row_sum[r] = scratch.row_sum[r] * corr[k] + HorizontalSum512(sum);
        scratch.row_max[r] = m_new[k];
      }
      // acc (4, hd) = acc * corr + P (4, block_valid) @ V_tile (block_valid, hd), 64 dims at a time.
      int d = 0;
      for (; d + 64 <= hd; d += 64) PvRowBlock<4>(acc_block, hd, d, corr, v_rows, block_valid, p_block);
      switch ((hd - d) / 16) {
        case 3: PvRowBlock<3>(acc_block, hd, d, corr, v_rows, block_valid, p_block); break;
        case 2: PvRowBlock<2>(acc_block, hd, d, corr, v_rows, block_valid, p_block); break;
        case 1: PvRowBlock<1>(acc_block, hd, d, corr, v_rows, block_valid, p_block); break;
        default: break;
      }
    }
  }

  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t i = q_begin + r / group;
    const int head = kv_head * group + static_cast<int>(r % group);
    float* orow = job.out + (i * job.shape.n_heads + head) * hd;
    const float l = scratch.row_sum[r];
    const float inv = l > 0 ? 1.0f / l : 0.0f;
    const float* acc = scratch.acc.data() + r * hd;
    for (int d = 0; d < hd; ++d) orow[d] = acc[d] * inv;
  }
}

// StoreKvRow to bf16, 16 values per vcvtneps2bf16.
CS_AVX512_BF16 void StoreBf16RowAvx512(const float* src, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), reinterpret_cast<const __m256i&>(b));
  }
  for (; i < n; ++i) dst[i] = Bf16Bits(src[i]);
}

#pragma GCC diagnostic pop

#endif  // __x86_64__

}  // namespace

AttentionPrecision FastestAttentionPrecision(int head_dim) {
  static const bool native = SelectedOpsIsa() == OpsIsa::kAvx512 && CpuHasAvx512Bf16();
  return native && head_dim % 16 == 0 ? AttentionPrecision::kBf16 : AttentionPrecision::kF32;
}

const char* AttentionPrecisionName(AttentionPrecision precision) {
  return precision == AttentionPrecision::kBf16 ? "bf16" : "f32";
}

bool ParseAttentionPrecision(std::string_view name, AttentionPrecision* out) {
  if (name == "f32") *out = AttentionPrecision::kF32;
  else if (name == "bf16") *out = AttentionPrecision::kBf16;
  else return false;
  return true;
}

void AttentionWithIsa(OpsIsa isa, const float* q, int64_t n_q, const int32_t* kv_len,
                      const KvBlocksView& kv, const AttentionShape& shape, float* out,
                      ThreadPool* pool) {
  CHECK(shape.n_heads > 0 && shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0);
  CHECK(shape.head_dim > 0 && kv.block_tokens > 0);
  CHECK(OpsIsaSupported(isa));
  if (n_q <= 0) return;
  CHECK_MSG(kv.type == DType::kF32 || (kv.type == DType::kBF16 && shape.precision == AttentionPrecision::kBf16),
            "attention: a bf16 KV view needs bf16 operands");
  const AttentionJob job{q,   n_q, kv_len, &kv, shape, out, static_cast<int64_t>(shape.n_kv_heads) * shape.head_dim,
                         static_cast<int64_t>(KvTypeBytes(kv.type))};
  const int64_t n_q_tiles = (n_q + kQueryTile - 1) / kQueryTile;
  const int64_t n_tasks = n_q_tiles * shape.n_kv_heads;
  // Per-thread scratch that outlives the call: pool threads are long-lived,
  // so steady-state decode allocates nothing here.
  thread_local AttentionScratch scratch;
  const bool bf16 = shape.precision == AttentionPrecision::kBf16;
  static const bool native_bf16 = CpuHasAvx512Bf16();
  auto run = [&](int64_t task, int thread) {
    const int64_t q_tile = task / shape.n_kv_heads;
    const int kv_head = static_cast<int>(task % shape.n_kv_heads);
    const int64_t q_begin = q_tile * kQueryTile;
    const int64_t q_end = std::min(n_q, q_begin + kQueryTile);
#if defined(__x86_64__)
    if (isa == OpsIsa::kAvx512 && shape.head_dim % 16 == 0 && (!bf16 || native_bf16)) {
      if (bf16) {
        AttentionTaskAvx512<true>(job, q_begin, q_end, kv_head, scratch);
      } else {
        AttentionTaskAvx512<false>(job, q_begin, q_end, kv_head, scratch);
      }
      return;
    }
    if (isa == OpsIsa::kAvx2 || isa == OpsIsa::kAvx512) {
      if (bf16) {
        AttentionTaskAvx2<true>(job, q_begin, q_end, kv_head, scratch);
      } else {
        AttentionTaskAvx2<false>(job, q_begin, q_end, kv_head, scratch);
      }
      return;
    }
#endif
    AttentionTaskScalar(job, q_begin, q_end, kv_head, scratch);
  };
  if (pool) {
    pool->ParallelFor(n_tasks, run);
  } else {
    for (int64_t t = 0; t < n_tasks; ++t) run(t, 0);
  }
}

size_t KvTypeBytes(DType type) {
  CHECK_MSG(type == DType::kF32 || type == DType::kBF16, "KV rows are f32 or bf16");
  return type == DType::kBF16 ? 2 : 4;
}

void StoreKvRow(const float* src, int64_t n, DType type, void* dst) {
  if (KvTypeBytes(type) == 4) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  auto* out = static_cast<uint16_t*>(dst);
#if defined(__x86_64__)
  static const bool native = CpuHasAvx512Bf16();
  if (native) return StoreBf16RowAvx512(src, n, out);
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = Bf16Bits(src[i]);
}

void LoadKvRow(const void* src, int64_t n, DType type, float* dst) {
  WidenToF32(src, n, KvTypeBytes(type) == 2, dst);
}

void Attention(const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
               const AttentionShape& shape, float* out, ThreadPool* pool) {
  AttentionWithIsa(SelectedOpsIsa(), q, n_q, kv_len, kv, shape, out, pool);
}

}  // namespace chunkserve::kernels
