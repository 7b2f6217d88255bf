// WordCache: a bounded, thread-safe map from a word (bytes) to the ids it
// encodes to. Natural text repeats words constantly, so caching the result of
// the (comparatively slow) merge loop per word makes tokenizing several times
// faster. The cache is an optimisation only: a hit returns exactly what the
// encoder computed for that word, and tests check cached == uncached.
//
// Layout: kShards shards chosen by the word's hash, each with its own mutex
// and a flat open-addressing table (linear probing) whose keys and ids live
// in two arenas, so a lookup touches one slot and two contiguous ranges
// instead of chasing list nodes. A shard that reaches its share of
// `max_entries` is cleared (cheap; natural text refills the frequent words
// at once). Words longer than kMaxWordBytes are not cached.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::tokenizer {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 64;
  static constexpr size_t kShards = 16;

  explicit WordCache(size_t max_entries = size_t{1} << 16);
  WordCache(const WordCache&) = delete;
  WordCache& operator=(const WordCache&) = delete;

  // Appends the cached ids of `word` to `out` and returns true on a hit.
  bool Lookup(std::string_view word, std::vector<int32_t>* out) const;
  void Insert(std::string_view word, std::span<const int32_t> ids) const;
  size_t size() const;

  // The hash used to pick shard and slot (never 0).
  static uint64_t HashWord(std::string_view word);

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty
    uint32_t key_offset = 0;
    uint32_t ids_offset = 0;
    uint16_t key_bytes = 0;
    uint16_t n_ids = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    // All guarded by mu.
    std::vector<Slot> slots;  // power-of-two size, at most half full
    std::string keys;
    std::vector<int32_t> ids;
    size_t n_entries = 0;
  };

  size_t max_per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace chunkserve::tokenizer
