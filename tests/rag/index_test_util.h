// Shared helpers for the vector index tests: deterministic clustered data
// and recall against an exact twin.
#pragma once

#include <random>
#include <set>
#include <vector>

#include "rag/index/vector_index.h"

namespace chunkserve::rag {

// n points in dim dimensions around n_clusters Gaussian centres (more like
// embeddings than uniform noise, and harder for a graph).
inline std::vector<float> ClusteredData(size_t n, int dim, int n_clusters, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> centres(static_cast<size_t>(n_clusters) * dim);
  for (float& c : centres) c = normal(rng) * 3.0f;
  std::vector<float> out(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng() % static_cast<size_t>(n_clusters);
    for (int j = 0; j < dim; ++j) out[i * dim + j] = centres[c * dim + j] + normal(rng);
  }
  return out;
}

// Mean over queries of |approx top-k ∩ exact top-k| / |exact top-k|.
inline double Recall(const std::vector<std::vector<Neighbor>>& approx, const std::vector<std::vector<Neighbor>>& exact) {
  double sum = 0;
  size_t n = 0;
  for (size_t q = 0; q < exact.size(); ++q) {
    if (exact[q].empty()) continue;
    std::set<int64_t> truth;
    for (const Neighbor& nb : exact[q]) truth.insert(nb.id);
    size_t hit = 0;
    for (const Neighbor& nb : approx[q]) hit += truth.count(nb.id);
    sum += static_cast<double>(hit) / static_cast<double>(truth.size());
    ++n;
  }
  return n ? sum / static_cast<double>(n) : 1.0;
}

}  // namespace chunkserve::rag
