// KV compaction: a sequence's cache shrunk to the slots a KV policy keeps
// (StreamingLLM, SnapKV, H2O: sched/kv_policy.h decides, this moves the rows).
//
// Each (layer, KV head) keeps its own ascending list of n_keep slots, so
// heads may keep different tokens (SnapKV's per-head selection); kept row i
// of every list lands in slot i. Rows are copied, never re-rotated: a kept K
// keeps the RoPE position it was computed at, and tokens computed after a
// compaction carry their own positions (the scheduler passes them).
//
// Thread safety: none (the scheduler thread's).
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "kv/block_table.h"

namespace chunkserve::kv {

struct KeepSets {
  int n_layers = 0;
  int n_kv_heads = 0;
  int64_t n_keep = 0;
  // (n_layers, n_kv_heads, n_keep) source slots, ascending per list.
  std::vector<int64_t> slots;

  const int64_t* List(int layer, int head) const {
    return slots.data() + (static_cast<int64_t>(layer) * n_kv_heads + head) * n_keep;
  }
  int64_t* List(int layer, int head) {
    return slots.data() + (static_cast<int64_t>(layer) * n_kv_heads + head) * n_keep;
  }
};

// Every layer and head keeps the same slots.
KeepSets SameForAllHeads(int n_layers, int n_kv_heads, const std::vector<int64_t>& slots);

// The leading slots [0, n) that every list keeps in place (slot i at i):
// their blocks may stay shared.
int64_t KeptInPlace(const KeepSets& keep);

// Replaces `table`'s contents by the kept rows at slots [0, n_keep), in
// place, and releases the blocks past them. A block shared with another
// holder (ref count > 1, e.g. the prefix cache) is never written: it is
// replaced by a fresh copy unless all its rows stay where they are.
// ResourceExhausted when such a copy finds no free block: the table is then
// unchanged. InvalidArgument for lists that do not match the pool (layers,
// heads dividing row_floats) or slots outside the table.
Status Compact(const KeepSets& keep, BlockTable* table);

}  // namespace chunkserve::kv
