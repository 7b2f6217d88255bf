// BlockPool: fixed-size KV blocks carved out of one byte budget, ref counted.
//
// A block holds the K and V rows of `block_tokens` consecutive slots of one
// sequence for EVERY layer, laid out (n_layers, {K, V}, block_tokens,
// row_floats) in the pool's element type (tensor/kv_row.h: f32, bf16 at half
// the bytes, or q8_0 blocks of 32 at 53% of bf16),
// so one block id is all a block table needs and a layer's K (or V) rows
// inside a block are contiguous: exactly what kernels::KvBlocksView reads.
//
// Ref counts let many sequences and the prefix cache share a block without
// copies: Allocate() hands out a block with one reference; AddRef/Release
// move the count; a block whose count reaches 0 goes back to the free list.
// Running out of blocks is an expected outcome (std::nullopt), never a crash:
// the caller evicts from its caches or reports ResourceExhausted.
//
// A "simulated" pool does the same bookkeeping with no memory behind it
// (KRows/VRows return null), so caches above it run in tests at any size.
//
// Invariants: 0 <= n_free() <= n_blocks(); a block is on the free list iff
// its ref count is 0; memory of a block is stable for the pool's life.
// Thread safety: none; the engine's step thread owns the pool.
// REQUIRES (CHECKed, they are bugs): ids passed in are allocated blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"
#include "tensor/kv_row.h"

namespace chunkserve::kv {

using BlockId = int32_t;

struct BlockPoolOptions {
  int64_t block_tokens = 16;
  int n_layers = 0;
  int64_t row_floats = 0;    // values per K (and per V) row: n_kv_heads * head_dim
  DType type = DType::kF32;  // of every value: kF32, kBF16 or kQ8_0 (row_floats % 32 == 0)
  size_t budget_bytes = 0;   // n_blocks = budget_bytes / block_bytes (rounded down)
  bool simulated = false;    // bookkeeping only, no memory
};

class BlockPool {
 public:
  // InvalidArgument for non-positive shapes, another element type or a budget below one block;
  // ResourceExhausted if the memory cannot be reserved.
  static StatusOr<std::unique_ptr<BlockPool>> Create(const BlockPoolOptions& options);

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // A free block with ref count 1, or nullopt when every block is in use.
  std::optional<BlockId> Allocate();
  void AddRef(BlockId block);
  // Drops one reference; at 0 the block returns to the free list.
  void Release(BlockId block);
  int ref_count(BlockId block) const;

  int64_t n_blocks() const { return static_cast<int64_t>(ref_counts_.size()); }
  int64_t n_free() const { return static_cast<int64_t>(free_list_.size()); }
  int64_t n_used() const { return n_blocks() - n_free(); }
  int64_t block_tokens() const { return options_.block_tokens; }
  int n_layers() const { return options_.n_layers; }
  int64_t row_floats() const { return options_.row_floats; }
  DType type() const { return options_.type; }
  // Bytes of one K (or V) row: KvRowBytes(type(), row_floats()).
  size_t row_bytes() const { return row_bytes_; }
  size_t block_bytes() const { return 2 * static_cast<size_t>(options_.n_layers * options_.block_tokens) * row_bytes_; }
  bool simulated() const { return options_.simulated; }

  // First K (V) row of `layer` in `block`, values of type(); rows follow
  // contiguously, one per slot of the block. Null in a simulated pool.
  void* KRows(BlockId block, int layer);
  void* VRows(BlockId block, int layer);

 private:
  struct PrivateTag {};  // only Create constructs, yet make_unique works

 public:
  BlockPool(PrivateTag, const BlockPoolOptions& options, int64_t n_blocks);

 private:
  void CheckAllocated(BlockId block) const;

  BlockPoolOptions options_;
  size_t row_bytes_ = 0;
  std::unique_ptr<uint8_t[]> memory_;  // (n_blocks, block_bytes()); null when simulated
  std::vector<int32_t> ref_counts_;   // per block
  std::vector<BlockId> free_list_;    // LIFO: recently freed blocks are warm in cache
};

}  // namespace chunkserve::kv
