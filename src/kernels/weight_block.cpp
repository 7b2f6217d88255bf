#include <string>

#include "kernels/weight_block.h"

#include <cstring>

#include "base/logging.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

bool IsQuantWeightType(DType type) {
  switch (type) {
    case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0:
    case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

bool IsFloatWeightType(DType type) {
  return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16;
}

WeightFormat WeightFormatOf(DType type) {
  switch (type) {
    case DType::kQ4_0: return {4, 8, false, false, true};
    case DType::kQ4_1: return {4, 0, false, true, true};
    case DType::kQ5_0: return {5, 16, false, false, true};
    case DType::kQ5_1: return {5, 0, false, true, true};
    case DType::kQ8_0: return {8, 128, false, false, true};
    case DType::kQ4_K: return {4, 0, false, true, false};
    case DType::kQ5_K: return {5, 0, false, true, false};
    case DType::kQ6_K: return {6, 32, true, false, false};
    default:
      CHECK_MSG(false, std::string("WeightFormatOf: ") + std::string(DTypeName(type)) + std::string(" has no integer kernels"));
      return {};
  }
}

namespace {

template <typename Block>
const Block& BlockAt(const uint8_t* row, int64_t i) {
  return reinterpret_cast<const Block*>(row)[i];
}

void Q5HighBits(const uint8_t qh_bytes[4], const uint8_t qs[16], uint8_t u[kQK]) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    u[j] = static_cast<uint8_t>((qs[j] & 0xF) | (((qh >> j) & 1) << 4));
    u[j + 16] = static_cast<uint8_t>((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
  }
}

}  // namespace

void DecodeBlock32(DType type, const uint8_t* row, int64_t b, WeightBlock32* out) {
  out->min = 0.0f;
  switch (type) {
    case DType::kQ4_0: {
      const auto& blk = BlockAt<BlockQ4_0>(row, b);
      for (int j = 0; j < 16; ++j) {
        out->u[j] = blk.qs[j] & 0xF;
        out->u[j + 16] = blk.qs[j] >> 4;
      }
      out->scale[0] = out->scale[1] = F16ToF32(blk.d);
      return;
    }
    case DType::kQ4_1: {
      const auto& blk = BlockAt<BlockQ4_1>(row, b);
      for (int j = 0; j < 16; ++j) {
        out->u[j] = blk.qs[j] & 0xF;
        out->u[j + 16] = blk.qs[j] >> 4;
      }
      out->scale[0] = out->scale[1] = F16ToF32(blk.d);
      out->min = F16ToF32(blk.m);
      return;
    }
    case DType::kQ5_0: {
      const auto& blk = BlockAt<BlockQ5_0>(row, b);
      Q5HighBits(blk.qh, blk.qs, out->u);
      out->scale[0] = out->scale[1] = F16ToF32(blk.d);
      return;
    }
    case DType::kQ5_1: {
      const auto& blk = BlockAt<BlockQ5_1>(row, b);
      Q5HighBits(blk.qh, blk.qs, out->u);
      out->scale[0] = out->scale[1] = F16ToF32(blk.d);
      out->min = F16ToF32(blk.m);
      return;
    }
    case DType::kQ8_0: {
      const auto& blk = BlockAt<BlockQ8_0>(row, b);
      for (int j = 0; j < kQK; ++j) out->u[j] = static_cast<uint8_t>(blk.qs[j] + 128);
      out->scale[0] = out->scale[1] = F16ToF32(blk.d);
      return;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const int s = static_cast<int>(b % 8);  // sub-block within the super-block
      const int64_t sb = b / 8;
      const uint8_t* scales;
      const uint8_t* qs;
      const uint8_t* qh = nullptr;
      float d, dmin;
      if (type == DType::kQ4_K) {
        const auto& blk = BlockAt<BlockQ4_K>(row, sb);
        scales = blk.scales;
        qs = blk.qs;
        d = F16ToF32(blk.d);
        dmin = F16ToF32(blk.dmin);
      } else {
        const auto& blk = BlockAt<BlockQ5_K>(row, sb);
        scales = blk.scales;
        qs = blk.qs;
        qh = blk.qh;
        d = F16ToF32(blk.d);
        dmin = F16ToF32(blk.dmin);
      }
      uint8_t sc, m;
      UnpackScaleMinK4(s, scales, &sc, &m);
      const uint8_t* q = qs + 32 * (s / 2);
      const int shift = (s & 1) * 4;
      for (int l = 0; l < 32; ++l) {
        out->u[l] = static_cast<uint8_t>((q[l] >> shift) & 0xF);
        if (qh != nullptr) out->u[l] |= static_cast<uint8_t>(((qh[l] >> s) & 1) << 4);
      }
      out->scale[0] = out->scale[1] = d * static_cast<float>(sc);
      out->min = -(dmin * static_cast<float>(m));
      return;
    }
    case DType::kQ6_K: {
      const auto& blk = BlockAt<BlockQ6_K>(row, b / 8);
      const int within = static_cast<int>(b % 8);  // 32-element chunk of the super-block
      const int h = within / 4;                    // half of 128
      const int k = within % 4;                    // chunk within the half
      const uint8_t* ql = blk.ql + 64 * h + 32 * (k & 1);
      const uint8_t* qh = blk.qh + 32 * h;
      const int lshift = (k >> 1) * 4;
      for (int l = 0; l < 32; ++l) {
        out->u[l] = static_cast<uint8_t>(((ql[l] >> lshift) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4));
      }
      const float d = F16ToF32(blk.d);
      const int8_t* sc = blk.scales + 8 * h + 2 * k;
      out->scale[0] = d * static_cast<float>(sc[0]);
      out->scale[1] = d * static_cast<float>(sc[1]);
      return;
    }
    default:
      CHECK_MSG(false, std::string("DecodeBlock32: ") + std::string(DTypeName(type)) + std::string(" has no integer kernels"));
  }
}

}  // namespace chunkserve::kernels
