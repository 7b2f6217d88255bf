// Element-wise and per-row operations of the transformer forward pass
// (norms, RoPE, SwiGLU, GELU). SiLU and GELU have AVX2 / AVX-512 twins chosen
// by the kernels' one level (kernels/isa.h).
//
// Shapes are written where the math is: (n_heads, head_dim) means n_heads rows
// of head_dim contiguous floats. All buffers are f32.
//
// Thread safety: pure functions; safe to call concurrently on disjoint outputs.
#pragma once

#include <cstdint>

#include "kernels/isa.h"

namespace chunkserve::kernels {

// out (n,) = x / sqrt(mean(x^2) + eps) * w
void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out);
// out (n,) = (x - mean) / sqrt(var + eps) * w + b   (b may be null)
void LayerNorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out);
// In place, numerically stable: x (n,) <- softmax(x)
void Softmax(float* x, int64_t n);
// out (n,) = silu(gate) * up
void SiluMul(const float* gate, const float* up, int64_t n, float* out);
// In place, tanh approximation as ggml and BERT checkpoints use.
void Gelu(float* x, int64_t n);
// y (n,) += b (n,)
void AddInPlace(float* y, const float* b, int64_t n);

enum class RopeStyle {
  kNormal,  // rotate adjacent pairs (x[2i], x[2i+1]): llama
  kNeox,    // rotate halves (x[i], x[i + n_rot/2]): qwen2, qwen3, neox
};

struct RopeParams {
  int head_dim = 0;
  int n_rot = 0;             // rotated dims per head (<= head_dim, even)
  float theta = 10000.0f;    // rope_theta (freq_base)
  float freq_scale = 1.0f;   // linear scaling: position * freq_scale
  RopeStyle style = RopeStyle::kNormal;
  // Optional per-pair frequency divisors (n_rot / 2 floats, GGUF
  // `rope_freqs.weight`, Llama 3.1+ long-context scaling): pair i rotates by
  // pos * freq_scale * theta^(-2i/n_rot) / freq_factors[i]. Borrowed.
  const float* freq_factors = nullptr;
  // cos and sin are multiplied by mscale (LongRoPE's attention factor, as
  // ggml's rope applies attn_factor): rotated dims scale by it, the others
  // do not. 1 leaves the rotation exact.
  float mscale = 1.0f;
};

// x (n_heads, head_dim) rotated in place for position `pos`.
void ApplyRope(float* x, int n_heads, int64_t pos, const RopeParams& p);

// SiluMul on a given level (SiluMul itself uses ActiveIsa()); tests force
// each one and compare with the scalar twin. kAvx512 runs 16 lanes wide.
// REQUIRES: IsaSupported(isa).
void SiluMulWithIsa(Isa isa, const float* gate, const float* up, int64_t n, float* out);
// In place, the same tanh-approximation GELU as Gelu (its scalar twin),
// written as x / (1 + exp(-2u)) = 0.5 x (1 + tanh(u)) with a vector exp on
// kAvx2 / kAvx512 (|diff| <= ~2e-7 relative); kScalar is Gelu itself. The
// encoder's FFN spends half its time in libm tanh without it.
void GeluWithIsa(Isa isa, float* x, int64_t n);

}  // namespace chunkserve::kernels
