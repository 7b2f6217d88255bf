// The embedding-model flags shared by every command that embeds (ingest,
// search, ask, serve; each lists them in its Flags::Parse and --help), so
// they load the same models the same way:
//   --embed-model F     the model (default: $CHUNKSERVE_EMBED_MODEL; else, for
//                       search / ask / serve, the model the collection was
//                       embedded with, found as rag/embed/recorded_embedder.h
//                       says: its recorded path, then $CHUNKSERVE_MODELS)
//   --embed-pooling P   model | mean | cls | last
//   --query-prefix S    text before every query (default: the model's, e.g.
//                       Qwen3-Embedding's instruction; "" for none)
//   --doc-prefix S      text before every chunk (part of the embedder id)
// See rag/embed/embedder_loader.h.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/command.h"
#include "rag/embed/embedder.h"
#include "rag/embed/embedder_loader.h"
#include "rag/store/embedding_store.h"
#include "rag/store/store.h"

namespace chunkserve::cli {

// --embed-model, else $CHUNKSERVE_EMBED_MODEL (unset or empty: none).
std::optional<std::string> EmbedModelFlag(const Flags& flags);

// The load options the flags above ask for; InvalidArgument for a bad pooling.
StatusOr<rag::EmbedderLoadOptions> EmbedderOptionsFromFlags(const Flags& flags, int n_threads = 0);

// Loads `model_path` with the flags above; InvalidArgument for a bad pooling.
StatusOr<std::unique_ptr<rag::Embedder>> LoadEmbedderFromFlags(const Flags& flags, const std::string& model_path,
                                                               int n_threads = 0);

// The query embedder of a collection: the --embed-model when given, else
// the one the collection records (rag::LoadRecordedEmbedder). `embedder` is
// null when the collection has none, or when its recorded model cannot be
// loaded: then `missing` says why (callers must say so, never quietly
// search BM25 only).
struct CollectionEmbedderChoice {
  std::unique_ptr<rag::Embedder> embedder;
  std::string path;     // the model file used
  bool recorded = false;  // found from the collection's record, not a flag
  std::string missing;  // set when the collection has vectors we cannot query
};
StatusOr<CollectionEmbedderChoice> EmbedderForCollection(const Flags& flags, rag::Store& store,
                                                         int64_t collection_id, const std::string& collection,
                                                         int n_threads = 0);

// `serve --db DB` without --embed-model: the model the database's embedded
// collections record (the one most of them use), found and checked by id.
// `notes` says what is not served densely: collections embedded with
// another model, or a recorded model that cannot be found (then `embedder`
// is null).
struct DatabaseEmbedderChoice {
  std::unique_ptr<rag::Embedder> embedder;
  std::string path;
  rag::EmbedderSource source;  // as recorded, with `path`
  std::vector<std::string> notes;
};
StatusOr<DatabaseEmbedderChoice> RecordedEmbedderOfDatabase(const std::string& db_path, int n_threads = 0);

}  // namespace chunkserve::cli
