// Portable row-group kernels: plain C++ on the packed layout
// (packed_layout.h), for CPUs without AVX2 (other architectures, old x86).
// Loops run over the 16 rows of a group with compile-time trip counts, so the
// compiler can vectorise them for whatever SIMD the target has; integer sums
// and the per-block scaling follow ref::DotQuant exactly (std::fma, this file
// compiled with -ffp-contract=off), so results are bit-identical to it.
#include <cmath>
#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/packed_layout.h"
#include "tensor/half.h"

namespace chunkserve::kernels {
namespace {

constexpr int kTileTokens = 4;

// One block of a row group decoded to the canonical form of 16 rows.
struct GroupBlock {
  uint8_t u[8][16][4];  // [register i][row][element 4i + e]
  float sc0[16], sc1[16];
  float mn0[16], mn1[16];  // mn1 == mn0 unless half mins
  bool negate_min = false;
};

float HalfAt(const uint8_t* p, int r) {
  uint16_t h;
  std::memcpy(&h, p + 2 * r, 2);
  return F16ToF32(h);
}

template <DType kType>
void DecodeGroupBlock(const uint8_t* super, int j, GroupBlock* g) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  const uint8_t* blk = super + j * kSpec.block_bytes;
  for (int i = 0; i < 8; ++i) {
    for (int r = 0; r < 16; ++r) {
      for (int e = 0; e < 4; ++e) {
        if constexpr (kSpec.crumbs) {
          const uint8_t byte = blk[64 * (i / 4) + 4 * r + e];
          g->u[i][r][e] = static_cast<uint8_t>((byte >> (2 * (i % 4))) & 3);
        } else if constexpr (kSpec.nibbles) {
          const uint8_t byte = blk[64 * (i % 4) + 4 * r + e];
          g->u[i][r][e] = static_cast<uint8_t>(i < 4 ? byte & 0xF : byte >> 4);
          if constexpr (kSpec.codebook) g->u[i][r][e] = static_cast<uint8_t>(kIq4nlValues[g->u[i][r][e]] + 128);
        } else {
          g->u[i][r][e] = blk[64 * i + 4 * r + e];
        }
      }
    }
  }
  const uint8_t* planes = blk + (kSpec.crumbs ? 128 : kSpec.nibbles ? 256 : 512);
  for (int i = 0; i < 8; ++i) {
    for (int p = 0; p < kSpec.high_planes; ++p) {
      uint64_t bits;
      std::memcpy(&bits, planes + 8 * (i * kSpec.high_planes + p), 8);
      for (int k = 0; k < 64; ++k) {
        g->u[i][k / 4][k % 4] =
            static_cast<uint8_t>(g->u[i][k / 4][k % 4] | (((bits >> k) & 1) << (kSpec.high_shift + p)));
      }
    }
  }
  const uint8_t* hdr = super + 8 * kSpec.block_bytes;
  for (int r = 0; r < 16; ++r) g->mn0[r] = g->mn1[r] = 0.0f;
  if constexpr (kSpec.scales == PackScales::kSimpleF16) {
    for (int r = 0; r < 16; ++r) {
      g->sc0[r] = g->sc1[r] = HalfAt(blk + kSpec.weight_bytes, r);
      if (kSpec.has_min) g->mn0[r] = g->mn1[r] = HalfAt(blk + kSpec.weight_bytes + 32, r);
    }
  } else if constexpr (kSpec.scales == PackScales::kKQuant) {
    for (int r = 0; r < 16; ++r) {
      g->sc0[r] = g->sc1[r] = HalfAt(hdr, r) * static_cast<float>(hdr[64 + 16 * j + r]);
      g->mn0[r] = g->mn1[r] = HalfAt(hdr + 32, r) * static_cast<float>(hdr[192 + 16 * j + r]);
    }
    g->negate_min = true;
  } else if constexpr (kSpec.scales == PackScales::kQ2K) {
    for (int r = 0; r < 16; ++r) {
      const float d = HalfAt(hdr, r), dmin = HalfAt(hdr + 32, r);
      const uint8_t s0 = hdr[64 + 16 * (2 * j) + r], s1 = hdr[64 + 16 * (2 * j + 1) + r];
      g->sc0[r] = d * static_cast<float>(s0 & 0xF);
      g->sc1[r] = d * static_cast<float>(s1 & 0xF);
      g->mn0[r] = dmin * static_cast<float>(s0 >> 4);
      g->mn1[r] = dmin * static_cast<float>(s1 >> 4);
    }
    g->negate_min = true;
  } else if constexpr (kSpec.scales == PackScales::kIQ4XS) {
    for (int r = 0; r < 16; ++r) {
      g->sc0[r] = g->sc1[r] = HalfAt(hdr, r) * static_cast<float>(static_cast<int8_t>(hdr[32 + 16 * j + r]));
    }
  } else {
    for (int r = 0; r < 16; ++r) {
      const float d = HalfAt(hdr, r);
      g->sc0[r] = d * static_cast<float>(static_cast<int8_t>(hdr[32 + 16 * (2 * j) + r]));
      g->sc1[r] = d * static_cast<float>(static_cast<int8_t>(hdr[32 + 16 * (2 * j + 1) + r]));
    }
  }
}

template <DType kType>
void QuantRowGroup(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride, int64_t n_tokens,
                   float* y, int64_t y_stride, int n_rows) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  GroupBlock g;
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kTileTokens) {
    const int n_t = static_cast<int>(n_tokens - t0 < kTileTokens ? n_tokens - t0 : kTileTokens);
    float acc[kTileTokens][16] = {};
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int j = static_cast<int>(b % kSpec.blocks_per_super);
      DecodeGroupBlock<kType>(panel + (b / kSpec.blocks_per_super) * kSpec.super_bytes, j, &g);
      for (int t = 0; t < n_t; ++t) {
        const ActBlock& a = x[(t0 + t) * x_stride + b];
        // q2_K has no zero offset (its "bias" fields hold the halves' d * sum).
        int32_t lo[16], hi[16];
        for (int r = 0; r < 16; ++r) {
          lo[r] = kSpec.half_mins ? 0 : a.bias_lo;
          hi[r] = kSpec.half_mins ? 0 : a.bias_hi;
        }
        for (int i = 0; i < 8; ++i) {
          int32_t* s = (kSpec.per_half && i >= 4) ? hi : lo;
          for (int r = 0; r < 16; ++r) {
            for (int e = 0; e < 4; ++e) s[r] += g.u[i][r][e] * a.qs[4 * i + e];
          }
        }
        for (int r = 0; r < 16; ++r) {
          float v = acc[t][r];
          if constexpr (kSpec.half_mins) {
            const float t_lo = std::fma(static_cast<float>(lo[r]), g.sc0[r] * a.d, -g.mn0[r] * HalfDsumLo(a));
            const float t_hi = std::fma(static_cast<float>(hi[r]), g.sc1[r] * a.d, -g.mn1[r] * HalfDsumHi(a));
            acc[t][r] = v + (t_lo + t_hi);
            continue;
          }
          if constexpr (kSpec.per_half) {
            v = std::fma(static_cast<float>(lo[r]), g.sc0[r] * a.d, v);
            v = std::fma(static_cast<float>(hi[r]), g.sc1[r] * a.d, v);
          } else {
            v = std::fma(static_cast<float>(lo[r] + hi[r]), g.sc0[r] * a.d, v);
          }
          if constexpr (kSpec.has_min) v = std::fma(g.negate_min ? -g.mn0[r] : g.mn0[r], a.dsum, v);
          acc[t][r] = v;
        }
      }
    }
    for (int t = 0; t < n_t; ++t) std::memcpy(y + (t0 + t) * y_stride, acc[t], static_cast<size_t>(n_rows) * 4);
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

template <DType kType>
float LoadFloat(const uint8_t* p) {
  if constexpr (kType == DType::kF32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  } else {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return kType == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
  }
}

// Same fma order as ref::DotFloat: bit-identical.
template <DType kType>
void FloatRowGroup(const uint8_t* panel, int64_t cols, const float* x, int64_t x_stride, int64_t n_tokens, float* y,
                   int64_t y_stride, int n_rows) {
  constexpr size_t kEs = kType == DType::kF32 ? 4 : 2;
  for (int64_t t = 0; t < n_tokens; ++t) {
    float acc[16] = {};
    for (int64_t k = 0; k < cols; ++k) {
      const float xk = x[t * x_stride + k];
      for (int r = 0; r < 16; ++r) acc[r] = std::fma(LoadFloat<kType>(panel + (k * 16 + r) * kEs), xk, acc[r]);
    }
    std::memcpy(y + t * y_stride, acc, static_cast<size_t>(n_rows) * 4);
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

}  // namespace

const KernelTable* PortableKernelTable() {
  static const KernelTable table{Isa::kScalar, QuantFn, FloatFn, QuantizeActivationRow};
  return &table;
}

}  // namespace chunkserve::kernels
