// FlatIndex: exact search by scanning every vector; the twin against which
// HnswIndex is tested, and the right index for small collections.
//
// Vectors are stored contiguously (cosine: normalised); removal moves the
// last row into the hole, so the scan stays dense.
//
// Thread safety: see VectorIndex.
#pragma once

#include <unordered_map>
#include <vector>

#include "rag/index/binary_io.h"
#include "rag/index/vector_index.h"

namespace chunkserve::rag {

class FlatIndex final : public VectorIndex {
 public:
  FlatIndex(int dim, Metric metric) : dim_(dim), metric_(metric) {}

  Status Add(int64_t id, std::span<const float> vector) override;
  bool Remove(int64_t id) override;
  bool Contains(int64_t id) const override { return row_of_.count(id) != 0; }
  StatusOr<std::vector<Neighbor>> Search(std::span<const float> query, const SearchOptions& options) const override;
  Status Save(const std::string& path) const override;
  size_t size() const override { return ids_.size(); }
  int dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  std::string_view kind() const override { return "flat"; }
  std::vector<int64_t> Ids() const override { return ids_; }

  static StatusOr<std::unique_ptr<FlatIndex>> Load(BinaryReader& reader);

 private:
  int dim_;
  Metric metric_;
  std::vector<float> data_;
  std::vector<int64_t> ids_;
  std::unordered_map<int64_t, size_t> row_of_;
};

// Normalises in place for cosine; InvalidArgument for a zero vector.
Status NormalizeForMetric(Metric metric, std::vector<float>* v);

}  // namespace chunkserve::rag
