// AVX2 row-group kernels (see kernel_table.h and packed_layout.h), for CPUs
// without AVX-512: the same packed layout read 8 rows (one ymm of "8 rows x 4
// elements") at a time.
//
// Without VNNI the u8 x s8 dot of 4 elements is vpmaddubsw (pairs -> int16,
// saturating) + vpmaddwd by ones (-> int32). Weights of at most 6 bits cannot
// saturate (2 * 63 * 127 < 32767); 8-bit q8_0 weights are turned back into
// signed values and multiplied as |w| * (x * sign(w)) (2 * 128 * 127 <
// 32767), which needs no bias. Scaling happens in the reference's order, so
// results equal ref::DotQuant bit for bit.
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/packed_layout.h"

#define CS_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace chunkserve::kernels {
namespace {

// 8 weight registers + T accumulators + temporaries within 16 ymm.
constexpr int kTileTokens = 4;

template <bool kF16>
CS_TARGET_AVX2 inline __m256 LoadScales8(const uint8_t* p) {
  if constexpr (kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
}

CS_TARGET_AVX2 inline __m256i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// kSigned: q8_0 (u = q + 128).
template <bool kNib, bool kF16, bool kHalf, bool kMin, bool kSigned, int T>
CS_TARGET_AVX2 void QuantTile8(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride, float* y,
                               int64_t y_stride, int half, int n_out) {
  constexpr int kW = kNib ? 256 : 512;
  constexpr int kS = kF16 ? 32 : 64;
  constexpr int kGroup = kW + kS * (kHalf ? 2 : 1) + (kMin ? kS : 0);
  const int scale_off = (kS / 2) * half;  // rows 8..15 are the second half of each scale array
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i ones16 = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* g = panel + b * kGroup;
    __m256i w[8];
    if constexpr (kNib) {
      for (int i = 0; i < 4; ++i) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 64 * i + 32 * half));
        w[i] = _mm256_and_si256(v, low4);
        w[i + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      }
    } else {
      for (int i = 0; i < 8; ++i) {
        w[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 64 * i + 32 * half));
        if constexpr (kSigned) w[i] = _mm256_xor_si256(w[i], flip);  // back to signed q
      }
    }
    const __m256 sc0 = LoadScales8<kF16>(g + kW + scale_off);
    [[maybe_unused]] __m256 sc1 = _mm256_setzero_ps(), mn = sc1;
    if constexpr (kHalf) sc1 = LoadScales8<kF16>(g + kW + kS + scale_off);
    if constexpr (kMin) mn = LoadScales8<kF16>(g + kW + kS * (kHalf ? 2 : 1) + scale_off);
    for (int t = 0; t < T; ++t) {
      const ActBlock& a = x[t * x_stride + b];
      const __m256 dx = _mm256_set1_ps(a.d);
      __m256i dots[8];
      for (int i = 0; i < 8; ++i) {
        const __m256i xb = Broadcast4(a.qs + 4 * i);
        __m256i p16;
        if constexpr (kSigned) {
          p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w[i], w[i]), _mm256_sign_epi8(xb, w[i]));
        } else {
          p16 = _mm256_maddubs_epi16(w[i], xb);
        }
        dots[i] = _mm256_madd_epi16(p16, ones16);
      }
      if constexpr (kHalf) {
        __m256i lo = _mm256_set1_epi32(a.bias_lo), hi = _mm256_set1_epi32(a.bias_hi);
        lo = _mm256_add_epi32(lo, _mm256_add_epi32(_mm256_add_epi32(dots[0], dots[1]), _mm256_add_epi32(dots[2], dots[3])));
        hi = _mm256_add_epi32(hi, _mm256_add_epi32(_mm256_add_epi32(dots[4], dots[5]), _mm256_add_epi32(dots[6], dots[7])));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(sc0, dx), acc[t]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(sc1, dx), acc[t]);
      } else {
        __m256i s = kSigned ? _mm256_setzero_si256() : _mm256_set1_epi32(a.bias_lo);
        const __m256i s03 = _mm256_add_epi32(_mm256_add_epi32(dots[0], dots[1]), _mm256_add_epi32(dots[2], dots[3]));
        const __m256i s47 = _mm256_add_epi32(_mm256_add_epi32(dots[4], dots[5]), _mm256_add_epi32(dots[6], dots[7]));
        s = _mm256_add_epi32(s, _mm256_add_epi32(s03, s47));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(sc0, dx), acc[t]);
      }
      if constexpr (kMin) acc[t] = _mm256_fmadd_ps(mn, _mm256_set1_ps(a.dsum), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    if (n_out == 8) {
      _mm256_storeu_ps(y + t * y_stride, acc[t]);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, acc[t]);
      std::memcpy(y + t * y_stride, tmp, static_cast<size_t>(n_out) * 4);
    }
  }
}

template <bool kNib, bool kF16, bool kHalf, bool kMin, bool kSigned>
CS_TARGET_AVX2 void QuantRowGroup(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride,
                                  int64_t n_tokens, float* y, int64_t y_stride, int n_rows) {
  for (int half = 0; half < 2 && 8 * half < n_rows; ++half) {
    const int n_out = n_rows - 8 * half < 8 ? n_rows - 8 * half : 8;
    float* yh = y + 8 * half;
    int64_t t = 0;
    for (; t + kTileTokens <= n_tokens; t += kTileTokens) {
      QuantTile8<kNib, kF16, kHalf, kMin, kSigned, kTileTokens>(panel, n_blocks, x + t * x_stride, x_stride,
                                                                yh + t * y_stride, y_stride, half, n_out);
    }
    for (; t < n_tokens; ++t) {
      QuantTile8<kNib, kF16, kHalf, kMin, kSigned, 1>(panel, n_blocks, x + t * x_stride, x_stride, yh + t * y_stride,
                                                      y_stride, half, n_out);
    }
  }
}

QuantRowGroupFn QuantFn(DType type) {
  // <nibbles, f16 scales, per-half scales, mins, signed 8-bit>
  switch (type) {
    case DType::kQ4_0: return QuantRowGroup<true, true, false, false, false>;
    case DType::kQ4_1: return QuantRowGroup<true, true, false, true, false>;
    case DType::kQ5_0: return QuantRowGroup<false, true, false, false, false>;
    case DType::kQ5_1: return QuantRowGroup<false, true, false, true, false>;
    case DType::kQ8_0: return QuantRowGroup<false, true, false, false, true>;
    case DType::kQ4_K: return QuantRowGroup<true, false, false, true, false>;
    case DType::kQ5_K: return QuantRowGroup<false, false, false, true, false>;
    case DType::kQ6_K: return QuantRowGroup<false, false, true, false, false>;
    default: return nullptr;
  }
}

// ------------------------------------------------------------------ float

template <DType kType>
CS_TARGET_AVX2 inline __m256 LoadRow8(const uint8_t* p) {
  if constexpr (kType == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (kType == DType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
}

template <DType kType, int T>
CS_TARGET_AVX2 void FloatTile8(const uint8_t* panel, int64_t cols, const float* x, int64_t x_stride, float* y,
                               int64_t y_stride, int half, int n_out) {
  constexpr int kEs = kType == DType::kF32 ? 4 : 2;
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const uint8_t* p = panel + 8 * kEs * half;
  for (int64_t k = 0; k < cols; ++k) {
    const __m256 w = LoadRow8<kType>(p + k * 16 * kEs);
    for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(w, _mm256_set1_ps(x[t * x_stride + k]), acc[t]);
  }
  for (int t = 0; t < T; ++t) {
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, acc[t]);
    std::memcpy(y + t * y_stride, tmp, static_cast<size_t>(n_out) * 4);
  }
}

template <DType kType>
CS_TARGET_AVX2 void FloatRowGroup(const uint8_t* panel, int64_t cols, const float* x, int64_t x_stride,
                                  int64_t n_tokens, float* y, int64_t y_stride, int n_rows) {
  for (int half = 0; half < 2 && 8 * half < n_rows; ++half) {
    const int n_out = n_rows - 8 * half < 8 ? n_rows - 8 * half : 8;
    float* yh = y + 8 * half;
    int64_t t = 0;
    for (; t + 8 <= n_tokens; t += 8) {
      FloatTile8<kType, 8>(panel, cols, x + t * x_stride, x_stride, yh + t * y_stride, y_stride, half, n_out);
    }
    for (; t < n_tokens; ++t) {
      FloatTile8<kType, 1>(panel, cols, x + t * x_stride, x_stride, yh + t * y_stride, y_stride, half, n_out);
    }
  }
}

FloatRowGroupFn FloatFn(DType type) {
  switch (type) {
    case DType::kF32: return FloatRowGroup<DType::kF32>;
    case DType::kF16: return FloatRowGroup<DType::kF16>;
    case DType::kBF16: return FloatRowGroup<DType::kBF16>;
    default: return nullptr;
  }
}

// ------------------------------------------------------------ activations

CS_TARGET_AVX2 inline int HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

CS_TARGET_AVX2 inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Same bytes as QuantizeActivationRow (exact max, same scalar scale,
// vcvtps2dq rounding half to even like nearbyint).
CS_TARGET_AVX2 void QuantizeActivations(const float* x, int64_t n, ActBias bias, ActBlock* out) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 8 * i);
      m = _mm256_max_ps(m, _mm256_and_ps(v[i], abs_mask));
    }
    const float amax = HorizontalMax(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
    // int32 -> int8 without saturation effects (|q| <= 127).
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    ActBlock& a = out[b];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.qs), p);
    const int sum_lo = HorizontalSum(_mm256_add_epi32(q[0], q[1]));
    const int sum_hi = HorizontalSum(_mm256_add_epi32(q[2], q[3]));
    a.d = d;
    a.dsum = d * static_cast<float>(sum_lo + sum_hi);
    if (bias.per_half) {
      a.bias_lo = -bias.offset * sum_lo;
      a.bias_hi = -bias.offset * sum_hi;
    } else {
      a.bias_lo = -bias.offset * (sum_lo + sum_hi);
      a.bias_hi = 0;
    }
  }
}

}  // namespace

const KernelTable* Avx2KernelTable() {
  static const KernelTable table{Isa::kAvx2, QuantFn, FloatFn, QuantizeActivations};
  return &table;
}

}  // namespace chunkserve::kernels
