// The AVX-512 level of attention (see attention_kernel_table.h): f32
// operands on 16-lane FMAs, bf16 operands on vdpbf16ps (AVX512_BF16 is part
// of the level, kernels/isa.h). Every function carries the level's target
// attribute; nothing here runs unless the CPU supports the level.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/attention_kernel_table.h"
#include "kernels/simd_math.h"
#include "tensor/kv_row.h"

namespace chunkserve::kernels {
namespace {

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

// A q8_0 block's f16 scale broadcast as f32 (vcvtph2ps: exact, subnormal
// halves included, as F16ToF32).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma"))) inline __m512 Q8Scale(
    const uint8_t* block) {
  uint16_t d_bits;
  std::memcpy(&d_bits, block, 2);
  return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<int16_t>(d_bits)));
}

// Values [d, d + 16) of a q8_0 row (one head's blocks) as f32: d * q, exact.
// REQUIRES: d % 16 == 0.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma"))) inline __m512 DequantizeQ8x16(
    const void* row, int d) {
  const auto* block = static_cast<const uint8_t*>(row) + (d / 32) * kKvQ8BlockBytes;
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2 + d % 32));
  return _mm512_mul_ps(Q8Scale(block), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
}

// dst[0, n / 2) = a q8_0 row of n values dequantized and rounded to bf16
// pairs, as PackBf16Pairs rounds the f32 values. REQUIRES: n % 32 == 0.
CS_AVX512_BF16 void PackQ8Bf16Pairs(const void* row, int64_t n, uint32_t* dst) {
  for (int i = 0; i < n; i += 32) {
    const __m512bh b = _mm512_cvtne2ps_pbh(DequantizeQ8x16(row, i + 16), DequantizeQ8x16(row, i));
    _mm512_storeu_si512(dst + i / 2, reinterpret_cast<const __m512i&>(b));
  }
}

// out (16 x 16 block at [i * out_stride + j]) = rows[j][d0 + i] for i, j in
// [0, 16): a 32-bit transpose in registers (unpack pairs, quads, then two
// rounds of 128-bit lane shuffles).
CS_AVX512 inline void Transpose16x16(const float* const* rows, int d0, float* out, int64_t out_stride) {
  __m512 r[16], t[16];
  for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(rows[j] + d0);
  for (int j = 0; j < 16; j += 2) {
    t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);
    t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]);
  }
  // r[4q + c]: rows 4q..4q+3, columns c, c + 4, c + 8, c + 12 (one per lane).
  for (int q = 0; q < 4; ++q) {
    const __m512d a = _mm512_castps_pd(t[4 * q]), b = _mm512_castps_pd(t[4 * q + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * q + 2]), d = _mm512_castps_pd(t[4 * q + 3]);
    r[4 * q + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int c = 0; c < 4; ++c) {
    // Lanes (rows 0-3, 4-7 | 8-11, 12-15) of columns c and c + 8, then c + 4 and c + 12.
    const __m512 lo01 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), hi01 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    const __m512 lo23 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88),
                 hi23 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    _mm512_storeu_ps(out + (c + 0) * out_stride, _mm512_shuffle_f32x4(lo01, lo23, 0x88));
    _mm512_storeu_ps(out + (c + 8) * out_stride, _mm512_shuffle_f32x4(lo01, lo23, 0xdd));
    _mm512_storeu_ps(out + (c + 4) * out_stride, _mm512_shuffle_f32x4(hi01, hi23, 0x88));
    _mm512_storeu_ps(out + (c + 12) * out_stride, _mm512_shuffle_f32x4(hi01, hi23, 0xdd));
  }
}

// out (width, kKeyTile) = rows (n_rows <= kKeyTile, width)^T of 32-bit
// elements, columns past n_rows zero; TransposeRows at 16 x 16 a block.
// REQUIRES: width % 16 == 0, width <= 256.
CS_AVX512 void TransposeRows512(const float* const* rows, int64_t n_rows, int width, float* out) {
  alignas(64) static const float kZeroRow[256] = {};
  for (int64_t jb = 0; jb < kKeyTile; jb += 16) {
    const float* block[16];
    for (int j = 0; j < 16; ++j) block[j] = jb + j < n_rows ? rows[jb + j] : kZeroRow;
    for (int d0 = 0; d0 < width; d0 += 16) Transpose16x16(block, d0, out + d0 * kKeyTile + jb, kKeyTile);
  }
}

// key_pairs (head_dim / 2, kKeyTile) = keys [j0, j0 + n_keys) of kv_head as
// bf16 pairs, transposed (pair d of key j at [d * kKeyTile + j]); columns
// past n_keys are zero. A bf16 cache row already is head_dim / 2 pairs; f32
// rows are rounded, q8_0 rows dequantized and rounded, into staging,
// (kKeyTile, head_dim / 2), first.
CS_AVX512_BF16 void PairKeyTileBf16(const AttentionJob& job, int64_t j0, int64_t n_keys, int kv_head,
                                    uint32_t* staging, uint32_t* key_pairs) {
  const int half_dim = job.shape.head_dim / 2;
  const void* cache_rows[kKeyTile];
  CacheRows(job, job.kv->k_blocks, j0, n_keys, kv_head, cache_rows);
  const float* rows[kKeyTile];  // 32-bit units (pairs) to transpose
  for (int64_t j = 0; j < n_keys; ++j) {
    if (job.kv->type == DType::kBF16) {
      rows[j] = static_cast<const float*>(cache_rows[j]);
    } else if (job.kv->type == DType::kQ8_0) {
      PackQ8Bf16Pairs(cache_rows[j], job.shape.head_dim, staging + j * half_dim);
      rows[j] = reinterpret_cast<const float*>(staging + j * half_dim);
    } else {
      PackBf16Pairs(static_cast<const float*>(cache_rows[j]), job.shape.head_dim, staging + j * half_dim);
      rows[j] = reinterpret_cast<const float*>(staging + j * half_dim);
    }
  }
  if (half_dim % 16 == 0) {
    TransposeRows512(rows, n_keys, half_dim, reinterpret_cast<float*>(key_pairs));
  } else {
    TransposeRows(rows, n_keys, half_dim, reinterpret_cast<float*>(key_pairs));
  }
}

// value_pairs (ceil(n_keys / 2), head_dim): element (j, d) pairs the bf16 of
// V[2j][d] (low half) with V[2j + 1][d]; a missing last odd row is zero.
// v_rows are cache rows of `type` (f32 rows are rounded, q8_0 rows
// dequantized and rounded).
CS_AVX512_BF16 void PairValueTileBf16(const void* const* v_rows, int64_t n_keys, int hd, DType type,
                                      uint32_t* value_pairs) {
  // cvtne2ps gives [a0 .. a15, b0 .. b15]; interleave to [a0, b0, a1, b1, ...].
  alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                       21, 6, 22, 7, 23, 8,  24, 9,  25, 10, 26,
                                                       11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i interleave = _mm512_load_si512(kInterleave);
  // bf16 rows, 32 dims at a time: pairs of dims [0, 16) and [16, 32) of a
  // and b in one two-source permute each.
  alignas(64) static const uint16_t kPairLo[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                                   8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static const uint16_t kPairHi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                                   24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i pair_lo = _mm512_load_si512(kPairLo), pair_hi = _mm512_load_si512(kPairHi);
  const int wide_dims = type == DType::kBF16 ? hd / 32 * 32 : 0;
  for (int64_t j = 0; j < n_keys; j += 2) {
    const void* a = v_rows[j];
    const void* b = j + 1 < n_keys ? v_rows[j + 1] : nullptr;
    uint32_t* out = value_pairs + (j / 2) * hd;
    for (int d = 0; d < wide_dims; d += 32) {
      const __m512i va = _mm512_loadu_si512(static_cast<const uint16_t*>(a) + d);
      const __m512i vb = b ? _mm512_loadu_si512(static_cast<const uint16_t*>(b) + d) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + d, _mm512_permutex2var_epi16(va, pair_lo, vb));
      _mm512_storeu_si512(out + d + 16, _mm512_permutex2var_epi16(va, pair_hi, vb));
    }
    for (int d = wide_dims; d < hd; d += 16) {
      __m512i ab;
      if (type == DType::kBF16) {
        const auto* a16 = static_cast<const uint16_t*>(a);
        const auto* b16 = static_cast<const uint16_t*>(b);
        const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a16 + d));
        const __m256i vb = b ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b16 + d)) : _mm256_setzero_si256();
        ab = _mm512_inserti64x4(_mm512_castsi256_si512(va), vb, 1);
      } else if (type == DType::kQ8_0) {
        const __m512 vb = b ? DequantizeQ8x16(b, d) : _mm512_setzero_ps();
        const __m512bh pair = _mm512_cvtne2ps_pbh(vb, DequantizeQ8x16(a, d));
        ab = reinterpret_cast<const __m512i&>(pair);
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
                                   KeyRange keys, AttentionScratch& scratch) {
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

  const int64_t keys_end = std::min(max_len, keys.end);
  for (int64_t j0 = std::max(FirstTile(job, q_begin, q_end, kKeyTileWide), keys.begin); j0 < keys_end;
       j0 += kKeyTileWide) {
    const int64_t n_keys = std::min(kKeyTileWide, keys_end - j0);
    const void* v_rows[kKeyTileWide];
    CacheRows(job, job.kv->v_blocks, j0, n_keys, kv_head, v_rows);
    if constexpr (kBf16) {
      uint32_t* kp = scratch.key_pairs.data();
      PairKeyTileBf16(job, j0, std::min(kKeyTile, n_keys), kv_head, scratch.key_rows.data(), kp);
      if (n_keys > kKeyTile)
        PairKeyTileBf16(job, j0 + kKeyTile, n_keys - kKeyTile, kv_head, scratch.key_rows.data(),
                        kp + half_dim * kKeyTile);
      PairValueTileBf16(v_rows, n_keys, hd, job.kv->type, scratch.value_pairs.data());
    } else {
      for (int half = 0; half * kKeyTile < n_keys; ++half) {
        const int64_t n = std::min(kKeyTile, n_keys - half * kKeyTile);
        float* out = kt + half * hd * kKeyTile;
        if (hd <= 256) {
          const void* k_rows[kKeyTile];
          CacheRows(job, job.kv->k_blocks, j0 + half * kKeyTile, n, kv_head, k_rows);
          TransposeRows512(reinterpret_cast<const float* const*>(k_rows), n, hd, out);
        } else {
          TransposeKeyTile(job, j0 + half * kKeyTile, n, kv_head, out);
        }
      }
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

// DequantizeQ8RowsFn: 16 values per convert, bf16 by vcvtneps2bf16 (the
// rounding of Bf16Bits; d * q is never subnormal).
CS_AVX512_BF16 void DequantizeQ8RowsAvx512(const void* const* rows, int64_t n_rows, int head_dim, bool bf16,
                                           void* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* block = static_cast<const uint8_t*>(rows[r]);
    for (int b = 0; b < head_dim; b += 32, block += kKvQ8BlockBytes) {
      const __m512 d = Q8Scale(block);
      const __m128i q_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
      const __m128i q_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 18));
      const __m512 x_lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q_lo)));
      const __m512 x_hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q_hi)));
      if (bf16) {
        auto* o = static_cast<uint16_t*>(out) + r * head_dim + b;
        const __m256bh lo = _mm512_cvtneps_pbh(x_lo), hi = _mm512_cvtneps_pbh(x_hi);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), reinterpret_cast<const __m256i&>(lo));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 16), reinterpret_cast<const __m256i&>(hi));
      } else {
        float* o = static_cast<float*>(out) + r * head_dim + b;
        _mm512_storeu_ps(o, x_lo);
        _mm512_storeu_ps(o + 16, x_hi);
      }
    }
  }
}

AttentionTaskFn Avx512Task(const AttentionShape& shape) {
  if (shape.head_dim % 16 != 0) return nullptr;
  return shape.precision == AttentionPrecision::kBf16 ? AttentionTaskAvx512<true> : AttentionTaskAvx512<false>;
}

// q8_0 views under bf16 operands: the bf16 task reads them itself (the key
// and value tiles it prepares anyway are dequantized on the way, no staging
// pass); under f32 operands the dequantizing wrapper runs the f32 task.
AttentionTaskFn Avx512Q8Task(const AttentionShape& shape) {
  if (shape.head_dim % 32 != 0 || shape.precision != AttentionPrecision::kBf16) return nullptr;
  return AttentionTaskAvx512<true>;
}

#pragma GCC diagnostic pop

}  // namespace

const AttentionKernelTable* Avx512AttentionKernelTable() {
  static const AttentionKernelTable table{Isa::kAvx512, Avx512Task, StoreBf16RowAvx512, DequantizeQ8RowsAvx512, Avx512Q8Task};
  return &table;
}

}  // namespace chunkserve::kernels
