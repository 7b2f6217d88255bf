// RagService: retrieval-augmented answering as one service below the edges.
// `chunkserve ask`, `chunkserve search`-like routes and the HTTP RAG routes
// (server/rag_routes.h) are thin translations of it: they parse their
// input into its Params, and it does the rest, with every default and every
// validation said here once (AskParams' defaults, ValidateAskParams, the
// retrieval-mode rule of ResolveRetrieval).
//
// It owns what outlives one request: the database path, the embedder of its
// dense side (optional) and the per-collection dense-index cache
// (collection_indexes.h). Each request brings its own Store connection
// (OpenStore: SQLite connections are per thread).
//
// Retrieval mode (ResolveRetrieval): "bm25" needs no vectors; "dense" and
// "hybrid" need an embedder and vectors from it (FailedPrecondition saying
// which is missing); no mode: hybrid when the collection has vectors of the
// service's embedder, else BM25. A collection embedded with another model
// is FailedPrecondition naming both (unless the mode is bm25).
//
// Uploads (Upload): stored, then embedded at once when the service has an
// embedder (so the next question finds them densely); a collection embedded
// with another model is refused before anything is written, and a document
// whose embedding fails (a full queue, the caller gone) is removed again.
//
// Thread safety: every method may be called from any thread (each with its
// own Store); uploads and deletions should be serialized by the caller
// (SQLite has one writer; an upload's embedding pass reads what the previous
// one wrote).
// REQUIRES: the embedder outlives the service.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/pipeline/answer_generator.h"
#include "rag/pipeline/rag_pipeline.h"
#include "rag/retrieve/collection_indexes.h"
#include "rag/retrieve/retriever.h"
#include "rag/store/embedding_store.h"
#include "rag/store/store.h"
#include "rag/text/document.h"

namespace chunkserve::rag {

// The bounds every edge enforces on AskParams: k in [1, 100], a positive
// token budget and max_new_tokens, a temperature >= 0. InvalidArgument
// names the field as `names` spells it (the route's JSON fields, the CLI's
// flags).
struct AskParamNames {
  std::string k = "k";
  std::string token_budget = "token_budget";
  std::string max_tokens = "max_tokens";
  std::string temperature = "temperature";
};
Status ValidateAskParams(const AskParams& params, const AskParamNames& names = {});

struct RagServiceOptions {
  std::string db_path;
  Store::Mode mode = Store::Mode::kReadWrite;  // kReadOnly for the CLI
  const Embedder* embedder = nullptr;          // the dense side; null: BM25 only
  // Names the embedder in mismatch messages ("this server's --embed-model").
  std::string embedder_role = "the --embed-model";
  // Where the embedder was loaded from: recorded with the collections that
  // uploads embed, so later commands find the model (recorded_embedder.h).
  EmbedderSource embedder_source;
};

// How one request retrieves: the mode and, for dense / hybrid, the
// collection's index and the embedder.
struct Retrieval {
  RetrievalMode mode = RetrievalMode::kBm25;
  const Embedder* embedder = nullptr;
  std::shared_ptr<const DenseIndex> dense;
};

struct UploadResult {
  DocumentRecord document;
  std::optional<int64_t> n_embedded;  // set when the service embedded it
};

class RagService {
 public:
  // Opens (and for kReadWrite creates or migrates) the database once.
  static StatusOr<std::unique_ptr<RagService>> Open(const RagServiceOptions& options);

  // A connection for the calling thread.
  StatusOr<std::unique_ptr<Store>> OpenStore() const;
  // NotFound naming the collection.
  static StatusOr<int64_t> FindCollection(Store& store, const std::string& name);

  const Embedder* embedder() const { return options_.embedder; }

  // `mode_name`: "", "bm25", "dense" or "hybrid" (see above).
  StatusOr<Retrieval> ResolveRetrieval(Store* store, int64_t collection_id, const std::string& collection,
                                       const std::string& mode_name);

  // Ranked chunks (RetrieveParams' mode is the retrieval's).
  StatusOr<std::vector<RetrievedChunk>> Search(Store* store, int64_t collection_id, const Retrieval& retrieval,
                                               std::string_view query, RetrieveParams params) const;

  // The answer with citations: retrieval as resolved, generated through
  // `generator` (null or params.extractive: extractive). params are
  // validated first (ValidateAskParams).
  StatusOr<AskResult> Ask(Store* store, int64_t collection_id, const Retrieval& retrieval, std::string_view question,
                          AskParams params, AnswerGenerator* generator,
                          const std::function<void(std::string_view)>& on_text = {}) const;

  // Extracted, chunked (default chunker, approximate token counts), stored
  // under `name`, then embedded (see above). `control` stops the embedding.
  StatusOr<UploadResult> Upload(Store* store, int64_t collection_id, const std::string& collection,
                                const std::string& name, std::string_view bytes, DocumentFormat format,
                                const EmbedControl& control = {});

 private:
  explicit RagService(const RagServiceOptions& options) : options_(options) {}

  const RagServiceOptions options_;
  std::unique_ptr<CollectionIndexes> indexes_;  // null without an embedder
};

}  // namespace chunkserve::rag
