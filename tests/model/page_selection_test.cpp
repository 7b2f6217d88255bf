// model::PageSelection (Quest-style page selection at decode) against plain
// attention: everything selected gives the same bits; a selection gives the
// bits of attention over exactly the selected blocks, copied by hand; the
// page holding the key a query points at is the one selected.
#include "model/page_selection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "model/head_roles.h"
#include "temp_path.h"

#include <cstring>
#include <random>
#include <vector>

namespace chunkserve::model {
namespace {

constexpr int kHeads = 14, kKvHeads = 2, kHeadDim = 64;
constexpr int64_t kBlock = 16, kRow = int64_t{kKvHeads} * kHeadDim;

// A paged cache of n_slots f32 rows with blocks allocated in reverse order.
struct PagedCache {
  std::vector<std::vector<float>> k, v;
  std::vector<const void*> kp, vp;

  PagedCache(int64_t n_slots, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist;
    const int64_t n_blocks = (n_slots + kBlock - 1) / kBlock;
    k.assign(static_cast<size_t>(n_blocks), std::vector<float>(kBlock * kRow, 1e9f));
    v = k;
    for (int64_t s = 0; s < n_slots; ++s)
      for (int64_t d = 0; d < kRow; ++d) {
        k[static_cast<size_t>(s / kBlock)][static_cast<size_t>((s % kBlock) * kRow + d)] = dist(rng);
        v[static_cast<size_t>(s / kBlock)][static_cast<size_t>((s % kBlock) * kRow + d)] = dist(rng);
      }
    for (int64_t b = n_blocks - 1; b >= 0; --b) {
      kp.insert(kp.begin(), k[static_cast<size_t>(b)].data());
      vp.insert(vp.begin(), v[static_cast<size_t>(b)].data());
    }
  }
  kernels::KvBlocksView View() const { return {kp, vp, kBlock}; }
  float* KeyRow(int64_t slot) { return k[static_cast<size_t>(slot / kBlock)].data() + (slot % kBlock) * kRow; }
};

std::vector<float> RandomQuery(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> q(size_t{kHeads} * kHeadDim);
  for (float& x : q) x = dist(rng);
  return q;
}

kernels::AttentionShape Shape() { return {kHeads, kKvHeads, kHeadDim, 0.125f, kernels::AttentionPrecision::kF32}; }

TEST(PageSelectionTest, ABudgetOverTheWholeCacheIsPlainAttention) {
  ThreadPool pool(2);
  const int64_t n = 3000;
  PagedCache cache(n, 1);
  const auto q = RandomQuery(2);
  PageSelection pages(4096, kBlock, 1);
  std::vector<float> got(q.size()), want(q.size());
  pages.Attend(0, q.data(), n, cache.View(), Shape(), got.data(), &pool);
  const int32_t len = n;
  kernels::Attention(q.data(), 1, &len, cache.View(), Shape(), want.data(), &pool);
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
  EXPECT_EQ(pages.tokens_read(), pages.tokens_cached());
}

TEST(PageSelectionTest, EachHeadAttendsOverExactlyItsSelectedBlocks) {
  ThreadPool pool(2);
  const int64_t n = 2000;  // 125 blocks; the last one is partial
  PagedCache cache(n, 3);
  const auto q = RandomQuery(4);
  PageSelection pages(512, kBlock, 1);  // 4-block pages, 8 of them
  ASSERT_EQ(pages.page_blocks(), 4);
  std::vector<float> got(q.size());
  pages.Attend(0, q.data(), n, cache.View(), Shape(), got.data(), &pool);
  const int64_t n_blocks = (n + kBlock - 1) / kBlock;
  const int group = kHeads / kKvHeads;
  for (int h = 0; h < kKvHeads; ++h) {
    const std::vector<int64_t> blocks = pages.SelectBlocks(0, h, q.data(), n_blocks, cache.View(), Shape());
    ASSERT_EQ(static_cast<int64_t>(blocks.size()), 8 * 4 - 3) << "8 pages, the last one 1 block of 4";
    EXPECT_EQ(blocks.front(), 0);
    EXPECT_EQ(blocks.back(), n_blocks - 1);
    EXPECT_TRUE(std::is_sorted(blocks.begin(), blocks.end()));
    // By hand: the selected rows of head h copied into a contiguous cache.
    std::vector<float> k, v;
    int64_t len = 0;
    for (int64_t b : blocks)
      for (int64_t r = 0; r < kBlock && b * kBlock + r < n; ++r, ++len) {
        const float* kr = cache.k[static_cast<size_t>(b)].data() + r * kRow + h * kHeadDim;
        const float* vr = cache.v[static_cast<size_t>(b)].data() + r * kRow + h * kHeadDim;
        k.insert(k.end(), kr, kr + kHeadDim);
        v.insert(v.end(), vr, vr + kHeadDim);
      }
    const void* kp[] = {k.data()};
    const void* vp[] = {v.data()};
    const kernels::KvBlocksView view{kp, vp, len};
    const kernels::AttentionShape head{group, 1, kHeadDim, 0.125f, kernels::AttentionPrecision::kF32};
    const auto len32 = static_cast<int32_t>(len);
    std::vector<float> want(size_t{group} * kHeadDim);
    kernels::Attention(q.data() + h * group * kHeadDim, 1, &len32, view, head, want.data(), nullptr);
    EXPECT_EQ(0, std::memcmp(got.data() + h * group * kHeadDim, want.data(), want.size() * sizeof(float)))
        << "kv head " << h;
  }
  EXPECT_LT(pages.tokens_read(), pages.tokens_cached());
}

TEST(PageSelectionTest, ThePageOfTheKeyTheQueryPointsAtIsSelected) {
  const int64_t n = 4096;
  for (int64_t needle : {int64_t{700}, int64_t{2500}}) {
    PagedCache cache(n, 5);
    auto q = RandomQuery(6);
    // Kv head 1's key at `needle` is its query heads' direction, scaled up.
    const int group = kHeads / kKvHeads;
    for (int d = 0; d < kHeadDim; ++d) {
      float sum = 0;
      for (int g = 0; g < group; ++g) sum += q[static_cast<size_t>((group + g) * kHeadDim + d)];
      cache.KeyRow(needle)[kHeadDim + d] = 4 * sum;
    }
    PageSelection pages(256, kBlock, 1);  // 2-block pages, 8 of them
    ASSERT_EQ(pages.page_blocks(), 2);
    const std::vector<int64_t> blocks = pages.SelectBlocks(0, 1, q.data(), n / kBlock, cache.View(), Shape());
    EXPECT_EQ(static_cast<int64_t>(blocks.size()), 16);
    EXPECT_NE(std::find(blocks.begin(), blocks.end(), needle / kBlock), blocks.end()) << "needle at " << needle;
  }
}

// Headwise: a retrieval head reads every block, a streaming head the first
// block and the most recent ones, budget_tokens in all.
TEST(PageSelectionTest, HeadwiseReadsEverythingOnlyForRetrievalHeads) {
  HeadRoles roles{.n_layers = 1, .n_kv_heads = 2, .long_range_share = {0.9f, 0.1f}, .retrieval = {1, 0}};
  PagedCache cache(1000, 7);
  const auto q = RandomQuery(8);
  PageSelection headwise(128, kBlock, 1, &roles);
  const int64_t n_blocks = (1000 + kBlock - 1) / kBlock;
  EXPECT_EQ(static_cast<int64_t>(headwise.SelectBlocks(0, 0, q.data(), n_blocks, cache.View(), Shape()).size()),
            n_blocks);
  const std::vector<int64_t> streaming = headwise.SelectBlocks(0, 1, q.data(), n_blocks, cache.View(), Shape());
  std::vector<int64_t> want = {0};
  for (int64_t b = n_blocks - 7; b < n_blocks; ++b) want.push_back(b);
  EXPECT_EQ(streaming, want);
}

// Calibration on the needle model (tests/data/needle_recall.gguf: 2 layers,
// 2 KV heads, retrieval by an induction head): a quarter of the pairs (one)
// is a retrieval head, the one with the largest far share; the roles file
// round-trips and a foreign one is recalibrated over.
TEST(HeadRolesTest, CalibrationFindsTheNeedleModelsRetrievalHeadAndCachesIt) {
  auto m = Model::Load(std::string(CHUNKSERVE_SOURCE_DIR) + "/tests/data/needle_recall.gguf");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto roles = CalibrateHeadRoles(**m);
  ASSERT_TRUE(roles.ok()) << roles.status().ToString();
  ASSERT_EQ(roles->retrieval.size(), 4u);
  EXPECT_EQ(std::count(roles->retrieval.begin(), roles->retrieval.end(), 1), 1);
  const auto best = std::max_element(roles->long_range_share.begin(), roles->long_range_share.end()) -
                    roles->long_range_share.begin();
  EXPECT_EQ(roles->retrieval[static_cast<size_t>(best)], 1);
  EXPECT_GT(roles->long_range_share[static_cast<size_t>(best)], 0.3f) << "an induction head reads the first copy";

  const std::string path = testing_util::TempPath("needle.heads");
  auto written = LoadOrCalibrateHeadRoles(**m, path);
  ASSERT_TRUE(written.ok());
  ASSERT_TRUE(std::filesystem::exists(path));
  auto read = LoadOrCalibrateHeadRoles(**m, path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->retrieval, roles->retrieval);
  std::ofstream(path) << "chunkserve head roles v1\nfingerprint 1\nlayers 2 kv_heads 2\n";
  auto redone = LoadOrCalibrateHeadRoles(**m, path);
  ASSERT_TRUE(redone.ok());
  EXPECT_EQ(redone->retrieval, roles->retrieval);
}

}  // namespace
}  // namespace chunkserve::model
