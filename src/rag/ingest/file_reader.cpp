#include "rag/ingest/file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace chunkserve::rag {
namespace {

// f_type values of kernel pseudo file systems (linux/magic.h).
bool IsPseudoFsType(long type) {
  switch (static_cast<unsigned long>(type)) {
    case 0x9fa0UL:      // proc
    case 0x62656572UL:  // sysfs
    case 0x64626720UL:  // debugfs
    case 0x74726163UL:  // tracefs
    case 0x73636673UL:  // securityfs
    case 0x27e0ebUL:    // cgroup
    case 0x63677270UL:  // cgroup2
    case 0x1cd1UL:      // devpts
    case 0x42494e4dUL:  // binfmt_misc
    case 0xcafe4a11UL:  // bpf
    case 0x6165676cUL:  // pstore
    case 0xde5e81e4UL:  // efivarfs
    case 0x50495045UL:  // pipefs
    case 0x534f434bUL:  // sockfs
      return true;
    default:
      return false;
  }
}

std::string KindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symlink";
  return "not a regular file";
}

}  // namespace

bool IsPseudoFileSystem(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return false;
  return IsPseudoFsType(static_cast<long>(fs.f_type));
}

StatusOr<RegularFile> RegularFile::Open(const std::string& path, bool follow_symlink) {
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  if (!follow_symlink) flags |= O_NOFOLLOW;
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    const int e = errno;
    if (e == ELOOP) return FailedPreconditionError("'" + path + "' is a symlink");
    if (e == ENOENT) return NotFoundError("'" + path + "' does not exist");
    return IoError("cannot open '" + path + "': " + std::strerror(e));
  }
  RegularFile file(fd, 0);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return IoError("cannot stat '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return FailedPreconditionError("'" + path + "' is " + KindOf(st.st_mode));
  struct statfs fs {};
  if (::fstatfs(fd, &fs) == 0 && IsPseudoFsType(static_cast<long>(fs.f_type)))
    return FailedPreconditionError("'" + path + "' is on a kernel pseudo file system (/proc, /sys, ...)");
  // Regular files never block; reads should not see EAGAIN from here on.
  (void)::fcntl(fd, F_SETFL, O_RDONLY);
  file.size_bytes_ = static_cast<int64_t>(st.st_size);
  return file;
}

RegularFile::RegularFile(RegularFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_bytes_(other.size_bytes_) {}

RegularFile& RegularFile::operator=(RegularFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_bytes_ = other.size_bytes_;
  }
  return *this;
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status RegularFile::ReadSome(size_t n, std::string* out) {
  const size_t old = out->size();
  out->resize(old + n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd_, out->data() + old + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      out->resize(old + got);
      return IoError(std::string("read: ") + std::strerror(errno));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out->resize(old + got);
  return Status::Ok();
}

Status RegularFile::ReadRest(int64_t max_bytes, std::string* out) {
  constexpr size_t kStep = 1 << 16;
  if (size_bytes_ > static_cast<int64_t>(out->size())) out->reserve(static_cast<size_t>(size_bytes_));
  while (true) {
    const size_t before = out->size();
    RETURN_IF_ERROR(ReadSome(kStep, out));
    if (static_cast<int64_t>(out->size()) > max_bytes)
      return ResourceExhaustedError("file is larger than " + std::to_string(max_bytes) + " bytes");
    if (out->size() - before < kStep) return Status::Ok();
  }
}

}  // namespace chunkserve::rag
