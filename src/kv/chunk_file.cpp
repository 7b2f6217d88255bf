#include "kv/chunk_file.h"

#include <cstring>
#include <string>

#include "base/hash.h"
#include "base/logging.h"

namespace chunkserve::kv {
namespace {

constexpr char kMagic[8] = {'C', 'S', 'C', 'H', 'U', 'N', 'K', '\0'};
// Bounds that keep every size computation far from overflow.
constexpr int64_t kMaxTokens = int64_t{1} << 24;
constexpr int64_t kMaxRowFloats = int64_t{1} << 20;
constexpr uint32_t kMaxLayers = 4096;

template <typename T>
void Put(std::vector<uint8_t>& out, size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof(T));
}
template <typename T>
T Get(std::span<const uint8_t> in, size_t offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof(T));
  return value;
}

}  // namespace

std::vector<uint8_t> EncodeChunkFile(const ChunkKv& kv) {
  CHECK(kv.ShapeConsistent());
  const size_t n = kv.tokens.size();
  const size_t payload_bytes = n * sizeof(int32_t) + n * sizeof(float) + kv.k.size() + kv.v.size();
  std::vector<uint8_t> out(kChunkFileHeaderBytes + payload_bytes, 0);
  uint8_t* p = out.data() + kChunkFileHeaderBytes;
  auto append = [&p](const void* src, size_t bytes) {
    std::memcpy(p, src, bytes);
    p += bytes;
  };
  append(kv.tokens.data(), n * sizeof(int32_t));
  append(kv.scores.data(), n * sizeof(float));
  append(kv.k.data(), kv.k.size());
  append(kv.v.data(), kv.v.size());

  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  Put<uint32_t>(out, 8, kChunkFileVersion);
  Put<uint32_t>(out, 12, static_cast<uint32_t>(kChunkFileHeaderBytes));
  Put<uint64_t>(out, 16, kv.key.model_fingerprint);
  Put<uint64_t>(out, 24, kv.key.content_hash);
  Put<uint32_t>(out, 32, static_cast<uint32_t>(kv.n_layers));
  Put<uint32_t>(out, 36, static_cast<uint32_t>(kv.type));
  Put<int64_t>(out, 40, kv.row_floats);
  Put<int64_t>(out, 48, static_cast<int64_t>(n));
  Put<int64_t>(out, 56, kv.base_position);
  Put<uint64_t>(out, 64, payload_bytes);
  Put<uint64_t>(out, 72, Hash64(out.data() + kChunkFileHeaderBytes, payload_bytes, kChunkFileChecksumSeed));
  Put<uint64_t>(out, 80, Hash64(out.data(), 80, kChunkFileChecksumSeed));
  return out;
}

StatusOr<ChunkKv> DecodeChunkFile(std::span<const uint8_t> bytes, const ChunkKey& expected) {
  if (bytes.size() < kChunkFileHeaderBytes)
    return DataLossError("chunk file: " + std::to_string(bytes.size()) + " bytes, shorter than its header");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return DataLossError("chunk file: bad magic");
  if (Get<uint64_t>(bytes, 80) != Hash64(bytes.data(), 80, kChunkFileChecksumSeed))
    return DataLossError("chunk file: header checksum mismatch");
  const auto version = Get<uint32_t>(bytes, 8);
  if (version < 1 || version > kChunkFileVersion)
    return FailedPreconditionError("chunk file: layout version " + std::to_string(version) + ", expected " +
                                   std::to_string(kChunkFileVersion));
  if (Get<uint32_t>(bytes, 12) != kChunkFileHeaderBytes) return DataLossError("chunk file: bad header size");
  // Reserved fields are zero; anything else is damage. Version 1 reserved
  // the value type's field too (zero, f32).
  const auto value_type = Get<uint32_t>(bytes, 36);
  if (Get<uint64_t>(bytes, 88) != 0 || (version == 1 && value_type != 0))
    return DataLossError("chunk file: reserved header fields are not zero");
  const bool known = value_type == static_cast<uint32_t>(DType::kF32) || value_type == static_cast<uint32_t>(DType::kBF16) ||
                     (version >= 3 && value_type == static_cast<uint32_t>(DType::kQ8_0));
  if (!known)
    return DataLossError("chunk file: value type " + std::to_string(value_type) + " is not a KV type of version " +
                         std::to_string(version));
  ChunkKv kv;
  kv.type = static_cast<DType>(value_type);
  kv.key.model_fingerprint = Get<uint64_t>(bytes, 16);
  kv.key.content_hash = Get<uint64_t>(bytes, 24);
  if (kv.key.model_fingerprint != expected.model_fingerprint)
    return FailedPreconditionError("chunk file: written for model " + HashToHex(kv.key.model_fingerprint) +
                                   ", not " + HashToHex(expected.model_fingerprint));
  if (kv.key.content_hash != expected.content_hash)
    return FailedPreconditionError("chunk file: holds chunk " + HashToHex(kv.key.content_hash) + ", not " +
                                   HashToHex(expected.content_hash));
  const auto n_layers = Get<uint32_t>(bytes, 32);
  kv.row_floats = Get<int64_t>(bytes, 40);
  const auto n_tokens = Get<int64_t>(bytes, 48);
  kv.base_position = Get<int64_t>(bytes, 56);
  const auto payload_bytes = Get<uint64_t>(bytes, 64);
  if (n_layers == 0 || n_layers > kMaxLayers || kv.row_floats <= 0 || kv.row_floats > kMaxRowFloats ||
      n_tokens <= 0 || n_tokens > kMaxTokens || kv.base_position < 0 || kv.base_position > kMaxTokens ||
      (kv.type == DType::kQ8_0 && kv.row_floats % kKvQ8Block != 0))
    return DataLossError("chunk file: implausible shape");
  kv.n_layers = static_cast<int>(n_layers);
  const auto n = static_cast<uint64_t>(n_tokens);
  const uint64_t rows_bytes = uint64_t{n_layers} * n * static_cast<uint64_t>(kv.row_bytes());
  const uint64_t want_payload = n * sizeof(int32_t) + n * sizeof(float) + 2 * rows_bytes;
  if (payload_bytes != want_payload || bytes.size() != kChunkFileHeaderBytes + want_payload)
    return DataLossError("chunk file: payload of " + std::to_string(bytes.size() - kChunkFileHeaderBytes) +
                         " bytes, header says " + std::to_string(payload_bytes) + ", shape needs " +
                         std::to_string(want_payload));
  const uint8_t* p = bytes.data() + kChunkFileHeaderBytes;
  if (Get<uint64_t>(bytes, 72) != Hash64(p, payload_bytes, kChunkFileChecksumSeed))
    return DataLossError("chunk file: payload checksum mismatch");
  kv.tokens.resize(n);
  kv.scores.resize(n);
  kv.k.resize(rows_bytes);
  kv.v.resize(rows_bytes);
  auto take = [&p](void* dst, size_t n_bytes) {
    std::memcpy(dst, p, n_bytes);
    p += n_bytes;
  };
  take(kv.tokens.data(), n * sizeof(int32_t));
  take(kv.scores.data(), n * sizeof(float));
  take(kv.k.data(), rows_bytes);
  take(kv.v.data(), rows_bytes);
  return kv;
}

}  // namespace chunkserve::kv
