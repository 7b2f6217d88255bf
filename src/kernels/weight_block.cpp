#include "kernels/weight_block.h"

#include <cstring>
#include <string>

#include "base/logging.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

bool IsQuantWeightType(DType type) {
  switch (type) {
    case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0:
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
    case DType::kIQ4_NL: case DType::kIQ4_XS:
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
    case DType::kQ2_K: return {2, 0, true, true, false, true};
    case DType::kQ3_K: return {3, 4, true, false, false};
    case DType::kIQ4_NL: return {8, 128, false, false, true, false, true};
    case DType::kIQ4_XS: return {8, 128, false, false, false, false, true};
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

// Codes 0..15 of one 32-element codebook block (iq4_nl's element order) -> u.
void CodebookU(const uint8_t qs[16], uint8_t u[kQK]) {
  for (int j = 0; j < 16; ++j) {
    u[j] = static_cast<uint8_t>(kIq4nlValues[qs[j] & 0xF] + 128);
    u[j + 16] = static_cast<uint8_t>(kIq4nlValues[qs[j] >> 4] + 128);
  }
}

}  // namespace

uint8_t CodebookCode(uint8_t u) {
  for (int c = 0; c < 16; ++c) {
    if (kIq4nlValues[c] + 128 == u) return static_cast<uint8_t>(c);
  }
  CHECK_MSG(false, "CodebookCode: " + std::to_string(u) + " is not a codebook value");
  return 0;
}

void DecodeBlock32(DType type, const uint8_t* row, int64_t b, WeightBlock32* out) {
  out->min[0] = out->min[1] = 0.0f;
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
      out->min[0] = out->min[1] = F16ToF32(blk.m);
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
      out->min[0] = out->min[1] = F16ToF32(blk.m);
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
      out->min[0] = out->min[1] = -(dmin * static_cast<float>(m));
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
    case DType::kQ2_K: {
      // 32-element chunk `within` of the super-block: half h of 128, bit pair
      // k; its two 16-element sub-blocks are 8h + 2k and 8h + 2k + 1.
      const auto& blk = BlockAt<BlockQ2_K>(row, b / 8);
      const int within = static_cast<int>(b % 8);
      const int h = within / 4, k = within % 4;
      const uint8_t* qs = blk.qs + 32 * h;
      const float d = F16ToF32(blk.d);
      const float dmin = F16ToF32(blk.dmin);
      for (int i = 0; i < 2; ++i) {
        const uint8_t sm = blk.scales[8 * h + 2 * k + i];
        out->scale[i] = d * static_cast<float>(sm & 0xF);
        out->min[i] = -(dmin * static_cast<float>(sm >> 4));
      }
      for (int l = 0; l < 32; ++l) out->u[l] = static_cast<uint8_t>((qs[l] >> (2 * k)) & 3);
      return;
    }
    case DType::kQ3_K: {
      // Chunks as q2_K's, plus the 3rd bit from hmask.
      const auto& blk = BlockAt<BlockQ3_K>(row, b / 8);
      const int within = static_cast<int>(b % 8);
      const int h = within / 4, k = within % 4;
      const uint8_t* qs = blk.qs + 32 * h;
      uint8_t sc[16];
      UnpackScalesQ3K(blk.scales, sc);
      const float d = F16ToF32(blk.d);
      for (int i = 0; i < 2; ++i) out->scale[i] = d * static_cast<float>(sc[8 * h + 2 * k + i] - 32);
      for (int l = 0; l < 32; ++l) {
        out->u[l] = static_cast<uint8_t>(((qs[l] >> (2 * k)) & 3) | (((blk.hmask[l] >> (4 * h + k)) & 1) << 2));
      }
      return;
    }
    case DType::kIQ4_NL: {
      const auto& blk = BlockAt<BlockIQ4_NL>(row, b);
      CodebookU(blk.qs, out->u);
      out->scale[0] = out->scale[1] = F16ToF32(blk.d);
      return;
    }
    case DType::kIQ4_XS: {
      const auto& blk = BlockAt<BlockIQ4_XS>(row, b / 8);
      const int ib = static_cast<int>(b % 8);
      const int ls = ((blk.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((blk.scales_h >> (2 * ib)) & 3) << 4);
      CodebookU(blk.qs + 16 * ib, out->u);
      out->scale[0] = out->scale[1] = F16ToF32(blk.d) * static_cast<float>(ls - 32);
      return;
    }
    default:
      CHECK_MSG(false, std::string("DecodeBlock32: ") + std::string(DTypeName(type)) + std::string(" has no integer kernels"));
  }
}

}  // namespace chunkserve::kernels
