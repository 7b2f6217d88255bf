#include "base/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace chunkserve {
namespace {

TEST(MappedFileTest, MapsWhatWasWrittenAtomically) {
  std::string path = ::testing::TempDir() + "/mapped_file_test.bin";
  std::string payload = "chunkserve\0bytes";
  ASSERT_TRUE(WriteFileAtomically(path, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}).ok());
  auto f = MappedFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()), f->size()), payload);
  MappedFile moved = std::move(*f);
  EXPECT_EQ(moved.size(), payload.size());
  std::remove(path.c_str());
}

TEST(MappedFileTest, MissingFileIsNotFound) {
  auto f = MappedFile::Open("/nonexistent/dir/file.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("/nonexistent/dir/file.gguf"), std::string::npos);
}

TEST(MappedFileTest, FromBytesOwnsACopy) {
  std::vector<uint8_t> v = {1, 2, 3};
  MappedFile f = MappedFile::FromBytes(v);
  v[0] = 9;
  EXPECT_EQ(f.data()[0], 1);
  MappedFile g = std::move(f);
  EXPECT_EQ(g.data()[2], 3);
}

}  // namespace
}  // namespace chunkserve
