// BlockKvView: model::KvCache over one sequence's kv::BlockTable, so the
// batched forward pass reads and writes KV straight in the shared block pool.
//
// A private stand-in for engine/paged_kv_cache.h (same semantics): sched/
// sits below engine/ in the module order, so it cannot link cs_engine.
// Slot s is row s % B of block table[s / B]; the view is a snapshot of the
// table taken at construction (the scheduler reserves a step's capacity
// before building views).
//
// Thread safety: none (the scheduler thread's, per step).
// REQUIRES: the table and its pool outlive the view; the pool is not simulated.
#pragma once

#include <vector>

#include "kv/block_table.h"
#include "model/kv_cache.h"

namespace chunkserve::sched {

class BlockKvView final : public model::KvCache {
 public:
  explicit BlockKvView(const kv::BlockTable* table);

  int n_layers() const override { return pool_->n_layers(); }
  int64_t row_floats() const override { return pool_->row_floats(); }
  int64_t capacity_tokens() const override { return n_blocks_ * pool_->block_tokens(); }
  float* KRow(int layer, int64_t slot) override;
  float* VRow(int layer, int64_t slot) override;
  kernels::KvBlocksView View(int layer) const override;

 private:
  kv::BlockPool* pool_;
  std::vector<kv::BlockId> blocks_;
  int64_t n_blocks_ = 0;
  // (n_layers, n_blocks) row pointers, so View() hands out spans into them.
  std::vector<std::vector<const float*>> k_ptrs_;
  std::vector<std::vector<const float*>> v_ptrs_;
};

}  // namespace chunkserve::sched
