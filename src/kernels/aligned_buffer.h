// AlignedBuffer: an owned, zero-initialised byte buffer aligned to 64 bytes
// (one cache line, one AVX-512 register), for packed weights and scratch.
// Buffers of several MiB are asked to live on transparent huge pages (Linux
// madvise; the kernel uses them for the 2 MiB-aligned stretches inside):
// decode streams the whole model every token, and 4 KiB pages cost a TLB miss
// every 4 KiB.
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

  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { Resize(bytes); }

  // Discards the contents; the new bytes are zero.
  void Resize(size_t bytes) {
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    data_.reset(rounded == 0 ? nullptr : static_cast<uint8_t*>(std::aligned_alloc(kAlignment, rounded)));
#if defined(__linux__)
    if (data_ && rounded >= kHugeThreshold) {
      // Advice only (whole 4 KiB pages inside the buffer): without THP the
      // buffer simply stays on small pages.
      const uintptr_t begin = (reinterpret_cast<uintptr_t>(data_.get()) + 4095) & ~uintptr_t{4095};
      const uintptr_t end = (reinterpret_cast<uintptr_t>(data_.get()) + rounded) & ~uintptr_t{4095};
      if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    }
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
