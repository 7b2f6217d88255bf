// AlignedBuffer: an owned, zero-initialised byte buffer aligned to 64 bytes
// (one cache line, one AVX-512 register), for packed weights and scratch.
//
// Thread safety: none; a const buffer may be read concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace chunkserve::kernels {

class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { Resize(bytes); }

  // Discards the contents; the new bytes are zero.
  void Resize(size_t bytes) {
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    data_.reset(rounded == 0 ? nullptr : static_cast<uint8_t*>(std::aligned_alloc(kAlignment, rounded)));
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
