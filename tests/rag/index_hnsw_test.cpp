// HnswIndex against its exact twin FlatIndex: recall per metric and codec,
// filtered search, deletions and repair, bad input.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "rag/index/flat_index.h"
#include "rag/index/hnsw_index.h"
#include "rag/index_test_util.h"

namespace chunkserve::rag {
namespace {

constexpr int kDim = 48;
constexpr size_t kN = 3000;
constexpr size_t kQueries = 100;

struct Built {
  std::unique_ptr<HnswIndex> hnsw;
  std::unique_ptr<FlatIndex> flat;
  std::vector<float> queries;
};

Built Build(const HnswParams& params, size_t n = kN, int dim = kDim) {
  Built b;
  const auto data = ClusteredData(n, dim, 20, 1);
  b.queries = ClusteredData(kQueries, dim, 20, 1 ^ 0x99);  // same centres? no: new draw
  // Queries near data points: perturbed copies of random rows.
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  for (size_t q = 0; q < kQueries; ++q) {
    const size_t r = rng() % n;
    for (int j = 0; j < dim; ++j) b.queries[q * dim + j] = data[r * dim + j] + 0.5f * normal(rng);
  }
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int64_t>(i) * 3 + 1000;  // sparse ids
  b.hnsw = std::make_unique<HnswIndex>(dim, params);
  b.flat = std::make_unique<FlatIndex>(dim, params.metric);
  EXPECT_TRUE(b.hnsw->AddBatch(ids, data).ok());
  EXPECT_TRUE(b.flat->AddBatch(ids, data).ok());
  return b;
}

double MeasureRecall(const Built& b, int k, const IdFilter& filter = {}, int ef = 0, size_t* n_short = nullptr) {
  std::vector<std::vector<Neighbor>> approx, exact;
  const int dim = b.hnsw->dim();
  for (size_t q = 0; q < kQueries; ++q) {
    std::span<const float> query(&b.queries[q * dim], static_cast<size_t>(dim));
    SearchOptions opt{k, ef, filter};
    auto a = b.hnsw->Search(query, opt);
    auto e = b.flat->Search(query, opt);
    EXPECT_TRUE(a.ok() && e.ok());
    if (n_short && a->size() < e->size()) ++*n_short;
    approx.push_back(*a);
    exact.push_back(*e);
  }
  return Recall(approx, exact);
}

struct Case {
  Metric metric;
  VectorEncoding encoding;
  int reduced_dim;
  double min_recall;
};

class HnswRecall : public ::testing::TestWithParam<Case> {};

TEST_P(HnswRecall, MatchesFlatTwin) {
  const Case c = GetParam();
  HnswParams p;
  p.metric = c.metric;
  p.encoding = c.encoding;
  p.reduced_dim = c.reduced_dim;
  p.m = 12;
  p.ef_construction = 100;
  p.ef_search = 64;
  Built b = Build(p);
  EXPECT_TRUE(b.hnsw->CheckGraph().ok()) << b.hnsw->CheckGraph().ToString();
  EXPECT_EQ(b.hnsw->size(), kN);
  const double recall = MeasureRecall(b, 10);
  EXPECT_GE(recall, c.min_recall) << MetricName(c.metric) << " " << VectorEncodingName(c.encoding) << " reduced "
                                  << c.reduced_dim;
  // Distances returned are exact for the ids returned (re-ranked / float).
  auto r = b.hnsw->Search(std::span<const float>(b.queries.data(), kDim), {5});
  ASSERT_TRUE(r.ok());
  for (size_t i = 1; i < r->size(); ++i) EXPECT_LE((*r)[i - 1].distance, (*r)[i].distance);
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, HnswRecall,
    ::testing::Values(Case{Metric::kCosine, VectorEncoding::kFloat32, 0, 0.97},
                      Case{Metric::kInnerProduct, VectorEncoding::kFloat32, 0, 0.95},
                      Case{Metric::kL2, VectorEncoding::kFloat32, 0, 0.97},
                      Case{Metric::kCosine, VectorEncoding::kInt8, 0, 0.95},
                      Case{Metric::kL2, VectorEncoding::kInt8, 0, 0.95},
                      Case{Metric::kCosine, VectorEncoding::kFloat32, 24, 0.9},
                      Case{Metric::kL2, VectorEncoding::kInt8, 24, 0.9}));

TEST(Hnsw, RecallGrowsWithEf) {
  HnswParams p;
  p.m = 8;
  p.ef_construction = 64;
  Built b = Build(p);
  const double low = MeasureRecall(b, 10, {}, 10);
  const double high = MeasureRecall(b, 10, {}, 200);
  EXPECT_GE(high, low);
  EXPECT_GE(high, 0.97);
}

class HnswFiltered : public ::testing::TestWithParam<bool> {};

// param: true = the default cost model (exact scans for selective filters);
// false = always the in-graph filter (with the exact fallback when short).
TEST_P(HnswFiltered, RecallAndNeverShort) {
  HnswParams p;
  p.m = 12;
  p.ef_construction = 100;
  if (!GetParam()) {
    p.scan_cost_factor = 0;
    p.exact_scan_selectivity = 0;
  }
  Built b = Build(p);
  for (int modulus : {2, 5, 20, 400, 5000}) {
    IdFilter filter = [modulus](int64_t id) { return (id / 3) % modulus == 0; };
    size_t n_short = 0;
    const double recall = MeasureRecall(b, 10, filter, 0, &n_short);
    EXPECT_EQ(n_short, 0u) << "modulus " << modulus;
    EXPECT_GE(recall, 0.9) << "modulus " << modulus;
    // Every returned id passes the filter.
    auto r = b.hnsw->Search(std::span<const float>(b.queries.data(), kDim), {10, 0, filter});
    ASSERT_TRUE(r.ok());
    for (const Neighbor& nb : *r) EXPECT_TRUE(filter(nb.id));
  }
  // A filter nothing passes: no results, no error.
  auto none = b.hnsw->Search(std::span<const float>(b.queries.data(), kDim), {10, 0, [](int64_t) { return false; }});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

INSTANTIATE_TEST_SUITE_P(CostModel, HnswFiltered, ::testing::Bool());

TEST(Hnsw, DeletionsNeverReturnedAndRepairKeepsRecall) {
  HnswParams p;
  p.m = 12;
  p.ef_construction = 100;
  p.repair_fraction = 0.5;  // repair explicitly below
  Built b = Build(p);
  // Remove every third id, in both twins.
  size_t removed = 0;
  for (size_t i = 0; i < kN; i += 3) {
    const int64_t id = static_cast<int64_t>(i) * 3 + 1000;
    ASSERT_TRUE(b.hnsw->Remove(id));
    ASSERT_TRUE(b.flat->Remove(id));
    ++removed;
  }
  EXPECT_FALSE(b.hnsw->Remove(1000));  // already gone
  EXPECT_EQ(b.hnsw->size(), kN - removed);
  EXPECT_GT(b.hnsw->n_tombstones(), 0u);
  const double before = MeasureRecall(b, 10);
  EXPECT_GE(before, 0.9);
  b.hnsw->Repair();
  EXPECT_EQ(b.hnsw->n_tombstones(), 0u);
  ASSERT_TRUE(b.hnsw->CheckGraph().ok()) << b.hnsw->CheckGraph().ToString();
  const double after = MeasureRecall(b, 10);
  EXPECT_GE(after, 0.93);
  // Recycled slots take new vectors; old ids can come back.
  const auto fresh = ClusteredData(200, kDim, 20, 77);
  for (size_t i = 0; i < 200; ++i) {
    const int64_t id = static_cast<int64_t>(i) * 9 + 1000;  // some were removed
    std::span<const float> v(&fresh[i * kDim], kDim);
    b.flat->Remove(id);
    b.hnsw->Remove(id);
    ASSERT_TRUE(b.hnsw->Add(id, v).ok());
    ASSERT_TRUE(b.flat->Add(id, v).ok());
  }
  ASSERT_TRUE(b.hnsw->CheckGraph().ok()) << b.hnsw->CheckGraph().ToString();
  EXPECT_EQ(b.hnsw->size(), b.flat->size());
  EXPECT_GE(MeasureRecall(b, 10), 0.93);
}

TEST(Hnsw, RemoveEverythingThenAddAgain) {
  HnswParams p;
  HnswIndex index(4, p);
  const float v[] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  ASSERT_TRUE(index.AddBatch(std::vector<int64_t>{1, 2, 3}, v).ok());
  for (int64_t id : {1, 2, 3}) EXPECT_TRUE(index.Remove(id));
  index.Repair();
  EXPECT_TRUE(index.CheckGraph().ok());
  auto r = index.Search(std::span<const float>(v, 4), {3});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  ASSERT_TRUE(index.Add(7, std::span<const float>(v + 4, 4)).ok());
  r = index.Search(std::span<const float>(v, 4), {3});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, 7);
  EXPECT_NEAR((*r)[0].distance, 1.0f, 1e-6);
}

TEST(Hnsw, BadInputIsAnErrorNotACrash) {
  HnswParams p;
  HnswIndex index(3, p);
  const float ok[] = {1, 2, 3};
  const float nan[] = {1, NAN, 3};
  const float zero[] = {0, 0, 0};
  EXPECT_EQ(index.Add(1, std::span<const float>(ok, 2)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index.Add(1, nan).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index.Add(1, zero).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(index.Add(1, ok).ok());
  EXPECT_EQ(index.Add(1, ok).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(index.Search(std::span<const float>(ok, 2), {1}).status().code(), StatusCode::kInvalidArgument);
  auto r = index.Search(ok, {0});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  HnswParams bad;
  bad.m = 1;
  EXPECT_FALSE(ValidateHnswParams(bad).ok());
}

TEST(Hnsw, FewerVectorsThanKReturnsAll) {
  HnswParams p;
  p.metric = Metric::kL2;
  HnswIndex index(2, p);
  const float v[] = {0, 0, 1, 1, 5, 5};
  ASSERT_TRUE(index.AddBatch(std::vector<int64_t>{10, 11, 12}, v).ok());
  auto r = index.Search(std::span<const float>(v, 2), {10});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].id, 10);
  EXPECT_EQ((*r)[1].id, 11);
  EXPECT_FLOAT_EQ((*r)[1].distance, 2.0f);
}

}  // namespace
}  // namespace chunkserve::rag

namespace chunkserve::rag {
namespace {

// Search is const and may run on many threads at once (visited-list pool):
// every thread gets the single-threaded answers.
TEST(Hnsw, ConcurrentSearchesAgreeWithSerial) {
  HnswParams p;
  p.m = 8;
  p.ef_construction = 64;
  Built b = Build(p, 1500);
  std::vector<std::vector<Neighbor>> serial(kQueries);
  for (size_t q = 0; q < kQueries; ++q)
    serial[q] = *b.hnsw->Search(std::span<const float>(&b.queries[q * kDim], kDim), {10});
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < kQueries; ++i) {
        const size_t q = (i + static_cast<size_t>(t) * 17) % kQueries;
        auto r = b.hnsw->Search(std::span<const float>(&b.queries[q * kDim], kDim), {10});
        if (!r.ok() || r->size() != serial[q].size()) {
          ++mismatches;
          continue;
        }
        for (size_t j = 0; j < r->size(); ++j)
          if ((*r)[j].id != serial[q][j].id) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace chunkserve::rag
