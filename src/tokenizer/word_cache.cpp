#include "tokenizer/word_cache.h"

#include "base/hash.h"

namespace chunkserve::tokenizer {

size_t WordCache::Hash::operator()(std::string_view s) const noexcept { return Hash64(s); }

bool WordCache::Lookup(std::string_view word, std::vector<int32_t>* out) const {
  if (word.size() > kMaxWordBytes) return false;
  const size_t h = Hash{}(word);
  Shard& shard = shards_[(h >> 32) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.map.find(word);
  if (it == shard.map.end()) return false;
  out->insert(out->end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::Insert(std::string_view word, std::span<const int32_t> ids) const {
  if (word.size() > kMaxWordBytes) return;
  const size_t h = Hash{}(word);
  Shard& shard = shards_[(h >> 32) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= max_per_shard_) shard.map.clear();
  shard.map.try_emplace(std::string(word), ids.begin(), ids.end());
}

size_t WordCache::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace chunkserve::tokenizer
