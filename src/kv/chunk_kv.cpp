#include "kv/chunk_kv.h"

#include <cstring>

#include "base/hash.h"
#include "tensor/half.h"

namespace chunkserve::kv {

uint64_t ChunkContentHash(std::span<const int32_t> lead_in, std::span<const int32_t> tokens) {
  // Lengths go in too, so moving a token across the boundary changes the key.
  const uint64_t sizes[2] = {lead_in.size(), tokens.size()};
  uint64_t h = Hash64(sizes, sizeof(sizes), 0x43484E4Bull);  // "CHNK"
  h = HashCombine(h, Hash64Span(lead_in));
  return HashCombine(h, Hash64Span(tokens));
}

bool ChunkKv::ShapeConsistent() const {
  if (n_layers <= 0 || row_floats <= 0 || tokens.empty() || base_position < 0) return false;
  if (!IsKvType(type) || (type == DType::kQ8_0 && row_floats % kKvQ8Block != 0)) return false;
  const size_t n = tokens.size();
  const size_t bytes = static_cast<size_t>(n_layers) * n * row_bytes();
  return scores.size() == n && k.size() == bytes && v.size() == bytes;
}

namespace {
void LoadRow(const void* row, int64_t n, DType type, float* out) {
  if (type == DType::kQ8_0) {
    DequantizeQ8_0KvRow(row, n, out);
  } else {
    WidenToF32(row, n, type == DType::kBF16, out);
  }
}
}  // namespace

void ChunkKv::LoadKRow(int layer, int64_t i, float* out) const { LoadRow(KRow(layer, i), row_floats, type, out); }
void ChunkKv::LoadVRow(int layer, int64_t i, float* out) const { LoadRow(VRow(layer, i), row_floats, type, out); }

void ChunkKv::AssignF32(std::span<const float> k_values, std::span<const float> v_values) {
  type = DType::kF32;
  k.resize(k_values.size_bytes());
  v.resize(v_values.size_bytes());
  std::memcpy(k.data(), k_values.data(), k_values.size_bytes());
  std::memcpy(v.data(), v_values.data(), v_values.size_bytes());
}

}  // namespace chunkserve::kv
