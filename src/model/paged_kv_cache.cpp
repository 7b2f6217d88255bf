#include "model/paged_kv_cache.h"

#include "base/logging.h"

namespace chunkserve::model {

PagedKvCache::PagedKvCache(const kv::BlockTable* table)
    : table_(table),
      pool_(table->pool()),
      k_ptrs_(static_cast<size_t>(pool_->n_layers())),
      v_ptrs_(static_cast<size_t>(pool_->n_layers())) {
  CHECK(!pool_->simulated());
  Refresh();
}

void PagedKvCache::Refresh() {
  const auto blocks = table_->blocks();
  for (int l = 0; l < pool_->n_layers(); ++l) {
    auto& kp = k_ptrs_[static_cast<size_t>(l)];
    auto& vp = v_ptrs_[static_cast<size_t>(l)];
    kp.resize(blocks.size());
    vp.resize(blocks.size());
    for (size_t b = 0; b < blocks.size(); ++b) {
      kp[b] = pool_->KRows(blocks[b], l);
      vp[b] = pool_->VRows(blocks[b], l);
    }
  }
  n_blocks_seen_ = table_->n_blocks();
}

void* PagedKvCache::KRow(int layer, int64_t slot) {
  CHECK(slot >= 0 && slot < n_blocks_seen_ * pool_->block_tokens());
  const int64_t bt = pool_->block_tokens();
  auto* rows = static_cast<uint8_t*>(pool_->KRows(table_->blocks()[static_cast<size_t>(slot / bt)], layer));
  return rows + static_cast<size_t>(slot % bt) * pool_->row_bytes();
}

void* PagedKvCache::VRow(int layer, int64_t slot) {
  CHECK(slot >= 0 && slot < n_blocks_seen_ * pool_->block_tokens());
  const int64_t bt = pool_->block_tokens();
  auto* rows = static_cast<uint8_t*>(pool_->VRows(table_->blocks()[static_cast<size_t>(slot / bt)], layer));
  return rows + static_cast<size_t>(slot % bt) * pool_->row_bytes();
}

kernels::KvBlocksView PagedKvCache::View(int layer) const {
  CHECK(layer >= 0 && layer < pool_->n_layers());
  CHECK(n_blocks_seen_ == table_->n_blocks());  // Refresh() after growing
  return kernels::KvBlocksView{
      .k_blocks = k_ptrs_[static_cast<size_t>(layer)],
      .v_blocks = v_ptrs_[static_cast<size_t>(layer)],
      .block_tokens = pool_->block_tokens(),
      .type = pool_->type(),
  };
}

}  // namespace chunkserve::model
