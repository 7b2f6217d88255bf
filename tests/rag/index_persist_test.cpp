// Save / load round trips and corrupt-file rejection for both indexes.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <fstream>

#include "base/mapped_file.h"
#include "rag/index/flat_index.h"
#include "rag/index/hnsw_index.h"
#include "rag/index_test_util.h"
#include "rag/test_dir.h"

namespace chunkserve::rag {
namespace {

constexpr int kDim = 16;

std::unique_ptr<VectorIndex> MakeIndex(bool hnsw, VectorEncoding enc, int reduced) {
  const auto data = ClusteredData(500, kDim, 5, 3);
  std::vector<int64_t> ids(500);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i);
  std::unique_ptr<VectorIndex> index;
  if (hnsw) {
    HnswParams p;
    p.encoding = enc;
    p.reduced_dim = reduced;
    p.m = 8;
    index = std::make_unique<HnswIndex>(kDim, p);
  } else {
    index = std::make_unique<FlatIndex>(kDim, Metric::kCosine);
  }
  EXPECT_TRUE(index->AddBatch(ids, data).ok());
  for (int64_t id = 0; id < 40; id += 2) index->Remove(id);  // tombstones in the file
  return index;
}

void ExpectSameResults(const VectorIndex& a, const VectorIndex& b) {
  const auto queries = ClusteredData(20, kDim, 5, 4);
  for (size_t q = 0; q < 20; ++q) {
    std::span<const float> query(&queries[q * kDim], kDim);
    auto ra = a.Search(query, {10});
    auto rb = b.Search(query, {10});
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_EQ(ra->size(), rb->size());
    for (size_t i = 0; i < ra->size(); ++i) {
      EXPECT_EQ((*ra)[i].id, (*rb)[i].id);
      EXPECT_EQ((*ra)[i].distance, (*rb)[i].distance);
    }
  }
}

struct PersistCase {
  bool hnsw;
  VectorEncoding enc;
  int reduced;
};

class IndexPersist : public ::testing::TestWithParam<PersistCase> {};

TEST_P(IndexPersist, RoundTripAndCorruption) {
  const PersistCase c = GetParam();
  TestDir dir("index_persist");
  auto index = MakeIndex(c.hnsw, c.enc, c.reduced);
  const std::string path = dir.path("x.idx");
  ASSERT_TRUE(index->Save(path).ok());
  auto loaded = LoadVectorIndex(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->kind(), index->kind());
  EXPECT_EQ((*loaded)->size(), index->size());
  ExpectSameResults(*index, **loaded);
  if (c.hnsw) EXPECT_TRUE(static_cast<HnswIndex&>(**loaded).CheckGraph().ok());

  auto bytes = ReadFileToString(path);
  ASSERT_TRUE(bytes.ok());
  auto write = [&](const std::string& b) { std::ofstream(path, std::ios::binary | std::ios::trunc) << b; };
  // Every single flipped byte (sampled) is caught by the checksum.
  for (size_t pos = 0; pos < bytes->size(); pos += std::max<size_t>(1, bytes->size() / 97)) {
    std::string bad = *bytes;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    write(bad);
    auto r = LoadVectorIndex(path);
    ASSERT_FALSE(r.ok()) << "flip at " << pos;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  }
  // Truncations.
  for (size_t len : {size_t{0}, size_t{4}, size_t{8}, bytes->size() / 2, bytes->size() - 1}) {
    write(bytes->substr(0, len));
    auto r = LoadVectorIndex(path);
    ASSERT_FALSE(r.ok()) << "truncated to " << len;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  }
  // Missing file: NotFound-ish I/O error, not a crash.
  std::filesystem::remove(path);
  EXPECT_FALSE(LoadVectorIndex(path).ok());
}

INSTANTIATE_TEST_SUITE_P(Kinds, IndexPersist,
                         ::testing::Values(PersistCase{false, VectorEncoding::kFloat32, 0},
                                           PersistCase{true, VectorEncoding::kFloat32, 0},
                                           PersistCase{true, VectorEncoding::kInt8, 0},
                                           PersistCase{true, VectorEncoding::kInt8, 8}));

// A file with a valid checksum but inconsistent contents (a link out of
// range) is rejected by the structural checks, not trusted.
TEST(IndexPersist, ValidChecksumBadGraphIsRejected) {
  HnswParams p;
  p.m = 4;
  HnswIndex index(2, p);
  const float v[] = {1, 0, 0, 1, 1, 1};
  ASSERT_TRUE(index.AddBatch(std::vector<int64_t>{1, 2, 3}, v).ok());
  TestDir dir("index_badgraph");
  ASSERT_TRUE(index.Save(dir.path("g.idx")).ok());
  auto bytes = ReadFileToString(dir.path("g.idx"));
  ASSERT_TRUE(bytes.ok());
  // Find slot 0's level-0 link count and set a neighbour to 99; then fix the
  // checksum so only the structural check can notice.
  std::string payload = bytes->substr(0, bytes->size() - 8);
  // Rewrite the first level-0 link list {count 2, a, b} (a, b < 3) found at
  // any byte offset.
  bool patched = false;
  for (size_t off = 0; off + 12 <= payload.size() && !patched; ++off) {
    uint32_t w[3];
    std::memcpy(w, payload.data() + off, 12);
    if (w[0] == 2 && w[1] <= 2 && w[2] <= 2 && w[1] != w[2]) {
      w[1] = 99;
      std::memcpy(payload.data() + off, w, 12);
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  BinaryWriter writer;
  writer.PutBytes(payload);
  auto& out = writer.Finish();
  std::ofstream(dir.path("g.idx"), std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  auto r = LoadVectorIndex(dir.path("g.idx"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace chunkserve::rag

namespace chunkserve::rag {
namespace {

// Structure-aware corruption: random bytes of the payload changed and the
// checksum recomputed, so only the parser's own checks stand between the
// bytes and memory. Every load must either succeed with a consistent index
// or fail with kDataLoss, never crash (run under the sanitizers in CI).
TEST(IndexPersist, MutatedPayloadWithValidChecksumNeverCrashes) {
  for (VectorEncoding enc : {VectorEncoding::kFloat32, VectorEncoding::kInt8}) {
    auto index = MakeIndex(true, enc, enc == VectorEncoding::kInt8 ? 8 : 0);
    TestDir dir("index_mutate");
    ASSERT_TRUE(index->Save(dir.path("m.idx")).ok());
    auto bytes = ReadFileToString(dir.path("m.idx"));
    ASSERT_TRUE(bytes.ok());
    const std::string payload = bytes->substr(0, bytes->size() - 8);
    std::mt19937_64 rng(99);
    int n_ok = 0, n_bad = 0;
    for (int trial = 0; trial < 300; ++trial) {
      std::string p = payload;
      const int n_flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < n_flips; ++f) {
        // Bias towards the header, where sizes and counts live.
        const size_t at = (rng() % 2) ? rng() % std::min<size_t>(p.size(), 256) : rng() % p.size();
        p[at] = static_cast<char>(rng() & 0xff);
      }
      BinaryWriter w;
      w.PutBytes(p);
      auto& out = w.Finish();
      std::ofstream(dir.path("m.idx"), std::ios::binary | std::ios::trunc)
          .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
      auto r = LoadVectorIndex(dir.path("m.idx"));
      if (r.ok()) {
        ++n_ok;
        // A loaded index must answer without crashing.
        const auto q = ClusteredData(1, kDim, 5, 4);
        (void)(*r)->Search(q, {5});
      } else {
        ++n_bad;
        EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
      }
    }
    EXPECT_GT(n_bad, 0);
  }
}

}  // namespace
}  // namespace chunkserve::rag
