// DequantizeRow (bit-exact with ggml's dequantize_row_*) and QuantizeRow
// (simple round-to-nearest quantizers, one per type; no importance weights
// or scale search, so files are a little less accurate than llama.cpp's).
//
// This file is compiled with -ffp-contract=off: ggml's reference computes
// d * q + m as two roundings, and a fused multiply-add would differ in the
// last bit.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "base/logging.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "tensor/half.h"

namespace chunkserve::kernels {
namespace {

template <typename Block>
const Block* Blocks(const uint8_t* src) {
  return reinterpret_cast<const Block*>(src);
}

// ---------------------------------------------------------------- dequantize

void DequantQ4_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ4_0& b = Blocks<BlockQ4_0>(src)[i];
    const float d = F16ToF32(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((b.qs[j] & 0xF) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
    y += kQK;
  }
}

void DequantQ4_1(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ4_1& b = Blocks<BlockQ4_1>(src)[i];
    const float d = F16ToF32(b.d);
    const float m = F16ToF32(b.m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(b.qs[j] & 0xF) * d + m;
      y[j + kQK / 2] = static_cast<float>(b.qs[j] >> 4) * d + m;
    }
    y += kQK;
  }
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void DequantQ5_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ5_0& b = Blocks<BlockQ5_0>(src)[i];
    const float d = F16ToF32(b.d);
    const uint32_t qh = LoadU32(b.qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) << 4) & 0x10;
      const int h1 = static_cast<int>(qh >> (j + 12)) & 0x10;
      y[j] = static_cast<float>(((b.qs[j] & 0xF) | h0) - 16) * d;
      y[j + kQK / 2] = static_cast<float>(((b.qs[j] >> 4) | h1) - 16) * d;
    }
    y += kQK;
  }
}

void DequantQ5_1(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ5_1& b = Blocks<BlockQ5_1>(src)[i];
    const float d = F16ToF32(b.d);
    const float m = F16ToF32(b.m);
    const uint32_t qh = LoadU32(b.qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) << 4) & 0x10;
      const int h1 = static_cast<int>(qh >> (j + 12)) & 0x10;
      y[j] = static_cast<float>((b.qs[j] & 0xF) | h0) * d + m;
      y[j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) | h1) * d + m;
    }
    y += kQK;
  }
}

void DequantQ8_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ8_0& b = Blocks<BlockQ8_0>(src)[i];
    const float d = F16ToF32(b.d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
    y += kQK;
  }
}

void DequantQ8_1(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ8_1& b = Blocks<BlockQ8_1>(src)[i];
    const float d = F16ToF32(b.d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
    y += kQK;
  }
}

void DequantQ4_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ4_K& b = Blocks<BlockQ4_K>(src)[i];
    const float d = F16ToF32(b.d);
    const float dmin = F16ToF32(b.dmin);
    const uint8_t* q = b.qs;
    for (int s = 0; s < 8; s += 2) {
      uint8_t sc, m;
      UnpackScaleMinK4(s, b.scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      UnpackScaleMinK4(s + 1, b.scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) y[32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      y += 64;
    }
  }
}

void DequantQ5_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ5_K& b = Blocks<BlockQ5_K>(src)[i];
    const float d = F16ToF32(b.d);
    const float dmin = F16ToF32(b.dmin);
    const uint8_t* ql = b.qs;
    for (int s = 0; s < 8; s += 2) {
      uint8_t sc, m;
      UnpackScaleMinK4(s, b.scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      UnpackScaleMinK4(s + 1, b.scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(m);
      const uint8_t u1 = static_cast<uint8_t>(1u << s);
      const uint8_t u2 = static_cast<uint8_t>(2u << s);
      for (int l = 0; l < 32; ++l) {
        y[l] = d1 * static_cast<float>((ql[l] & 0xF) + ((b.qh[l] & u1) ? 16 : 0)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        y[32 + l] = d2 * static_cast<float>((ql[l] >> 4) + ((b.qh[l] & u2) ? 16 : 0)) - m2;
      }
      ql += 32;
      y += 64;
    }
  }
}

void DequantQ6_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ6_K& b = Blocks<BlockQ6_K>(src)[i];
    const float d = F16ToF32(b.d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      const int8_t* sc = b.scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      y += 128;
    }
  }
}

void DequantQ2_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ2_K& b = Blocks<BlockQ2_K>(src)[i];
    const float d = F16ToF32(b.d);
    const float dmin = F16ToF32(b.dmin);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = b.qs + 32 * h;
      for (int k = 0; k < 4; ++k) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sm = b.scales[8 * h + 2 * k + half];
          const float dl = d * static_cast<float>(sm & 0xF);
          const float ml = dmin * static_cast<float>(sm >> 4);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            *y++ = dl * static_cast<float>((q[l] >> (2 * k)) & 3) - ml;
          }
        }
      }
    }
  }
}

void DequantQ3_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ3_K& b = Blocks<BlockQ3_K>(src)[i];
    const float d = F16ToF32(b.d);
    uint8_t sc[16];
    UnpackScalesQ3K(b.scales, sc);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = b.qs + 32 * h;
      for (int k = 0; k < 4; ++k) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d * static_cast<float>(sc[8 * h + 2 * k + half] - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int low = (q[l] >> (2 * k)) & 3;
            const int high = (b.hmask[l] >> (4 * h + k)) & 1;
            *y++ = dl * static_cast<float>(low - (high ? 0 : 4));
          }
        }
      }
    }
  }
}

void DequantIQ4_NL(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockIQ4_NL& b = Blocks<BlockIQ4_NL>(src)[i];
    const float d = F16ToF32(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[b.qs[j] & 0xF]);
      y[j + kQK / 2] = d * static_cast<float>(kIq4nlValues[b.qs[j] >> 4]);
    }
    y += kQK;
  }
}

void DequantIQ4_XS(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockIQ4_XS& b = Blocks<BlockIQ4_XS>(src)[i];
    const float d = F16ToF32(b.d);
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      const uint8_t* qs = b.qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0xF]);
        y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
      }
      y += kQK;
    }
  }
}

void DequantQ8_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ8_K& b = Blocks<BlockQ8_K>(src)[i];
    for (int j = 0; j < kQK_K; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
    y += kQK_K;
  }
}

// ------------------------------------------------------------------ quantize

// Round half away from zero, as C's roundf (ggml's reference quantizers use it).
int RoundToInt(float v) { return static_cast<int>(std::lround(v)); }

// Signed value of largest magnitude in x[0..n) (first one on ties).
float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f, vmax = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      vmax = x[j];
    }
  }
  return vmax;
}

void QuantQ8_0(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[i].d = F32ToF16(d);
    for (int j = 0; j < kQK; ++j) out[i].qs[j] = static_cast<int8_t>(std::clamp(RoundToInt(x[j] * id), -127, 127));
  }
}

// Symmetric 4/5-bit: the extreme value maps to -2^(bits-1), as ggml does.
template <int kBits>
void QuantSymmetric(const float* x, float* d_out, uint8_t* q, int n) {
  const int half = 1 << (kBits - 1);
  const int qmax = (1 << kBits) - 1;
  const float vmax = SignedAbsMax(x, n);
  const float d = vmax / static_cast<float>(-half);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  *d_out = d;
  for (int j = 0; j < n; ++j) q[j] = static_cast<uint8_t>(std::clamp(RoundToInt(x[j] * id) + half, 0, qmax));
}

// Asymmetric: value = d * q + m with m = min(x).
template <int kBits>
void QuantAffine(const float* x, float* d_out, float* m_out, uint8_t* q, int n) {
  const int qmax = (1 << kBits) - 1;
  float lo = x[0], hi = x[0];
  for (int j = 1; j < n; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  const float d = (hi - lo) / static_cast<float>(qmax);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  *d_out = d;
  *m_out = lo;
  for (int j = 0; j < n; ++j) q[j] = static_cast<uint8_t>(std::clamp(RoundToInt((x[j] - lo) * id), 0, qmax));
}

void QuantQ4_0(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float d;
    uint8_t q[kQK];
    QuantSymmetric<4>(x, &d, q, kQK);
    out[i].d = F32ToF16(d);
    for (int j = 0; j < kQK / 2; ++j) out[i].qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
  }
}

void QuantQ4_1(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float d, m;
    uint8_t q[kQK];
    QuantAffine<4>(x, &d, &m, q, kQK);
    out[i].d = F32ToF16(d);
    out[i].m = F32ToF16(m);
    for (int j = 0; j < kQK / 2; ++j) out[i].qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
  }
}

void PackQ5Bits(const uint8_t q[kQK], uint8_t qs[16], uint8_t qh_bytes[4]) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    qh |= static_cast<uint32_t>(q[j] >> 4) << j;
    qh |= static_cast<uint32_t>(q[j + 16] >> 4) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

void QuantQ5_0(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float d;
    uint8_t q[kQK];
    QuantSymmetric<5>(x, &d, q, kQK);
    out[i].d = F32ToF16(d);
    PackQ5Bits(q, out[i].qs, out[i].qh);
  }
}

void QuantQ5_1(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float d, m;
    uint8_t q[kQK];
    QuantAffine<5>(x, &d, &m, q, kQK);
    out[i].d = F32ToF16(d);
    out[i].m = F32ToF16(m);
    PackQ5Bits(q, out[i].qs, out[i].qh);
  }
}

// q4_K / q5_K: per sub-block of 32 an affine fit x ~ scale * q - min with
// min >= 0 (the sub-block's minimum, clamped to <= 0, negated), then the 8
// scales and 8 mins quantized to 6 bits against the super-block d / dmin,
// then q recomputed from the quantized scale and min.
template <int kBits>
void QuantKAffine(const float* x, uint16_t* d_out, uint16_t* dmin_out, uint8_t scales[12], uint8_t q[kQK_K]) {
  const int qmax = (1 << kBits) - 1;
  float sub_scale[8], sub_min[8];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int s = 0; s < 8; ++s) {
    const float* xs = x + 32 * s;
    float lo = xs[0], hi = xs[0];
    for (int l = 1; l < 32; ++l) {
      lo = std::min(lo, xs[l]);
      hi = std::max(hi, xs[l]);
    }
    lo = std::min(lo, 0.0f);
    sub_scale[s] = (hi - lo) / static_cast<float>(qmax);
    sub_min[s] = -lo;
    max_scale = std::max(max_scale, sub_scale[s]);
    max_min = std::max(max_min, sub_min[s]);
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  uint8_t ls[8], lm[8];
  for (int s = 0; s < 8; ++s) {
    ls[s] = static_cast<uint8_t>(std::min(63, RoundToInt(inv_scale * sub_scale[s])));
    lm[s] = static_cast<uint8_t>(std::min(63, RoundToInt(inv_min * sub_min[s])));
  }
  PackScaleMinK4(ls, lm, scales);
  *d_out = F32ToF16(max_scale / 63.0f);
  *dmin_out = F32ToF16(max_min / 63.0f);
  const float d = F16ToF32(*d_out);
  const float dmin = F16ToF32(*dmin_out);
  for (int s = 0; s < 8; ++s) {
    const float dl = d * static_cast<float>(ls[s]);
    const float ml = dmin * static_cast<float>(lm[s]);
    for (int l = 0; l < 32; ++l) {
      const int v = dl != 0.0f ? RoundToInt((x[32 * s + l] + ml) / dl) : 0;
      q[32 * s + l] = static_cast<uint8_t>(std::clamp(v, 0, qmax));
    }
  }
}

void QuantQ4_K(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    uint8_t q[kQK_K];
    QuantKAffine<4>(x, &out[i].d, &out[i].dmin, out[i].scales, q);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        out[i].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
      }
    }
  }
}

void QuantQ5_K(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    uint8_t q[kQK_K];
    QuantKAffine<5>(x, &out[i].d, &out[i].dmin, out[i].scales, q);
    std::memset(out[i].qh, 0, sizeof(out[i].qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        out[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        out[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

// q6_K: symmetric per 16 elements (extreme value -> -32), the 16 scales
// quantized to int8 against the super-block d.
void QuantQ6_K(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float sub_scale[16];
    float max_abs_scale = 0.0f, max_scale = 0.0f;
    for (int s = 0; s < 16; ++s) {
      sub_scale[s] = SignedAbsMax(x + 16 * s, 16) / -32.0f;
      if (std::fabs(sub_scale[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(sub_scale[s]);
        max_scale = sub_scale[s];
      }
    }
    const float iscale = max_scale != 0.0f ? -128.0f / max_scale : 0.0f;
    out[i].d = F32ToF16(max_scale != 0.0f ? 1.0f / iscale : 0.0f);
    const float d = F16ToF32(out[i].d);
    uint8_t q[kQK_K];
    for (int s = 0; s < 16; ++s) {
      out[i].scales[s] = static_cast<int8_t>(std::clamp(RoundToInt(iscale * sub_scale[s]), -128, 127));
      const float ds = d * static_cast<float>(out[i].scales[s]);
      for (int l = 0; l < 16; ++l) {
        const int v = ds != 0.0f ? RoundToInt(x[16 * s + l] / ds) : 0;
        q[16 * s + l] = static_cast<uint8_t>(std::clamp(v, -32, 31) + 32);
      }
    }
    std::memset(out[i].qh, 0, sizeof(out[i].qh));
    for (int h = 0; h < 2; ++h) {
      uint8_t* ql = out[i].ql + 64 * h;
      uint8_t* qh = out[i].qh + 32 * h;
      const uint8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) |
                                     ((qq[l + 96] >> 4) << 6));
      }
    }
  }
}

// q2_K: per 16 elements an affine fit x ~ scale * q - min (min >= 0, as
// q4_K's), the 16 scales and 16 mins quantized to 4 bits against the
// super-block d / dmin, then q recomputed from the quantized scale and min.
void QuantQ2_K(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ2_K*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float sub_scale[16], sub_min[16];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < 16; ++s) {
      const float* xs = x + 16 * s;
      float lo = xs[0], hi = xs[0];
      for (int l = 1; l < 16; ++l) {
        lo = std::min(lo, xs[l]);
        hi = std::max(hi, xs[l]);
      }
      lo = std::min(lo, 0.0f);
      sub_scale[s] = (hi - lo) / 3.0f;
      sub_min[s] = -lo;
      max_scale = std::max(max_scale, sub_scale[s]);
      max_min = std::max(max_min, sub_min[s]);
    }
    out[i].d = F32ToF16(max_scale / 15.0f);
    out[i].dmin = F32ToF16(max_min / 15.0f);
    const float d = F16ToF32(out[i].d);
    const float dmin = F16ToF32(out[i].dmin);
    uint8_t q[kQK_K];
    for (int s = 0; s < 16; ++s) {
      const int ls = d > 0.0f ? std::clamp(RoundToInt(sub_scale[s] / d), 0, 15) : 0;
      const int lm = dmin > 0.0f ? std::clamp(RoundToInt(sub_min[s] / dmin), 0, 15) : 0;
      out[i].scales[s] = static_cast<uint8_t>(ls | (lm << 4));
      const float dl = d * static_cast<float>(ls);
      const float ml = dmin * static_cast<float>(lm);
      for (int l = 0; l < 16; ++l) {
        const int v = dl != 0.0f ? RoundToInt((x[16 * s + l] + ml) / dl) : 0;
        q[16 * s + l] = static_cast<uint8_t>(std::clamp(v, 0, 3));
      }
    }
    // Element 128h + 32k + l sits at bits 2k of qs[32h + l].
    std::memset(out[i].qs, 0, sizeof(out[i].qs));
    for (int j = 0; j < kQK_K; ++j) {
      const int h = j / 128, k = (j % 128) / 32, l = j % 32;
      out[i].qs[32 * h + l] = static_cast<uint8_t>(out[i].qs[32 * h + l] | (q[j] << (2 * k)));
    }
  }
}

// q3_K: symmetric per 16 elements (extreme value -> -4), the 16 scales
// quantized to 6 bits (-32..31, stored + 32) against the super-block d.
void QuantQ3_K(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float sub_scale[16];
    float max_abs_scale = 0.0f, max_scale = 0.0f;
    for (int s = 0; s < 16; ++s) {
      sub_scale[s] = SignedAbsMax(x + 16 * s, 16) / -4.0f;
      if (std::fabs(sub_scale[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(sub_scale[s]);
        max_scale = sub_scale[s];
      }
    }
    const float iscale = max_scale != 0.0f ? -32.0f / max_scale : 0.0f;
    out[i].d = F32ToF16(max_scale != 0.0f ? 1.0f / iscale : 0.0f);
    const float d = F16ToF32(out[i].d);
    uint8_t sc[16];
    uint8_t q[kQK_K];
    for (int s = 0; s < 16; ++s) {
      const int ls = std::clamp(RoundToInt(iscale * sub_scale[s]), -32, 31);
      sc[s] = static_cast<uint8_t>(ls + 32);
      const float ds = d * static_cast<float>(ls);
      for (int l = 0; l < 16; ++l) {
        const int v = ds != 0.0f ? RoundToInt(x[16 * s + l] / ds) : 0;
        q[16 * s + l] = static_cast<uint8_t>(std::clamp(v, -4, 3) + 4);
      }
    }
    PackScalesQ3K(sc, out[i].scales);
    // Element 128h + 32k + l: low 2 bits at bits 2k of qs[32h + l], the 3rd
    // bit at bit 4h + k of hmask[l].
    std::memset(out[i].qs, 0, sizeof(out[i].qs));
    std::memset(out[i].hmask, 0, sizeof(out[i].hmask));
    for (int j = 0; j < kQK_K; ++j) {
      const int h = j / 128, k = (j % 128) / 32, l = j % 32;
      out[i].qs[32 * h + l] = static_cast<uint8_t>(out[i].qs[32 * h + l] | ((q[j] & 3) << (2 * k)));
      out[i].hmask[l] = static_cast<uint8_t>(out[i].hmask[l] | ((q[j] >> 2) << (4 * h + k)));
    }
  }
}

// The code whose codebook value is nearest to v (first one on ties).
uint8_t NearestIq4Code(float v) {
  int best = 0;
  float best_err = std::fabs(v - static_cast<float>(kIq4nlValues[0]));
  for (int c = 1; c < 16; ++c) {
    const float err = std::fabs(v - static_cast<float>(kIq4nlValues[c]));
    if (err < best_err) {
      best_err = err;
      best = c;
    }
  }
  return static_cast<uint8_t>(best);
}

// 32 codes for x / scale, packed as iq4_nl's qs (element j low nibble of
// qs[j], element j + 16 high nibble).
void PackIq4Codes(const float* x, float scale, uint8_t qs[16]) {
  const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
  uint8_t c[kQK];
  for (int j = 0; j < kQK; ++j) c[j] = NearestIq4Code(x[j] * inv);
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(c[j] | (c[j + 16] << 4));
}

// iq4_nl: the value of largest magnitude maps to the codebook's -127 (as
// ggml's first guess; no scale search), each element to its nearest code.
void QuantIQ4_NL(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    out[i].d = F32ToF16(SignedAbsMax(x, kQK) / static_cast<float>(kIq4nlValues[0]));
    PackIq4Codes(x, F16ToF32(out[i].d), out[i].qs);
  }
}

// iq4_xs: per 32 elements iq4_nl's scale, the 8 scales quantized to 6 bits
// (-32..31, stored + 32) against the super-block d, codes recomputed from
// the quantized scales.
void QuantIQ4_XS(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockIQ4_XS*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float sub_scale[8];
    float max_abs_scale = 0.0f, max_scale = 0.0f;
    for (int ib = 0; ib < 8; ++ib) {
      sub_scale[ib] = SignedAbsMax(x + 32 * ib, kQK) / static_cast<float>(kIq4nlValues[0]);
      if (std::fabs(sub_scale[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(sub_scale[ib]);
        max_scale = sub_scale[ib];
      }
    }
    out[i].d = F32ToF16(max_scale / -32.0f);
    const float d = F16ToF32(out[i].d);
    out[i].scales_h = 0;
    std::memset(out[i].scales_l, 0, sizeof(out[i].scales_l));
    for (int ib = 0; ib < 8; ++ib) {
      const int l = d != 0.0f ? std::clamp(RoundToInt(sub_scale[ib] / d), -32, 31) : 0;
      const int ls = l + 32;
      out[i].scales_l[ib / 2] = static_cast<uint8_t>(out[i].scales_l[ib / 2] | ((ls & 0xF) << (4 * (ib % 2))));
      out[i].scales_h = static_cast<uint16_t>(out[i].scales_h | ((ls >> 4) << (2 * ib)));
      PackIq4Codes(x + 32 * ib, d * static_cast<float>(l), out[i].qs + 16 * ib);
    }
  }
}

void QuantQ8_K(const float* x, uint8_t* dst, int64_t nb) {
  auto* out = reinterpret_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    const float vmax = SignedAbsMax(x, kQK_K);
    if (vmax == 0.0f) {
      std::memset(&out[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / vmax;
    for (int j = 0; j < kQK_K; ++j) {
      out[i].qs[j] = static_cast<int8_t>(std::min(127, RoundToInt(iscale * x[j])));
    }
    for (int s = 0; s < 16; ++s) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += out[i].qs[16 * s + l];
      out[i].bsums[s] = static_cast<int16_t>(sum);
    }
    out[i].d = 1.0f / iscale;
  }
}

}  // namespace

bool CanDequantize(DType type) {
  switch (type) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ4_0: case DType::kQ4_1:
    case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0: case DType::kQ8_1: case DType::kQ4_K:
    case DType::kQ5_K: case DType::kQ6_K: case DType::kQ8_K: case DType::kQ2_K: case DType::kQ3_K:
    case DType::kIQ4_NL: case DType::kIQ4_XS:
      return true;
    default:
      return false;
  }
}

void DequantizeRow(DType type, const uint8_t* src, float* dst, int64_t n) {
  const int64_t bs = Traits(type).block_size;
  CHECK_MSG(n % bs == 0, std::string("row of ") + std::to_string(n) + std::string(" elements is not whole blocks of ") + std::string(DTypeName(type)));
  const int64_t nb = n / bs;
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(h[i]);
      return;
    }
    case DType::kBF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = BF16ToF32(h[i]);
      return;
    }
    case DType::kQ4_0: return DequantQ4_0(src, dst, nb);
    case DType::kQ4_1: return DequantQ4_1(src, dst, nb);
    case DType::kQ5_0: return DequantQ5_0(src, dst, nb);
    case DType::kQ5_1: return DequantQ5_1(src, dst, nb);
    case DType::kQ8_0: return DequantQ8_0(src, dst, nb);
    case DType::kQ8_1: return DequantQ8_1(src, dst, nb);
    case DType::kQ4_K: return DequantQ4_K(src, dst, nb);
    case DType::kQ5_K: return DequantQ5_K(src, dst, nb);
    case DType::kQ6_K: return DequantQ6_K(src, dst, nb);
    case DType::kQ8_K: return DequantQ8_K(src, dst, nb);
    case DType::kQ2_K: return DequantQ2_K(src, dst, nb);
    case DType::kQ3_K: return DequantQ3_K(src, dst, nb);
    case DType::kIQ4_NL: return DequantIQ4_NL(src, dst, nb);
    case DType::kIQ4_XS: return DequantIQ4_XS(src, dst, nb);
    default:
      CHECK_MSG(false, std::string("DequantizeRow: no dequantizer for ") + std::string(DTypeName(type)));
  }
}

Status QuantizeRow(DType type, const float* src, uint8_t* dst, int64_t n) {
  const auto traits = GetDTypeTraits(static_cast<uint32_t>(type));
  if (!traits) return InvalidArgumentError("QuantizeRow: unknown type");
  if (n < 0 || n % traits->block_size != 0) {
    return InvalidArgumentError("QuantizeRow: " + std::to_string(n) + " elements is not whole blocks of " +
                                std::string(traits->name));
  }
  const int64_t nb = n / traits->block_size;
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return Status::Ok();
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToF16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return Status::Ok();
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToBF16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return Status::Ok();
    case DType::kQ4_0: QuantQ4_0(src, dst, nb); return Status::Ok();
    case DType::kQ4_1: QuantQ4_1(src, dst, nb); return Status::Ok();
    case DType::kQ5_0: QuantQ5_0(src, dst, nb); return Status::Ok();
    case DType::kQ5_1: QuantQ5_1(src, dst, nb); return Status::Ok();
    case DType::kQ8_0: QuantQ8_0(src, dst, nb); return Status::Ok();
    case DType::kQ4_K: QuantQ4_K(src, dst, nb); return Status::Ok();
    case DType::kQ5_K: QuantQ5_K(src, dst, nb); return Status::Ok();
    case DType::kQ6_K: QuantQ6_K(src, dst, nb); return Status::Ok();
    case DType::kQ8_K: QuantQ8_K(src, dst, nb); return Status::Ok();
    case DType::kQ2_K: QuantQ2_K(src, dst, nb); return Status::Ok();
    case DType::kQ3_K: QuantQ3_K(src, dst, nb); return Status::Ok();
    case DType::kIQ4_NL: QuantIQ4_NL(src, dst, nb); return Status::Ok();
    case DType::kIQ4_XS: QuantIQ4_XS(src, dst, nb); return Status::Ok();
    default:
      return UnimplementedError("QuantizeRow: no quantizer for " + std::string(traits->name));
  }
}

}  // namespace chunkserve::kernels
