// KvCache: the keys and values of ONE sequence, as the forward pass sees them.
//
// The forward pass needs two things per layer: where to write the K and V rows
// of the slots it is computing now, and a KvBlocksView (kernels/attention.h) of all
// slots written so far to attend over. This interface is deliberately that
// small so the paged cache (kv/, block tables over a shared block pool) can
// implement it per sequence without the model knowing about blocks, sharing or
// eviction.
//
// A slot is a position in the sequence's cache (0, 1, 2, ...). It is usually,
// but not necessarily, the token's RoPE position: chunk reuse places cached
// chunks at slots whose positions it chose. A row holds n_kv_heads * head_dim
// values of type(): f32, bf16 (half the bytes; exact for bf16 attention,
// see kernels::StoreKvRow) or q8_0 (blocks of 32 along each head,
// tensor/kv_row.h; 53% of bf16); K rows are stored AFTER RoPE.
//
// Invariants: KRow/VRow of slot s in [0, capacity_tokens()) point at distinct,
// stable rows until the cache is resized or destroyed; View(layer) covers at
// least capacity_tokens() slots.
//
// Thread safety: none of its own. The forward pass writes disjoint rows from
// several threads and reads views while no one writes the same slots.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/attention.h"

namespace chunkserve::model {

class KvCache {
 public:
  virtual ~KvCache() = default;

  virtual int n_layers() const = 0;
  // Values per K (and per V) row: n_kv_heads * head_dim of the model.
  virtual int64_t row_floats() const = 0;
  // Type of every stored value: DType::kF32, kBF16 or kQ8_0.
  virtual DType type() const = 0;
  // Slots that can be written now; Forward refuses to write past them.
  virtual int64_t capacity_tokens() const = 0;

  // The raw row: row_floats() values of type() (KvRowBytes(type(), row_floats()) bytes).
  // REQUIRES: 0 <= layer < n_layers(), 0 <= slot < capacity_tokens().
  virtual void* KRow(int layer, int64_t slot) = 0;
  virtual void* VRow(int layer, int64_t slot) = 0;
  // A row from / to f32, in the cache's type (kernels::StoreKvRow, LoadKvRow).
  void StoreK(int layer, int64_t slot, const float* row);
  void StoreV(int layer, int64_t slot, const float* row);
  void LoadK(int layer, int64_t slot, float* row);
  void LoadV(int layer, int64_t slot, float* row);
  // REQUIRES: 0 <= layer < n_layers(). Valid until the next non-const call.
  virtual kernels::KvBlocksView View(int layer) const = 0;
};

// The simplest KvCache: one block of capacity_tokens rows per layer, of f32
// (the default), bf16 or q8_0 values. Used by the CLI generation loop, chunk
// cache fills, tests and the NumPy-reference comparison.
class ContiguousKvCache final : public KvCache {
 public:
  ContiguousKvCache(int n_layers, int64_t row_floats, int64_t capacity_tokens, DType type = DType::kF32);

  int n_layers() const override { return n_layers_; }
  int64_t row_floats() const override { return row_floats_; }
  DType type() const override { return type_; }
  int64_t capacity_tokens() const override { return capacity_tokens_; }
  void* KRow(int layer, int64_t slot) override;
  void* VRow(int layer, int64_t slot) override;
  // REQUIRES: type() == kF32.
  float* KRowF32(int layer, int64_t slot);
  float* VRowF32(int layer, int64_t slot);
  kernels::KvBlocksView View(int layer) const override;

  size_t bytes_used() const { return k_.size() + v_.size(); }

 private:
  int n_layers_;
  int64_t row_floats_;
  int64_t capacity_tokens_;
  DType type_;
  size_t row_bytes_;  // KvRowBytes(type_, row_floats_)
  size_t RowOffset(int layer, int64_t slot) const {
    return static_cast<size_t>(static_cast<int64_t>(layer) * capacity_tokens_ + slot) * row_bytes_;
  }
  std::vector<uint8_t> k_;  // (n_layers, capacity_tokens, row_floats) values of type_
  std::vector<uint8_t> v_;
  // One block pointer per layer, so View() can hand out spans into them.
  std::vector<const void*> k_block_ptrs_;
  std::vector<const void*> v_block_ptrs_;
};

}  // namespace chunkserve::model
