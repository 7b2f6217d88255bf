#include "kernels/packed_layout.h"

#include <cstring>

#include "base/logging.h"
#include "kernels/quant_blocks.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

size_t QuantRowGroupBytes(DType type, int64_t cols) {
  const PackSpec spec = PackSpecOf(type);
  const int64_t n_super = cols / kQK / spec.blocks_per_super;
  return static_cast<size_t>(n_super) * static_cast<size_t>(spec.super_bytes);
}

namespace {

void StoreF16(uint16_t h, uint8_t* array, int r) { std::memcpy(array + 2 * r, &h, 2); }

// Weights of row r of one block: nibble/byte plane plus high-bit planes.
void PackBlockWeights(const PackSpec& spec, const uint8_t u_in[kQK], int r, uint8_t* blk) {
  uint8_t u[kQK];
  for (int j = 0; j < kQK; ++j) u[j] = spec.codebook ? CodebookCode(u_in[j]) : u_in[j];
  if (spec.crumbs) {
    for (int v = 0; v < 2; ++v) {
      for (int e = 0; e < 4; ++e) {
        uint8_t byte = 0;
        for (int k = 0; k < 4; ++k) byte = static_cast<uint8_t>(byte | ((u[4 * (4 * v + k) + e] & 3) << (2 * k)));
        blk[64 * v + 4 * r + e] = byte;
      }
    }
  } else if (spec.nibbles) {
    for (int i = 0; i < 4; ++i) {
      for (int e = 0; e < 4; ++e) {
        blk[64 * i + 4 * r + e] = static_cast<uint8_t>((u[4 * i + e] & 0xF) | ((u[16 + 4 * i + e] & 0xF) << 4));
      }
    }
  } else {
    for (int i = 0; i < 8; ++i) {
      for (int e = 0; e < 4; ++e) blk[64 * i + 4 * r + e] = u[4 * i + e];
    }
  }
  uint8_t* planes = blk + (spec.crumbs ? 128 : spec.nibbles ? 256 : 512);
  for (int i = 0; i < 8; ++i) {
    for (int p = 0; p < spec.high_planes; ++p) {
      uint64_t mask;
      std::memcpy(&mask, planes + 8 * (i * spec.high_planes + p), 8);
      for (int e = 0; e < 4; ++e) {
        if ((u[4 * i + e] >> (spec.high_shift + p)) & 1) mask |= uint64_t{1} << (4 * r + e);
      }
      std::memcpy(planes + 8 * (i * spec.high_planes + p), &mask, 8);
    }
  }
}

// The K-quant super-block header of row r (see packed_layout.h).
void PackKHeader(DType type, const uint8_t* row, int64_t sb, int r, uint8_t* hdr) {
  if (type == DType::kQ6_K) {
    const auto& blk = reinterpret_cast<const BlockQ6_K*>(row)[sb];
    StoreF16(blk.d, hdr, r);
    for (int s = 0; s < 16; ++s) hdr[32 + 16 * s + r] = static_cast<uint8_t>(blk.scales[s]);
    return;
  }
  if (type == DType::kQ3_K) {
    const auto& blk = reinterpret_cast<const BlockQ3_K*>(row)[sb];
    uint8_t sc[16];
    UnpackScalesQ3K(blk.scales, sc);
    StoreF16(blk.d, hdr, r);
    for (int s = 0; s < 16; ++s) hdr[32 + 16 * s + r] = static_cast<uint8_t>(static_cast<int8_t>(sc[s] - 32));
    return;
  }
  if (type == DType::kQ2_K) {
    const auto& blk = reinterpret_cast<const BlockQ2_K*>(row)[sb];
    StoreF16(blk.d, hdr, r);
    StoreF16(blk.dmin, hdr + 32, r);
    for (int s = 0; s < 16; ++s) hdr[64 + 16 * s + r] = blk.scales[s];
    return;
  }
  if (type == DType::kIQ4_XS) {
    const auto& blk = reinterpret_cast<const BlockIQ4_XS*>(row)[sb];
    StoreF16(blk.d, hdr, r);
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = ((blk.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((blk.scales_h >> (2 * ib)) & 3) << 4);
      hdr[32 + 16 * ib + r] = static_cast<uint8_t>(static_cast<int8_t>(ls - 32));
    }
    return;
  }
  const uint8_t* scales;
  uint16_t d, dmin;
  if (type == DType::kQ4_K) {
    const auto& blk = reinterpret_cast<const BlockQ4_K*>(row)[sb];
    scales = blk.scales;
    d = blk.d;
    dmin = blk.dmin;
  } else {
    const auto& blk = reinterpret_cast<const BlockQ5_K*>(row)[sb];
    scales = blk.scales;
    d = blk.d;
    dmin = blk.dmin;
  }
  StoreF16(d, hdr, r);
  StoreF16(dmin, hdr + 32, r);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMinK4(j, scales, &sc, &m);
    hdr[64 + 16 * j + r] = sc;
    hdr[192 + 16 * j + r] = m;
  }
}

}  // namespace

void PackQuantRowGroup(DType type, const uint8_t* rows, size_t row_bytes, int n_rows, int64_t cols,
                       uint8_t* out) {
  CHECK(n_rows >= 0 && n_rows <= kRowGroup);
  const PackSpec spec = PackSpecOf(type);
  const int64_t n_super = cols / kQK / spec.blocks_per_super;
  std::memset(out, 0, QuantRowGroupBytes(type, cols));
  WeightBlock32 w;
  for (int64_t sb = 0; sb < n_super; ++sb) {
    uint8_t* super = out + sb * spec.super_bytes;
    for (int r = 0; r < n_rows; ++r) {
      const uint8_t* row = rows + static_cast<size_t>(r) * row_bytes;
      for (int j = 0; j < spec.blocks_per_super; ++j) {
        uint8_t* blk = super + j * spec.block_bytes;
        DecodeBlock32(type, row, sb * spec.blocks_per_super + j, &w);
        PackBlockWeights(spec, w.u, r, blk);
        if (spec.scales == PackScales::kSimpleF16) {
          // Exact: the simple types' scales and mins are f16 values.
          StoreF16(F32ToF16(w.scale[0]), blk + spec.weight_bytes, r);
          if (spec.has_min) StoreF16(F32ToF16(w.min[0]), blk + spec.weight_bytes + 32, r);
        }
      }
      if (spec.scales != PackScales::kSimpleF16) {
        PackKHeader(type, row, sb, r, super + spec.blocks_per_super * spec.block_bytes);
      }
    }
  }
}

size_t FloatRowGroupBytes(DType type, int64_t cols) {
  return static_cast<size_t>(cols) * kRowGroup * Traits(type).type_size;
}

void PackFloatRowGroup(DType type, const uint8_t* rows, size_t row_bytes, int n_rows, int64_t cols,
                       uint8_t* out) {
  CHECK(n_rows >= 0 && n_rows <= kRowGroup);
  const size_t es = Traits(type).type_size;
  std::memset(out, 0, FloatRowGroupBytes(type, cols));
  for (int r = 0; r < n_rows; ++r) {
    const uint8_t* src = rows + static_cast<size_t>(r) * row_bytes;
    for (int64_t k = 0; k < cols; ++k) {
      std::memcpy(out + (static_cast<size_t>(k) * kRowGroup + static_cast<size_t>(r)) * es, src + k * es, es);
    }
  }
}

}  // namespace chunkserve::kernels
