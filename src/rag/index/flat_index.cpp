#include "rag/index/flat_index.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "base/mapped_file.h"
#include "rag/index/distance.h"

namespace chunkserve::rag {

namespace {
constexpr char kMagic[] = "CSFLAT01";
}

Status NormalizeForMetric(Metric metric, std::vector<float>* v) {
  if (metric != Metric::kCosine) return Status::Ok();
  double norm = 0;
  for (float x : *v) norm += static_cast<double>(x) * x;
  if (!(norm > 0)) return InvalidArgumentError("zero vector has no cosine direction");
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : *v) x *= inv;
  return Status::Ok();
}

Status FlatIndex::Add(int64_t id, std::span<const float> vector) {
  RETURN_IF_ERROR(CheckVector(vector, dim_, "flat index"));
  if (row_of_.count(id)) return AlreadyExistsError("flat index: id " + std::to_string(id) + " is already present");
  std::vector<float> v(vector.begin(), vector.end());
  RETURN_IF_ERROR(NormalizeForMetric(metric_, &v).WithContext("flat index"));
  row_of_[id] = ids_.size();
  ids_.push_back(id);
  data_.insert(data_.end(), v.begin(), v.end());
  return Status::Ok();
}

bool FlatIndex::Remove(int64_t id) {
  auto it = row_of_.find(id);
  if (it == row_of_.end()) return false;
  const size_t row = it->second, last = ids_.size() - 1, d = static_cast<size_t>(dim_);
  if (row != last) {
    std::copy_n(data_.begin() + static_cast<ptrdiff_t>(last * d), d, data_.begin() + static_cast<ptrdiff_t>(row * d));
    ids_[row] = ids_[last];
    row_of_[ids_[row]] = row;
  }
  ids_.pop_back();
  data_.resize(last * d);
  row_of_.erase(id);
  return true;
}

StatusOr<std::vector<Neighbor>> FlatIndex::Search(std::span<const float> query, const SearchOptions& options) const {
  RETURN_IF_ERROR(CheckVector(query, dim_, "flat index query"));
  std::vector<float> q(query.begin(), query.end());
  RETURN_IF_ERROR(NormalizeForMetric(metric_, &q).WithContext("flat index query"));
  if (options.k <= 0) return std::vector<Neighbor>();
  const DistanceKernels& k = ActiveDistanceKernels();
  const size_t d = static_cast<size_t>(dim_);
  std::priority_queue<std::pair<float, int64_t>> best;
  for (size_t row = 0; row < ids_.size(); ++row) {
    if (options.filter && !options.filter(ids_[row])) continue;
    const float* x = &data_[row * d];
    const float dist = metric_ == Metric::kL2 ? k.l2sqr_f32(q.data(), x, d) : 1.0f - k.dot_f32(q.data(), x, d);
    if (best.size() < static_cast<size_t>(options.k)) {
      best.emplace(dist, ids_[row]);
    } else if (std::make_pair(dist, ids_[row]) < best.top()) {
      best.pop();
      best.emplace(dist, ids_[row]);
    }
  }
  std::vector<Neighbor> out(best.size());
  for (size_t i = out.size(); i-- > 0;) {
    out[i] = {best.top().second, best.top().first};
    best.pop();
  }
  return out;
}

Status FlatIndex::Save(const std::string& path) const {
  BinaryWriter w;
  w.PutBytes(std::string_view(kMagic, 8));
  w.Put(static_cast<uint32_t>(metric_));
  w.Put(static_cast<int32_t>(dim_));
  w.Put(static_cast<uint64_t>(ids_.size()));
  w.PutArray<int64_t>(ids_);
  w.PutArray<float>(data_);
  return WriteFileAtomically(path, w.Finish());
}

StatusOr<std::unique_ptr<FlatIndex>> FlatIndex::Load(BinaryReader& r) {
  r.Expect(std::string_view(kMagic, 8));
  const uint32_t metric = r.Get<uint32_t>();
  const int32_t dim = r.Get<int32_t>();
  const uint64_t n = r.Get<uint64_t>();
  RETURN_IF_ERROR(r.status());
  if (metric > 2 || dim <= 0 || dim > 65536) return DataLossError("flat index: bad header");
  auto index = std::make_unique<FlatIndex>(dim, static_cast<Metric>(metric));
  index->ids_ = r.GetArray<int64_t>(n);
  if (n > 0 && static_cast<uint64_t>(dim) > r.remaining() / n / sizeof(float))
    return DataLossError("flat index: vectors run past the end");
  index->data_ = r.GetArray<float>(n * static_cast<uint64_t>(dim));
  RETURN_IF_ERROR(r.status());
  if (!r.AtEnd()) return DataLossError("flat index: trailing bytes");
  for (size_t i = 0; i < index->ids_.size(); ++i)
    if (!index->row_of_.emplace(index->ids_[i], i).second) return DataLossError("flat index: duplicate id");
  return index;
}

}  // namespace chunkserve::rag
