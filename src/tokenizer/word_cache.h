// WordCache: a bounded, thread-safe map from a word (bytes) to the ids it
// encodes to. Natural text repeats words constantly, so caching the result of
// the (comparatively slow) merge loop per word makes tokenizing several times
// faster. The cache is an optimisation only: a hit returns exactly what the
// encoder computed for that word, and tests check cached == uncached.
//
// Sharded by word hash; each shard has its own mutex and is cleared when it
// reaches its share of `max_entries` (cheap, and natural text refills it with
// the frequent words at once). Words longer than kMaxWordBytes are not cached.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chunkserve::tokenizer {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 64;
  static constexpr size_t kShards = 16;

  explicit WordCache(size_t max_entries = size_t{1} << 18)
      : max_per_shard_(max_entries / kShards + 1) {}
  WordCache(const WordCache&) = delete;
  WordCache& operator=(const WordCache&) = delete;

  // Appends the cached ids of `word` to `out` and returns true on a hit.
  bool Lookup(std::string_view word, std::vector<int32_t>* out) const;
  void Insert(std::string_view word, std::span<const int32_t> ids) const;
  size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept;
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, Hash, Eq> map;  // guarded by mu
  };

  size_t max_per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace chunkserve::tokenizer
