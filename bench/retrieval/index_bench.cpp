// index_bench: recall@10 versus queries/s and build time, HnswIndex next to
// hnswlib at the same M / ef_construction / ef, one thread each.
//
// Datasets:
//   fashion-mnist  60000 x 784 (L2), queries: the first --queries test images
//                  (Debian dataset-fashion-mnist, idx files gunzipped by gzip)
//   random-384 / random-768  --random-n Gaussian vectors (L2), Gaussian queries;
//                  ef up to 1024 (no structure: graphs need wide beams)
// Ground truth: exact search (FlatIndex). Output: one JSON line per
// (dataset, index, ef) with recall_at_10, qps, build_s, and one per build.
//
// usage: retrieval_index_bench [--datasets fmnist,random384,random768,filtered]
//        (filtered: the filtered-search comparison on fashion-mnist)
//        [--queries 1000] [--random-n 20000] [--m 16] [--efc 200]
//        [--fmnist-dir /usr/share/datasets/fashion-mnist] [--limit N] [--efs 16,32,...]
#include <time.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <hnswlib/hnswlib.h>

#include "base/clock.h"
#include "rag/index/distance.h"
#include "rag/index/flat_index.h"
#include "rag/index/hnsw_index.h"

using namespace chunkserve;
using namespace chunkserve::rag;

namespace {

struct Dataset {
  std::string name;
  int dim = 0;
  size_t n = 0, n_queries = 0;
  std::vector<float> base, queries;
};

// CPU time of this thread: the machine is shared, so wall-clock QPS would
// measure the neighbours; both are reported.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

constexpr int kRepeats = 3;  // query passes; the fastest counts

std::vector<uint8_t> Gunzip(const std::string& path) {
  std::vector<uint8_t> out;
  std::string cmd = "gzip -dc '" + path + "'";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  uint8_t buf[1 << 16];
  size_t got;
  while ((got = fread(buf, 1, sizeof(buf), f)) > 0) out.insert(out.end(), buf, buf + got);
  pclose(f);
  return out;
}

uint32_t BigEndian32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }

// idx3-ubyte: magic 0x00000803, n, rows, cols, then bytes.
bool LoadIdx(const std::string& path, size_t limit, std::vector<float>* out, size_t* n, int* dim) {
  auto bytes = Gunzip(path);
  if (bytes.size() < 16 || BigEndian32(bytes.data()) != 0x803) return false;
  size_t count = BigEndian32(bytes.data() + 4);
  const int d = static_cast<int>(BigEndian32(bytes.data() + 8) * BigEndian32(bytes.data() + 12));
  if (bytes.size() < 16 + count * static_cast<size_t>(d)) return false;
  count = std::min(count, limit);
  out->resize(count * d);
  for (size_t i = 0; i < count * d; ++i) (*out)[i] = static_cast<float>(bytes[16 + i]);
  *n = count;
  *dim = d;
  return true;
}

Dataset Random(int dim, size_t n, size_t n_queries, uint64_t seed) {
  Dataset ds;
  ds.name = "random-" + std::to_string(dim);
  ds.dim = dim;
  ds.n = n;
  ds.n_queries = n_queries;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  ds.base.resize(n * dim);
  for (float& x : ds.base) x = normal(rng);
  ds.queries.resize(n_queries * dim);
  for (float& x : ds.queries) x = normal(rng);
  return ds;
}

std::vector<std::vector<int64_t>> GroundTruth(const Dataset& ds, int k) {
  FlatIndex flat(ds.dim, Metric::kL2);
  for (size_t i = 0; i < ds.n; ++i) (void)flat.Add(static_cast<int64_t>(i), std::span<const float>(&ds.base[i * ds.dim], ds.dim));
  std::vector<std::vector<int64_t>> out(ds.n_queries);
  for (size_t q = 0; q < ds.n_queries; ++q) {
    auto r = flat.Search(std::span<const float>(&ds.queries[q * ds.dim], ds.dim), {k});
    for (const Neighbor& nb : *r) out[q].push_back(nb.id);
  }
  return out;
}

double RecallOf(const std::vector<std::vector<int64_t>>& got, const std::vector<std::vector<int64_t>>& truth) {
  double sum = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::set<int64_t> t(truth[q].begin(), truth[q].end());
    size_t hit = 0;
    for (int64_t id : got[q]) hit += t.count(id);
    sum += static_cast<double>(hit) / static_cast<double>(t.size());
  }
  return sum / static_cast<double>(truth.size());
}

void Emit(const Dataset& ds, const std::string& index, int m, int efc, int ef, double recall, double cpu_s,
          double wall_s, double build_s, size_t memory_bytes) {
  const double qps = static_cast<double>(ds.n_queries) / cpu_s;
  const double qps_wall = static_cast<double>(ds.n_queries) / wall_s;
  std::printf(
      "{\"bench\":\"index\",\"dataset\":\"%s\",\"n\":%zu,\"dim\":%d,\"queries\":%zu,\"index\":\"%s\",\"m\":%d,"
      "\"ef_construction\":%d,\"ef\":%d,\"recall_at_10\":%.4f,\"qps\":%.1f,\"qps_wall\":%.1f,\"build_cpu_s\":%.3f,\"memory_mb\":%.1f,"
      "\"isa\":\"%s\",\"threads\":1}\n",
      ds.name.c_str(), ds.n, ds.dim, ds.n_queries, index.c_str(), m, efc, ef, recall, qps, qps_wall, build_s,
      static_cast<double>(memory_bytes) / 1e6, std::string(kernels::IsaName(ActiveDistanceKernels().isa)).c_str());
  std::fflush(stdout);
}

// Filtered search: ids passing `id % modulus == 0`. HnswIndex applies the
// filter during traversal (and scans exactly when the filter is very
// selective); hnswlib 0.6.2 has no filter, so it over-fetches k / selectivity
// candidates (ef at least that) and filters afterwards, the usual workaround.
void RunFiltered(const Dataset& ds, int m, int efc, int ef, const std::vector<int>& moduli) {
  const int k = 10;
  std::vector<int64_t> ids(ds.n);
  for (size_t i = 0; i < ds.n; ++i) ids[i] = static_cast<int64_t>(i);
  HnswParams p;
  p.metric = Metric::kL2;
  p.m = m;
  p.ef_construction = efc;
  HnswIndex index(ds.dim, p);
  if (!index.AddBatch(ids, ds.base).ok()) return;
  hnswlib::L2Space space(static_cast<size_t>(ds.dim));
  hnswlib::HierarchicalNSW<float> h(&space, ds.n, m, efc, 100);
  for (size_t i = 0; i < ds.n; ++i) h.addPoint(&ds.base[i * ds.dim], i);
  FlatIndex flat(ds.dim, Metric::kL2);
  for (size_t i = 0; i < ds.n; ++i) (void)flat.Add(static_cast<int64_t>(i), std::span<const float>(&ds.base[i * ds.dim], ds.dim));
  for (int modulus : moduli) {
    IdFilter filter = [modulus](int64_t id) { return id % modulus == 0; };
    std::vector<std::vector<int64_t>> truth(ds.n_queries), ours(ds.n_queries), theirs(ds.n_queries);
    for (size_t q = 0; q < ds.n_queries; ++q) {
      auto r = flat.Search(std::span<const float>(&ds.queries[q * ds.dim], ds.dim), {k, 0, filter});
      for (const Neighbor& nb : *r) truth[q].push_back(nb.id);
    }
    // The in-graph filter alone (no exact-scan policy), then the default.
    std::vector<std::vector<int64_t>> graph_only(ds.n_queries);
    index.SetFilterPolicy(0.0, 0.0);
    double c0 = ThreadCpuSeconds();
    for (size_t q = 0; q < ds.n_queries; ++q) {
      auto r = index.Search(std::span<const float>(&ds.queries[q * ds.dim], ds.dim), {k, ef, filter});
      for (const Neighbor& nb : *r) graph_only[q].push_back(nb.id);
    }
    const double graph_s = ThreadCpuSeconds() - c0;
    index.SetFilterPolicy(HnswParams{}.exact_scan_selectivity, HnswParams{}.scan_cost_factor);
    c0 = ThreadCpuSeconds();
    for (size_t q = 0; q < ds.n_queries; ++q) {
      auto r = index.Search(std::span<const float>(&ds.queries[q * ds.dim], ds.dim), {k, ef, filter});
      for (const Neighbor& nb : *r) ours[q].push_back(nb.id);
    }
    const double ours_s = ThreadCpuSeconds() - c0;
    const size_t fetch = static_cast<size_t>(k) * static_cast<size_t>(modulus);
    h.setEf(std::max<size_t>(static_cast<size_t>(ef), fetch));
    c0 = ThreadCpuSeconds();
    size_t n_short = 0;
    for (size_t q = 0; q < ds.n_queries; ++q) {
      auto res = h.searchKnn(&ds.queries[q * ds.dim], std::min(fetch, ds.n));
      std::vector<std::pair<float, int64_t>> kept;
      while (!res.empty()) {
        if (static_cast<int64_t>(res.top().second) % modulus == 0)
          kept.emplace_back(res.top().first, static_cast<int64_t>(res.top().second));
        res.pop();
      }
      std::sort(kept.begin(), kept.end());
      for (size_t i = 0; i < kept.size() && i < static_cast<size_t>(k); ++i) theirs[q].push_back(kept[i].second);
      n_short += theirs[q].size() < truth[q].size() ? 1 : 0;
    }
    const double theirs_s = ThreadCpuSeconds() - c0;
    size_t ours_short = 0;
    for (size_t q = 0; q < ds.n_queries; ++q) ours_short += ours[q].size() < truth[q].size() ? 1 : 0;
    size_t graph_short = 0;
    for (size_t q = 0; q < ds.n_queries; ++q) graph_short += graph_only[q].size() < truth[q].size() ? 1 : 0;
    std::printf(
        "{\"bench\":\"filtered\",\"dataset\":\"%s\",\"n\":%zu,\"queries\":%zu,\"index\":\"chunkserve-f32-graph-only\","
        "\"selectivity\":%.4f,\"ef\":%d,\"recall_at_10\":%.4f,\"qps\":%.1f,\"queries_short\":%zu}\n",
        ds.name.c_str(), ds.n, ds.n_queries, 1.0 / modulus, ef, RecallOf(graph_only, truth),
        static_cast<double>(ds.n_queries) / graph_s, graph_short);
    for (int side = 0; side < 2; ++side) {
      std::printf(
          "{\"bench\":\"filtered\",\"dataset\":\"%s\",\"n\":%zu,\"queries\":%zu,\"index\":\"%s\",\"selectivity\":%.4f,"
          "\"ef\":%d,\"recall_at_10\":%.4f,\"qps\":%.1f,\"queries_short\":%zu}\n",
          ds.name.c_str(), ds.n, ds.n_queries, side == 0 ? "chunkserve-f32-default-policy" : "hnswlib-postfilter",
          1.0 / modulus, ef, RecallOf(side == 0 ? ours : theirs, truth),
          static_cast<double>(ds.n_queries) / (side == 0 ? ours_s : theirs_s), side == 0 ? ours_short : n_short);
      std::fflush(stdout);
    }
  }
}

void RunDataset(const Dataset& ds, int m, int efc, const std::vector<int>& efs, int reduced_dim) {
  const int k = 10;
  const auto truth = GroundTruth(ds, k);
  std::vector<int64_t> ids(ds.n);
  for (size_t i = 0; i < ds.n; ++i) ids[i] = static_cast<int64_t>(i);

  // hnswlib.
  {
    hnswlib::L2Space space(static_cast<size_t>(ds.dim));
    const double build_start = ThreadCpuSeconds();
    auto h = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, ds.n, m, efc, 100);
    for (size_t i = 0; i < ds.n; ++i) h->addPoint(&ds.base[i * ds.dim], i);
    const double build_s = ThreadCpuSeconds() - build_start;
    for (int ef : efs) {
      h->setEf(static_cast<size_t>(ef));
      std::vector<std::vector<int64_t>> got(ds.n_queries);
      double cpu = 1e30, wall = 1e30;
      for (int rep = 0; rep < kRepeats; ++rep) {
        for (auto& g : got) g.clear();
        Stopwatch qs;
        const double c0 = ThreadCpuSeconds();
        for (size_t q = 0; q < ds.n_queries; ++q) {
          auto res = h->searchKnn(&ds.queries[q * ds.dim], k);
          while (!res.empty()) {
            got[q].push_back(static_cast<int64_t>(res.top().second));
            res.pop();
          }
        }
        cpu = std::min(cpu, ThreadCpuSeconds() - c0);
        wall = std::min(wall, qs.ElapsedSeconds());
      }
      Emit(ds, "hnswlib", m, efc, ef, RecallOf(got, truth), cpu, wall, build_s,
           ds.n * (ds.dim * 4 + (2 * m + 1) * 4 + 8 + 8));
    }
  }

  struct Variant {
    std::string name;
    VectorEncoding encoding;
    int reduced;
  };
  std::vector<Variant> variants = {{"chunkserve-f32", VectorEncoding::kFloat32, 0},
                                   {"chunkserve-int8", VectorEncoding::kInt8, 0}};
  if (reduced_dim > 0 && reduced_dim < ds.dim) {
    variants.push_back({"chunkserve-pca" + std::to_string(reduced_dim) + "-f32", VectorEncoding::kFloat32, reduced_dim});
    variants.push_back({"chunkserve-pca" + std::to_string(reduced_dim) + "-int8", VectorEncoding::kInt8, reduced_dim});
  }
  for (const Variant& v : variants) {
    HnswParams p;
    p.metric = Metric::kL2;
    p.m = m;
    p.ef_construction = efc;
    p.encoding = v.encoding;
    p.reduced_dim = v.reduced;
    p.rerank_factor = 1;
    const double build_start = ThreadCpuSeconds();
    HnswIndex index(ds.dim, p);
    Status s = index.AddBatch(ids, ds.base);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      continue;
    }
    const double build_s = ThreadCpuSeconds() - build_start;
    for (int ef : efs) {
      std::vector<std::vector<int64_t>> got(ds.n_queries);
      double cpu = 1e30, wall = 1e30;
      for (int rep = 0; rep < kRepeats; ++rep) {
        for (auto& g : got) g.clear();
        Stopwatch qs;
        const double c0 = ThreadCpuSeconds();
        for (size_t q = 0; q < ds.n_queries; ++q) {
          auto r = index.Search(std::span<const float>(&ds.queries[q * ds.dim], ds.dim), {k, ef});
          for (const Neighbor& nb : *r) got[q].push_back(nb.id);
        }
        cpu = std::min(cpu, ThreadCpuSeconds() - c0);
        wall = std::min(wall, qs.ElapsedSeconds());
      }
      Emit(ds, v.name, m, efc, ef, RecallOf(got, truth), cpu, wall, build_s,
           index.MemoryBytes());
    }
  }
}

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string datasets = Arg(argc, argv, "--datasets", "fmnist,random384,random768");
  const size_t n_queries = std::stoul(Arg(argc, argv, "--queries", "1000"));
  const size_t random_n = std::stoul(Arg(argc, argv, "--random-n", "20000"));
  const size_t limit = std::stoul(Arg(argc, argv, "--limit", "60000"));
  const int m = std::stoi(Arg(argc, argv, "--m", "16"));
  const int efc = std::stoi(Arg(argc, argv, "--efc", "200"));
  const std::string dir = Arg(argc, argv, "--fmnist-dir", "/usr/share/datasets/fashion-mnist");
  // Random Gaussian data has no low-dimensional structure: a graph needs a
  // much wider beam there for the same recall.
  std::vector<int> efs = {10, 16, 32, 64, 128};
  std::vector<int> random_efs = {64, 128, 256, 512, 1024};
  if (const std::string list = Arg(argc, argv, "--efs", ""); !list.empty()) {
    efs.clear();
    for (size_t i = 0; i < list.size();) {
      size_t j = list.find(',', i);
      if (j == std::string::npos) j = list.size();
      efs.push_back(std::stoi(list.substr(i, j - i)));
      i = j + 1;
    }
    random_efs = efs;
  }

  auto want = [&](const std::string& name) { return ("," + datasets + ",").find("," + name + ",") != std::string::npos; };
  if (want("fmnist") || want("filtered")) {
    Dataset ds;
    ds.name = "fashion-mnist";
    size_t nq = 0;
    int dq = 0;
    if (!LoadIdx(dir + "/train-images-idx3-ubyte.gz", limit, &ds.base, &ds.n, &ds.dim) ||
        !LoadIdx(dir + "/t10k-images-idx3-ubyte.gz", n_queries, &ds.queries, &nq, &dq) || dq != ds.dim) {
      std::fprintf(stderr, "fashion-mnist not found under %s (apt-get install dataset-fashion-mnist); skipped\n",
                   dir.c_str());
    } else {
      ds.n_queries = nq;
      if (want("filtered")) RunFiltered(ds, m, efc, 64, {2, 10, 50, 200});
      if (want("fmnist")) RunDataset(ds, m, efc, efs, 96);
    }
  }
  if (want("random384")) RunDataset(Random(384, random_n, n_queries, 1), m, efc, random_efs, 0);
  if (want("random768")) RunDataset(Random(768, random_n, n_queries, 2), m, efc, random_efs, 0);
  return 0;
}
