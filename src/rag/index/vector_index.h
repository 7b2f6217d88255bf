// VectorIndex: the small abstract interface of every dense index (faiss-style
// add / remove / search / save), plus the loader that opens any saved index.
//
// Ids are caller-chosen int64 (the store's chunk ids). Vectors are float32 of
// exactly dim() values, all finite. Distances are "smaller is closer":
//   kCosine        1 - cos(q, x)   (vectors are L2-normalised on the way in;
//                                   a zero vector is an InvalidArgument)
//   kInnerProduct  1 - q . x       (vectors stored as given)
//   kL2            |q - x|^2
// Similarity(metric, distance) turns a distance back into a score where
// larger is better (cosine/IP: 1 - d; L2: -d).
//
// Filtered search: SearchOptions::filter is called with candidate ids and
// only ids for which it returns true are returned. Every index returns
// min(k, number of live ids passing the filter) results: approximate indexes
// apply the filter while traversing and fall back to an exact scan when they
// find fewer than k.
//
// Persistence: Save writes one file (atomically: temp file + rename) that
// ends with a Hash64 checksum of everything before it; LoadVectorIndex
// rejects a truncated, corrupt or foreign file with kDataLoss and never
// crashes on bad bytes.
//
// Thread safety: const methods (Search, Save, size ...) may run concurrently
// with each other; Add/Remove need exclusive access (the caller's lock).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace chunkserve::rag {

enum class Metric : uint32_t { kCosine = 0, kInnerProduct = 1, kL2 = 2 };

std::string_view MetricName(Metric metric);
StatusOr<Metric> ParseMetric(std::string_view name);
// Larger is better: cosine/IP 1 - distance, L2 -distance.
float Similarity(Metric metric, float distance);

struct Neighbor {
  int64_t id = 0;
  float distance = 0;
};

using IdFilter = std::function<bool(int64_t id)>;

struct SearchOptions {
  int k = 10;
  int ef = 0;            // HNSW beam width; 0: the index's default (at least k)
  IdFilter filter;       // empty: every id passes
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  // InvalidArgument: wrong size, non-finite value, zero vector under cosine.
  // AlreadyExists: the id is present (remove it first).
  virtual Status Add(int64_t id, std::span<const float> vector) = 0;
  // vectors holds ids.size() rows of dim() floats. Stops at the first error;
  // rows before it stay added.
  virtual Status AddBatch(std::span<const int64_t> ids, std::span<const float> vectors);
  // True when the id was present.
  virtual bool Remove(int64_t id) = 0;
  virtual bool Contains(int64_t id) const = 0;
  // At most k neighbours, closest first (ties by id).
  virtual StatusOr<std::vector<Neighbor>> Search(std::span<const float> query,
                                                 const SearchOptions& options) const = 0;
  virtual Status Save(const std::string& path) const = 0;

  virtual size_t size() const = 0;  // live ids
  virtual int dim() const = 0;
  virtual Metric metric() const = 0;
  virtual std::string_view kind() const = 0;  // "flat", "hnsw"
  // Ids currently stored, in no particular order.
  virtual std::vector<int64_t> Ids() const = 0;
};

// Opens a file written by any VectorIndex::Save.
StatusOr<std::unique_ptr<VectorIndex>> LoadVectorIndex(const std::string& path);

// Shared input check: size == dim and every value finite.
Status CheckVector(std::span<const float> vector, int dim, std::string_view what);

}  // namespace chunkserve::rag
