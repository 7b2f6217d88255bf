#include "kv/chunk_kv.h"

#include "base/hash.h"

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
  const size_t n = tokens.size();
  const size_t rows = static_cast<size_t>(n_layers) * n * static_cast<size_t>(row_floats);
  return scores.size() == n && k.size() == rows && v.size() == rows;
}

}  // namespace chunkserve::kv
