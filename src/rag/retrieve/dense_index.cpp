#include "rag/retrieve/dense_index.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <unordered_set>

#include "base/hash.h"
#include "base/logging.h"
#include "rag/index/flat_index.h"

namespace chunkserve::rag {

std::string DefaultIndexCacheDir(const std::string& db_path) {
  if (!IsPostgresUrl(db_path)) return db_path + ".index";
  // A shared database has no file to sit beside: a per-user cache directory
  // named after the URI.
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = xdg != nullptr && *xdg != '\0' ? std::string(xdg)
                           : home != nullptr && *home != '\0' ? std::string(home) + "/.cache"
                                                                : std::string("/tmp");
  return base + "/chunkserve/pg-" + HashToHex(Hash64(db_path)) + ".index";
}

StatusOr<std::unique_ptr<DenseIndex>> DenseIndex::Open(Store* store, int64_t collection_id,
                                                       const DenseIndexOptions& options) {
  EmbeddingStore es(store);
  ASSIGN_OR_RETURN(auto embedder, es.GetEmbedder(collection_id));
  if (!embedder)
    return FailedPreconditionError("the collection has no embeddings; ingest it with --embed-model MODEL.gguf");
  auto out = std::make_unique<DenseIndex>();
  out->embedder_ = *embedder;
  out->transform_.common_component = embedder->common_component;
  ASSIGN_OR_RETURN(EmbeddingRows rows, es.LoadEmbeddings(collection_id));
  const size_t d = static_cast<size_t>(rows.dim);

  // The base key covers what every vector depends on (embedder, common
  // component, index kind, situated settings); the content key the vectors.
  const size_t n = rows.ids.size();
  const bool use_hnsw = n >= options.hnsw_min_vectors;
  uint64_t base = Hash64(embedder->embedder_id);
  base = HashCombine(base, Hash64Span<float>(embedder->common_component));
  base = HashCombine(base, use_hnsw ? Hash64("hnsw") : Hash64("flat"));
  uint64_t fp = HashCombine(Hash64Span<int64_t>(rows.ids), Hash64Span<float>(rows.vectors));
  if (options.situated_weight > 0) {
    base = HashCombine(base, Hash64(std::to_string(options.situated_weight) + "/" + std::to_string(options.situated_window)));
    fp = HashCombine(fp, Hash64Span<int64_t>(rows.document_ids));
    fp = HashCombine(fp, Hash64Span<uint32_t>(rows.ordinals));
  }

  namespace fs = std::filesystem;
  const std::string prefix = "c" + std::to_string(collection_id) + "-";
  const std::string base_prefix = prefix + HashToHex(base) + "-";
  std::string path;
  std::unique_ptr<VectorIndex> stale;  // same base key, other content: updated in place
  if (!options.cache_dir.empty()) {
    path = (fs::path(options.cache_dir) / (base_prefix + HashToHex(fp) + ".idx")).string();
    std::error_code ec;
    if (!fs::exists(path, ec) && options.situated_weight <= 0) {
      for (const auto& entry : fs::directory_iterator(options.cache_dir, ec)) {
        if (entry.path().filename().string().rfind(base_prefix, 0) != 0) continue;
        auto loaded = LoadVectorIndex(entry.path().string());
        if (loaded.ok() && (*loaded)->dim() == rows.dim) stale = std::move(*loaded);
        break;
      }
    }
    if (fs::exists(path, ec)) {
      auto loaded = LoadVectorIndex(path);
      if (loaded.ok() && (*loaded)->dim() == rows.dim && (*loaded)->size() <= n) {
        out->index_ = std::move(*loaded);
        out->loaded_from_cache_ = true;
        return out;
      }
      out->rebuild_reason_ = "corrupt: " + (loaded.ok() ? std::string("wrong contents") : loaded.status().message());
      CS_LOG(Warning) << "dense index cache " << path << " unusable (" << out->rebuild_reason_ << "); rebuilding";
    } else {
      out->rebuild_reason_ = stale ? "stale" : "missing";
    }
  }

  // Build from the database.
  std::vector<float> transformed(rows.vectors);
  for (size_t i = 0; i < n; ++i) out->transform_.Apply(std::span<float>(&transformed[i * d], d));
  if (options.situated_weight > 0 && n > 0) {
    // Rows are by chunk id; group by document, order by ordinal.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return rows.document_ids[a] != rows.document_ids[b] ? rows.document_ids[a] < rows.document_ids[b]
                                                          : rows.ordinals[a] < rows.ordinals[b];
    });
    std::vector<float> situated(transformed.size());
    std::vector<float> ctx(d);
    const int64_t w = options.situated_window;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = order[k];
      std::fill(ctx.begin(), ctx.end(), 0.0f);
      for (size_t j = k; j-- > 0;) {  // neighbours before
        const size_t o = order[j];
        if (rows.document_ids[o] != rows.document_ids[i] ||
            static_cast<int64_t>(rows.ordinals[i]) - static_cast<int64_t>(rows.ordinals[o]) > w)
          break;
        for (size_t t = 0; t < d; ++t) ctx[t] += transformed[o * d + t];
      }
      for (size_t j = k + 1; j < n; ++j) {  // neighbours after
        const size_t o = order[j];
        if (rows.document_ids[o] != rows.document_ids[i] ||
            static_cast<int64_t>(rows.ordinals[o]) - static_cast<int64_t>(rows.ordinals[i]) > w)
          break;
        for (size_t t = 0; t < d; ++t) ctx[t] += transformed[o * d + t];
      }
      CollectionTransform{}.Apply(ctx);  // unit length (zero stays zero)
      for (size_t t = 0; t < d; ++t)
        situated[i * d + t] = transformed[i * d + t] + static_cast<float>(options.situated_weight) * ctx[t];
    }
    transformed.swap(situated);
  }
  if (stale) {
    // Same embedder and transform: remove what is gone (tombstones, repaired
    // by the index), add what is new.
    std::unordered_set<int64_t> current(rows.ids.begin(), rows.ids.end());
    int64_t n_removed = 0, n_added = 0;
    for (int64_t id : stale->Ids())
      if (!current.count(id)) n_removed += stale->Remove(id) ? 1 : 0;
    for (size_t i = 0; i < n; ++i) {
      if (stale->Contains(rows.ids[i])) continue;
      std::vector<float> v(transformed.begin() + static_cast<ptrdiff_t>(i * d),
                           transformed.begin() + static_cast<ptrdiff_t>((i + 1) * d));
      CollectionTransform{}.Apply(v);
      bool zero = true;
      for (float x : v) zero &= x == 0.0f;
      if (zero) continue;
      RETURN_IF_ERROR(stale->Add(rows.ids[i], v));
      ++n_added;
    }
    out->index_ = std::move(stale);
    out->updated_in_place_ = true;
    out->rebuild_reason_ = "stale: updated in place (-" + std::to_string(n_removed) + " +" + std::to_string(n_added) + ")";
  }
  std::vector<int64_t> ids;
  std::vector<float> vectors;
  ids.reserve(n);
  vectors.reserve(n * d);
  for (size_t i = 0; i < n && !out->index_; ++i) {
    std::vector<float> v(transformed.begin() + static_cast<ptrdiff_t>(i * d),
                         transformed.begin() + static_cast<ptrdiff_t>((i + 1) * d));
    CollectionTransform{}.Apply(v);
    bool zero = true;
    for (float x : v) zero &= x == 0.0f;
    if (zero) continue;
    ids.push_back(rows.ids[i]);
    vectors.insert(vectors.end(), v.begin(), v.end());
  }
  if (out->index_) {
    // updated in place above
  } else if (use_hnsw) {
    HnswParams p = options.hnsw;
    p.metric = Metric::kCosine;
    RETURN_IF_ERROR(ValidateHnswParams(p));
    out->index_ = std::make_unique<HnswIndex>(rows.dim, p);
  } else {
    out->index_ = std::make_unique<FlatIndex>(rows.dim > 0 ? rows.dim : 1, Metric::kCosine);
  }
  if (!ids.empty() && !out->updated_in_place_) RETURN_IF_ERROR(out->index_->AddBatch(ids, vectors));

  if (!path.empty()) {
    std::error_code ec;
    fs::create_directories(options.cache_dir, ec);
    Status s = out->index_->Save(path);
    if (!s.ok()) {
      CS_LOG(Warning) << "could not cache the dense index: " << s.message();
    } else {
      for (const auto& entry : fs::directory_iterator(options.cache_dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) == 0 && entry.path().string() != path) fs::remove(entry.path(), ec);
      }
    }
  }
  return out;
}

StatusOr<std::vector<Neighbor>> DenseIndex::Search(std::span<const float> raw_query, const SearchOptions& options) const {
  std::vector<float> q(raw_query.begin(), raw_query.end());
  if (q.size() != static_cast<size_t>(embedder_.dim))
    return InvalidArgumentError("query vector has " + std::to_string(q.size()) + " values, the collection's " +
                                std::to_string(embedder_.dim));
  transform_.Apply(q);
  bool zero = true;
  for (float x : q) zero &= x == 0.0f;
  if (zero || index_->size() == 0) return std::vector<Neighbor>();
  return index_->Search(q, options);
}

}  // namespace chunkserve::rag
