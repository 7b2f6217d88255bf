#include "rag/retrieve/minhash_lsh.h"

#include <algorithm>
#include <limits>

#include "base/hash.h"
#include "rag/retrieve/near_duplicates.h"

namespace chunkserve::rag {
namespace {

// splitmix64's finalizer: a cheap, well-mixed permutation of 64-bit values.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

MinHashLsh::MinHashLsh(const MinHashParams& params) : params_(params) {
  params_.n_bands = std::max(params_.n_bands, 1);
  params_.rows_per_band = std::max(params_.rows_per_band, 1);
  const int n = params_.n_bands * params_.rows_per_band;
  for (int k = 0; k < n; ++k) seeds_.push_back(Mix(0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(k + 1)));
  buckets_.resize(static_cast<size_t>(params_.n_bands));
}

std::optional<int64_t> MinHashLsh::Add(int64_t id, std::string_view text) {
  std::vector<uint64_t> sh = WordShingles(text);
  const size_t self = ids_.size();
  ids_.push_back(id);
  if (sh.empty()) {
    shingles_.push_back({});
    return std::nullopt;
  }
  std::vector<uint64_t> sig(seeds_.size(), std::numeric_limits<uint64_t>::max());
  for (uint64_t s : sh)
    for (size_t k = 0; k < seeds_.size(); ++k) sig[k] = std::min(sig[k], Mix(s ^ seeds_[k]));

  std::optional<size_t> best;  // earliest added near-duplicate
  std::vector<size_t> checked;
  std::vector<uint64_t> keys(static_cast<size_t>(params_.n_bands));
  for (int b = 0; b < params_.n_bands; ++b) {
    uint64_t key = static_cast<uint64_t>(b);
    for (int r = 0; r < params_.rows_per_band; ++r) key = HashCombine(key, sig[static_cast<size_t>(b * params_.rows_per_band + r)]);
    keys[static_cast<size_t>(b)] = key;
    auto it = buckets_[static_cast<size_t>(b)].find(key);
    if (it == buckets_[static_cast<size_t>(b)].end()) continue;
    for (size_t other : it->second) {
      if ((best && other >= *best) || std::find(checked.begin(), checked.end(), other) != checked.end()) continue;
      checked.push_back(other);
      ++n_checked_;
      if (ShingleJaccard(sh, shingles_[other]) >= params_.threshold) best = other;
    }
  }
  for (int b = 0; b < params_.n_bands; ++b) buckets_[static_cast<size_t>(b)][keys[static_cast<size_t>(b)]].push_back(self);
  shingles_.push_back(std::move(sh));
  if (!best) return std::nullopt;
  return ids_[*best];
}

}  // namespace chunkserve::rag
