// PagedKvCache: model::KvCache over one sequence's kv::BlockTable, so the
// forward pass reads and writes KV straight in the shared block pool.
//
// Slot s is row s % B of block table[s / B] (B = the pool's block_tokens);
// View(layer) hands the attention kernel one pointer per block for that
// layer. capacity_tokens() is the table's capacity: grow the table (and call
// Refresh()) before running tokens past it.
//
// Blocks the table shares with the prefix cache are read-only by contract:
// the engine only computes slots past the shared prefix.
//
// Thread safety: as model::KvCache (none of its own).
// REQUIRES: table and pool outlive this object; the pool is not simulated.
#pragma once

#include <vector>

#include "kv/block_table.h"
#include "model/kv_cache.h"

namespace chunkserve::model {

class PagedKvCache final : public KvCache {
 public:
  explicit PagedKvCache(const kv::BlockTable* table);

  // Re-reads the table's blocks; call after it grew.
  void Refresh();

  int n_layers() const override { return pool_->n_layers(); }
  int64_t row_floats() const override { return pool_->row_floats(); }
  DType type() const override { return pool_->type(); }
  int64_t capacity_tokens() const override { return n_blocks_seen_ * pool_->block_tokens(); }
  void* KRow(int layer, int64_t slot) override;
  void* VRow(int layer, int64_t slot) override;
  kernels::KvBlocksView View(int layer) const override;

 private:
  const kv::BlockTable* table_;
  kv::BlockPool* pool_;
  int64_t n_blocks_seen_ = 0;
  // (n_layers, n_blocks) pointers, so View() hands out spans into them.
  std::vector<std::vector<const void*>> k_ptrs_;
  std::vector<std::vector<const void*>> v_ptrs_;
};

}  // namespace chunkserve::model
