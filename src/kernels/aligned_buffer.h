// AlignedBuffer: an owned, zero-initialised byte buffer aligned to 64 bytes
// (one cache line, one AVX-512 register), for packed weights and scratch.
// Buffers of several MiB start on a 2 MiB boundary, span whole 2 MiB pages
// and are asked to live on transparent huge pages (Linux madvise): decode
// streams the whole model every token, and 4 KiB pages cost a TLB miss every
// 4 KiB. The 2 MiB start matters: with 64-byte alignment only the 2 MiB
// aligned stretches inside a buffer could be huge, which for the 4-10 MiB
// matrices of a small model left about half the weights on small pages. The
// size is not padded to 2 MiB (no memory is wasted); the last partial 2 MiB
// of a buffer stays on small pages.
//
// Thread safety: none; a const buffer may be read concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace chunkserve::kernels {

class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kHugeThreshold = size_t{4} << 20;
  static constexpr size_t kHugePage = size_t{2} << 20;

  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { Resize(bytes); }

  // Discards the contents; the new bytes are zero.
  void Resize(size_t bytes) {
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    const bool huge = rounded >= kHugeThreshold;
    void* p = nullptr;
    if (rounded != 0 && posix_memalign(&p, huge ? kHugePage : kAlignment, rounded) != 0) p = nullptr;
    data_.reset(static_cast<uint8_t*>(p));
#if defined(__linux__)
    // Advice only (whole 4 KiB pages): without THP the buffer simply stays
    // on small pages.
    if (data_ && huge) madvise(data_.get(), rounded / 4096 * 4096, MADV_HUGEPAGE);
#endif
    if (data_) std::memset(data_.get(), 0, rounded);
    size_ = bytes;
  }
  // Keeps the buffer when it is already large enough (scratch reuse).
  void EnsureSize(size_t bytes) {
    if (bytes > size_) Resize(bytes);
  }

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t[], Free> data_;
  size_t size_ = 0;
};

}  // namespace chunkserve::kernels
