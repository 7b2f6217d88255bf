#include "model/kv_cache.h"

#include "base/logging.h"

namespace chunkserve::model {

ContiguousKvCache::ContiguousKvCache(int n_layers, int64_t row_floats, int64_t capacity_tokens)
    : n_layers_(n_layers), row_floats_(row_floats), capacity_tokens_(capacity_tokens) {
  CHECK(n_layers > 0 && row_floats > 0 && capacity_tokens > 0);
  const size_t n = static_cast<size_t>(n_layers) * static_cast<size_t>(capacity_tokens * row_floats);
  k_.assign(n, 0.0f);
  v_.assign(n, 0.0f);
  for (int l = 0; l < n_layers; ++l) {
    k_block_ptrs_.push_back(k_.data() + static_cast<int64_t>(l) * capacity_tokens * row_floats);
    v_block_ptrs_.push_back(v_.data() + static_cast<int64_t>(l) * capacity_tokens * row_floats);
  }
}

float* ContiguousKvCache::KRow(int layer, int64_t slot) {
  CHECK(layer >= 0 && layer < n_layers_ && slot >= 0 && slot < capacity_tokens_);
  return k_.data() + (static_cast<int64_t>(layer) * capacity_tokens_ + slot) * row_floats_;
}

float* ContiguousKvCache::VRow(int layer, int64_t slot) {
  CHECK(layer >= 0 && layer < n_layers_ && slot >= 0 && slot < capacity_tokens_);
  return v_.data() + (static_cast<int64_t>(layer) * capacity_tokens_ + slot) * row_floats_;
}

kernels::KvBlocksView ContiguousKvCache::View(int layer) const {
  CHECK(layer >= 0 && layer < n_layers_);
  return kernels::KvBlocksView{
      .k_blocks = std::span<const float* const>(&k_block_ptrs_[static_cast<size_t>(layer)], 1),
      .v_blocks = std::span<const float* const>(&v_block_ptrs_[static_cast<size_t>(layer)], 1),
      .block_tokens = capacity_tokens_,
  };
}

}  // namespace chunkserve::model
