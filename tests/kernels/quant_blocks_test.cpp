// Block layouts: sizes against tensor/dtype.h and DequantizeRow on blocks
// whose values were worked out by hand from the ggml layout description.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "tensor/half.h"

namespace chunkserve::kernels {
namespace {

constexpr uint16_t kHalfOne = 0x3C00;   // 1.0
constexpr uint16_t kHalfHalf = 0x3800;  // 0.5
constexpr uint16_t kHalfTwo = 0x4000;   // 2.0

TEST(QuantBlocksTest, SizesMatchDTypeTraits) {
  EXPECT_EQ(sizeof(BlockQ4_0), Traits(DType::kQ4_0).type_size);
  EXPECT_EQ(sizeof(BlockQ4_1), Traits(DType::kQ4_1).type_size);
  EXPECT_EQ(sizeof(BlockQ5_0), Traits(DType::kQ5_0).type_size);
  EXPECT_EQ(sizeof(BlockQ5_1), Traits(DType::kQ5_1).type_size);
  EXPECT_EQ(sizeof(BlockQ8_0), Traits(DType::kQ8_0).type_size);
  EXPECT_EQ(sizeof(BlockQ8_1), Traits(DType::kQ8_1).type_size);
  EXPECT_EQ(sizeof(BlockQ4_K), Traits(DType::kQ4_K).type_size);
  EXPECT_EQ(sizeof(BlockQ5_K), Traits(DType::kQ5_K).type_size);
  EXPECT_EQ(sizeof(BlockQ6_K), Traits(DType::kQ6_K).type_size);
  EXPECT_EQ(sizeof(BlockQ8_K), Traits(DType::kQ8_K).type_size);
  EXPECT_EQ(sizeof(BlockQ2_K), Traits(DType::kQ2_K).type_size);
  EXPECT_EQ(sizeof(BlockQ3_K), Traits(DType::kQ3_K).type_size);
  EXPECT_EQ(sizeof(BlockIQ4_NL), Traits(DType::kIQ4_NL).type_size);
  EXPECT_EQ(sizeof(BlockIQ4_XS), Traits(DType::kIQ4_XS).type_size);
}

template <typename Block>
std::vector<float> Dequant(DType type, const Block& b, int n) {
  std::vector<float> out(static_cast<size_t>(n));
  DequantizeRow(type, reinterpret_cast<const uint8_t*>(&b), out.data(), n);
  return out;
}

TEST(QuantBlocksTest, Q4_0KnownBlock) {
  BlockQ4_0 b{};
  b.d = kHalfHalf;
  for (auto& q : b.qs) q = 0x88;  // every element 8 -> 0
  b.qs[0] = 0x1F;                 // element 0 = 15, element 16 = 1
  b.qs[15] = 0x70;                // element 15 = 0, element 31 = 7
  const auto y = Dequant(DType::kQ4_0, b, 32);
  EXPECT_EQ(y[0], 3.5f);
  EXPECT_EQ(y[16], -3.5f);
  EXPECT_EQ(y[15], -4.0f);
  EXPECT_EQ(y[31], -0.5f);
  EXPECT_EQ(y[1], 0.0f);
}

TEST(QuantBlocksTest, Q4_1KnownBlock) {
  BlockQ4_1 b{};
  b.d = kHalfTwo;
  b.m = F32ToF16(-1.0f);
  b.qs[3] = 0xA5;  // element 3 = 5, element 19 = 10
  const auto y = Dequant(DType::kQ4_1, b, 32);
  EXPECT_EQ(y[3], 9.0f);
  EXPECT_EQ(y[19], 19.0f);
  EXPECT_EQ(y[0], -1.0f);
}

TEST(QuantBlocksTest, Q5_0KnownBlock) {
  BlockQ5_0 b{};
  b.d = kHalfOne;
  // qh bit 0 -> 5th bit of element 0; bit 17 -> element 17.
  const uint32_t qh = (1u << 0) | (1u << 17);
  std::memcpy(b.qh, &qh, 4);
  b.qs[0] = 0x03;  // element 0 low nibble 3, element 16 = 0
  b.qs[1] = 0x20;  // element 1 = 0, element 17 low nibble 2
  const auto y = Dequant(DType::kQ5_0, b, 32);
  EXPECT_EQ(y[0], 3.0f);    // 16 + 3 - 16
  EXPECT_EQ(y[16], -16.0f);
  EXPECT_EQ(y[1], -16.0f);
  EXPECT_EQ(y[17], 2.0f);   // 16 + 2 - 16
}

TEST(QuantBlocksTest, Q5_1KnownBlock) {
  BlockQ5_1 b{};
  b.d = kHalfHalf;
  b.m = kHalfOne;
  const uint32_t qh = 1u << 31;  // element 31
  std::memcpy(b.qh, &qh, 4);
  b.qs[15] = 0xF0;  // element 31 low nibble 15 -> 31
  const auto y = Dequant(DType::kQ5_1, b, 32);
  EXPECT_EQ(y[31], 16.5f);
  EXPECT_EQ(y[0], 1.0f);
}

TEST(QuantBlocksTest, Q8_0KnownBlock) {
  BlockQ8_0 b{};
  b.d = kHalfHalf;
  b.qs[0] = -128;
  b.qs[31] = 127;
  const auto y = Dequant(DType::kQ8_0, b, 32);
  EXPECT_EQ(y[0], -64.0f);
  EXPECT_EQ(y[31], 63.5f);
}

TEST(QuantBlocksTest, ScaleMinK4PackingRoundTrips) {
  const uint8_t sc[8] = {0, 1, 17, 63, 32, 47, 5, 60};
  const uint8_t m[8] = {63, 2, 0, 33, 16, 1, 62, 31};
  uint8_t packed[12];
  PackScaleMinK4(sc, m, packed);
  for (int j = 0; j < 8; ++j) {
    uint8_t s2, m2;
    UnpackScaleMinK4(j, packed, &s2, &m2);
    EXPECT_EQ(s2, sc[j]) << j;
    EXPECT_EQ(m2, m[j]) << j;
  }
  // Hand-checked bytes: sub-block 4's scale 32 = 0b100000 keeps its low
  // nibble 0 in scales[8] and its top two bits (0b10) in scales[0] bits 6-7.
  EXPECT_EQ(packed[0], (0u | (2u << 6)));
  EXPECT_EQ(packed[8] & 0xF, 0u);
  EXPECT_EQ(packed[8] >> 4, 0u);  // min 16 = 0b010000: low nibble 0
  EXPECT_EQ(packed[4] >> 6, 1u);  // ... top bits 01 in scales[4]
}

TEST(QuantBlocksTest, Q4_KKnownBlock) {
  BlockQ4_K b{};
  b.d = kHalfHalf;
  b.dmin = kHalfOne;
  const uint8_t sc[8] = {2, 4, 0, 0, 0, 0, 0, 6};
  const uint8_t m[8] = {1, 3, 0, 0, 0, 0, 0, 40};
  PackScaleMinK4(sc, m, b.scales);
  b.qs[0] = 0x95;    // sub-block 0 element 0 = 5, sub-block 1 element 0 (elem 32) = 9
  b.qs[127] = 0xF0;  // sub-block 6 element 31 = 0, sub-block 7 element 31 (elem 255) = 15
  const auto y = Dequant(DType::kQ4_K, b, 256);
  EXPECT_EQ(y[0], 0.5f * 2 * 5 - 1.0f);
  EXPECT_EQ(y[32], 0.5f * 4 * 9 - 3.0f);
  EXPECT_EQ(y[255], 0.5f * 6 * 15 - 40.0f);
  EXPECT_EQ(y[223], 0.0f);
}

TEST(QuantBlocksTest, Q5_KKnownBlock) {
  BlockQ5_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfOne;
  const uint8_t sc[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  const uint8_t m[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  PackScaleMinK4(sc, m, b.scales);
  b.qs[2] = 0x34;            // elem 2 (sub-block 0) = 4, elem 34 (sub-block 1) = 3
  b.qh[2] = (1 << 0) | (1 << 5);  // 5th bit for sub-block 0 and sub-block 5 at l = 2
  const auto y = Dequant(DType::kQ5_K, b, 256);
  EXPECT_EQ(y[2], 20.0f);
  EXPECT_EQ(y[34], 3.0f);
  EXPECT_EQ(y[5 * 32 + 2], 16.0f);
}

TEST(QuantBlocksTest, Q6_KKnownBlock) {
  BlockQ6_K b{};
  b.d = kHalfHalf;
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(s - 8);
  // All elements u = 32 (value 0) unless set: low nibble 0, high bits 2.
  for (auto& q : b.qh) q = 0xAA;
  // Element 0: ql[0] low = 1, qh[0] bits 0-1 -> 3: u = 49, q = 17, scale 0 = -8.
  b.ql[0] = 0x01;
  b.qh[0] = static_cast<uint8_t>((b.qh[0] & ~3) | 3);
  // Element 128 + 96 + 17 = 241 (half 1, chunk 3, l = 17): high nibble of
  // ql[64 + 32 + 17], qh[32 + 17] bits 6-7; scale 8 + 1 + 6 = 15.
  b.ql[64 + 32 + 17] = 0x50;
  b.qh[32 + 17] = static_cast<uint8_t>((b.qh[32 + 17] & 0x3F) | (0 << 6));
  const auto y = Dequant(DType::kQ6_K, b, 256);
  EXPECT_EQ(y[0], 0.5f * -8 * 17);
  EXPECT_EQ(y[241], 0.5f * 7 * (5 - 32));
  EXPECT_EQ(y[1], 0.0f);
}

TEST(QuantBlocksTest, Q8_KKnownBlock) {
  BlockQ8_K b{};
  b.d = 0.25f;
  b.qs[255] = -3;
  const auto y = Dequant(DType::kQ8_K, b, 256);
  EXPECT_EQ(y[255], -0.75f);
}

TEST(QuantBlocksTest, Q2_KKnownBlock) {
  BlockQ2_K b{};
  b.d = kHalfHalf;
  b.dmin = kHalfOne;
  b.scales[0] = 0x21;   // sub-block 0 (elements 0..15): scale 1, min 2
  b.scales[1] = 0x03;   // sub-block 1 (16..31): scale 3, min 0
  b.scales[2] = 0x12;   // sub-block 2 (32..47): scale 2, min 1
  b.scales[15] = 0xF4;  // sub-block 15 (240..255): scale 4, min 15
  b.qs[0] = 0x0B;       // element 0 = 3 (bits 0-1), element 32 = 2 (bits 2-3)
  b.qs[16] = 0x02;      // element 16 = 2
  b.qs[63] = 0xC0;      // element 128 + 96 + 31 = 255 = 3 (bits 6-7 of qs[32 + 31])
  const auto y = Dequant(DType::kQ2_K, b, 256);
  EXPECT_EQ(y[0], 0.5f * 1 * 3 - 2.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[16], 0.5f * 3 * 2);
  EXPECT_EQ(y[32], 0.5f * 2 * 2 - 1.0f);
  EXPECT_EQ(y[255], 0.5f * 4 * 3 - 15.0f);
}

TEST(QuantBlocksTest, ScalesQ3KPackingRoundTrips) {
  const uint8_t sc[16] = {0, 1, 17, 63, 32, 47, 5, 60, 48, 15, 16, 33, 2, 62, 31, 50};
  uint8_t packed[12], back[16];
  PackScalesQ3K(sc, packed);
  UnpackScalesQ3K(packed, back);
  for (int k = 0; k < 16; ++k) EXPECT_EQ(back[k], sc[k]) << k;
  // Hand-checked: scale 8 = 48 = 0b110000 has low nibble 0 in the high
  // nibble of byte 0 (scale 0 = 0 in its low nibble) and high bits 0b11 at
  // bits 4-5 of byte 8 (scale 8 % 4 = 0, 8 / 4 = 2).
  EXPECT_EQ(packed[0], 0u);
  EXPECT_EQ((packed[8] >> 4) & 3, 3u);
}

TEST(QuantBlocksTest, Q3_KKnownBlock) {
  BlockQ3_K b{};
  b.d = kHalfHalf;
  uint8_t sc[16];
  for (auto& v : sc) v = 32;  // scale 0
  sc[0] = 33;                 // +1
  sc[1] = 30;                 // -2
  sc[15] = 63;                // +31
  PackScalesQ3K(sc, b.scales);
  for (auto& m : b.hmask) m = 0xFF;  // 3rd bit set: q = low 2 bits
  b.qs[0] = 0x03;                    // element 0 = 3
  b.qs[16] = 0x01;                   // element 16 = 1 ...
  b.hmask[16] = 0xFE;                // ... without its 3rd bit: 1 - 4 = -3
  b.qs[63] = 0x80;                   // element 255 = 2 (bits 6-7 of qs[32 + 31], 3rd bit 7 of hmask[31])
  const auto y = Dequant(DType::kQ3_K, b, 256);
  EXPECT_EQ(y[0], 0.5f * 1 * 3);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[16], 0.5f * -2 * -3);
  EXPECT_EQ(y[255], 0.5f * 31 * 2);
}

TEST(QuantBlocksTest, IQ4_NLKnownBlock) {
  BlockIQ4_NL b{};
  b.d = kHalfHalf;
  for (auto& q : b.qs) q = 0x88;  // code 8 = +1
  b.qs[0] = 0xF0;                 // element 0 code 0 (-127), element 16 code 15 (113)
  b.qs[15] = 0x08;                // element 15 code 8 (1), element 31 code 0
  const auto y = Dequant(DType::kIQ4_NL, b, 32);
  EXPECT_EQ(y[0], -63.5f);
  EXPECT_EQ(y[16], 56.5f);
  EXPECT_EQ(y[15], 0.5f);
  EXPECT_EQ(y[31], -63.5f);
  EXPECT_EQ(y[1], 0.5f);
}

TEST(QuantBlocksTest, IQ4_XSKnownBlock) {
  BlockIQ4_XS b{};
  b.d = kHalfHalf;
  int ls[8] = {33, 63, 32, 32, 32, 32, 32, 0};  // scales +1, +31, 0 ..., -32
  for (int ib = 0; ib < 8; ++ib) {
    b.scales_l[ib / 2] = static_cast<uint8_t>(b.scales_l[ib / 2] | ((ls[ib] & 0xF) << (4 * (ib % 2))));
    b.scales_h = static_cast<uint16_t>(b.scales_h | ((ls[ib] >> 4) << (2 * ib)));
  }
  b.qs[0] = 0x09;           // element 0: code 9 (13)
  b.qs[16] = 0xE0;          // sub-block 1, element 16 (48): code 14 (89)
  b.qs[16 * 7 + 15] = 0x10; // sub-block 7, element 31 (255): code 1 (-104)
  const auto y = Dequant(DType::kIQ4_XS, b, 256);
  EXPECT_EQ(y[0], 0.5f * 1 * 13);
  EXPECT_EQ(y[1], 0.5f * 1 * -127);
  EXPECT_EQ(y[48], 0.5f * 31 * 89);
  EXPECT_EQ(y[255], 0.5f * -32 * -104);
  EXPECT_EQ(y[100], 0.0f);  // sub-block 3: scale 0
}

TEST(QuantBlocksTest, HalfAndBf16Rows) {
  const uint16_t h[2] = {kHalfTwo, 0xC400};  // 2, -4
  float y[2];
  DequantizeRow(DType::kF16, reinterpret_cast<const uint8_t*>(h), y, 2);
  EXPECT_EQ(y[0], 2.0f);
  EXPECT_EQ(y[1], -4.0f);
  const uint16_t bf[2] = {0x3F80, 0xC040};  // 1, -3
  DequantizeRow(DType::kBF16, reinterpret_cast<const uint8_t*>(bf), y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -3.0f);
}

}  // namespace
}  // namespace chunkserve::kernels
