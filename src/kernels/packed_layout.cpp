#include "kernels/packed_layout.h"

#include <cstring>

#include "base/logging.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

QuantLayout QuantLayoutOf(DType type) {
  QuantLayout l;
  l.fmt = WeightFormatOf(type);
  l.nibbles = l.fmt.bits == 4;
  l.weight_bytes = l.nibbles ? 256 : 512;
  l.scale_bytes = l.fmt.f16_scales ? 32 : 64;
  l.scales_offset = l.weight_bytes;
  int end = l.scales_offset + l.scale_bytes * (l.fmt.per_half ? 2 : 1);
  if (l.fmt.has_min) {
    l.mins_offset = end;
    end += l.scale_bytes;
  }
  l.group_bytes = end;
  return l;
}

size_t QuantRowGroupBytes(DType type, int64_t cols) {
  return static_cast<size_t>(cols / kQK) * static_cast<size_t>(QuantLayoutOf(type).group_bytes);
}

namespace {

void StoreScale(bool f16, float v, uint8_t* array, int r) {
  if (f16) {
    // Exact: simple types' scales are f16 values to begin with.
    const uint16_t h = F32ToF16(v);
    std::memcpy(array + 2 * r, &h, 2);
  } else {
    std::memcpy(array + 4 * r, &v, 4);
  }
}

}  // namespace

void PackQuantRowGroup(DType type, const uint8_t* rows, size_t row_bytes, int n_rows, int64_t cols,
                       uint8_t* out) {
  CHECK(n_rows >= 0 && n_rows <= kRowGroup);
  const QuantLayout l = QuantLayoutOf(type);
  const int64_t n_blocks = cols / kQK;
  std::memset(out, 0, static_cast<size_t>(n_blocks) * static_cast<size_t>(l.group_bytes));
  WeightBlock32 w;
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint8_t* g = out + b * l.group_bytes;
    for (int r = 0; r < n_rows; ++r) {
      DecodeBlock32(type, rows + static_cast<size_t>(r) * row_bytes, b, &w);
      if (l.nibbles) {
        for (int i = 0; i < 4; ++i) {
          for (int e = 0; e < 4; ++e) {
            g[64 * i + 4 * r + e] = static_cast<uint8_t>(w.u[4 * i + e] | (w.u[16 + 4 * i + e] << 4));
          }
        }
      } else {
        for (int i = 0; i < 8; ++i) {
          for (int e = 0; e < 4; ++e) g[64 * i + 4 * r + e] = w.u[4 * i + e];
        }
      }
      StoreScale(l.fmt.f16_scales, w.scale[0], g + l.scales_offset, r);
      if (l.fmt.per_half) StoreScale(l.fmt.f16_scales, w.scale[1], g + l.scales_offset + l.scale_bytes, r);
      if (l.fmt.has_min) StoreScale(l.fmt.f16_scales, w.min, g + l.mins_offset, r);
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
