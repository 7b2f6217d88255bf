#include "tensor/kv_row.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/logging.h"

namespace chunkserve {

bool IsKvType(DType type) { return type == DType::kF32 || type == DType::kBF16 || type == DType::kQ8_0; }

std::optional<DType> ParseKvType(std::string_view name) {
  if (name == "f32") return DType::kF32;
  if (name == "bf16") return DType::kBF16;
  if (name == "q8_0") return DType::kQ8_0;
  return std::nullopt;
}

bool KvTypeFits(DType type, int64_t head_dim) {
  if (!IsKvType(type) || head_dim <= 0) return false;
  return type != DType::kQ8_0 || head_dim % kKvQ8Block == 0;
}

size_t KvRowBytes(DType type, int64_t n) {
  switch (type) {
    case DType::kF32: return static_cast<size_t>(n) * 4;
    case DType::kBF16: return static_cast<size_t>(n) * 2;
    case DType::kQ8_0:
      CHECK_MSG(n % kKvQ8Block == 0, "q8_0 KV rows hold whole blocks of 32 values");
      return static_cast<size_t>(n / kKvQ8Block) * kKvQ8BlockBytes;
    default: break;
  }
  CHECK_MSG(false, "KV rows are f32, bf16 or q8_0");
  return 0;
}

void QuantizeQ8_0KvRow(const float* src, int64_t n, void* dst) {
  CHECK(n % kKvQ8Block == 0);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kKvQ8Block; ++b, out += kKvQ8BlockBytes) {
    const float* x = src + b * kKvQ8Block;
    float amax = 0;
    for (int64_t i = 0; i < kKvQ8Block; ++i) amax = std::max(amax, std::fabs(x[i]));
    // The inverse of the scale as stored (f16), so d * q reproduces x to
    // half a step of that scale.
    const uint16_t d_bits = F32ToF16(amax / 127.0f);
    const float d = F16ToF32(d_bits);
    const float inv = d > 0 && std::isfinite(d) ? 1.0f / d : 0.0f;
    std::memcpy(out, &d_bits, 2);
    for (int64_t i = 0; i < kKvQ8Block; ++i) {
      const float q = std::clamp(std::round(x[i] * inv), -127.0f, 127.0f);
      out[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
  }
}

void DequantizeQ8_0KvRow(const void* src, int64_t n, float* dst) {
  CHECK(n % kKvQ8Block == 0);
  const auto* in = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kKvQ8Block; ++b, in += kKvQ8BlockBytes) {
    uint16_t d_bits;
    std::memcpy(&d_bits, in, 2);
    const float d = F16ToF32(d_bits);
    for (int64_t i = 0; i < kKvQ8Block; ++i)
      dst[b * kKvQ8Block + i] = d * static_cast<float>(static_cast<int8_t>(in[2 + i]));
  }
}

}  // namespace chunkserve
