// RegularFile: reads a file for ingestion only if it is a plain file on a
// real file system.
//
// Ingestion walks directories that may hold anything: FIFOs (reading one
// blocks forever), devices, sockets, and symlinks into /proc or /sys whose
// "files" are the process's environment or kernel state. Open() refuses all
// of these *after* opening, on the descriptor itself (fstat / fstatfs), so a
// file swapped for something else between the directory walk and the read
// is still refused: the descriptor is opened with O_NONBLOCK (a FIFO cannot
// block the open) and, unless the caller resolved a symlink on purpose,
// O_NOFOLLOW.
//
// Errors: kFailedPrecondition for a special file (its message says which
// kind); kResourceExhausted when the file exceeds the byte cap; kNotFound /
// kIo from the operating system.
//
// Thread safety: one object per thread; distinct objects are independent.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace chunkserve::rag {

class RegularFile {
 public:
  // `follow_symlink`: when false a symlink as the last path component is
  // refused (kFailedPrecondition), as the walker already resolved it.
  static StatusOr<RegularFile> Open(const std::string& path, bool follow_symlink);
  RegularFile(RegularFile&& other) noexcept;
  RegularFile& operator=(RegularFile&& other) noexcept;
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  ~RegularFile();

  int64_t size_bytes() const { return size_bytes_; }
  // Appends up to `n` more bytes to *out (fewer at the end of the file).
  Status ReadSome(size_t n, std::string* out);
  // Appends the rest of the file; kResourceExhausted when *out would exceed
  // max_bytes (a file that grew past the cap while being read).
  Status ReadRest(int64_t max_bytes, std::string* out);

 private:
  RegularFile(int fd, int64_t size_bytes) : fd_(fd), size_bytes_(size_bytes) {}
  int fd_ = -1;
  int64_t size_bytes_ = 0;
};

// True when the file system holding `path` is a kernel pseudo file system
// (proc, sysfs, debugfs, tracefs, securityfs, cgroup, ...), whose files are
// never documents. False when it cannot be told.
bool IsPseudoFileSystem(const std::string& path);

}  // namespace chunkserve::rag
