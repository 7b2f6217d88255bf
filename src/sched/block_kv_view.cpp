#include "sched/block_kv_view.h"

#include "base/logging.h"

namespace chunkserve::sched {

BlockKvView::BlockKvView(const kv::BlockTable* table)
    : pool_(table->pool()),
      blocks_(table->blocks().begin(), table->blocks().end()),
      n_blocks_(table->n_blocks()),
      k_ptrs_(static_cast<size_t>(pool_->n_layers())),
      v_ptrs_(static_cast<size_t>(pool_->n_layers())) {
  CHECK(!pool_->simulated());
  for (int l = 0; l < pool_->n_layers(); ++l) {
    auto& kp = k_ptrs_[static_cast<size_t>(l)];
    auto& vp = v_ptrs_[static_cast<size_t>(l)];
    kp.resize(blocks_.size());
    vp.resize(blocks_.size());
    for (size_t b = 0; b < blocks_.size(); ++b) {
      kp[b] = pool_->KRows(blocks_[b], l);
      vp[b] = pool_->VRows(blocks_[b], l);
    }
  }
}

float* BlockKvView::KRow(int layer, int64_t slot) {
  CHECK(slot >= 0 && slot < capacity_tokens());
  const int64_t bt = pool_->block_tokens();
  return pool_->KRows(blocks_[static_cast<size_t>(slot / bt)], layer) + (slot % bt) * pool_->row_floats();
}

float* BlockKvView::VRow(int layer, int64_t slot) {
  CHECK(slot >= 0 && slot < capacity_tokens());
  const int64_t bt = pool_->block_tokens();
  return pool_->VRows(blocks_[static_cast<size_t>(slot / bt)], layer) + (slot % bt) * pool_->row_floats();
}

kernels::KvBlocksView BlockKvView::View(int layer) const {
  CHECK(layer >= 0 && layer < pool_->n_layers());
  return kernels::KvBlocksView{
      .k_blocks = k_ptrs_[static_cast<size_t>(layer)],
      .v_blocks = v_ptrs_[static_cast<size_t>(layer)],
      .block_tokens = pool_->block_tokens(),
  };
}

}  // namespace chunkserve::sched
