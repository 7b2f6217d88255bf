#include "rag/index/vector_index.h"

#include <cmath>

#include "base/mapped_file.h"
#include "rag/index/binary_io.h"
#include "rag/index/flat_index.h"
#include "rag/index/hnsw_index.h"

namespace chunkserve::rag {

std::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kCosine: return "cosine";
    case Metric::kInnerProduct: return "ip";
    case Metric::kL2: return "l2";
  }
  return "?";
}

StatusOr<Metric> ParseMetric(std::string_view name) {
  if (name == "cosine") return Metric::kCosine;
  if (name == "ip" || name == "inner_product") return Metric::kInnerProduct;
  if (name == "l2") return Metric::kL2;
  return InvalidArgumentError("unknown metric '" + std::string(name) + "' (cosine, ip or l2)");
}

float Similarity(Metric metric, float distance) { return metric == Metric::kL2 ? -distance : 1.0f - distance; }

Status CheckVector(std::span<const float> vector, int dim, std::string_view what) {
  if (vector.size() != static_cast<size_t>(dim))
    return InvalidArgumentError(std::string(what) + ": vector has " + std::to_string(vector.size()) +
                                " values, expected " + std::to_string(dim));
  for (float x : vector)
    if (!std::isfinite(x)) return InvalidArgumentError(std::string(what) + ": vector has a non-finite value");
  return Status::Ok();
}

Status VectorIndex::AddBatch(std::span<const int64_t> ids, std::span<const float> vectors) {
  const size_t d = static_cast<size_t>(dim());
  if (vectors.size() != ids.size() * d) return InvalidArgumentError("AddBatch: vectors do not match ids");
  for (size_t i = 0; i < ids.size(); ++i) RETURN_IF_ERROR(Add(ids[i], vectors.subspan(i * d, d)));
  return Status::Ok();
}

StatusOr<std::unique_ptr<VectorIndex>> LoadVectorIndex(const std::string& path) {
  ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  ASSIGN_OR_RETURN(BinaryReader reader, BinaryReader::Open(file.bytes(), path));
  const auto bytes = file.bytes();
  if (bytes.size() >= 8 && std::string_view(reinterpret_cast<const char*>(bytes.data()), 8) == "CSHNSW03") {
    ASSIGN_OR_RETURN(auto index, HnswIndex::Load(reader));
    return std::unique_ptr<VectorIndex>(std::move(index));
  }
  if (bytes.size() >= 8 && std::string_view(reinterpret_cast<const char*>(bytes.data()), 8) == "CSFLAT01") {
    ASSIGN_OR_RETURN(auto index, FlatIndex::Load(reader));
    return std::unique_ptr<VectorIndex>(std::move(index));
  }
  return DataLossError(path + ": not a chunkserve vector index file");
}

}  // namespace chunkserve::rag
