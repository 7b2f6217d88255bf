#include "kv/block_pool.h"

#include <new>
#include <string>

#include "base/logging.h"

namespace chunkserve::kv {

StatusOr<std::unique_ptr<BlockPool>> BlockPool::Create(const BlockPoolOptions& options) {
  if (options.block_tokens <= 0 || options.n_layers <= 0 || options.row_floats <= 0)
    return InvalidArgumentError("kv: block pool needs positive block_tokens, n_layers and row_floats");
  if (!IsKvType(options.type))
    return InvalidArgumentError("kv: block pool values are f32, bf16 or q8_0, not " + std::string(DTypeName(options.type)));
  if (options.type == DType::kQ8_0 && options.row_floats % kKvQ8Block != 0)
    return InvalidArgumentError("kv: q8_0 rows need a multiple of 32 values, not " + std::to_string(options.row_floats));
  const size_t block_bytes = static_cast<size_t>(options.n_layers) * 2 *
                             static_cast<size_t>(options.block_tokens) * KvRowBytes(options.type, options.row_floats);
  const size_t n_blocks = options.budget_bytes / block_bytes;
  if (n_blocks == 0)
    return InvalidArgumentError("kv: budget of " + std::to_string(options.budget_bytes) +
                                " bytes is below one block of " + std::to_string(block_bytes) + " bytes");
  if (n_blocks > static_cast<size_t>(INT32_MAX))
    return InvalidArgumentError("kv: too many blocks for 32-bit block ids");
  auto pool = std::make_unique<BlockPool>(PrivateTag{}, options, static_cast<int64_t>(n_blocks));
  if (!options.simulated) {
    // Not value-initialised: pages are touched only when a block is first
    // written, so a large budget costs nothing until it is used.
    try {
      pool->memory_ = std::make_unique_for_overwrite<uint8_t[]>(n_blocks * block_bytes);
    } catch (const std::bad_alloc&) {
      return ResourceExhaustedError("kv: cannot reserve " + std::to_string(n_blocks * block_bytes) +
                                    " bytes for the block pool");
    }
  }
  return pool;
}

BlockPool::BlockPool(PrivateTag, const BlockPoolOptions& options, int64_t n_blocks)
    : options_(options),
      row_bytes_(KvRowBytes(options.type, options.row_floats)),
      ref_counts_(static_cast<size_t>(n_blocks), 0) {
  free_list_.reserve(static_cast<size_t>(n_blocks));
  // Lowest ids on top of the stack, so allocation order is 0, 1, 2, ...
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_list_.push_back(static_cast<BlockId>(b));
}

std::optional<BlockId> BlockPool::Allocate() {
  if (free_list_.empty()) return std::nullopt;
  const BlockId b = free_list_.back();
  free_list_.pop_back();
  ref_counts_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::CheckAllocated(BlockId block) const {
  CHECK_MSG(block >= 0 && block < n_blocks(), "kv: block id out of range");
  CHECK_MSG(ref_counts_[static_cast<size_t>(block)] > 0, "kv: block is free");
}

void BlockPool::AddRef(BlockId block) {
  CheckAllocated(block);
  ++ref_counts_[static_cast<size_t>(block)];
}

void BlockPool::Release(BlockId block) {
  CheckAllocated(block);
  if (--ref_counts_[static_cast<size_t>(block)] == 0) free_list_.push_back(block);
}

int BlockPool::ref_count(BlockId block) const {
  CHECK(block >= 0 && block < n_blocks());
  return ref_counts_[static_cast<size_t>(block)];
}

void* BlockPool::KRows(BlockId block, int layer) {
  CheckAllocated(block);
  CHECK(layer >= 0 && layer < options_.n_layers);
  if (!memory_) return nullptr;
  const size_t layer_bytes = 2 * static_cast<size_t>(options_.block_tokens) * row_bytes_;
  return memory_.get() + static_cast<size_t>(block) * block_bytes() + static_cast<size_t>(layer) * layer_bytes;
}

void* BlockPool::VRows(BlockId block, int layer) {
  auto* k = static_cast<uint8_t*>(KRows(block, layer));
  return k ? k + static_cast<size_t>(options_.block_tokens) * row_bytes_ : nullptr;
}

}  // namespace chunkserve::kv
