// Quantized block layouts, byte-for-byte as GGUF files store them (ggml's
// block_q4_0 ... block_q8_K), plus ActBlock, the activation format of our own
// integer dot products.
//
// Invariants: every struct is packed to exactly the ggml type_size (checked by
// static_assert below and by a test against tensor/dtype.h Traits()); f16
// scales are raw IEEE half bits (convert with tensor/half.h).
//
// Element order inside a block (what DequantizeRow reproduces):
//   q4_0/q4_1:  element j (0..15) is qs[j] & 0xF, element j + 16 is qs[j] >> 4.
//   q5_0/q5_1:  as q4, plus bit j of qh (little-endian u32) is the 5th bit of
//               element j and bit j + 16 that of element j + 16.
//   q8_0:       qs[j] is element j.
//   q4_K/q5_K:  8 sub-blocks of 32; sub-blocks 2i and 2i+1 share qs[32i..32i+31]
//               (low nibbles, then high nibbles); 6-bit scale and min of each
//               sub-block packed in scales[12] (see UnpackScaleMinK4); q5_K's
//               5th bit of element l of sub-block s is bit s of qh[l].
//   q6_K:       two halves of 128; in half h, element l + 32 * k (k = 0..3,
//               l = 0..31) is low nibble (k even) / high nibble (k odd) of
//               ql[64h + l + 32 * (k & 1)] with 2 high bits
//               (qh[32h + l] >> 2k) & 3, minus 32; scale index 8h + l/16 + 2k.
//   q2_K:       two halves of 128; in half h, element 32k + l (k = 0..3,
//               l = 0..31) is (qs[32h + l] >> 2k) & 3; each 16 elements
//               (index 8h + 2k + l/16) have a 4-bit scale (low nibble of
//               scales[]) and a 4-bit min (high nibble):
//               x = (d * sc) * q - (dmin * m).
//   q3_K:       as q2_K for the low 2 bits; the 3rd bit of element 32k + l of
//               half h is bit 4h + k of hmask[l]; x = (d * (sc - 32)) * (q - 4)
//               with 6-bit scales packed in scales[12] (UnpackScalesQ3K).
//   iq4_nl:     as q4_0 for the 4-bit codes; x = d * kIq4nlValues[code].
//   iq4_xs:     8 sub-blocks of 32, sub-block ib's codes in qs[16ib..16ib+15]
//               ordered as iq4_nl's; 6-bit scale ls = low nibble
//               (scales_l[ib/2] >> 4(ib%2)) | 2 bits (scales_h >> 2ib) << 4;
//               x = (d * (ls - 32)) * kIq4nlValues[code].
// Thread safety: plain data.
#pragma once

#include <cstdint>

namespace chunkserve::kernels {

inline constexpr int kQK = 32;    // elements per simple block
inline constexpr int kQK_K = 256;  // elements per K-quant super-block

#pragma pack(push, 1)
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;  // d * sum(qs)
  int8_t qs[kQK];
};
struct BlockQ4_K {
  uint16_t d;     // scale of the 6-bit sub-block scales
  uint16_t dmin;  // scale of the 6-bit sub-block mins
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // per 16 elements: scale (low nibble), min (high nibble)
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];  // 3rd bits
  uint8_t qs[kQK_K / 4];     // low 2 bits
  uint8_t scales[12];        // 16 6-bit scales, biased by 32
  uint16_t d;
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;                // 2 high bits of each sub-block scale
  uint8_t scales_l[kQK_K / 64];     // 4 low bits of each sub-block scale
  uint8_t qs[kQK_K / 2];
};
#pragma pack(pop)

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);

// The non-linear 4-bit codebook of iq4_nl and iq4_xs (ggml's kvalues_iq4nl):
// code c decodes to kIq4nlValues[c] times the block scale.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// The 16 6-bit scales (0..63, before subtracting 32) of a q3_K block:
// scale k (0..15) has its low 4 bits in scales[k % 8] (low nibble for
// k < 8, high nibble for k >= 8) and its high 2 bits at bits 2 * (k / 4)
// of scales[8 + k % 4].
inline void UnpackScalesQ3K(const uint8_t scales[12], uint8_t out[16]) {
  for (int k = 0; k < 16; ++k) {
    const int low = (scales[k % 8] >> (k < 8 ? 0 : 4)) & 0xF;
    const int high = (scales[8 + k % 4] >> (2 * (k / 4))) & 3;
    out[k] = static_cast<uint8_t>(low | (high << 4));
  }
}

// Inverse of UnpackScalesQ3K. REQUIRES: values < 64.
inline void PackScalesQ3K(const uint8_t in[16], uint8_t scales[12]) {
  for (int j = 0; j < 12; ++j) scales[j] = 0;
  for (int k = 0; k < 16; ++k) {
    scales[k % 8] |= static_cast<uint8_t>((in[k] & 0xF) << (k < 8 ? 0 : 4));
    scales[8 + k % 4] |= static_cast<uint8_t>((in[k] >> 4) << (2 * (k / 4)));
  }
}

// Scale and min (6 bits each) of sub-block j (0..7) of a q4_K / q5_K block.
inline void UnpackScaleMinK4(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// Inverse of UnpackScaleMinK4 for all 8 sub-blocks. REQUIRES: values < 64.
inline void PackScaleMinK4(const uint8_t sc[8], const uint8_t m[8], uint8_t scales[12]) {
  for (int j = 0; j < 12; ++j) scales[j] = 0;
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] |= sc[j];
      scales[j + 4] |= m[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((m[j] >> 4) << 6);
    }
  }
}

// Activations of one 32-element block, quantized for integer dot products
// with quantized weights (our analogue of ggml's q8_0 / q8_1 activations; we
// keep one scale per 32 elements for every weight type, K-quants included,
// which is at least as accurate as ggml's q8_K and lets every weight type
// share one activation pass per MatMul call).
//   qs[j] = round(x[j] / d), |qs| <= 127, d = max|x| / 127 (0 for a zero block)
//   dsum  = d * sum(qs)
//   bias_lo / bias_hi = -c * sum(qs[0..15]) / -c * sum(qs[16..31]), c = the
//           weight type's zero offset (see packed_layout.h); kernels start
//           their integer accumulators from them. For q2_K (no zero offset,
//           a min per 16 elements) they hold instead the f32 bits of each
//           half's d * sum(qs), which its min terms multiply (see
//           activation_quant.h). Only the fast kernels read bias; the
//           reference recomputes everything from qs.
struct alignas(16) ActBlock {
  float d;
  float dsum;
  int32_t bias_lo;
  int32_t bias_hi;
  int8_t qs[kQK];
};
static_assert(sizeof(ActBlock) == 48);

}  // namespace chunkserve::kernels
