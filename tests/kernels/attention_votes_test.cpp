// AddAttentionVotes against Attention itself: with one-hot values (value
// dimension e of slot j is 1 when e == j), attention's output row IS the
// probability row, so the votes must equal the summed outputs.
#include "kernels/attention_votes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace chunkserve::kernels {
namespace {

void CheckVotes(int n_heads, int n_kv_heads, int64_t n_q, int64_t n_past, float softcap, int64_t window) {
  const int head_dim = 32;
  const int64_t n_slots = n_past + n_q;
  ASSERT_LE(n_slots, head_dim);
  const int64_t row = static_cast<int64_t>(n_kv_heads) * head_dim;
  const int64_t block_tokens = 4;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> q(static_cast<size_t>(n_q * n_heads * head_dim));
  for (float& x : q) x = nd(rng);
  const int64_t n_blocks = (n_slots + block_tokens - 1) / block_tokens;
  std::vector<std::vector<float>> kb(n_blocks, std::vector<float>(block_tokens * row));
  std::vector<std::vector<float>> vb(n_blocks, std::vector<float>(block_tokens * row, 0.0f));
  for (int64_t s = 0; s < n_slots; ++s)
    for (int h = 0; h < n_kv_heads; ++h) {
      for (int e = 0; e < head_dim; ++e) kb[s / block_tokens][(s % block_tokens) * row + h * head_dim + e] = nd(rng);
      vb[s / block_tokens][(s % block_tokens) * row + h * head_dim + s] = 1.0f;
    }
  std::vector<const void*> kp, vp;
  for (int64_t b = 0; b < n_blocks; ++b) kp.push_back(kb[b].data()), vp.push_back(vb[b].data());
  const KvBlocksView view{kp, vp, block_tokens};
  AttentionShape shape{n_heads, n_kv_heads, head_dim, 1.0f / std::sqrt(float(head_dim)), AttentionPrecision::kF32};
  shape.softcap = softcap;
  shape.window = window;
  std::vector<int32_t> kv_len(static_cast<size_t>(n_q));
  for (int64_t i = 0; i < n_q; ++i) kv_len[i] = static_cast<int32_t>(n_past + i + 1);

  std::vector<float> out(q.size());
  AttentionWithIsa(Isa::kScalar, q.data(), n_q, kv_len.data(), view, shape, out.data(), nullptr);
  std::vector<float> expected(static_cast<size_t>(n_kv_heads * n_slots), 0.0f);
  const int group = n_heads / n_kv_heads;
  for (int64_t i = 0; i < n_q; ++i)
    for (int h = 0; h < n_heads; ++h)
      for (int64_t s = 0; s < n_slots; ++s) expected[(h / group) * n_slots + s] += out[(i * n_heads + h) * head_dim + s];

  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    std::vector<float> mass(expected.size(), 0.0f);
    AddAttentionVotes(q.data(), n_q, kv_len.data(), view, shape, n_slots, mass.data(), p);
    for (size_t j = 0; j < mass.size(); ++j)
      ASSERT_NEAR(mass[j], expected[j], 1e-5f) << "heads " << n_heads << "/" << n_kv_heads << " at " << j;
    // Each query row gives each of its heads a total of 1.
    double total = 0;
    for (float m : mass) total += m;
    EXPECT_NEAR(total, static_cast<double>(n_q * n_heads), 1e-4);
  }
}

TEST(AttentionVotes, EqualTheProbabilitiesAttentionUses) {
  CheckVotes(4, 2, 5, 20, 0, 0);
  CheckVotes(2, 2, 1, 30, 0, 0);
  CheckVotes(8, 1, 3, 9, 0, 0);
}

TEST(AttentionVotes, FollowSoftcapAndSlidingWindow) {
  CheckVotes(4, 2, 6, 18, 5.0f, 0);
  CheckVotes(4, 2, 6, 18, 0, 7);
}

}  // namespace
}  // namespace chunkserve::kernels
