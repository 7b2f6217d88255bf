#include "kv/chunk_file.h"

#include <gtest/gtest.h>

#include <cstring>

#include "base/hash.h"
#include "kv_test_util.h"
#include "tensor/half.h"
#include "tensor/kv_row.h"

namespace chunkserve::kv {
namespace {

using testing::MakeChunk;

TEST(ChunkFile, RoundTrip) {
  auto kv = MakeChunk(7, 5, 100);
  std::vector<uint8_t> bytes = EncodeChunkFile(*kv);
  auto back = DecodeChunkFile(bytes, kv->key);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->tokens, kv->tokens);
  EXPECT_EQ(back->scores, kv->scores);
  EXPECT_EQ(back->k, kv->k);
  EXPECT_EQ(back->v, kv->v);
  EXPECT_EQ(back->base_position, 1);
  EXPECT_EQ(back->n_layers, 2);
}

// bf16 entries (from bf16 KV caches) keep their rows as they are, at half
// the bytes of f32.
TEST(ChunkFile, Bf16RoundTripIsHalfTheRows) {
  auto f32 = MakeChunk(7, 5, 100);
  ChunkKv kv = *f32;
  kv.type = DType::kBF16;
  kv.k.resize(f32->k.size() / 2);
  kv.v.resize(f32->v.size() / 2);
  for (size_t i = 0; i < kv.k.size(); ++i) kv.k[i] = static_cast<uint8_t>(i * 7), kv.v[i] = static_cast<uint8_t>(i * 13);
  ASSERT_TRUE(kv.ShapeConsistent());
  const std::vector<uint8_t> bytes = EncodeChunkFile(kv);
  EXPECT_EQ(bytes.size(), EncodeChunkFile(*f32).size() - f32->k.size());
  auto back = DecodeChunkFile(bytes, kv.key);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->type, DType::kBF16);
  EXPECT_EQ(back->k, kv.k);
  EXPECT_EQ(back->v, kv.v);
  float row[8];
  back->LoadKRow(1, 2, row);
  const auto* raw = static_cast<const uint16_t*>(back->KRow(1, 2));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(row[i], BF16ToF32(raw[i]));
}

// A version 1 file (before bf16 entries: f32, the type field reserved as
// zero) still reads; another value type is damage even with valid checksums.
TEST(ChunkFile, Version1ReadsAsF32AndUnknownTypesAreRejected) {
  auto kv = MakeChunk(7, 5, 100);
  auto forge = [&](uint32_t version, uint32_t type) {
    std::vector<uint8_t> bytes = EncodeChunkFile(*kv);
    std::memcpy(bytes.data() + 8, &version, 4);
    std::memcpy(bytes.data() + 36, &type, 4);
    const uint64_t h = Hash64(bytes.data(), 80, kChunkFileChecksumSeed);
    std::memcpy(bytes.data() + 80, &h, 8);
    return bytes;
  };
  auto v1 = DecodeChunkFile(forge(1, 0), kv->key);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(v1->type, DType::kF32);
  EXPECT_EQ(v1->k, kv->k);
  EXPECT_EQ(DecodeChunkFile(forge(1, 30), kv->key).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeChunkFile(forge(2, 1), kv->key).status().code(), StatusCode::kDataLoss);  // f16
  EXPECT_EQ(DecodeChunkFile(forge(4, 0), kv->key).status().code(), StatusCode::kFailedPrecondition);
  // q8_0 rows came with version 3: a version 2 header naming them is damage.
  EXPECT_EQ(DecodeChunkFile(forge(2, 8), kv->key).status().code(), StatusCode::kDataLoss);
  // Version 2 files (f32, bf16) are still read.
  auto v2 = DecodeChunkFile(forge(2, 0), kv->key);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->k, kv->k);
}

// q8_0 entries (from q8_0 KV caches) keep their blocks as they are: 34
// bytes per 32 values, written as version 3; a reader of version 2 refuses
// the file by its version before it could read the rows as f32.
TEST(ChunkFile, Q8RoundTripKeepsTheBlocksAndIsVersion3) {
  auto f32 = MakeChunk(7, 5, 100);
  ChunkKv kv = *f32;
  kv.row_floats = 64;
  kv.type = DType::kQ8_0;
  const size_t rows = static_cast<size_t>(kv.n_layers) * kv.tokens.size();
  std::vector<float> values(64);
  kv.k.resize(rows * 2 * 34);
  kv.v.resize(rows * 2 * 34);
  for (size_t r = 0; r < rows; ++r) {
    for (int i = 0; i < 64; ++i) values[i] = static_cast<float>((r * 64 + i) % 23) - 11.0f;
    QuantizeQ8_0KvRow(values.data(), 64, kv.k.data() + r * 68);
    for (float& x : values) x *= -0.5f;
    QuantizeQ8_0KvRow(values.data(), 64, kv.v.data() + r * 68);
  }
  ASSERT_TRUE(kv.ShapeConsistent());
  EXPECT_EQ(kv.row_bytes(), 68u);
  const std::vector<uint8_t> bytes = EncodeChunkFile(kv);
  uint32_t version;
  std::memcpy(&version, bytes.data() + 8, 4);
  EXPECT_EQ(version, 3u);
  auto back = DecodeChunkFile(bytes, kv.key);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->type, DType::kQ8_0);
  EXPECT_EQ(back->k, kv.k);
  EXPECT_EQ(back->v, kv.v);
  float row[64], want[64];
  back->LoadVRow(1, 3, row);
  DequantizeQ8_0KvRow(kv.VRow(1, 3), 64, want);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(row[i], want[i]) << i;
  // Rows that are not whole blocks are implausible.
  ChunkKv odd = kv;
  odd.row_floats = 48;
  EXPECT_FALSE(odd.ShapeConsistent());
}

TEST(ChunkFile, WrongFingerprintOrChunkIsForeign) {
  auto kv = MakeChunk(7, 5, 100);
  std::vector<uint8_t> bytes = EncodeChunkFile(*kv);
  EXPECT_EQ(DecodeChunkFile(bytes, ChunkKey{8, kv->key.content_hash}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(DecodeChunkFile(bytes, ChunkKey{7, kv->key.content_hash + 1}).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(ChunkFile, EveryFlippedByteIsRejected) {
  auto kv = MakeChunk(7, 3, 100, 1, 4);
  const std::vector<uint8_t> good = EncodeChunkFile(*kv);
  for (size_t i = 0; i < good.size(); ++i) {
    std::vector<uint8_t> bad = good;
    bad[i] ^= 0x5A;
    EXPECT_FALSE(DecodeChunkFile(bad, kv->key).ok()) << "byte " << i;
  }
}

TEST(ChunkFile, EveryTruncationIsRejected) {
  auto kv = MakeChunk(7, 3, 100, 1, 4);
  const std::vector<uint8_t> good = EncodeChunkFile(*kv);
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = DecodeChunkFile(std::span<const uint8_t>(good.data(), n), kv->key);
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << "length " << n;
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_EQ(DecodeChunkFile(longer, kv->key).status().code(), StatusCode::kDataLoss);
}

TEST(ChunkFile, ImplausibleSizesWithValidHeaderChecksumAreRejected) {
  // A forged header (checksums recomputed) that claims a huge shape must not
  // make the decoder allocate or read out of bounds.
  auto kv = MakeChunk(7, 3, 100, 1, 4);
  std::vector<uint8_t> bytes = EncodeChunkFile(*kv);
  const int64_t huge = int64_t{1} << 40;
  std::memcpy(bytes.data() + 48, &huge, sizeof(huge));
  const uint64_t h = Hash64(bytes.data(), 80, kChunkFileChecksumSeed);
  std::memcpy(bytes.data() + 80, &h, sizeof(h));
  EXPECT_EQ(DecodeChunkFile(bytes, kv->key).status().code(), StatusCode::kDataLoss);
}

TEST(ChunkFile, ContentHashCoversLeadInAndBoundary) {
  const std::vector<int32_t> a = {1, 2, 3};
  const std::vector<int32_t> lead1 = {1}, lead2 = {2};
  EXPECT_NE(ChunkContentHash(lead1, a), ChunkContentHash(lead2, a));
  const std::vector<int32_t> b = {2, 3};
  const std::vector<int32_t> lead12 = {1, 1};
  // [1][1,2,3] vs [1,1][2,3]: same token stream, different split.
  EXPECT_NE(ChunkContentHash(lead1, std::vector<int32_t>{1, 2, 3}), ChunkContentHash(lead12, b));
}

}  // namespace
}  // namespace chunkserve::kv
