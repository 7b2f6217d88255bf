// MappedFile: a read-only view of a whole file, memory-mapped.
//
// Model weights are used in place from the mapping (no copy); the kernel
// pages them in on first touch. A MappedFile can also own an in-memory buffer
// (FromBytes) so parsers run in tests without touching the file system.
//
// Thread safety: immutable after construction; the bytes may be read from any
// thread. Move-only; the mapping lives as long as the object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace chunkserve {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file maps to an empty span.
  static StatusOr<MappedFile> Open(const std::string& path);
  // Owns a copy of `bytes`; for tests and for fuzzing.
  static MappedFile FromBytes(std::span<const uint8_t> bytes, std::string name = "<memory>");

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  void Release();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;          // true: data_ is an mmap to munmap
  std::vector<uint8_t> owned_;   // FromBytes storage
  std::string path_;
};

// Reads a whole file into a string.
StatusOr<std::string> ReadFileToString(const std::string& path);
// Writes `data` to `path` atomically: a temporary file in the same directory,
// fsync, then rename over `path`.
Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> data);

}  // namespace chunkserve
