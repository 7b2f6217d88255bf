#include "kv/kv_compaction.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace chunkserve::kv {

KeepSets SameForAllHeads(int n_layers, int n_kv_heads, const std::vector<int64_t>& slots) {
  KeepSets k;
  k.n_layers = n_layers;
  k.n_kv_heads = n_kv_heads;
  k.n_keep = static_cast<int64_t>(slots.size());
  k.slots.reserve(static_cast<size_t>(n_layers) * static_cast<size_t>(n_kv_heads) * slots.size());
  for (int i = 0; i < n_layers * n_kv_heads; ++i) k.slots.insert(k.slots.end(), slots.begin(), slots.end());
  return k;
}

int64_t KeptInPlace(const KeepSets& keep) {
  int64_t n = keep.n_keep;
  for (int l = 0; l < keep.n_layers; ++l)
    for (int h = 0; h < keep.n_kv_heads; ++h) {
      const int64_t* list = keep.List(l, h);
      int64_t i = 0;
      while (i < n && list[i] == i) ++i;
      n = i;
    }
  return n;
}

Status Compact(const KeepSets& keep, BlockTable* table) {
  BlockPool* pool = table->pool();
  const int64_t B = pool->block_tokens();
  if (keep.n_layers != pool->n_layers() || keep.n_kv_heads <= 0 || pool->row_floats() % keep.n_kv_heads != 0 ||
      keep.slots.size() != static_cast<size_t>(keep.n_layers) * static_cast<size_t>(keep.n_kv_heads) *
                               static_cast<size_t>(keep.n_keep))
    return InvalidArgumentError("kv compaction: keep sets do not match the pool");
  const int64_t capacity = table->capacity_tokens();
  for (int64_t s : keep.slots)
    if (s < 0 || s >= capacity)
      return InvalidArgumentError("kv compaction: slot " + std::to_string(s) + " outside the table");

  // Leading whole blocks kept in place stay; the rest of the kept rows go
  // to fresh blocks.
  const int64_t n_same_blocks = KeptInPlace(keep) / B;
  const std::span<const BlockId> old_blocks = table->blocks();
  BlockTable fresh(pool);
  for (int64_t b = 0; b < n_same_blocks; ++b) {
    pool->AddRef(old_blocks[static_cast<size_t>(b)]);
    fresh.AdoptShared(old_blocks[static_cast<size_t>(b)]);
  }
  if (!fresh.Reserve(keep.n_keep)) return ResourceExhaustedError("kv compaction: no free KV blocks");
  if (!pool->simulated()) {
    const std::span<const BlockId> new_blocks = fresh.blocks();
    const int64_t row_floats = pool->row_floats();
    const int64_t head_values = row_floats / keep.n_kv_heads;
    const size_t head_bytes = static_cast<size_t>(head_values) * pool->value_bytes();
    const size_t row_bytes = static_cast<size_t>(row_floats) * pool->value_bytes();
    auto row = [&](void* rows, int64_t slot_in_block, int head) {
      return static_cast<uint8_t*>(rows) + static_cast<size_t>(slot_in_block) * row_bytes +
             static_cast<size_t>(head) * head_bytes;
    };
    for (int l = 0; l < keep.n_layers; ++l)
      for (int h = 0; h < keep.n_kv_heads; ++h) {
        const int64_t* list = keep.List(l, h);
        for (int64_t i = n_same_blocks * B; i < keep.n_keep; ++i) {
          const BlockId from = old_blocks[static_cast<size_t>(list[i] / B)];
          const BlockId to = new_blocks[static_cast<size_t>(i / B)];
          std::memcpy(row(pool->KRows(to, l), i % B, h), row(pool->KRows(from, l), list[i] % B, h), head_bytes);
          std::memcpy(row(pool->VRows(to, l), i % B, h), row(pool->VRows(from, l), list[i] % B, h), head_bytes);
        }
      }
  }
  *table = std::move(fresh);
  return Status::Ok();
}

}  // namespace chunkserve::kv
