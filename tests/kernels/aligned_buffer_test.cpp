// AlignedBuffer: alignment, zero fill, and the 2 MiB start of large buffers
// that lets transparent huge pages cover all of them.
#include "kernels/aligned_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace chunkserve::kernels {
namespace {

TEST(AlignedBufferTest, SmallBuffersAreCacheLineAlignedAndZero) {
  for (size_t bytes : {size_t{1}, size_t{63}, size_t{4096}, AlignedBuffer::kHugeThreshold - 1}) {
    AlignedBuffer b(bytes);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % AlignedBuffer::kAlignment, 0u) << bytes;
    EXPECT_EQ(b.size(), bytes);
    for (size_t i = 0; i < bytes; i += 997) ASSERT_EQ(b.data()[i], 0) << bytes;
  }
  AlignedBuffer empty(0);
  EXPECT_EQ(empty.data(), nullptr);
}

TEST(AlignedBufferTest, LargeBuffersStartOnAHugePage) {
  for (size_t bytes : {AlignedBuffer::kHugeThreshold, AlignedBuffer::kHugeThreshold + 12345, size_t{9} << 20}) {
    AlignedBuffer b(bytes);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % AlignedBuffer::kHugePage, 0u) << bytes;
    EXPECT_EQ(b.size(), bytes);
    EXPECT_EQ(b.data()[0], 0);
    EXPECT_EQ(b.data()[bytes - 1], 0);
    b.data()[bytes - 1] = 7;  // the whole size is writable
  }
}

}  // namespace
}  // namespace chunkserve::kernels
