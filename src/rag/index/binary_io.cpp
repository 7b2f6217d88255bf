#include "rag/index/binary_io.h"

#include "base/hash.h"

namespace chunkserve::rag {

namespace {
constexpr uint64_t kChecksumSeed = 0x63736964785f7631ull;  // "csidx_v1"
}

std::vector<uint8_t>& BinaryWriter::Finish() {
  const uint64_t sum = Hash64(bytes_.data(), bytes_.size(), kChecksumSeed);
  Put(sum);
  return bytes_;
}

StatusOr<BinaryReader> BinaryReader::Open(std::span<const uint8_t> file_bytes, std::string name) {
  if (file_bytes.size() < sizeof(uint64_t))
    return DataLossError(name + ": file too short (" + std::to_string(file_bytes.size()) + " bytes)");
  const size_t payload = file_bytes.size() - sizeof(uint64_t);
  uint64_t stored = 0;
  std::memcpy(&stored, file_bytes.data() + payload, sizeof(stored));
  const uint64_t actual = Hash64(file_bytes.data(), payload, kChecksumSeed);
  if (stored != actual) return DataLossError(name + ": checksum mismatch (file is corrupt or truncated)");
  return BinaryReader(file_bytes.subspan(0, payload), std::move(name));
}

bool BinaryReader::Expect(std::string_view magic) {
  if (!Need(magic.size())) return false;
  if (std::memcmp(data_.data() + pos_, magic.data(), magic.size()) != 0) {
    Fail("bad magic (not a " + std::string(magic) + " file)");
    return false;
  }
  pos_ += magic.size();
  return true;
}

}  // namespace chunkserve::rag
