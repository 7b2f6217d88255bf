#include "kv/kv_compaction.h"

#include <algorithm>
#include <cstring>
#include <optional>
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

  // In place: kept row i moves down to slot i (keep[i] >= i, lists
  // ascending, so no source row is overwritten before it is read), except
  // in blocks shared with another holder (the prefix cache), which get a
  // fresh copy instead.
  const int64_t n_dest = (keep.n_keep + B - 1) / B;
  const int64_t in_place = KeptInPlace(keep);
  const std::span<const BlockId> old_blocks = table->blocks();
  std::vector<BlockId> dest(old_blocks.begin(), old_blocks.begin() + n_dest);
  std::vector<bool> copied(static_cast<size_t>(n_dest), false);
  for (int64_t b = 0; b < n_dest; ++b) {
    if ((b + 1) * B <= in_place || pool->ref_count(dest[static_cast<size_t>(b)]) == 1) continue;
    const std::optional<BlockId> id = pool->Allocate();
    if (!id) {
      for (int64_t c = 0; c < b; ++c)
        if (copied[static_cast<size_t>(c)]) pool->Release(dest[static_cast<size_t>(c)]);
      return ResourceExhaustedError("kv compaction: no free KV block to copy a shared one");
    }
    dest[static_cast<size_t>(b)] = *id;
    copied[static_cast<size_t>(b)] = true;
  }
  if (!pool->simulated()) {
    const int64_t row_floats = pool->row_floats();
    const int64_t head_values = row_floats / keep.n_kv_heads;
    // Whole heads move as bytes (a q8_0 head is whole blocks of 32): lossless.
    const size_t head_bytes = KvRowBytes(pool->type(), head_values);
    const size_t row_bytes = pool->row_bytes();
    auto row = [&](void* rows, int64_t slot_in_block, int head) {
      return static_cast<uint8_t*>(rows) + static_cast<size_t>(slot_in_block) * row_bytes +
             static_cast<size_t>(head) * head_bytes;
    };
    for (int l = 0; l < keep.n_layers; ++l)
      for (int h = 0; h < keep.n_kv_heads; ++h) {
        const int64_t* list = keep.List(l, h);
        for (int64_t i = 0; i < keep.n_keep; ++i) {
          if (list[i] == i && !copied[static_cast<size_t>(i / B)]) continue;  // already there
          const BlockId from = old_blocks[static_cast<size_t>(list[i] / B)];
          const BlockId to = dest[static_cast<size_t>(i / B)];
          std::memcpy(row(pool->KRows(to, l), i % B, h), row(pool->KRows(from, l), list[i] % B, h), head_bytes);
          std::memcpy(row(pool->VRows(to, l), i % B, h), row(pool->VRows(from, l), list[i] % B, h), head_bytes);
        }
      }
  }
  BlockTable fresh(pool);
  for (int64_t b = 0; b < n_dest; ++b) {
    if (!copied[static_cast<size_t>(b)]) pool->AddRef(dest[static_cast<size_t>(b)]);
    fresh.AdoptShared(dest[static_cast<size_t>(b)]);
  }
  *table = std::move(fresh);
  return Status::Ok();
}

}  // namespace chunkserve::kv
