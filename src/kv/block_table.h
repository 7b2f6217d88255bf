// BlockTable: the blocks of ONE sequence, in slot order, holding one
// reference on each.
//
// Slot s of the sequence lives in blocks()[s / block_tokens] at row
// s % block_tokens. Blocks appended with AppendShared() are shared with the
// prefix cache or other sequences and must be treated as read-only (the
// prefix cache only hands out full blocks, so a sequence never needs to write
// into one). The table releases its references when destroyed or Clear()ed:
// a finished or failed request can never leak blocks.
//
// Thread safety: none (owned by one request on the engine's thread).
// REQUIRES: the pool outlives the table.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kv/block_pool.h"

namespace chunkserve::kv {

class BlockTable {
 public:
  explicit BlockTable(BlockPool* pool) : pool_(pool) {}
  ~BlockTable() { Clear(); }
  BlockTable(const BlockTable&) = delete;
  BlockTable& operator=(const BlockTable&) = delete;
  BlockTable(BlockTable&& other) noexcept;
  BlockTable& operator=(BlockTable&& other) noexcept;

  // Takes over one reference the caller already holds on `block` (e.g. from
  // PrefixCache::Lookup).
  void AdoptShared(BlockId block) { blocks_.push_back(block); }

  // Appends fresh blocks until capacity_tokens() >= n_tokens. Returns false
  // (having kept the blocks it got) when the pool runs dry; the caller may
  // evict and call again.
  bool Reserve(int64_t n_tokens);

  // Releases every reference.
  void Clear();

  std::span<const BlockId> blocks() const { return blocks_; }
  int64_t n_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t capacity_tokens() const { return n_blocks() * pool_->block_tokens(); }
  BlockPool* pool() const { return pool_; }

 private:
  BlockPool* pool_;
  std::vector<BlockId> blocks_;
};

}  // namespace chunkserve::kv
