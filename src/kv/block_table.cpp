#include "kv/block_table.h"

#include <utility>

namespace chunkserve::kv {

BlockTable::BlockTable(BlockTable&& other) noexcept
    : pool_(other.pool_), blocks_(std::exchange(other.blocks_, {})) {}

BlockTable& BlockTable::operator=(BlockTable&& other) noexcept {
  if (this != &other) {
    Clear();
    pool_ = other.pool_;
    blocks_ = std::exchange(other.blocks_, {});
  }
  return *this;
}

bool BlockTable::Reserve(int64_t n_tokens) {
  while (capacity_tokens() < n_tokens) {
    const std::optional<BlockId> b = pool_->Allocate();
    if (!b) return false;
    blocks_.push_back(*b);
  }
  return true;
}

void BlockTable::Clear() {
  for (BlockId b : blocks_) pool_->Release(b);
  blocks_.clear();
}

}  // namespace chunkserve::kv
