// ChunkKv: the position-independent KV of one chunk, as the chunk cache
// stores it.
//
// Contract of the stored values (the engine relies on it):
//   * The chunk was computed as the sequence [lead-in tokens][chunk tokens]
//     at slots and RoPE positions 0, 1, 2, ...; so chunk token i sat at
//     position base_position + i with base_position = lead-in length.
//   * k holds each layer's K rows AFTER RoPE at those positions; reusing the
//     chunk at position p re-rotates row i by (p - base_position - i), which
//     is exact because RoPE rotations compose. v holds V rows (no RoPE).
//   * scores[i] ranks how much token i's KV depends on what precedes the
//     chunk (higher = recompute first; see engine/chunk_reuse.h for the
//     signal). Only the order matters.
// Layouts: k, v are (n_layers, n_tokens, row_floats) values of `type`
// (tensor/kv_row.h): f32, bf16 or q8_0 (entries built from a bf16 or q8_0
// KV cache store its rows as they are: half, or 27%, of f32's bytes in RAM
// and on disk).
//
// Key: (model fingerprint, content hash) where content hash =
// ChunkContentHash(lead-in, chunk tokens); the tokens are stored too, so a
// hash collision is detected, never trusted.
//
// Thread safety: immutable once built; shared as shared_ptr<const ChunkKv>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/kv_row.h"

namespace chunkserve::kv {

struct ChunkKey {
  uint64_t model_fingerprint = 0;
  uint64_t content_hash = 0;
  bool operator==(const ChunkKey&) const = default;
};

struct ChunkKeyHash {
  size_t operator()(const ChunkKey& k) const {
    return static_cast<size_t>(k.model_fingerprint * 0x9E3779B97F4A7C15ull ^ k.content_hash);
  }
};

// Hash of the lead-in and the chunk's tokens, in that order; a different
// lead-in gives a different KV, so it is part of the key.
uint64_t ChunkContentHash(std::span<const int32_t> lead_in, std::span<const int32_t> tokens);

struct ChunkKv {
  ChunkKey key;
  int n_layers = 0;
  int64_t row_floats = 0;
  int64_t base_position = 0;
  DType type = DType::kF32;     // of the K and V values: kF32, kBF16 or kQ8_0
  std::vector<int32_t> tokens;  // the chunk's tokens (not the lead-in)
  std::vector<float> scores;    // (n_tokens,)
  std::vector<uint8_t> k;       // (n_layers, n_tokens, row_floats) values, post-RoPE
  std::vector<uint8_t> v;       // (n_layers, n_tokens, row_floats) values

  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
  // Bytes of one K (or V) row: KvRowBytes(type, row_floats).
  size_t row_bytes() const { return KvRowBytes(type, row_floats); }
  // Row i of `layer`, row_floats values of `type`.
  const void* KRow(int layer, int64_t i) const { return k.data() + RowOffset(layer, i); }
  const void* VRow(int layer, int64_t i) const { return v.data() + RowOffset(layer, i); }
  // The same rows widened to f32 (exact; q8_0 gives d * q).
  void LoadKRow(int layer, int64_t i, float* out) const;
  void LoadVRow(int layer, int64_t i, float* out) const;
  // Sets type = kF32 and the rows from f32 values (tests, tools).
  void AssignF32(std::span<const float> k_values, std::span<const float> v_values);
  // RAM the entry occupies (payload only).
  size_t bytes() const {
    return tokens.size() * sizeof(int32_t) + scores.size() * sizeof(float) + k.size() + v.size();
  }
  // True when the type is a KV type whose blocks fit row_floats (q8_0: a
  // multiple of 32) and the vectors agree with the shape.
  bool ShapeConsistent() const;

 private:
  size_t RowOffset(int layer, int64_t i) const {
    return static_cast<size_t>(static_cast<int64_t>(layer) * n_tokens() + i) * row_bytes();
  }
};

}  // namespace chunkserve::kv
