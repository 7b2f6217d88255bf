#include "rag/embed/embedder_loader.h"

#include "gguf/gguf_file.h"
#include "rag/embed/prefixed_embedder.h"
#include "rag/embed/static_embedder.h"
#include "rag/embed/decoder_embedder.h"
#include "rag/embed/encoder_embedder.h"
#include "rag/embed/use_embedder.h"
#include "model/arch.h"

namespace chunkserve::rag {
namespace {

StatusOr<std::unique_ptr<Embedder>> LoadByArchitecture(const std::string& gguf_path, const std::string& arch,
                                                       const EmbedderLoadOptions& opts) {
  if (arch == "glove") {
    ASSIGN_OR_RETURN(auto e, StaticEmbedder::Load(gguf_path, {.sif_a = opts.sif_a}));
    return std::unique_ptr<Embedder>(std::move(e));
  }
  if (arch == "bert") {
    ASSIGN_OR_RETURN(auto e, EncoderEmbedder::Load(gguf_path, opts));
    return std::unique_ptr<Embedder>(std::move(e));
  }
  if (arch == "use-lite") {
    UseLoadOptions use;
    use.n_threads = opts.n_threads;
    use.pool = opts.pool;
    use.batch_tokens = opts.batch_tokens;
    ASSIGN_OR_RETURN(auto e, UseEmbedder::Load(gguf_path, use));
    return std::unique_ptr<Embedder>(std::move(e));
  }
  if (model::FindArch(arch).ok()) {
    ASSIGN_OR_RETURN(auto e, DecoderEmbedder::Load(gguf_path, opts));
    return std::unique_ptr<Embedder>(std::move(e));
  }
  return UnimplementedError(gguf_path + ": no embedder for architecture '" + arch +
                            "' (supported: glove, bert, use-lite, llama, qwen2, qwen3)");
}

}  // namespace

StatusOr<EmbedPooling> ParseEmbedPooling(std::string_view name) {
  if (name == "model" || name.empty()) return EmbedPooling::kFromModel;
  if (name == "mean") return EmbedPooling::kMean;
  if (name == "cls") return EmbedPooling::kCls;
  if (name == "last") return EmbedPooling::kLast;
  return InvalidArgumentError("unknown pooling '" + std::string(name) + "' (expected mean, cls, last or model)");
}

StatusOr<std::unique_ptr<Embedder>> LoadEmbedder(const std::string& gguf_path, const EmbedderLoadOptions& opts) {
  std::string arch;
  {
    // Only the metadata is needed to dispatch; each embedder opens the file
    // again (an mmap, so this costs no second read of the weights).
    ASSIGN_OR_RETURN(auto file, gguf::GgufFile::Open(gguf_path));
    const auto a = file->GetString("general.architecture");
    if (!a) return InvalidArgumentError(gguf_path + ": no general.architecture: not an embedding model");
    arch = *a;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Embedder> embedder, LoadByArchitecture(gguf_path, arch, opts));
  std::string query_prefix =
      opts.query_prefix.value_or(arch == "qwen3" ? std::string(kQwen3EmbeddingQueryPrefix) : std::string());
  if (query_prefix.empty() && opts.document_prefix.empty()) return embedder;
  return std::unique_ptr<Embedder>(
      std::make_unique<PrefixedEmbedder>(std::move(embedder), std::move(query_prefix), opts.document_prefix));
}

}  // namespace chunkserve::rag
