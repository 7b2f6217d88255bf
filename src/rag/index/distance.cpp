#include "rag/index/distance.h"

// GCC 12 warns inside its own AVX-512 headers (_mm512_reduce_add_ps uses an
// intentionally undefined register); the warning is a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>


namespace chunkserve::rag {
namespace {

// ---- scalar reference -------------------------------------------------------

float DotRef(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

float L2SqrRef(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) {
    const float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

float DotU8Ref(const float* q, const uint8_t* c, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += q[i] * static_cast<float>(c[i]);
  return s;
}

// ---- AVX2 + FMA -------------------------------------------------------------

#define CS_AVX2 __attribute__((target("avx2,fma")))

CS_AVX2 inline float HSum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  __m128 sums = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, sums);
  sums = _mm_add_ss(sums, sh);
  return _mm_cvtss_f32(sums);
}

CS_AVX2 float DotAvx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = HSum256(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

CS_AVX2 float L2SqrAvx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float s = HSum256(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) {
    const float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

CS_AVX2 float DotU8Avx2(const float* q, const uint8_t* c, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)));
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), c0, s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), c1, s1);
  }
  float s = HSum256(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += q[i] * static_cast<float>(c[i]);
  return s;
}

#undef CS_AVX2

// ---- AVX-512 F + BW ---------------------------------------------------------

#define CS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

CS_AVX512 float DotAvx512(const float* a, const float* b, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  if (i < n) {  // masked tail: no scalar loop
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

CS_AVX512 float L2SqrAvx512(const float* a, const float* b, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  for (; i + 16 <= n; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

CS_AVX512 float DotU8Avx512(const float* q, const uint8_t* c, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i));
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(bytes)));
    __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(bytes, 1)));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), c0, s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), c1, s1);
  }
  for (; i + 16 <= n; i += 16) {
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i))));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), c0, s0);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), c0, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

#undef CS_AVX512

using kernels::Isa;

constexpr DistanceKernels kScalar{Isa::kScalar, DotRef, L2SqrRef, DotU8Ref};
constexpr DistanceKernels kAvx2{Isa::kAvx2, DotAvx2, L2SqrAvx2, DotU8Avx2};
constexpr DistanceKernels kAvx512{Isa::kAvx512, DotAvx512, L2SqrAvx512, DotU8Avx512};

}  // namespace

const DistanceKernels& DistanceKernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kAmx:  // AMX adds nothing for vector distances
    case Isa::kAvx512: return kAvx512;
    case Isa::kAvx2: return kAvx2;
    case Isa::kScalar: break;
  }
  return kScalar;
}

const DistanceKernels& ActiveDistanceKernels() {
  static const DistanceKernels& active = DistanceKernelsFor(kernels::ActiveIsa());
  return active;
}

}  // namespace chunkserve::rag
