// Element-wise ops (see ops.h) and the one-time choice of their
// implementation. They are short loops the compiler vectorizes well enough,
// a rounding error next to the matrix products, except SiLU and GELU, whose
// libm exp / tanh would dominate: those have AVX2 and AVX-512 twins with a
// vector exp.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/logging.h"
#include "kernels/isa.h"
#include "kernels/simd_math.h"

namespace chunkserve::kernels {

void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  // Accumulate in double: n is a few thousand at most and the sum of squares
  // of large activations loses bits in f32.
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void LayerNorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double var = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    var += d * d;
  }
  var /= static_cast<double>(n);
  const float inv_std = static_cast<float>(1.0 / std::sqrt(var + eps));
  const float mean_f = static_cast<float>(mean);
  for (int64_t i = 0; i < n; ++i) {
    const float y = (x[i] - mean_f) * inv_std * w[i];
    out[i] = b ? y + b[i] : y;
  }
}

void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float max_v = x[0];
  for (int64_t i = 1; i < n; ++i) max_v = std::max(max_v, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_v);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void Gelu(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  constexpr float kCoef = 0.044715f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoef * v * v)));
  }
}

void AddInPlace(float* y, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += b[i];
}

void ApplyRope(float* x, int n_heads, int64_t pos, const RopeParams& p) {
  CHECK(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= p.head_dim);
  const int n_pairs = p.n_rot / 2;
  // cos/sin once per position, shared by every head. Angles in float, as
  // llama2.c and ggml compute them, so greedy outputs match theirs.
  constexpr int kMaxPairs = 512;
  CHECK(n_pairs <= kMaxPairs);
  float cos_v[kMaxPairs];
  float sin_v[kMaxPairs];
  for (int i = 0; i < n_pairs; ++i) {
    float freq = 1.0f / std::pow(p.theta, static_cast<float>(2 * i) / static_cast<float>(p.n_rot));
    if (p.freq_factors) freq /= p.freq_factors[i];
    const float angle = static_cast<float>(pos) * p.freq_scale * freq;
    cos_v[i] = std::cos(angle) * p.mscale;
    sin_v[i] = std::sin(angle) * p.mscale;
  }
  for (int h = 0; h < n_heads; ++h) {
    float* head = x + static_cast<int64_t>(h) * p.head_dim;
    for (int i = 0; i < n_pairs; ++i) {
      const int i0 = p.style == RopeStyle::kNormal ? 2 * i : i;
      const int i1 = p.style == RopeStyle::kNormal ? 2 * i + 1 : i + n_pairs;
      const float v0 = head[i0];
      const float v1 = head[i1];
      head[i0] = v0 * cos_v[i] - v1 * sin_v[i];
      head[i1] = v0 * sin_v[i] + v1 * cos_v[i];
    }
  }
}

namespace {

#if defined(__x86_64__)

__attribute__((target("avx2,fma"))) void SiluMulAvx2(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = ExpClamped(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// GELU (tanh form) as x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3):
// the identity 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)) needs one vector exp.
// The tail runs the scalar twin.
__attribute__((target("avx2,fma"))) void GeluAvx2(float* x, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 minus_2c = _mm256_set1_ps(-2.0f * 0.7978845608028654f);
  const __m256 coef = _mm256_set1_ps(0.044715f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(coef, v), _mm256_mul_ps(v, v), v);  // x + a x^3
    const __m256 e = ExpClamped(_mm256_mul_ps(minus_2c, inner));
    _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
  }
  Gelu(x + i, n - i);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// SiLU(gate) * up, 16 lanes; the tail goes to the AVX2 loop.
CS_AVX512 void SiluMulAvx512(const float* gate, const float* up, int64_t n, float* out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    // exp(-g) clamped to [-87, 88.3] as ExpClamped does: no inf/NaN.
    __m512 x = _mm512_sub_ps(_mm512_setzero_ps(), g);
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.0f));
    const __m512 e = ExpNonPositive512(x);
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(silu, _mm512_loadu_ps(up + i)));
  }
  SiluMulAvx2(gate + i, up + i, n - i, out + i);
}

// GELU as GeluAvx2, 16 lanes; the tail goes to the AVX2 loop.
CS_AVX512 void GeluAvx512(float* x, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 minus_2c = _mm512_set1_ps(-2.0f * 0.7978845608028654f);
  const __m512 coef = _mm512_set1_ps(0.044715f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    __m512 t = _mm512_mul_ps(minus_2c, _mm512_fmadd_ps(_mm512_mul_ps(coef, v), _mm512_mul_ps(v, v), v));
    t = _mm512_max_ps(_mm512_min_ps(t, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.0f));
    _mm512_storeu_ps(x + i, _mm512_div_ps(v, _mm512_add_ps(one, ExpNonPositive512(t))));
  }
  GeluAvx2(x + i, n - i);
}

#pragma GCC diagnostic pop

#endif  // __x86_64__

void SiluMulScalar(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace

void SiluMulWithIsa(Isa isa, const float* gate, const float* up, int64_t n, float* out) {
  CHECK(IsaSupported(isa));
#if defined(__x86_64__)
  if (isa >= Isa::kAvx512) return SiluMulAvx512(gate, up, n, out);
  if (isa == Isa::kAvx2) return SiluMulAvx2(gate, up, n, out);
#endif
  SiluMulScalar(gate, up, n, out);
}

void GeluWithIsa(Isa isa, float* x, int64_t n) {
  CHECK(IsaSupported(isa));
#if defined(__x86_64__)
  if (isa >= Isa::kAvx512) return GeluAvx512(x, n);
  if (isa == Isa::kAvx2) return GeluAvx2(x, n);
#endif
  Gelu(x, n);
}

void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  SiluMulWithIsa(ActiveIsa(), gate, up, n, out);
}

}  // namespace chunkserve::kernels
