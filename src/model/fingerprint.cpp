#include "model/fingerprint.h"

#include <algorithm>

#include "base/hash.h"

namespace chunkserve::model {

uint64_t FingerprintTensors(const gguf::GgufFile& file, uint64_t seed) {
  constexpr uint64_t kSampledBytes = 256;
  uint64_t h = seed;
  for (const gguf::TensorInfo& t : file.tensors()) {
    h = HashCombine(h, Hash64(t.name));
    const uint32_t type = static_cast<uint32_t>(t.type);
    h = HashCombine(h, Hash64(&type, sizeof(type)));
    h = HashCombine(h, Hash64(t.dims.data(), t.dims.size() * sizeof(int64_t)));
    h = HashCombine(h, Hash64(t.data, std::min(t.n_bytes, kSampledBytes)));
  }
  return h;
}

}  // namespace chunkserve::model
