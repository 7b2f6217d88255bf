#include "cli/embedder_flags.h"

#include <algorithm>
#include <cstdlib>

#include "rag/embed/recorded_embedder.h"
#include "rag/embed/situated_text.h"
#include "rag/store/embedding_store.h"

namespace chunkserve::cli {

std::optional<std::string> EmbedModelFlag(const Flags& flags) {
  if (auto flag = flags.Get("embed-model")) return flag;
  const char* env = std::getenv("CHUNKSERVE_EMBED_MODEL");
  if (env != nullptr && *env != '\0') return std::string(env);
  return std::nullopt;
}

StatusOr<rag::EmbedderLoadOptions> EmbedderOptionsFromFlags(const Flags& flags, int n_threads) {
  rag::EmbedderLoadOptions options;
  ASSIGN_OR_RETURN(options.pooling, rag::ParseEmbedPooling(flags.GetOr("embed-pooling", "")));
  options.query_prefix = flags.Get("query-prefix");
  options.document_prefix = flags.GetOr("doc-prefix", "");
  options.n_threads = n_threads;
  return options;
}

StatusOr<std::unique_ptr<rag::Embedder>> LoadEmbedderFromFlags(const Flags& flags, const std::string& model_path,
                                                               int n_threads) {
  ASSIGN_OR_RETURN(rag::EmbedderLoadOptions options, EmbedderOptionsFromFlags(flags, n_threads));
  return rag::LoadEmbedder(model_path, options);
}

StatusOr<CollectionEmbedderChoice> EmbedderForCollection(const Flags& flags, rag::Store& store,
                                                         int64_t collection_id, const std::string& collection,
                                                         int n_threads) {
  CollectionEmbedderChoice out;
  if (const auto model = EmbedModelFlag(flags)) {
    ASSIGN_OR_RETURN(out.embedder, LoadEmbedderFromFlags(flags, *model, n_threads));
    out.path = *model;
    return out;
  }
  if (store.schema_version() < 2) return out;  // no embeddings at all
  rag::EmbeddingStore es(&store);
  ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(collection_id));
  if (!recorded) return out;
  StatusOr<rag::LoadedEmbedder> loaded = rag::LoadRecordedEmbedder(*recorded, rag::ModelDirsFromEnv(), n_threads);
  if (!loaded.ok()) {
    out.missing = "collection '" + collection + "' was embedded with " + recorded->embedder_id + ", but " +
                  std::string(loaded.status().message());
    return out;
  }
  out.embedder = std::move(loaded->embedder);
  out.path = loaded->path;
  out.recorded = true;
  return out;
}

StatusOr<DatabaseEmbedderChoice> RecordedEmbedderOfDatabase(const std::string& db_path, int n_threads) {
  DatabaseEmbedderChoice out;
  ASSIGN_OR_RETURN(auto store, rag::Store::Open(db_path, rag::Store::Mode::kReadOnly));
  ASSIGN_OR_RETURN(auto collections, store->ListCollections());
  // Embedder id -> its collections, in the order first seen.
  std::vector<std::pair<std::string, std::vector<std::string>>> by_id;
  for (const rag::CollectionInfo& c : collections) {
    if (c.embedder_id.empty()) continue;
    const std::string model_id = rag::QueryEmbedderId(c.embedder_id);  // situated collections share the model
    auto it = std::find_if(by_id.begin(), by_id.end(), [&](const auto& e) { return e.first == model_id; });
    if (it == by_id.end()) it = by_id.insert(by_id.end(), {model_id, {}});
    it->second.push_back(c.name);
  }
  if (by_id.empty()) return out;
  std::stable_sort(by_id.begin(), by_id.end(),
                   [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  auto names = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& n : v) s += (s.empty() ? "'" : ", '") + n + "'";
    return s;
  };
  ASSIGN_OR_RETURN(auto first, store->FindCollection(by_id[0].second[0]));
  rag::EmbeddingStore es(store.get());
  ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(first.value_or(0)));
  if (!recorded) return out;  // deleted since it was listed
  StatusOr<rag::LoadedEmbedder> loaded = rag::LoadRecordedEmbedder(*recorded, rag::ModelDirsFromEnv(), n_threads);
  if (loaded.ok()) {
    out.embedder = std::move(loaded->embedder);
    out.path = loaded->path;
    out.source = recorded->source;
    out.source.model_path = loaded->path;
  } else {
    out.notes.push_back("collections " + names(by_id[0].second) + " were embedded with " + by_id[0].first + ", but " +
                        std::string(loaded.status().message()) + "; they are searched with BM25 only");
  }
  for (size_t i = 1; i < by_id.size(); ++i)
    out.notes.push_back("collections " + names(by_id[i].second) + " were embedded with another model (" +
                        by_id[i].first + "): their requests need \"mode\": \"bm25\"");
  return out;
}

}  // namespace chunkserve::cli
