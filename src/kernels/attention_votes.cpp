#include "kernels/attention_votes.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace chunkserve::kernels {
namespace {

// Eight independent partial sums, which the compiler turns into vector
// lanes on any level (a single running sum would be one serial chain).
float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[d + j] * b[d + j];
  float dot = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; d < n; ++d) dot += a[d] * b[d];
  return dot;
}

}  // namespace

void AddAttentionVotes(const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
                       const AttentionShape& shape, int64_t n_slots, float* mass, ThreadPool* pool) {
  const int64_t D = shape.head_dim;
  const int64_t row_floats = static_cast<int64_t>(shape.n_kv_heads) * D;
  const int group = shape.n_heads / shape.n_kv_heads;
  const auto row_bytes = static_cast<int64_t>(KvRowBytes(kv.type, row_floats));
  const auto head_bytes = static_cast<int64_t>(KvRowBytes(kv.type, D));
  auto task = [&](int64_t kv_head, int) {
    std::vector<float> k(static_cast<size_t>(D));
    std::vector<float> scores;
    float* out = mass + kv_head * n_slots;
    for (int64_t i = 0; i < n_q; ++i) {
      const int64_t end = kv_len[i];
      const int64_t begin = shape.window > 0 ? std::max<int64_t>(0, end - shape.window) : 0;
      scores.assign(static_cast<size_t>(group * (end - begin)), 0.0f);
      for (int64_t slot = begin; slot < end; ++slot) {
        const void* k_head = static_cast<const uint8_t*>(kv.k_blocks[static_cast<size_t>(slot / kv.block_tokens)]) +
                             (slot % kv.block_tokens) * row_bytes + kv_head * head_bytes;
        LoadKvRow(k_head, D, kv.type, k.data());
        for (int g = 0; g < group; ++g) {
          const float* qh = q + i * shape.n_heads * D + (kv_head * group + g) * D;
          const float dot = Dot(qh, k.data(), D);
          float s = dot * shape.scale;
          if (shape.softcap > 0) s = shape.softcap * std::tanh(s / shape.softcap);
          scores[static_cast<size_t>(g * (end - begin) + (slot - begin))] = s;
        }
      }
      for (int g = 0; g < group; ++g) {
        float* sc = scores.data() + g * (end - begin);
        const float max = *std::max_element(sc, sc + (end - begin));
        double sum = 0;
        for (int64_t j = 0; j < end - begin; ++j) {
          sc[j] = std::exp(sc[j] - max);
          sum += sc[j];
        }
        const auto inv = static_cast<float>(1.0 / sum);
        for (int64_t j = 0; j < end - begin; ++j) out[begin + j] += sc[j] * inv;
      }
    }
  };
  if (pool != nullptr && shape.n_kv_heads > 1) {
    pool->ParallelFor(shape.n_kv_heads, task);
  } else {
    for (int64_t h = 0; h < shape.n_kv_heads; ++h) task(h, 0);
  }
}

}  // namespace chunkserve::kernels
