#include "tokenizer/word_cache.h"

#include <bit>
#include <cstring>

namespace chunkserve::tokenizer {

WordCache::WordCache(size_t max_entries) : max_per_shard_(max_entries / kShards + 1) {
  const size_t n_slots = std::bit_ceil(max_per_shard_ * 2);
  for (Shard& s : shards_) s.slots.resize(n_slots);
}

uint64_t WordCache::HashWord(std::string_view word) {
  // Words are short: mix 8 bytes at a time (multiply-xorshift), then the tail.
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x243F6A8885A308D3ull ^ (word.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= word.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, word.data() + i, 8);
    h = (h ^ v) * kMul;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, word.data() + i, word.size() - i);
  h = (h ^ tail) * kMul;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h | 1;
}

bool WordCache::Lookup(std::string_view word, std::vector<int32_t>* out) const {
  if (word.size() > kMaxWordBytes) return false;
  const uint64_t h = HashWord(word);
  Shard& shard = shards_[h >> 60];
  std::lock_guard<std::mutex> lock(shard.mu);
  const size_t mask = shard.slots.size() - 1;
  for (size_t i = (h >> 4) & mask;; i = (i + 1) & mask) {
    const Slot& slot = shard.slots[i];
    if (slot.hash == 0) return false;
    if (slot.hash == h && slot.key_bytes == word.size() &&
        std::memcmp(shard.keys.data() + slot.key_offset, word.data(), word.size()) == 0) {
      const int32_t* ids = shard.ids.data() + slot.ids_offset;
      out->insert(out->end(), ids, ids + slot.n_ids);
      return true;
    }
  }
}

void WordCache::Insert(std::string_view word, std::span<const int32_t> ids) const {
  if (word.size() > kMaxWordBytes || ids.size() > UINT16_MAX) return;
  const uint64_t h = HashWord(word);
  Shard& shard = shards_[h >> 60];
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.n_entries >= max_per_shard_ || shard.keys.size() + word.size() > UINT32_MAX ||
      shard.ids.size() + ids.size() > UINT32_MAX) {
    std::fill(shard.slots.begin(), shard.slots.end(), Slot{});
    shard.keys.clear();
    shard.ids.clear();
    shard.n_entries = 0;
  }
  const size_t mask = shard.slots.size() - 1;
  for (size_t i = (h >> 4) & mask;; i = (i + 1) & mask) {
    Slot& slot = shard.slots[i];
    if (slot.hash == h && slot.key_bytes == word.size() &&
        std::memcmp(shard.keys.data() + slot.key_offset, word.data(), word.size()) == 0) {
      return;  // another thread got there first
    }
    if (slot.hash != 0) continue;
    slot.hash = h;
    slot.key_offset = static_cast<uint32_t>(shard.keys.size());
    slot.key_bytes = static_cast<uint16_t>(word.size());
    slot.ids_offset = static_cast<uint32_t>(shard.ids.size());
    slot.n_ids = static_cast<uint16_t>(ids.size());
    shard.keys.append(word);
    shard.ids.insert(shard.ids.end(), ids.begin(), ids.end());
    ++shard.n_entries;
    return;
  }
}

size_t WordCache::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.n_entries;
  }
  return n;
}

}  // namespace chunkserve::tokenizer
