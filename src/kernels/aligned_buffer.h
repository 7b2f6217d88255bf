// AlignedBuffer: an owned, zero-initialised byte buffer aligned to 64 bytes
// (one cache line, one AVX-512 register), for packed weights and scratch;
// AlignedAllocator: the same placement for a std::vector (AlignedVector),
// for activations that kernels write with aligned streaming stores.
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
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace chunkserve::kernels {

inline constexpr size_t kBufferAlignment = 64;
inline constexpr size_t kHugeBufferThreshold = size_t{4} << 20;
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// Allocates `bytes` (rounded up to 64) with the placement above; nullptr
// when out of memory. Free with std::free. The bytes are not initialised.
inline void* AllocateAligned(size_t bytes) {
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  const bool huge = rounded >= kHugeBufferThreshold;
  void* p = nullptr;
  if (rounded == 0 || posix_memalign(&p, huge ? kHugePageBytes : kBufferAlignment, rounded) != 0) return nullptr;
#if defined(__linux__)
  // Advice only (whole 4 KiB pages): without THP the buffer simply stays on
  // small pages.
  if (huge) madvise(p, rounded / 4096 * 4096, MADV_HUGEPAGE);
#endif
  return p;
}

class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = kBufferAlignment;
  static constexpr size_t kHugeThreshold = kHugeBufferThreshold;
  static constexpr size_t kHugePage = kHugePageBytes;

  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { Resize(bytes); }

  // Discards the contents; the new bytes are zero.
  void Resize(size_t bytes) {
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    data_.reset(static_cast<uint8_t*>(AllocateAligned(bytes)));
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

// A std::allocator with AlignedBuffer's placement: 64-byte aligned, and
// huge pages for blocks of several MiB.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT: rebinding converts implicitly
  T* allocate(size_t n) {
    void* p = AllocateAligned(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  friend bool operator==(const AlignedAllocator&, const AlignedAllocator&) { return true; }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace chunkserve::kernels
