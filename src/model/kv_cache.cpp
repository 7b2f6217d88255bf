#include "model/kv_cache.h"

#include "base/logging.h"

namespace chunkserve::model {

void KvCache::StoreK(int layer, int64_t slot, const float* row) {
  kernels::StoreKvRow(row, row_floats(), type(), KRow(layer, slot));
}
void KvCache::StoreV(int layer, int64_t slot, const float* row) {
  kernels::StoreKvRow(row, row_floats(), type(), VRow(layer, slot));
}
void KvCache::LoadK(int layer, int64_t slot, float* row) {
  kernels::LoadKvRow(KRow(layer, slot), row_floats(), type(), row);
}
void KvCache::LoadV(int layer, int64_t slot, float* row) {
  kernels::LoadKvRow(VRow(layer, slot), row_floats(), type(), row);
}

ContiguousKvCache::ContiguousKvCache(int n_layers, int64_t row_floats, int64_t capacity_tokens, DType type)
    : n_layers_(n_layers),
      row_floats_(row_floats),
      capacity_tokens_(capacity_tokens),
      type_(type),
      row_bytes_(KvRowBytes(type, row_floats)) {
  CHECK(n_layers > 0 && row_floats > 0 && capacity_tokens > 0);
  const size_t n = static_cast<size_t>(n_layers) * static_cast<size_t>(capacity_tokens) * row_bytes_;
  // Zero bytes are 0.0 in every type (q8_0: d = 0); vector storage is aligned for floats.
  k_.assign(n, 0);
  v_.assign(n, 0);
  for (int l = 0; l < n_layers; ++l) {
    k_block_ptrs_.push_back(KRow(l, 0));
    v_block_ptrs_.push_back(VRow(l, 0));
  }
}

void* ContiguousKvCache::KRow(int layer, int64_t slot) {
  CHECK(layer >= 0 && layer < n_layers_ && slot >= 0 && slot < capacity_tokens_);
  return k_.data() + RowOffset(layer, slot);
}

void* ContiguousKvCache::VRow(int layer, int64_t slot) {
  CHECK(layer >= 0 && layer < n_layers_ && slot >= 0 && slot < capacity_tokens_);
  return v_.data() + RowOffset(layer, slot);
}

float* ContiguousKvCache::KRowF32(int layer, int64_t slot) {
  CHECK(type_ == DType::kF32);
  return static_cast<float*>(KRow(layer, slot));
}

float* ContiguousKvCache::VRowF32(int layer, int64_t slot) {
  CHECK(type_ == DType::kF32);
  return static_cast<float*>(VRow(layer, slot));
}

kernels::KvBlocksView ContiguousKvCache::View(int layer) const {
  CHECK(layer >= 0 && layer < n_layers_);
  return kernels::KvBlocksView{
      .k_blocks = std::span<const void* const>(&k_block_ptrs_[static_cast<size_t>(layer)], 1),
      .v_blocks = std::span<const void* const>(&v_block_ptrs_[static_cast<size_t>(layer)], 1),
      .block_tokens = capacity_tokens_,
      .type = type_,
  };
}

}  // namespace chunkserve::model
