// AlignedAllocator: a std::allocator that aligns to 64 bytes (one cache
// line), so index rows whose stride is a multiple of 64 start on a line.
#pragma once

#include <cstddef>
#include <new>

namespace chunkserve::rag {

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
};

}  // namespace chunkserve::rag
