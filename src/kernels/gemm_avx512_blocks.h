// The per-block pieces of the AVX-512 quantized row-group kernels, shared by
// the VNNI kernels (gemm_avx512.cpp) and the AMX kernels (gemm_amx.cpp):
// unpacking one 32-element block of a packed row group (packed_layout.h)
// into its 8 weight registers, its scales and mins, the integer sums' start
// values, and the exact epilogue that scales a block's integer sums in
// ref::DotQuant's order. Every kernel that builds its integer sums from the
// same integers and finishes them with Epilogue returns the reference's bits.
//
// Internal to kernels/: included only by the AVX-512-level kernel files.
// Thread safety: pure functions.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/activation_quant.h"
#include "kernels/packed_layout.h"
#include "kernels/quant_blocks.h"

#define CS_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,fma,f16c")))

namespace chunkserve::kernels::avx512_blocks {

CS_TARGET_AVX512 inline __m512 LoadF16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// 16 bytes (one per row) -> f32, unsigned or signed.
CS_TARGET_AVX512 inline __m512 LoadU8x16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
CS_TARGET_AVX512 inline __m512 LoadI8x16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

CS_TARGET_AVX512 inline __m512i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// iq4 codes -> u = kIq4nlValues[code] + 128, as a vpshufb table in every lane.
CS_TARGET_AVX512 inline __m512i CodebookTable() {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues));
  return _mm512_broadcast_i32x4(_mm_xor_si128(v, _mm_set1_epi8(static_cast<char>(0x80))));
}

// Byte offset of a block's high bit planes.
constexpr int PlanesOffset(const PackSpec& spec) { return spec.crumbs ? 128 : spec.nibbles ? 256 : 512; }

// Loads the 8 weight registers of one block (packed_layout.h).
template <DType kType>
CS_TARGET_AVX512 inline void LoadWeights(const uint8_t* blk, __m512i w[8]) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  if constexpr (kSpec.crumbs) {
    const __m512i low2 = _mm512_set1_epi8(0x03);
    for (int v = 0; v < 2; ++v) {
      const __m512i bytes = _mm512_loadu_si512(blk + 64 * v);
      w[4 * v] = _mm512_and_si512(bytes, low2);
      w[4 * v + 1] = _mm512_and_si512(_mm512_srli_epi16(bytes, 2), low2);
      w[4 * v + 2] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low2);
      w[4 * v + 3] = _mm512_and_si512(_mm512_srli_epi16(bytes, 6), low2);
    }
  } else if constexpr (kSpec.nibbles) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int i = 0; i < 4; ++i) {
      const __m512i v = _mm512_loadu_si512(blk + 64 * i);
      w[i] = _mm512_and_si512(v, low4);
      w[i + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
    if constexpr (kSpec.codebook) {
      const __m512i table = CodebookTable();
      for (int i = 0; i < 8; ++i) w[i] = _mm512_shuffle_epi8(table, w[i]);
    }
  } else {
    for (int i = 0; i < 8; ++i) w[i] = _mm512_loadu_si512(blk + 64 * i);
  }
  if constexpr (kSpec.high_planes > 0) {
    const uint8_t* planes = blk + PlanesOffset(kSpec);
    for (int i = 0; i < 8; ++i) {
      for (int p = 0; p < kSpec.high_planes; ++p) {
        uint64_t bits;
        std::memcpy(&bits, planes + 8 * (i * kSpec.high_planes + p), 8);
        w[i] = _mm512_mask_add_epi8(w[i], _cvtu64_mask64(bits), w[i],
                                    _mm512_set1_epi8(static_cast<char>(1 << (kSpec.high_shift + p))));
      }
    }
  }
}

// Scales (and min) of block j of a super-group: sc0 for elements 0..15 (all
// 32 unless per-half), sc1 for 16..31, mn such that acc += mn * dsum (for
// K-quants the ggml min is subtracted: see the fnmadd below); q2_K's mins
// per half are mn (elements 0..15) and mn1 (16..31).
template <DType kType>
CS_TARGET_AVX512 inline void LoadScales(const uint8_t* super, int j, __m512& sc0, __m512& sc1, __m512& mn,
                                        __m512& mn1) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  if constexpr (kSpec.scales == PackScales::kSimpleF16) {
    const uint8_t* s = super + kSpec.weight_bytes;
    sc0 = LoadF16x16(s);
    if constexpr (kSpec.has_min) mn = LoadF16x16(s + 32);
  } else if constexpr (kSpec.scales == PackScales::kKQuant) {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    sc0 = _mm512_mul_ps(LoadF16x16(hdr), LoadU8x16(hdr + 64 + 16 * j));
    mn = _mm512_mul_ps(LoadF16x16(hdr + 32), LoadU8x16(hdr + 192 + 16 * j));
  } else if constexpr (kSpec.scales == PackScales::kQ2K) {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    const __m512 d = LoadF16x16(hdr);
    const __m512 dmin = LoadF16x16(hdr + 32);
    const __m512i low4 = _mm512_set1_epi32(0xF);
    const __m512i s0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hdr + 64 + 32 * j)));
    const __m512i s1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hdr + 80 + 32 * j)));
    sc0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(s0, low4)));
    sc1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(s1, low4)));
    mn = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(s0, 4)));
    mn1 = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(s1, 4)));
  } else if constexpr (kSpec.scales == PackScales::kIQ4XS) {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    sc0 = _mm512_mul_ps(LoadF16x16(hdr), LoadI8x16(hdr + 32 + 16 * j));
  } else {
    const uint8_t* hdr = super + 8 * kSpec.block_bytes;
    const __m512 d = LoadF16x16(hdr);
    sc0 = _mm512_mul_ps(d, LoadI8x16(hdr + 32 + 16 * (2 * j)));
    sc1 = _mm512_mul_ps(d, LoadI8x16(hdr + 32 + 16 * (2 * j + 1)));
  }
}

// Integer sums of T tokens start from their activations' bias (-offset *
// sum(x_q)); q2_K's have no offset (its "bias" fields carry the halves'
// d * sum(x_q), which the epilogue's min terms take).
template <PackSpec kSpec, int T>
CS_TARGET_AVX512 inline void InitSums(const ActBlock* xb, int64_t x_stride, __m512i lo[T], __m512i hi[T]) {
  for (int t = 0; t < T; ++t) {
    lo[t] = kSpec.half_mins ? _mm512_setzero_si512() : _mm512_set1_epi32(xb[t * x_stride].bias_lo);
  }
  for (int t = 0; t < T; ++t) {
    hi[t] = kSpec.per_half && !kSpec.half_mins ? _mm512_set1_epi32(xb[t * x_stride].bias_hi) : _mm512_setzero_si512();
  }
}

// acc + the block's scaled integer sums and min terms of one token, in
// ref::DotQuant's order (so the same bits).
template <PackSpec kSpec>
CS_TARGET_AVX512 inline __m512 Epilogue(const ActBlock& a, __m512i lo, __m512i hi, __m512 sc0, __m512 sc1,
                                        __m512 mn, __m512 mn1, __m512 acc) {
  const __m512 dx = _mm512_set1_ps(a.d);
  if constexpr (kSpec.half_mins) {
    // ref: t_h = fma(isum_h, scale_h * d_x, -(dmin * m_h) * dsum_h) ==
    // fmsub(isum_h, scale_h * d_x, (dmin * m_h) * dsum_h); acc + (t_lo + t_hi).
    const __m512 t_lo = _mm512_fmsub_ps(_mm512_cvtepi32_ps(lo), _mm512_mul_ps(sc0, dx),
                                        _mm512_mul_ps(mn, _mm512_set1_ps(HalfDsumLo(a))));
    const __m512 t_hi = _mm512_fmsub_ps(_mm512_cvtepi32_ps(hi), _mm512_mul_ps(sc1, dx),
                                        _mm512_mul_ps(mn1, _mm512_set1_ps(HalfDsumHi(a))));
    return _mm512_add_ps(acc, _mm512_add_ps(t_lo, t_hi));
  }
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), _mm512_mul_ps(sc0, dx), acc);
  if constexpr (kSpec.per_half) acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), _mm512_mul_ps(sc1, dx), acc);
  if constexpr (kSpec.has_min) {
    if constexpr (kSpec.scales == PackScales::kKQuant) {
      // ref: fma(-(dmin * m), dsum, acc) == fnmadd(dmin * m, dsum, acc).
      acc = _mm512_fnmadd_ps(mn, _mm512_set1_ps(a.dsum), acc);
    } else {
      acc = _mm512_fmadd_ps(mn, _mm512_set1_ps(a.dsum), acc);
    }
  }
  return acc;
}

}  // namespace chunkserve::kernels::avx512_blocks
