#include "cli/embedder_flags.h"

#include "rag/embed/embedder_loader.h"

namespace chunkserve::cli {

StatusOr<std::unique_ptr<rag::Embedder>> LoadEmbedderFromFlags(const Flags& flags, const std::string& model_path,
                                                               int n_threads) {
  rag::EmbedderLoadOptions options;
  ASSIGN_OR_RETURN(options.pooling, rag::ParseEmbedPooling(flags.GetOr("embed-pooling", "")));
  options.query_prefix = flags.Get("query-prefix");
  options.document_prefix = flags.GetOr("doc-prefix", "");
  options.n_threads = n_threads;
  return rag::LoadEmbedder(model_path, options);
}

}  // namespace chunkserve::cli
