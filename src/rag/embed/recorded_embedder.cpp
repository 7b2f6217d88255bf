#include "rag/embed/recorded_embedder.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "rag/embed/situated_text.h"

namespace chunkserve::rag {
namespace {

std::string PoolingName(EmbedPooling p) {
  switch (p) {
    case EmbedPooling::kMean: return "mean";
    case EmbedPooling::kCls: return "cls";
    case EmbedPooling::kLast: return "last";
    case EmbedPooling::kFromModel: break;
  }
  return "";
}

}  // namespace

std::vector<std::string> ModelDirsFromEnv() {
  std::vector<std::string> dirs;
  const char* env = std::getenv(kModelPathEnv);
  if (env == nullptr) return dirs;
  std::string_view rest(env);
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    if (!dir.empty()) dirs.emplace_back(dir);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return dirs;
}

EmbedderSource SourceOf(const std::string& model_path, const EmbedderLoadOptions& options) {
  EmbedderSource s;
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(model_path, ec);
  s.model_path = ec ? model_path : abs.lexically_normal().string();
  s.pooling = PoolingName(options.pooling);
  s.query_prefix = options.query_prefix;
  s.doc_prefix = options.document_prefix;
  return s;
}

StatusOr<EmbedderLoadOptions> OptionsOf(const EmbedderSource& source, int n_threads) {
  EmbedderLoadOptions o;
  ASSIGN_OR_RETURN(o.pooling, ParseEmbedPooling(source.pooling));
  o.query_prefix = source.query_prefix;
  o.document_prefix = source.doc_prefix;
  o.n_threads = n_threads;
  return o;
}

StatusOr<LoadedEmbedder> LoadRecordedEmbedder(const CollectionEmbedder& recorded,
                                              const std::vector<std::string>& model_dirs, int n_threads) {
  const EmbedderSource& source = recorded.source;
  if (source.model_path.empty())
    return NotFoundError(
        "its model file was not recorded (embedded before schema 4); pass --embed-model FILE once (search, ask or "
        "ingest)");
  ASSIGN_OR_RETURN(EmbedderLoadOptions options, OptionsOf(source, n_threads));
  std::vector<std::string> candidates = {source.model_path};
  const std::string name = std::filesystem::path(source.model_path).filename().string();
  for (const std::string& dir : model_dirs) candidates.push_back((std::filesystem::path(dir) / name).string());

  std::string tried;
  for (const std::string& path : candidates) {
    std::error_code ec;
    if (!tried.empty()) tried += "; ";
    tried += path;
    if (!std::filesystem::is_regular_file(path, ec)) {
      tried += " (not there)";
      continue;
    }
    StatusOr<std::unique_ptr<Embedder>> loaded = LoadEmbedder(path, options);
    if (!loaded.ok()) {
      tried += " (" + std::string(loaded.status().message()) + ")";
      continue;
    }
    if ((*loaded)->id() != QueryEmbedderId(recorded.embedder_id)) {
      tried += " (another model: " + (*loaded)->id() + ")";
      continue;
    }
    return LoadedEmbedder{std::move(*loaded), path};
  }
  return NotFoundError("its embedding model was not found: tried " + tried + "; pass --embed-model FILE or set " +
                       kModelPathEnv + "=DIR[:DIR...] to where " + name + " lies");
}

}  // namespace chunkserve::rag
