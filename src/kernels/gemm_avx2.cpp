// AVX2 row-group kernels (see kernel_table.h and packed_layout.h), for CPUs
// without AVX-512: the same packed layout read 8 rows (one ymm of "8 rows x 4
// elements") at a time.
//
// Without VNNI the u8 x s8 dot of 4 elements is vpmaddubsw (pairs -> int16,
// saturating) + vpmaddwd by ones (-> int32). Weights of at most 6 bits cannot
// saturate (2 * 63 * 127 < 32767); 8-bit q8_0 weights are turned back into
// signed values and multiplied as |w| * (x * sign(w)) (2 * 128 * 127 <
// 32767), which needs no bias. iq4_nl / iq4_xs codes are looked up (vpshufb)
// straight into their signed codebook values and take the same path. Scaling happens in the reference's order, so
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

// 8 consecutive f16 / u8 / i8 values (one per row of the half) -> f32.
CS_TARGET_AVX2 inline __m256 LoadF16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
CS_TARGET_AVX2 inline __m256 LoadU8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
CS_TARGET_AVX2 inline __m256 LoadI8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

CS_TARGET_AVX2 inline __m256i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// 32 mask bits -> 32 bytes, 0xFF where the bit is set.
CS_TARGET_AVX2 inline __m256i ExpandBits(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i select = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// The 8 weight registers of rows 8*half .. 8*half+7 of one block. Codebook
// types come out as the signed codebook values (u - 128), ready for the
// signed multiply below.
template <DType kType>
CS_TARGET_AVX2 inline void LoadWeights8(const uint8_t* blk, int half, __m256i w[8]) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  if constexpr (kSpec.crumbs) {
    const __m256i low2 = _mm256_set1_epi8(0x03);
    for (int v = 0; v < 2; ++v) {
      const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * v + 32 * half));
      w[4 * v] = _mm256_and_si256(bytes, low2);
      w[4 * v + 1] = _mm256_and_si256(_mm256_srli_epi16(bytes, 2), low2);
      w[4 * v + 2] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low2);
      w[4 * v + 3] = _mm256_and_si256(_mm256_srli_epi16(bytes, 6), low2);
    }
  } else if constexpr (kSpec.nibbles) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int i = 0; i < 4; ++i) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * i + 32 * half));
      w[i] = _mm256_and_si256(v, low4);
      w[i + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    }
    if constexpr (kSpec.codebook) {
      const __m256i table =
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
      for (int i = 0; i < 8; ++i) w[i] = _mm256_shuffle_epi8(table, w[i]);
    }
  } else {
    for (int i = 0; i < 8; ++i) w[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * i + 32 * half));
  }
  if constexpr (kSpec.high_planes > 0) {
    const uint8_t* planes = blk + (kSpec.crumbs ? 128 : kSpec.nibbles ? 256 : 512);
    for (int i = 0; i < 8; ++i) {
      for (int p = 0; p < kSpec.high_planes; ++p) {
        uint32_t bits;
        std::memcpy(&bits, planes + 8 * (i * kSpec.high_planes + p) + 4 * half, 4);
        const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << (kSpec.high_shift + p)));
        w[i] = _mm256_or_si256(w[i], _mm256_and_si256(ExpandBits(bits), bit));
      }
    }
  }
}

// mn1: q2_K's min of elements 16..31 (mn is then that of 0..15).
template <DType kType>
CS_TARGET_AVX2 inline void LoadScales8(const uint8_t* super, int j, int half, __m256& sc0, __m256& sc1, __m256& mn,
                                       __m256& mn1) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  const int r0 = 8 * half;
  if constexpr (kSpec.scales == PackScales::kSimpleF16) {
    const uint8_t* s = super + kSpec.weight_bytes;
    sc0 = LoadF16x8(s + 2 * r0);
    if constexpr (kSpec.has_min) mn = LoadF16x8(s + 32 + 2 * r0);
  } else if constexpr (kSpec.scales == PackScales::kKQuant) {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    sc0 = _mm256_mul_ps(LoadF16x8(hdr + 2 * r0), LoadU8x8(hdr + 64 + 16 * j + r0));
    mn = _mm256_mul_ps(LoadF16x8(hdr + 32 + 2 * r0), LoadU8x8(hdr + 192 + 16 * j + r0));
  } else if constexpr (kSpec.scales == PackScales::kQ2K) {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    const __m256 d = LoadF16x8(hdr + 2 * r0);
    const __m256 dmin = LoadF16x8(hdr + 32 + 2 * r0);
    const __m256i low4 = _mm256_set1_epi32(0xF);
    const __m256i s0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(hdr + 64 + 32 * j + r0)));
    const __m256i s1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(hdr + 80 + 32 * j + r0)));
    sc0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(s0, low4)));
    sc1 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(s1, low4)));
    mn = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_srli_epi32(s0, 4)));
    mn1 = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_srli_epi32(s1, 4)));
  } else if constexpr (kSpec.scales == PackScales::kIQ4XS) {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    sc0 = _mm256_mul_ps(LoadF16x8(hdr + 2 * r0), LoadI8x8(hdr + 32 + 16 * j + r0));
  } else {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    const __m256 d = LoadF16x8(hdr + 2 * r0);
    sc0 = _mm256_mul_ps(d, LoadI8x8(hdr + 32 + 16 * (2 * j) + r0));
    sc1 = _mm256_mul_ps(d, LoadI8x8(hdr + 32 + 16 * (2 * j + 1) + r0));
  }
}

template <DType kType, int T>
CS_TARGET_AVX2 void QuantTile8(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride, float* y,
                               int64_t y_stride, int half, int n_out) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  // u = q + 128 (q8_0, and the codebook types whose LoadWeights8 already
  // yields q): see the file comment.
  constexpr bool kSigned = kSpec.offset == 128;
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i ones16 = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int j = static_cast<int>(b % kSpec.blocks_per_super);
    const uint8_t* super = panel + (b / kSpec.blocks_per_super) * kSpec.super_bytes;
    const uint8_t* blk = super + j * kSpec.block_bytes;
    __m256i w[8];
    LoadWeights8<kType>(blk, half, w);
    if constexpr (kSigned && !kSpec.codebook) {
      for (int i = 0; i < 8; ++i) w[i] = _mm256_xor_si256(w[i], flip);
    }
    __m256 sc0, sc1 = _mm256_setzero_ps(), mn = sc1, mn1 = sc1;
    LoadScales8<kType>(kSpec.scales == PackScales::kSimpleF16 ? blk : super, j, half, sc0, sc1, mn, mn1);
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
      const __m256i s03 = _mm256_add_epi32(_mm256_add_epi32(dots[0], dots[1]), _mm256_add_epi32(dots[2], dots[3]));
      const __m256i s47 = _mm256_add_epi32(_mm256_add_epi32(dots[4], dots[5]), _mm256_add_epi32(dots[6], dots[7]));
      if constexpr (kSpec.half_mins) {
        // q2_K: no zero offset; its bias fields hold the halves' d * sum
        // (the reference's order: each half off the accumulator, one add).
        const __m256 t_lo = _mm256_fmsub_ps(_mm256_cvtepi32_ps(s03), _mm256_mul_ps(sc0, dx),
                                            _mm256_mul_ps(mn, _mm256_set1_ps(HalfDsumLo(a))));
        const __m256 t_hi = _mm256_fmsub_ps(_mm256_cvtepi32_ps(s47), _mm256_mul_ps(sc1, dx),
                                            _mm256_mul_ps(mn1, _mm256_set1_ps(HalfDsumHi(a))));
        acc[t] = _mm256_add_ps(acc[t], _mm256_add_ps(t_lo, t_hi));
      } else if constexpr (kSpec.per_half) {
        const __m256i lo = _mm256_add_epi32(_mm256_set1_epi32(a.bias_lo), s03);
        const __m256i hi = _mm256_add_epi32(_mm256_set1_epi32(a.bias_hi), s47);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(sc0, dx), acc[t]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(sc1, dx), acc[t]);
      } else {
        __m256i s = _mm256_add_epi32(s03, s47);
        if constexpr (!kSigned) s = _mm256_add_epi32(s, _mm256_set1_epi32(a.bias_lo));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(sc0, dx), acc[t]);
      }
      if constexpr (kSpec.has_min && !kSpec.half_mins) {
        if constexpr (kSpec.scales == PackScales::kKQuant) {
          acc[t] = _mm256_fnmadd_ps(mn, _mm256_set1_ps(a.dsum), acc[t]);
        } else {
          acc[t] = _mm256_fmadd_ps(mn, _mm256_set1_ps(a.dsum), acc[t]);
        }
      }
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

template <DType kType>
CS_TARGET_AVX2 void QuantRowGroup(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride,
                                  int64_t n_tokens, float* y, int64_t y_stride, int n_rows) {
  for (int half = 0; half < 2 && 8 * half < n_rows; ++half) {
    const int n_out = n_rows - 8 * half < 8 ? n_rows - 8 * half : 8;
    float* yh = y + 8 * half;
    int64_t t = 0;
    for (; t + kTileTokens <= n_tokens; t += kTileTokens) {
      QuantTile8<kType, kTileTokens>(panel, n_blocks, x + t * x_stride, x_stride, yh + t * y_stride, y_stride, half,
                                     n_out);
    }
    for (; t < n_tokens; ++t) {
      QuantTile8<kType, 1>(panel, n_blocks, x + t * x_stride, x_stride, yh + t * y_stride, y_stride, half, n_out);
    }
  }
}

QuantRowGroupFn QuantFn(DType type) {
  switch (type) {
    case DType::kQ4_0: return QuantRowGroup<DType::kQ4_0>;
    case DType::kQ4_1: return QuantRowGroup<DType::kQ4_1>;
    case DType::kQ5_0: return QuantRowGroup<DType::kQ5_0>;
    case DType::kQ5_1: return QuantRowGroup<DType::kQ5_1>;
    case DType::kQ8_0: return QuantRowGroup<DType::kQ8_0>;
    case DType::kQ4_K: return QuantRowGroup<DType::kQ4_K>;
    case DType::kQ5_K: return QuantRowGroup<DType::kQ5_K>;
    case DType::kQ6_K: return QuantRowGroup<DType::kQ6_K>;
    case DType::kQ2_K: return QuantRowGroup<DType::kQ2_K>;
    case DType::kQ3_K: return QuantRowGroup<DType::kQ3_K>;
    case DType::kIQ4_NL: return QuantRowGroup<DType::kIQ4_NL>;
    case DType::kIQ4_XS: return QuantRowGroup<DType::kIQ4_XS>;
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
    SetActBias(bias, sum_lo, sum_hi, &a);
  }
}

}  // namespace

const KernelTable* Avx2KernelTable() {
  static const KernelTable table{Isa::kAvx2, QuantFn, FloatFn, QuantizeActivations};
  return &table;
}

}  // namespace chunkserve::kernels
