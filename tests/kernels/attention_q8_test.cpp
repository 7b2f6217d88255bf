// Tests of q8_0 KV rows (tensor/kv_row.h) and attention over them
// (kernels/attention_q8.cpp): the quantizer's error bound, every level's
// dequantizer against the scalar one, and attention over q8_0 rows against
// its exact twin, attention over f32 rows holding the dequantized values
// (memcmp-equal on every level, both precisions, paged, ragged, windowed,
// split across chunks and threads), plus the SIMD levels against the scalar
// level within the tolerance the f32 / bf16 kernels have.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/attention_kernel_table.h"
#include "kernels/attention_q8.h"
#include "tensor/half.h"
#include "tensor/kv_row.h"

namespace chunkserve::kernels {
namespace {

std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(KvQ8Test, RowBytesAndTypes) {
  EXPECT_EQ(KvRowBytes(DType::kQ8_0, 128), 136u);  // 4 blocks of 34 bytes
  EXPECT_EQ(KvRowBytes(DType::kQ8_0, 32), 34u);
  EXPECT_TRUE(KvTypeFits(DType::kQ8_0, 64));
  EXPECT_FALSE(KvTypeFits(DType::kQ8_0, 8));  // stories260K's head_dim
  EXPECT_FALSE(KvTypeFits(DType::kQ4_0, 64));
  EXPECT_EQ(ParseKvType("q8_0"), DType::kQ8_0);
  EXPECT_EQ(ParseKvType("bf16"), DType::kBF16);
  EXPECT_EQ(ParseKvType("f32"), DType::kF32);
  EXPECT_FALSE(ParseKvType("q4_0").has_value());
}

// Each value comes back within half a step of its block's stored scale, the
// block's largest |x| within that half step too; an all-zero block is zero.
TEST(KvQ8Test, QuantizeIsWithinHalfAStep) {
  const int64_t n = 256;
  auto x = RandomVector(n, 1, 3.0f);
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // block 2: zeros
  x[200] = 1e-30f;                                  // a tiny value beside large ones
  std::vector<uint8_t> q(KvRowBytes(DType::kQ8_0, n));
  QuantizeQ8_0KvRow(x.data(), n, q.data());
  std::vector<float> back(n);
  DequantizeQ8_0KvRow(q.data(), n, back.data());
  for (int64_t b = 0; b < n / 32; ++b) {
    uint16_t d_bits;
    std::memcpy(&d_bits, q.data() + b * 34, 2);
    const float d = F16ToF32(d_bits);
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(x[b * 32 + i]));
    EXPECT_NEAR(d, amax / 127, amax / 127 / 1024 + 1e-7f) << "block " << b;  // f16 rounding of the scale
    for (int i = 0; i < 32; ++i) {
      const int64_t j = b * 32 + i;
      EXPECT_LE(std::abs(back[j] - x[j]), 0.5f * d * 1.0001f) << j;
      EXPECT_EQ(back[j], Q8_0KvValue(q.data(), j)) << j;
    }
  }
  for (int i = 64; i < 96; ++i) EXPECT_EQ(back[i], 0.0f);
  // StoreKvRow / LoadKvRow are these routines.
  std::vector<uint8_t> stored(q.size());
  StoreKvRow(x.data(), n, DType::kQ8_0, stored.data());
  EXPECT_EQ(stored, q);
  std::vector<float> loaded(n);
  LoadKvRow(stored.data(), n, DType::kQ8_0, loaded.data());
  EXPECT_EQ(loaded, back);
}

// Every level's dequantizer (f32 and bf16 outputs) equals the scalar one bit
// for bit.
TEST(KvQ8Test, DequantizersOfEveryLevelEqualTheScalarOne) {
  for (int hd : {32, 64, 128}) {
    const int64_t n_rows = 37;
    auto x = RandomVector(size_t(n_rows * hd), uint32_t(hd), 2.0f);
    // Rows whose scales are subnormal halves (max |x| < 127 * 2^-14).
    for (int64_t i = 0; i < 5 * hd; ++i) x[size_t(i)] *= 1e-4f;
    std::vector<std::vector<uint8_t>> rows(n_rows, std::vector<uint8_t>(KvRowBytes(DType::kQ8_0, hd)));
    std::vector<const void*> ptrs;
    for (int64_t r = 0; r < n_rows; ++r) {
      QuantizeQ8_0KvRow(&x[size_t(r * hd)], hd, rows[size_t(r)].data());
      ptrs.push_back(rows[size_t(r)].data());
    }
    for (bool bf16 : {false, true}) {
      const size_t bytes = size_t(n_rows * hd) * (bf16 ? 2 : 4);
      std::vector<uint8_t> want(bytes), got(bytes);
      DequantizeQ8RowsScalar(ptrs.data(), n_rows, hd, bf16, want.data());
      for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
        if (!IsaSupported(isa)) continue;
        std::fill(got.begin(), got.end(), 0xAB);
        GetAttentionKernelTable(isa)->dequantize_q8_rows(ptrs.data(), n_rows, hd, bf16, got.data());
        EXPECT_EQ(got, want) << "isa " << int(isa) << " hd " << hd << " bf16 " << bf16;
      }
    }
  }
}

// A paged q8_0 cache and an f32 cache holding its dequantized values.
struct Q8Twin {
  std::vector<std::vector<uint8_t>> kb, vb;  // q8_0 blocks
  std::vector<std::vector<float>> kf, vf;    // f32 blocks, dequantized
  std::vector<const void*> kp, vp, kfp, vfp;
  KvBlocksView q8_view, f32_view;

  Q8Twin(int64_t n_slots, int64_t row, int64_t block_tokens, uint32_t seed) {
    const auto k = RandomVector(size_t(n_slots * row), seed, 2.0f);
    const auto v = RandomVector(size_t(n_slots * row), seed + 1);
    const int64_t n_blocks = (n_slots + block_tokens - 1) / block_tokens;
    const size_t row_bytes = KvRowBytes(DType::kQ8_0, row);
    // Unused rows hold a large scale: a kernel reading past kv_len without
    // masking would show it.
    std::vector<uint8_t> junk(row_bytes, 0x7f);
    kb.assign(size_t(n_blocks), std::vector<uint8_t>(size_t(block_tokens) * row_bytes));
    vb = kb;
    for (auto* blocks : {&kb, &vb})
      for (auto& b : *blocks)
        for (int64_t r = 0; r < block_tokens; ++r) std::copy(junk.begin(), junk.end(), b.begin() + r * row_bytes);
    kf.assign(size_t(n_blocks), std::vector<float>(size_t(block_tokens * row), 1e9f));
    vf = kf;
    for (int64_t s = 0; s < n_slots; ++s) {
      const size_t b = size_t(s / block_tokens);
      const int64_t r = s % block_tokens;
      QuantizeQ8_0KvRow(&k[size_t(s * row)], row, kb[b].data() + r * row_bytes);
      QuantizeQ8_0KvRow(&v[size_t(s * row)], row, vb[b].data() + r * row_bytes);
      DequantizeQ8_0KvRow(kb[b].data() + r * row_bytes, row, kf[b].data() + r * row);
      DequantizeQ8_0KvRow(vb[b].data() + r * row_bytes, row, vf[b].data() + r * row);
    }
    for (size_t b = 0; b < size_t(n_blocks); ++b) {
      kp.push_back(kb[b].data()), vp.push_back(vb[b].data());
      kfp.push_back(kf[b].data()), vfp.push_back(vf[b].data());
    }
    q8_view = KvBlocksView{kp, vp, block_tokens, DType::kQ8_0};
    f32_view = KvBlocksView{kfp, vfp, block_tokens, DType::kF32};
  }
};

struct Q8Case {
  int n_heads, n_kv_heads, head_dim;
  int64_t n_q, n_slots, block_tokens;
};

// The twin of the q8_0 path: the same level's kernel over f32 rows of the
// dequantized values gives the same bits; and each SIMD level stays within
// the f32 / bf16 kernels' tolerance of the scalar level over the same q8_0
// rows.
TEST(KvQ8Test, AttentionOverQ8RowsEqualsOverDequantizedF32Rows) {
  ThreadPool pool(2), pool3(3);
  const Q8Case cases[] = {
      {14, 2, 64, 37, 300, 16},                  // qwen2.5-0.5B, prefill slice
      {14, 2, 64, 1, 129, 32},                   // decode, one key past a 128-key tile
      {14, 2, 64, 3, 2 * kAttentionChunkKeys + 77, 16},  // split-K: three chunks
      {16, 2, 128, 18, 200, 1},                  // head_dim 128, one-token blocks
      {6, 2, 32, 33, 90, 9},                     // head_dim 32, odd block size
  };
  uint32_t seed = 300;
  for (const Q8Case& c : cases) {
    const int64_t row = int64_t(c.n_kv_heads) * c.head_dim;
    const Q8Twin twin(c.n_slots, row, c.block_tokens, seed);
    const auto q = RandomVector(size_t(c.n_q * c.n_heads * c.head_dim), seed + 2, 2.0f);
    std::mt19937 rng(seed + 3);
    std::uniform_int_distribution<int32_t> len_dist(1, int32_t(c.n_slots));
    std::vector<int32_t> kv_len(size_t(c.n_q));
    for (auto& len : kv_len) len = len_dist(rng);
    kv_len[0] = int32_t(c.n_slots);
    if (c.n_q > 2) kv_len[size_t(c.n_q / 2)] = 0;
    for (auto precision : {AttentionPrecision::kF32, AttentionPrecision::kBf16}) {
      for (int64_t window : {int64_t{0}, int64_t{70}}) {
        AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim, 1.0f / std::sqrt(float(c.head_dim)), precision};
        shape.window = window;
        std::vector<float> scalar(q.size(), -7.0f);
        AttentionWithIsa(Isa::kScalar, q.data(), c.n_q, kv_len.data(), twin.q8_view, shape, scalar.data(), nullptr);
        for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
          if (!IsaSupported(isa)) continue;
          for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool, &pool3}) {
            std::vector<float> a(q.size(), -7.0f), b(q.size(), -5.0f);
            AttentionWithIsa(isa, q.data(), c.n_q, kv_len.data(), twin.q8_view, shape, a.data(), p);
            AttentionWithIsa(isa, q.data(), c.n_q, kv_len.data(), twin.f32_view, shape, b.data(), p);
            const std::string where = std::string(AttentionPrecisionName(precision)) + " isa " +
                                      std::to_string(int(isa)) + " hd " + std::to_string(c.head_dim) + " slots " +
                                      std::to_string(c.n_slots) + " window " + std::to_string(window) +
                                      " threads " + std::to_string(p ? p->size() : 1);
            ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << where;
            // Against the scalar level (the same tolerance as the f32 / bf16
            // kernels' twin tests: bf16 rounds P at other points).
            const float tol_p = precision == AttentionPrecision::kBf16 ? 2.0f / 512 * 4.5f : 0.0f;
            for (size_t i = 0; i < a.size(); ++i)
              ASSERT_NEAR(a[i], scalar[i], tol_p + 2e-5f * (1 + std::abs(scalar[i]))) << where << " at " << i;
          }
        }
      }
    }
    seed += 10;
  }
}

// Hydragen over q8_0 views: each query's output is its own call's, bit for bit.
TEST(KvQ8Test, SharedPrefixOverQ8EqualsEachSequenceAlone) {
  ThreadPool pool(2);
  const int n_heads = 14, n_kv_heads = 2, hd = 64;
  const int64_t block = 16, row = int64_t(n_kv_heads) * hd, q_row = int64_t(n_heads) * hd;
  const int64_t shared = kAttentionChunkKeys;
  const std::vector<int32_t> kv_len = {int32_t(shared) + 1, int32_t(shared) + 700, int32_t(shared) + 1100};
  const int n_seqs = 3;
  // Sequence i: the shared blocks of twin 0, then blocks of its own twin.
  std::vector<Q8Twin> twins;
  twins.emplace_back(shared, row, block, 40);
  for (int i = 0; i < n_seqs; ++i) twins.emplace_back(kv_len[size_t(i)], row, block, uint32_t(50 + 10 * i));
  std::vector<std::vector<const void*>> kp(n_seqs), vp(n_seqs);
  std::vector<KvBlocksView> views;
  for (int i = 0; i < n_seqs; ++i) {
    kp[size_t(i)] = twins[0].kp;
    vp[size_t(i)] = twins[0].vp;
    const Q8Twin& own = twins[size_t(i + 1)];
    for (size_t b = size_t(shared / block); b < own.kp.size(); ++b) {
      kp[size_t(i)].push_back(own.kp[b]);
      vp[size_t(i)].push_back(own.vp[b]);
    }
  }
  for (int i = 0; i < n_seqs; ++i) views.push_back({kp[size_t(i)], vp[size_t(i)], block, DType::kQ8_0});
  for (auto precision : {AttentionPrecision::kF32, AttentionPrecision::kBf16}) {
    AttentionShape shape{n_heads, n_kv_heads, hd, 0.125f, precision};
    const auto q = RandomVector(size_t(n_seqs * q_row), 77, 2.0f);
    std::vector<float> together(q.size(), -7.0f);
    AttentionSharedPrefix(q.data(), n_seqs, kv_len.data(), views, shared, shape, together.data(), &pool);
    for (int i = 0; i < n_seqs; ++i) {
      std::vector<float> alone(static_cast<size_t>(q_row));
      Attention(q.data() + i * q_row, 1, &kv_len[size_t(i)], views[size_t(i)], shape, alone.data(), &pool);
      EXPECT_EQ(0, std::memcmp(alone.data(), together.data() + i * q_row, size_t(q_row) * sizeof(float)))
          << AttentionPrecisionName(precision) << " sequence " << i;
    }
  }
}

// A per-head view of wider q8_0 rows (page selection's form: block pointers
// advanced by KvRowBytes(q8_0, head * head_dim), row_floats the full width)
// attends exactly as that head of the full view.
TEST(KvQ8Test, HeadViewsOfQ8RowsEqualTheFullView) {
  const int n_heads = 14, n_kv_heads = 2, hd = 64;
  const int64_t n_slots = 500, block = 16, row = int64_t(n_kv_heads) * hd;
  const Q8Twin twin(n_slots, row, block, 90);
  const AttentionShape shape{n_heads, n_kv_heads, hd, 0.125f, AttentionPrecision::kBf16};
  const auto q = RandomVector(size_t(n_heads * hd), 91, 2.0f);
  const int32_t len = int32_t(n_slots);
  std::vector<float> full(q.size());
  Attention(q.data(), 1, &len, twin.q8_view, shape, full.data(), nullptr);
  const int group = n_heads / n_kv_heads;
  const AttentionShape head_shape{group, 1, hd, 0.125f, AttentionPrecision::kBf16};
  for (int h = 0; h < n_kv_heads; ++h) {
    std::vector<const void*> k, v;
    for (size_t b = 0; b < twin.kp.size(); ++b) {
      k.push_back(static_cast<const uint8_t*>(twin.kp[b]) + KvRowBytes(DType::kQ8_0, int64_t{h} * hd));
      v.push_back(static_cast<const uint8_t*>(twin.vp[b]) + KvRowBytes(DType::kQ8_0, int64_t{h} * hd));
    }
    const KvBlocksView head_view{k, v, block, DType::kQ8_0, row};
    std::vector<float> out(size_t(group * hd));
    Attention(q.data() + h * group * hd, 1, &len, head_view, head_shape, out.data(), nullptr);
    EXPECT_EQ(0, std::memcmp(out.data(), full.data() + h * group * hd, out.size() * sizeof(float))) << "head " << h;
  }
}

}  // namespace
}  // namespace chunkserve::kernels
