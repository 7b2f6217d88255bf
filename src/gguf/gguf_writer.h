// GgufWriter: builds a GGUF v3 file (metadata, tensor infos, aligned data).
//
// Used by the converters and the fixture-model tool. Values are added in the
// order they should appear; tensors are laid out in the order added, each at
// an offset aligned to `general.alignment` (32 unless set). Write() goes to a
// temporary file and renames it, so a failed write never leaves a half file.
//
// Thread safety: none; one writer per thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "gguf/gguf_file.h"
#include "tensor/dtype.h"

namespace chunkserve::gguf {

class GgufWriter {
 public:
  void SetU32(std::string key, uint32_t v);
  void SetI32(std::string key, int32_t v);
  void SetU64(std::string key, uint64_t v);
  void SetF32(std::string key, float v);
  void SetBool(std::string key, bool v);
  void SetString(std::string key, std::string v);
  void SetStringArray(std::string key, std::vector<std::string> v);
  void SetF32Array(std::string key, std::vector<float> v);
  void SetI32Array(std::string key, std::vector<int32_t> v);
  // Any value, including nested arrays.
  void Set(std::string key, Value v);

  // `dims` in ggml order (dims[0] contiguous). `bytes` must hold exactly the
  // size the type and dims imply; otherwise an InvalidArgument error.
  Status AddTensor(std::string name, std::vector<int64_t> dims, DType type,
                   std::span<const uint8_t> bytes);
  Status AddTensorF32(std::string name, std::vector<int64_t> dims, std::span<const float> values);
  // Same as AddTensor, but takes the bytes without copying them (large
  // fixture models would otherwise be held twice).
  Status AddTensorBytes(std::string name, std::vector<int64_t> dims, DType type,
                        std::vector<uint8_t> bytes);

  size_t n_tensors() const { return tensors_.size(); }
  // The exact size Serialize() / Write() will produce.
  uint64_t FileBytes() const;

  // Serializes the whole file into memory / onto disk.
  std::vector<uint8_t> Serialize() const;
  Status Write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> dims;
    DType type;
    std::vector<uint8_t> bytes;
  };
  uint64_t Alignment() const;
  // Header, metadata and tensor infos, padded to the alignment: everything
  // before the first tensor byte.
  std::vector<uint8_t> SerializeHeader() const;

  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace chunkserve::gguf
