// Collections that remember their embedder: the embedding model a
// collection was embedded with, found and loaded again without flags.
//
// `ingest --embed-model` records the model's absolute path and load options
// beside its embedder id (EmbedderSource, store/embedding_store.h). A later
// `search`, `ask` or `serve` without --embed-model calls
// LoadRecordedEmbedder, which tries, in order:
//   1. the recorded path;
//   2. each directory of the model search path (CHUNKSERVE_MODELS, a
//      ':'-separated list, like PATH) joined with the recorded file name.
// A file found is loaded with the recorded options and accepted only if its
// embedder id, which holds a hash of the model's contents, equals the
// recorded id: a different file of the same name is never used. When no
// candidate qualifies the error (kNotFound) names every path tried and what
// was wrong with it, so callers can say so instead of quietly searching
// BM25 only.
//
// Thread safety: reentrant (as LoadEmbedder).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/embed/embedder_loader.h"
#include "rag/store/embedding_store.h"

namespace chunkserve::rag {

// The environment variable that holds the model search path.
inline constexpr const char kModelPathEnv[] = "CHUNKSERVE_MODELS";

// CHUNKSERVE_MODELS split at ':' (empty entries dropped); empty when unset.
std::vector<std::string> ModelDirsFromEnv();

// What to record for a model loaded from `model_path` with `options`: the
// path made absolute (lexically normal), the options as flags spell them.
EmbedderSource SourceOf(const std::string& model_path, const EmbedderLoadOptions& options);

// The load options a recorded source stands for (InvalidArgument for an
// unknown pooling name); `n_threads` as EmbedderLoadOptions'.
StatusOr<EmbedderLoadOptions> OptionsOf(const EmbedderSource& source, int n_threads = 0);

struct LoadedEmbedder {
  std::unique_ptr<Embedder> embedder;
  std::string path;  // the file it was loaded from
};

// See above. kNotFound when nothing qualifies (also when the collection
// was embedded before sources were recorded: then only the id is known).
StatusOr<LoadedEmbedder> LoadRecordedEmbedder(const CollectionEmbedder& recorded,
                                              const std::vector<std::string>& model_dirs, int n_threads = 0);

}  // namespace chunkserve::rag
