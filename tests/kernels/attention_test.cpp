// Tests of kernels/attention.h against straightforward twins: a
// materialized-softmax attention in double precision, the scalar twin for
// the SIMD paths, f32 rows for bf16 rows.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <random>
#include <vector>

#include "kernels/attention_kernel_table.h"
#include "tensor/half.h"

namespace chunkserve::kernels {
namespace {

constexpr float kAttentionTol = 2e-5f;
// bf16 attention rounds each softmax weight p to bf16 (relative error <=
// 2^-9), so its output may move by up to 2^-9 * max |v| from a twin that
// uses exact weights (twice that between two bf16 paths that round P at
// different points).
constexpr float kBf16WeightRounding = 1.0f / 512;

float MaxAbs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

// x rounded to the nearest bf16 (tensor/half.h), so a kBf16 kernel's own
// rounding of Q, K and V is exact and only its rounding of P remains.
void RoundToBf16(std::vector<float>& v) {
  for (float& x : v) x = BF16ToF32(F32ToBF16(x));
}

std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Materialized-softmax attention: the full score row per (query, head).
std::vector<float> NaiveAttention(const std::vector<float>& q, int64_t n_q, const std::vector<int32_t>& kv_len,
                                  const std::vector<float>& k, const std::vector<float>& v,
                                  const AttentionShape& s) {
  const int group = s.n_heads / s.n_kv_heads;
  const int64_t row = int64_t(s.n_kv_heads) * s.head_dim;
  std::vector<float> out(n_q * s.n_heads * s.head_dim, 0.0f);
  for (int64_t i = 0; i < n_q; ++i) {
    for (int h = 0; h < s.n_heads; ++h) {
      const int kvh = h / group;
      // Keys [first, kv_len): the sliding window's start, if any.
      const int64_t first = s.window > 0 ? std::max<int64_t>(0, kv_len[i] - s.window) : 0;
      std::vector<double> scores(kv_len[i], 0.0);
      double mx = -1e300;
      for (int64_t j = first; j < kv_len[i]; ++j) {
        double d = 0;
        for (int e = 0; e < s.head_dim; ++e)
          d += double(q[(i * s.n_heads + h) * s.head_dim + e]) * k[j * row + kvh * s.head_dim + e];
        scores[j] = d * s.scale;
        if (s.softcap > 0) scores[j] = s.softcap * std::tanh(scores[j] / s.softcap);
        mx = std::max(mx, scores[j]);
      }
      double z = 0;
      for (int64_t j = first; j < kv_len[i]; ++j) z += (scores[j] = std::exp(scores[j] - mx));
      for (int e = 0; e < s.head_dim; ++e) {
        double acc = 0;
        for (int64_t j = first; j < kv_len[i]; ++j) acc += scores[j] / z * v[j * row + kvh * s.head_dim + e];
        out[(i * s.n_heads + h) * s.head_dim + e] = float(acc);
      }
    }
  }
  return out;
}

struct AttentionCase {
  int n_heads, n_kv_heads, head_dim;
  int64_t n_q, n_past, block_tokens;
};

void CheckAttention(const AttentionCase& c, Isa isa, ThreadPool* pool,
                    AttentionPrecision precision = AttentionPrecision::kF32, float softcap = 0,
                    int64_t window = 0) {
  const int64_t n_slots = c.n_past + c.n_q;
  const int64_t row = int64_t(c.n_kv_heads) * c.head_dim;
  AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim, 1.0f / std::sqrt(float(c.head_dim)), precision};
  shape.softcap = softcap;
  shape.window = window;
  auto q = RandomVector(c.n_q * c.n_heads * c.head_dim, 20, 2.0f);
  auto k = RandomVector(n_slots * row, 21, 2.0f);
  auto v = RandomVector(n_slots * row, 22);
  const bool bf16 = precision == AttentionPrecision::kBf16;
  if (bf16) {
    for (auto* x : {&q, &k, &v}) RoundToBf16(*x);
  }
  const float weight_tol = bf16 ? kBf16WeightRounding * MaxAbs(v) : 0.0f;
  std::vector<int32_t> kv_len(c.n_q);
  for (int64_t i = 0; i < c.n_q; ++i) kv_len[i] = int32_t(c.n_past + i + 1);  // causal
  // Scatter the slots into blocks allocated in reverse order, so a kernel
  // that assumed contiguous blocks would read the wrong rows.
  const int64_t n_blocks = (n_slots + c.block_tokens - 1) / c.block_tokens;
  std::vector<std::vector<float>> kb(n_blocks, std::vector<float>(c.block_tokens * row, 1e9f));
  std::vector<std::vector<float>> vb(n_blocks, std::vector<float>(c.block_tokens * row, 1e9f));
  for (int64_t s = 0; s < n_slots; ++s) {
    std::copy_n(k.begin() + s * row, row, kb[s / c.block_tokens].begin() + (s % c.block_tokens) * row);
    std::copy_n(v.begin() + s * row, row, vb[s / c.block_tokens].begin() + (s % c.block_tokens) * row);
  }
  std::vector<const void*> kp, vp;
  for (int64_t b = 0; b < n_blocks; ++b) kp.push_back(kb[b].data()), vp.push_back(vb[b].data());
  KvBlocksView view{kp, vp, c.block_tokens};
  std::vector<float> out(q.size(), -7.0f);
  AttentionWithIsa(isa, q.data(), c.n_q, kv_len.data(), view, shape, out.data(), pool);
  auto expected = NaiveAttention(q, c.n_q, kv_len, k, v, shape);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], expected[i], weight_tol + kAttentionTol * (1 + std::abs(expected[i])))
        << AttentionPrecisionName(precision) << " isa " << int(isa) << " heads " << c.n_heads << "/" << c.n_kv_heads << " hd " << c.head_dim
        << " n_q " << c.n_q << " past " << c.n_past << " block " << c.block_tokens << " softcap " << softcap
        << " window " << window << " at " << i;
}

TEST(OpsTest, AttentionMatchesMaterializedSoftmax) {
  ThreadPool pool(2);
  const AttentionCase cases[] = {
      {8, 4, 8, 1, 0, 512},     // stories260K shape, first token
      {8, 4, 8, 37, 0, 512},    // prefill
      {14, 2, 64, 1, 200, 16},  // qwen2.5-0.5B shape, decode over paged blocks
      {14, 2, 64, 40, 90, 32},  // prefill continuing a cache, tiles cross blocks
      {4, 4, 128, 20, 130, 7},  // MHA, odd block size
      {6, 3, 12, 19, 3, 5},     // head_dim not a multiple of 8
      {14, 2, 64, 21, 1100, 16},  // chunk repair: every query sees > 1024 keys (64-key tiles)
      {14, 2, 64, 1, 3000, 16},   // decode at depth: split-K over three chunks
  };
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (const auto& c : cases) {
      for (auto precision : {AttentionPrecision::kF32, AttentionPrecision::kBf16}) {
        CheckAttention(c, isa, &pool, precision);
        CheckAttention(c, isa, nullptr, precision);
      }
    }
  }
}

// Gemma 2's options: logit soft-capping (a cap small enough to bend these
// scores, which reach ~+-10) and sliding windows shorter than, across and
// longer than the key tiles, on every path against the materialized
// softmax.
TEST(OpsTest, AttentionSoftcapAndWindowMatchMaterializedSoftmax) {
  ThreadPool pool(2);
  const AttentionCase cases[] = {
      {8, 4, 16, 37, 0, 512},    // prefill
      {14, 2, 64, 1, 300, 16},   // decode over paged blocks
      {14, 2, 64, 40, 190, 32},  // prefill continuing a cache
      {6, 3, 12, 19, 3, 5},      // head_dim not a multiple of 8
  };
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (const auto& c : cases) {
      for (auto precision : {AttentionPrecision::kF32, AttentionPrecision::kBf16}) {
        CheckAttention(c, isa, &pool, precision, 3.0f, 0);
        for (int64_t window : {1, 5, 64, 70, 129, 4096}) {
          CheckAttention(c, isa, &pool, precision, 0.0f, window);
          CheckAttention(c, isa, nullptr, precision, 3.0f, window);
        }
      }
    }
  }
}

// Scalar twin vs each SIMD path on grouped-query shapes (group 7 as in
// Qwen2.5-0.5B, group 8, MHA), with ragged, non-monotonic kv_len (as when a
// chunk cache recomputes scattered tokens, incl. a query that sees nothing),
// paged blocks (block sizes 1 to 32, padded with 1e9 past the live rows), tiles that cross the 64/128-key
// tile edges, and head_dim widths that exercise every vector-width case.
struct RaggedCase {
  int n_heads, n_kv_heads, head_dim;
  int64_t n_q, n_slots, block_tokens;
};

// With kBf16 the inputs are not pre-rounded: the SIMD path must round Q, K
// and V as the scalar twin does.
void CheckAttentionRaggedVsScalar(const RaggedCase& c, Isa isa, ThreadPool* pool, uint32_t seed,
                                  AttentionPrecision precision = AttentionPrecision::kF32, float softcap = 0,
                                  int64_t window = 0) {
  const int64_t row = int64_t(c.n_kv_heads) * c.head_dim;
  AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim, 1.0f / std::sqrt(float(c.head_dim)), precision};
  shape.softcap = softcap;
  shape.window = window;
  auto q = RandomVector(c.n_q * c.n_heads * c.head_dim, seed, 2.0f);
  auto k = RandomVector(c.n_slots * row, seed + 1, 2.0f);
  auto v = RandomVector(c.n_slots * row, seed + 2);
  const float weight_tol = precision == AttentionPrecision::kBf16 ? 2 * kBf16WeightRounding * MaxAbs(v) : 0.0f;
  std::mt19937 rng(seed + 3);
  std::uniform_int_distribution<int32_t> len_dist(1, int32_t(c.n_slots));
  std::vector<int32_t> kv_len(c.n_q);
  for (auto& len : kv_len) len = len_dist(rng);
  kv_len[0] = int32_t(c.n_slots);                    // the longest row
  if (c.n_q > 2) kv_len[c.n_q / 2] = 0;              // sees no key: output 0
  if (c.n_q > 3) kv_len[c.n_q - 1] = 1;              // sees only slot 0
  const int64_t n_blocks = (c.n_slots + c.block_tokens - 1) / c.block_tokens;
  std::vector<std::vector<float>> kb(n_blocks, std::vector<float>(c.block_tokens * row, 1e9f));
  std::vector<std::vector<float>> vb(n_blocks, std::vector<float>(c.block_tokens * row, 1e9f));
  for (int64_t s = 0; s < c.n_slots; ++s) {
    std::copy_n(k.begin() + s * row, row, kb[s / c.block_tokens].begin() + (s % c.block_tokens) * row);
    std::copy_n(v.begin() + s * row, row, vb[s / c.block_tokens].begin() + (s % c.block_tokens) * row);
  }
  std::vector<const void*> kp, vp;
  for (int64_t b = 0; b < n_blocks; ++b) kp.push_back(kb[b].data()), vp.push_back(vb[b].data());
  KvBlocksView view{kp, vp, c.block_tokens};
  std::vector<float> out(q.size(), -7.0f), ref(q.size(), -7.0f);
  AttentionWithIsa(Isa::kScalar, q.data(), c.n_q, kv_len.data(), view, shape, ref.data(), nullptr);
  AttentionWithIsa(isa, q.data(), c.n_q, kv_len.data(), view, shape, out.data(), pool);
  const int64_t q_row = int64_t(c.n_heads) * c.head_dim;
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t query = int64_t(i) / q_row;
    if (kv_len[query] == 0) {
      ASSERT_EQ(out[i], 0.0f) << "query " << query << " sees no key";
      continue;
    }
    ASSERT_NEAR(out[i], ref[i], weight_tol + kAttentionTol * (1 + std::abs(ref[i])))
        << AttentionPrecisionName(precision) << " isa " << int(isa) << " heads " << c.n_heads << "/"
        << c.n_kv_heads << " hd " << c.head_dim << " n_q " << c.n_q << " slots " << c.n_slots << " block " << c.block_tokens << " query " << query
        << " kv_len " << kv_len[query] << " at " << i;
  }
}

TEST(OpsTest, AttentionGqaRaggedPagedMatchesScalarTwin) {
  ThreadPool pool(2);
  const RaggedCase cases[] = {
      {14, 2, 64, 37, 300, 16},  // qwen2.5-0.5B: group 7, tiles cross 64/128 edges
      {14, 2, 64, 1, 129, 32},   // decode, one key past a 128-key tile
      {7, 1, 64, 20, 257, 7},    // one kv head, group 7, odd block size
      {16, 2, 128, 18, 200, 1},  // group 8, head_dim 128, one-token blocks
      {8, 8, 80, 9, 150, 16},    // MHA, head_dim 80 (64 + 16)
      {12, 4, 48, 17, 140, 5},   // group 3, head_dim 48
      {6, 2, 32, 33, 90, 9},     // head_dim 32
      {14, 2, 64, 5, 2 * kSplitKeys + 77, 16},  // split-K: rows across three chunks
  };
  uint32_t seed = 100;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (const auto& c : cases) {
      CheckAttentionRaggedVsScalar(c, isa, &pool, seed);
      CheckAttentionRaggedVsScalar(c, isa, nullptr, seed + 10);
      CheckAttentionRaggedVsScalar(c, isa, &pool, seed + 11, AttentionPrecision::kBf16);
      // Gemma 2's options with ragged rows: windows whose starts differ per
      // row and fall inside, at and across tile edges.
      CheckAttentionRaggedVsScalar(c, isa, &pool, seed + 12, AttentionPrecision::kF32, 3.0f, 70);
      CheckAttentionRaggedVsScalar(c, isa, &pool, seed + 13, AttentionPrecision::kBf16, 3.0f, 129);
      CheckAttentionRaggedVsScalar(c, isa, nullptr, seed + 14, AttentionPrecision::kF32, 0.0f, 3);
      seed += 20;
    }
  }
}

// Split-K: a row's result is a fold of fixed kSplitKeys-key chunks in order,
// so one thread, the chunks spread over two or three threads, and the same
// query alone or beside others all give the same bits: the twin that keeps
// batched == serial and speculative == plain decoding exact at any depth.
TEST(OpsTest, AttentionSplitKGivesTheSameBitsWhateverTheThreadsAndBatch) {
  ThreadPool pool2(2), pool3(3);
  const int n_heads = 14, n_kv_heads = 2, hd = 64;
  const int64_t n_slots = 3 * kSplitKeys + 300, block_tokens = 16, row = int64_t(n_kv_heads) * hd;
  const int64_t q_row = int64_t(n_heads) * hd;
  auto k = RandomVector(n_slots * row, 501, 2.0f);
  auto v = RandomVector(n_slots * row, 502);
  auto q = RandomVector(3 * q_row, 503, 2.0f);
  const int64_t n_blocks = (n_slots + block_tokens - 1) / block_tokens;
  std::vector<std::vector<float>> kb(n_blocks, std::vector<float>(block_tokens * row, 1e9f));
  std::vector<std::vector<float>> vb(n_blocks, std::vector<float>(block_tokens * row, 1e9f));
  for (int64_t s = 0; s < n_slots; ++s) {
    std::copy_n(k.begin() + s * row, row, kb[s / block_tokens].begin() + (s % block_tokens) * row);
    std::copy_n(v.begin() + s * row, row, vb[s / block_tokens].begin() + (s % block_tokens) * row);
  }
  std::vector<const void*> kp, vp;
  for (int64_t b = 0; b < n_blocks; ++b) kp.push_back(kb[b].data()), vp.push_back(vb[b].data());
  const KvBlocksView view{kp, vp, block_tokens};
  // One row across every chunk, one across two, one inside the first.
  const std::vector<int32_t> kv_len = {int32_t(n_slots), int32_t(kSplitKeys + 500), 900};
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (auto precision : {AttentionPrecision::kF32, AttentionPrecision::kBf16}) {
      for (int64_t window : {int64_t{0}, kSplitKeys + 700}) {
        AttentionShape shape{n_heads, n_kv_heads, hd, 0.125f, precision};
        shape.window = window;
        std::vector<float> serial(q.size()), two(q.size()), three(q.size());
        AttentionWithIsa(isa, q.data(), 3, kv_len.data(), view, shape, serial.data(), nullptr);
        AttentionWithIsa(isa, q.data(), 3, kv_len.data(), view, shape, two.data(), &pool2);
        AttentionWithIsa(isa, q.data(), 3, kv_len.data(), view, shape, three.data(), &pool3);
        const std::string where = std::string(AttentionPrecisionName(precision)) + " isa " +
                                  std::to_string(int(isa)) + " window " + std::to_string(window);
        EXPECT_EQ(0, std::memcmp(serial.data(), two.data(), serial.size() * sizeof(float))) << where;
        EXPECT_EQ(0, std::memcmp(serial.data(), three.data(), serial.size() * sizeof(float))) << where;
        for (int64_t i = 0; i < 3; ++i) {
          std::vector<float> alone(q_row);
          AttentionWithIsa(isa, q.data() + i * q_row, 1, &kv_len[i], view, shape, alone.data(), &pool2);
          EXPECT_EQ(0, std::memcmp(alone.data(), serial.data() + i * q_row, q_row * sizeof(float)))
              << where << " query " << i;
        }
      }
    }
  }
}

// Hydragen: queries of sequences whose caches share their first blocks get
// from one shared-prefix call exactly the bits each gets alone, with a
// shared part of one and two chunks, own suffixes of different lengths and
// paged blocks.
TEST(OpsTest, SharedPrefixAttentionEqualsEachSequenceAlone) {
  ThreadPool pool(2);
  const int n_heads = 14, n_kv_heads = 2, hd = 64;
  const int64_t block = 16, row = int64_t(n_kv_heads) * hd, q_row = int64_t(n_heads) * hd;
  for (int64_t shared : {kAttentionChunkKeys, 2 * kAttentionChunkKeys}) {
    for (auto precision : {AttentionPrecision::kF32, AttentionPrecision::kBf16}) {
      const int n_seqs = 5;
      const std::vector<int32_t> kv_len = {int32_t(shared) + 1, int32_t(shared) + 300, int32_t(shared) + 1500,
                                           int32_t(shared) + 17, int32_t(shared) + 1024};
      std::vector<std::vector<float>> blocks;  // every block's K then V rows
      auto new_block = [&](uint32_t seed) {
        auto kv = RandomVector(size_t(2 * block * row), seed, 2.0f);
        blocks.push_back(std::move(kv));
        return blocks.size() - 1;
      };
      std::vector<size_t> shared_blocks;
      for (int64_t b = 0; b < shared / block; ++b) shared_blocks.push_back(new_block(uint32_t(700 + b)));
      std::vector<std::vector<size_t>> seq_blocks(n_seqs, shared_blocks);
      for (int i = 0; i < n_seqs; ++i)
        for (int64_t b = shared / block; b * block < kv_len[size_t(i)]; ++b)
          seq_blocks[size_t(i)].push_back(new_block(uint32_t(9000 + 100 * i + b)));
      std::vector<std::vector<const void*>> kp(n_seqs), vp(n_seqs);
      std::vector<KvBlocksView> views;
      for (int i = 0; i < n_seqs; ++i) {
        for (size_t b : seq_blocks[size_t(i)]) {
          kp[size_t(i)].push_back(blocks[b].data());
          vp[size_t(i)].push_back(blocks[b].data() + block * row);
        }
      }
      for (int i = 0; i < n_seqs; ++i) views.push_back({kp[size_t(i)], vp[size_t(i)], block});
      AttentionShape shape{n_heads, n_kv_heads, hd, 0.125f, precision};
      const auto q = RandomVector(size_t(n_seqs * q_row), 77, 2.0f);
      std::vector<float> together(q.size(), -7.0f);
      AttentionSharedPrefix(q.data(), n_seqs, kv_len.data(), views, shared, shape, together.data(), &pool);
      for (int i = 0; i < n_seqs; ++i) {
        std::vector<float> alone(static_cast<size_t>(q_row));
        Attention(q.data() + i * q_row, 1, &kv_len[size_t(i)], views[size_t(i)], shape, alone.data(), &pool);
        EXPECT_EQ(0, std::memcmp(alone.data(), together.data() + i * q_row, size_t(q_row) * sizeof(float)))
            << AttentionPrecisionName(precision) << " shared " << shared << " sequence " << i;
      }
    }
  }
}

// A bf16 KV view (rows stored with StoreKvRow) gives bf16 attention the very
// operands it would round an f32 view to: the same outputs bit for bit, on
// every path, with paged blocks and ragged kv_len.
TEST(OpsTest, AttentionOverBf16RowsEqualsOverF32Rows) {
  ThreadPool pool(2);
  for (const RaggedCase& c : {RaggedCase{14, 2, 64, 37, 300, 16}, RaggedCase{7, 1, 64, 20, 257, 7},
                              RaggedCase{8, 8, 80, 9, 150, 16}, RaggedCase{6, 3, 12, 19, 40, 5}}) {
    const int64_t row = int64_t(c.n_kv_heads) * c.head_dim;
    const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim, 1.0f / std::sqrt(float(c.head_dim)),
                               AttentionPrecision::kBf16};
    auto q = RandomVector(c.n_q * c.n_heads * c.head_dim, 31, 2.0f);
    auto k = RandomVector(c.n_slots * row, 32, 2.0f);
    auto v = RandomVector(c.n_slots * row, 33);
    k[5] = 1e-40f;  // a subnormal: flushed to zero by both
    std::vector<int32_t> kv_len(c.n_q);
    for (int64_t i = 0; i < c.n_q; ++i) kv_len[i] = int32_t((i * 7919) % c.n_slots + 1);
    const int64_t n_blocks = (c.n_slots + c.block_tokens - 1) / c.block_tokens;
    std::vector<std::vector<float>> kb(n_blocks, std::vector<float>(c.block_tokens * row)), vb = kb;
    std::vector<std::vector<uint16_t>> kb16(n_blocks, std::vector<uint16_t>(c.block_tokens * row)), vb16 = kb16;
    for (int64_t s = 0; s < c.n_slots; ++s) {
      const int64_t b = s / c.block_tokens, at = (s % c.block_tokens) * row;
      std::copy_n(k.begin() + s * row, row, kb[b].begin() + at);
      std::copy_n(v.begin() + s * row, row, vb[b].begin() + at);
      StoreKvRow(&k[s * row], row, DType::kBF16, &kb16[b][at]);
      StoreKvRow(&v[s * row], row, DType::kBF16, &vb16[b][at]);
    }
    std::vector<const void*> kp, vp, kp16, vp16;
    for (int64_t b = 0; b < n_blocks; ++b) {
      kp.push_back(kb[b].data()), vp.push_back(vb[b].data());
      kp16.push_back(kb16[b].data()), vp16.push_back(vb16[b].data());
    }
    const KvBlocksView f32_view{kp, vp, c.block_tokens, DType::kF32};
    const KvBlocksView bf16_view{kp16, vp16, c.block_tokens, DType::kBF16};
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (!IsaSupported(isa)) continue;
      std::vector<float> a(q.size()), b(q.size());
      AttentionWithIsa(isa, q.data(), c.n_q, kv_len.data(), f32_view, shape, a.data(), &pool);
      AttentionWithIsa(isa, q.data(), c.n_q, kv_len.data(), bf16_view, shape, b.data(), &pool);
      ASSERT_EQ(a, b) << "isa " << int(isa) << " head_dim " << c.head_dim;
    }
  }
}

// Q is an operand too: queries that differ from bf16 values by less than half
// a bf16 ulp give bit-identical outputs under bf16 attention, on every path.
TEST(OpsTest, AttentionBf16RoundsQueries) {
  const AttentionShape shape{14, 2, 64, 0.125f, AttentionPrecision::kBf16};
  const int64_t n_q = 9, n_slots = 200, row = 2 * 64;
  auto q = RandomVector(n_q * 14 * 64, 41, 2.0f);
  auto k = RandomVector(n_slots * row, 42, 2.0f);
  auto v = RandomVector(n_slots * row, 43);
  RoundToBf16(q);
  std::vector<float> q_off = q;
  for (float& x : q_off) x *= 1.0f + 1.0f / 4096;  // < half a bf16 ulp (2^-8)
  ASSERT_NE(q, q_off);
  std::vector<int32_t> kv_len(n_q);
  for (int64_t i = 0; i < n_q; ++i) kv_len[i] = int32_t(n_slots - n_q + i + 1);
  std::vector<const void*> kp = {k.data()}, vp = {v.data()};
  const KvBlocksView view{kp, vp, n_slots};
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    std::vector<float> a(q.size()), b(q.size());
    AttentionWithIsa(isa, q.data(), n_q, kv_len.data(), view, shape, a.data(), nullptr);
    AttentionWithIsa(isa, q_off.data(), n_q, kv_len.data(), view, shape, b.data(), nullptr);
    EXPECT_EQ(a, b) << "isa " << int(isa);
  }
}

TEST(OpsTest, KvRowsRoundTrip) {
  const std::vector<float> x = {1.0f, -2.5f, 3.14159f, 1e-40f, -0.0f, 65504.0f, 1.0f / 3};
  std::vector<float> f32(x.size()), back(x.size());
  std::vector<uint16_t> bf16(x.size());
  StoreKvRow(x.data(), int64_t(x.size()), DType::kF32, f32.data());
  EXPECT_EQ(f32, x);
  StoreKvRow(x.data(), int64_t(x.size()), DType::kBF16, bf16.data());
  LoadKvRow(bf16.data(), int64_t(x.size()), DType::kBF16, back.data());
  for (size_t i = 0; i < x.size(); ++i) {
    if (i == 3) {
      EXPECT_EQ(back[i], 0.0f) << "subnormals flush to zero, as vcvtneps2bf16 does";
      continue;
    }
    EXPECT_EQ(back[i], BF16ToF32(F32ToBF16(x[i]))) << i;  // nearest even
  }
  EXPECT_EQ(KvRowBytes(DType::kF32, 64), 256u);
  EXPECT_EQ(KvRowBytes(DType::kBF16, 64), 128u);
}

// Every level's table is its own level's, and its bf16 row store (AVX-512:
// vcvtneps2bf16) gives the scalar rounding's bits: ties to even, subnormals
// to signed zero, infinities, NaN kept NaN, and a length with a tail.
TEST(OpsTest, AttentionTablesStoreBf16RowsAsTheScalarLevel) {
  std::vector<float> x = {1.0f, -2.5f, 3.14159f, 1e-40f, -1e-40f, -0.0f, 65504.0f, 1.0f / 3,
                          1.00390625f /* tie, even below */, 1.01171875f /* tie, odd below */,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), 3.4e38f, -1.17549435e-38f};
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 100.0f);
  while (x.size() < 83) x.push_back(normal(rng));
  const auto* ref = GetAttentionKernelTable(Isa::kScalar);
  std::vector<uint16_t> want(x.size());
  ref->store_bf16_row(x.data(), int64_t(x.size()), want.data());
  for (Isa isa : AvailableIsas()) {
    const auto* table = GetAttentionKernelTable(isa);
    ASSERT_NE(table, nullptr);
    // The AMX level attends with the AVX-512 kernels.
    EXPECT_EQ(table->isa, std::min(isa, Isa::kAvx512));
    std::vector<uint16_t> got(x.size());
    table->store_bf16_row(x.data(), int64_t(x.size()), got.data());
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) {
        EXPECT_TRUE(std::isnan(BF16ToF32(got[i]))) << IsaName(isa);
        continue;
      }
      EXPECT_EQ(got[i], want[i]) << IsaName(isa) << " x=" << x[i];
    }
  }
  EXPECT_EQ(want[3], 0x0000u);  // subnormal -> +0
  EXPECT_EQ(want[4], 0x8000u);  // subnormal -> -0
  EXPECT_EQ(want[8], 0x3f80u);  // tie rounds to even (down)
  EXPECT_EQ(want[9], 0x3f82u);  // tie rounds to even (up)
}

// AVX-512 attention needs head_dim % 16 == 0; other shapes fall to AVX2.
TEST(OpsTest, AttentionTablesSayWhereTheyHaveNoTask) {
  AttentionShape shape{4, 2, 64, 0.125f};
  EXPECT_NE(GetAttentionKernelTable(Isa::kScalar)->task(shape), nullptr);
  EXPECT_NE(GetAttentionKernelTable(Isa::kAvx2)->task(shape), nullptr);
  EXPECT_NE(GetAttentionKernelTable(Isa::kAvx512)->task(shape), nullptr);
  shape.head_dim = 40;
  EXPECT_EQ(GetAttentionKernelTable(Isa::kAvx512)->task(shape), nullptr);
  EXPECT_NE(GetAttentionKernelTable(Isa::kAvx2)->task(shape), nullptr);
  shape.precision = AttentionPrecision::kBf16;
  EXPECT_NE(GetAttentionKernelTable(Isa::kScalar)->task(shape), nullptr);
}

// bf16 pairs keys two by two, so a tile with an odd number of visible keys
// pairs the last one with a key the row must not see. Here every key past
// the query's kv_len would win the softmax and carries a huge value: any
// weight leaking to it shows at once.
TEST(OpsTest, AttentionBf16IgnoresKeysPastKvLen) {
  const AttentionShape shape{14, 2, 64, 0.125f, AttentionPrecision::kBf16};
  const int64_t n_slots = 300, row = 2 * 64;
  for (int32_t len : {1, 3, 63, 65, 127, 129, 201}) {
    auto q = RandomVector(14 * 64, 7, 2.0f);
    auto k = RandomVector(n_slots * row, 8, 2.0f);
    auto v = RandomVector(n_slots * row, 9);
    for (auto* x : {&q, &k, &v}) RoundToBf16(*x);
    const std::vector<int32_t> kv_len = {len};
    const auto expected = NaiveAttention(q, 1, kv_len, k, v, shape);
    const float tol = kBf16WeightRounding * MaxAbs(v) + kAttentionTol;
    for (int64_t i = int64_t{len} * row; i < n_slots * row; ++i) {
      k[i] = 64.0f;
      v[i] = 1e6f;
    }
    std::vector<const void*> kp = {k.data()}, vp = {v.data()};
    const KvBlocksView view{kp, vp, n_slots};
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (!IsaSupported(isa)) continue;
      std::vector<float> out(q.size());
      AttentionWithIsa(isa, q.data(), 1, kv_len.data(), view, shape, out.data(), nullptr);
      for (size_t i = 0; i < out.size(); ++i)
        ASSERT_NEAR(out[i], expected[i], tol) << "isa " << int(isa) << " kv_len " << len << " at " << i;
    }
  }
}

TEST(OpsTest, AttentionHandlesExtremeScores) {
  // Large logits in the first tile and a larger one in a later tile exercise
  // the online rescaling; values stay finite.
  const AttentionShape s{1, 1, 8, 1.0f};
  const int64_t n = 200;
  std::vector<float> q(8, 1.0f), k(n * 8, 0.0f), v(n * 8);
  for (int64_t j = 0; j < n; ++j) {
    for (int e = 0; e < 8; ++e) v[j * 8 + e] = float(j);
  }
  for (int e = 0; e < 8; ++e) k[3 * 8 + e] = 10.0f;    // score 80
  for (int e = 0; e < 8; ++e) k[150 * 8 + e] = 12.0f;  // score 96 wins
  std::vector<int32_t> kv_len = {int32_t(n)};
  std::vector<const void*> kp = {k.data()}, vp = {v.data()};
  KvBlocksView view{kp, vp, n};
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    std::vector<float> out(8);
    AttentionWithIsa(isa, q.data(), 1, kv_len.data(), view, s, out.data(), nullptr);
    for (float o : out) EXPECT_NEAR(o, 150.0f, 1e-3f);
  }
}

}  // namespace
}  // namespace chunkserve::kernels
