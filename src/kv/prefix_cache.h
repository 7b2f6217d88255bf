// PrefixCache: a radix tree over token ids whose edges are whole KV blocks,
// so a new prompt reuses the KV of the longest prefix any earlier request
// computed (RadixAttention / Hydragen / BatchLLM-style sharing).
//
// Keys: every tree hangs under a namespace (the model fingerprint, optionally
// mixed with an adapter id), so two models never share KV. A node stands for
// one FULL block of block_tokens tokens; its chained hash is
// HashCombine(parent hash, Hash64(block tokens)), the root's is the
// namespace. Children are found by chained hash and then their tokens are
// compared, so a hash collision can never hand out wrong KV.
//
// Ownership and pinning: the cache holds one reference on each cached block.
// Lookup() adds one more for the caller (the caller's BlockTable adopts it),
// so a block some sequence uses has ref count > 1 and is "pinned": eviction
// only removes LRU leaves whose block is held by the cache alone. Evicting a
// leaf may turn its parent into an evictable leaf.
//
// Budget: at most max_blocks cached blocks; Insert() evicts LRU unpinned
// leaves beyond it, and the engine calls Evict() when the pool runs dry.
// Recency is a logical tick (no clock), so behaviour is deterministic.
//
// Works over a simulated BlockPool (no memory) for tests and planning.
// Thread safety: none; owned by the engine's step thread.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/block_pool.h"

namespace chunkserve::kv {

struct PrefixMatch {
  std::vector<BlockId> blocks;  // one caller-owned reference each
  int64_t n_tokens = 0;         // blocks.size() * block_tokens
};

struct PrefixCacheStats {
  int64_t n_cached_blocks = 0;
  int64_t n_lookups = 0;
  int64_t n_hit_tokens = 0;
  int64_t n_inserted_blocks = 0;
  int64_t n_evicted_blocks = 0;
};

class PrefixCache {
 public:
  // REQUIRES: pool outlives the cache; max_blocks >= 0.
  PrefixCache(BlockPool* pool, int64_t max_blocks);
  ~PrefixCache();
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  // Longest cached prefix of `tokens` in whole blocks, under `ns`. Each
  // returned block carries a new reference for the caller. Touches the path
  // (LRU).
  PrefixMatch Lookup(uint64_t ns, std::span<const int32_t> tokens);

  // Caches the full blocks of a sequence: block i holds tokens
  // [i * B, (i + 1) * B). Only floor(tokens.size() / B) blocks are used
  // (REQUIRES: blocks.size() >= that). A block already cached for the same
  // tokens keeps the cached copy; new nodes take a reference on the caller's
  // block. Returns the number of newly cached blocks. Evicts beyond the budget.
  int64_t Insert(uint64_t ns, std::span<const int32_t> tokens, std::span<const BlockId> blocks);

  // Evicts up to n_blocks unpinned leaves, least recently used first.
  // Returns how many were evicted (fewer when the rest is pinned).
  int64_t Evict(int64_t n_blocks);

  // Drops everything unpinned (EvictAll) - pinned paths stay.
  int64_t EvictAll() { return Evict(INT64_MAX); }

  const PrefixCacheStats& stats() const { return stats_; }
  int64_t n_cached_blocks() const { return stats_.n_cached_blocks; }
  int64_t max_blocks() const { return max_blocks_; }
  void set_max_blocks(int64_t max_blocks);

 private:
  using NodeId = int32_t;
  struct Node {
    uint64_t hash = 0;
    NodeId parent = -1;
    BlockId block = -1;               // -1 for a namespace root
    std::vector<int32_t> tokens;      // block_tokens ids (empty for a root)
    uint64_t last_use = 0;
    std::unordered_map<uint64_t, NodeId> children;  // by chained hash
  };

  NodeId Root(uint64_t ns);
  NodeId FindChild(NodeId parent, uint64_t hash, std::span<const int32_t> tokens) const;
  bool Evictable(NodeId n) const;
  void RemoveLeaf(NodeId n);

  BlockPool* pool_;
  int64_t block_tokens_;
  int64_t max_blocks_;
  uint64_t tick_ = 0;
  std::vector<Node> nodes_;          // slots reused through free_nodes_
  std::vector<NodeId> free_nodes_;
  std::unordered_map<uint64_t, NodeId> roots_;  // by namespace
  PrefixCacheStats stats_;
};

}  // namespace chunkserve::kv
