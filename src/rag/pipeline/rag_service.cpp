#include "rag/pipeline/rag_service.h"

#include <algorithm>

#include "rag/embed/collection_embedding.h"
#include "rag/pipeline/document_upload.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {

Status ValidateAskParams(const AskParams& params, const AskParamNames& names) {
  if (params.retrieve.k < 1 || params.retrieve.k > 100)
    return InvalidArgumentError("'" + names.k + "' must be between 1 and 100");
  if (params.retrieve.selection.token_budget < 1)
    return InvalidArgumentError("'" + names.token_budget + "' must be positive");
  if (params.generation.max_new_tokens < 1) return InvalidArgumentError("'" + names.max_tokens + "' must be positive");
  if (!(params.generation.temperature >= 0))
    return InvalidArgumentError("'" + names.temperature + "' must not be negative");
  return Status::Ok();
}

StatusOr<std::unique_ptr<RagService>> RagService::Open(const RagServiceOptions& options) {
  if (options.db_path.empty()) return InvalidArgumentError("no database (--db DB)");
  std::unique_ptr<RagService> service(new RagService(options));
  { ASSIGN_OR_RETURN(auto store, service->OpenStore()); }  // creates / checks the schema once
  if (options.embedder != nullptr) {
    ASSIGN_OR_RETURN(service->indexes_, CollectionIndexes::Create(options.db_path, options.embedder, options.mode,
                                                                  options.embedder_role));
  }
  return service;
}

StatusOr<std::unique_ptr<Store>> RagService::OpenStore() const { return Store::Open(options_.db_path, options_.mode); }

StatusOr<int64_t> RagService::FindCollection(Store& store, const std::string& name) {
  ASSIGN_OR_RETURN(auto id, store.FindCollection(name));
  if (!id) return NotFoundError("no collection named '" + name + "'");
  return *id;
}

StatusOr<Retrieval> RagService::ResolveRetrieval(Store* store, int64_t collection_id, const std::string& collection,
                                                 const std::string& mode_name) {
  Retrieval r;
  if (mode_name == "bm25") return r;  // needs no vectors, whoever made them
  if (indexes_) {
    ASSIGN_OR_RETURN(r.dense, indexes_->Get(store, collection_id, collection));
    if (r.dense) r.embedder = &indexes_->embedder();
  }
  if (mode_name.empty()) {
    r.mode = r.dense ? RetrievalMode::kHybrid : RetrievalMode::kBm25;
    return r;
  }
  ASSIGN_OR_RETURN(r.mode, ParseRetrievalMode(mode_name));
  if (r.mode != RetrievalMode::kBm25 && !r.dense) {
    if (!indexes_)
      return FailedPreconditionError("mode '" + mode_name + "' needs an embedding model (--embed-model MODEL.gguf)");
    return FailedPreconditionError("collection '" + collection + "' has no embeddings: upload its documents while " +
                                   "the server runs with --embed-model, or ingest them with --embed-model");
  }
  return r;
}

StatusOr<std::vector<RetrievedChunk>> RagService::Search(Store* store, int64_t collection_id,
                                                         const Retrieval& retrieval, std::string_view query,
                                                         RetrieveParams params) const {
  params.mode = retrieval.mode;
  params.candidate_k = std::max(params.candidate_k, params.k);
  Retriever retriever(store, collection_id, retrieval.embedder, retrieval.dense.get());
  return retriever.Retrieve(query, params);
}

StatusOr<AskResult> RagService::Ask(Store* store, int64_t collection_id, const Retrieval& retrieval,
                                    std::string_view question, AskParams params, AnswerGenerator* generator,
                                    const std::function<void(std::string_view)>& on_text) const {
  RETURN_IF_ERROR(ValidateAskParams(params));
  params.retrieve.mode = retrieval.mode;
  params.force_mode = true;
  RagPipeline pipeline(store, collection_id, retrieval.embedder, retrieval.dense.get(), generator);
  return pipeline.Ask(question, params, on_text);
}

StatusOr<UploadResult> RagService::Upload(Store* store, int64_t collection_id, const std::string& collection,
                                          const std::string& name, std::string_view bytes, DocumentFormat format,
                                          const EmbedControl& control) {
  if (indexes_) RETURN_IF_ERROR(indexes_->CheckEmbedder(store, collection_id, collection));
  const ApproxTokenCounter counter;
  UploadResult out;
  ASSIGN_OR_RETURN(out.document, PutDocumentBytes(store, collection_id, name, bytes, format, ChunkerParams{}, counter));
  if (!indexes_) return out;
  StatusOr<EmbedReport> embedded = EmbedCollection(store, collection_id, indexes_->embedder(), {}, control);
  if (!embedded.ok()) {
    // Do not leave a document that dense retrieval cannot see.
    (void)store->DeleteDocumentById(collection_id, out.document.id);
    return Status(embedded.status().code(), "embedding '" + name + "' failed: " + embedded.status().message());
  }
  out.n_embedded = embedded->n_embedded;
  if (!options_.embedder_source.model_path.empty()) {
    EmbeddingStore es(store);
    RETURN_IF_ERROR(es.RecordEmbedder(collection_id, indexes_->embedder().id(), indexes_->embedder().dim(),
                                      options_.embedder_source));
  }
  return out;
}

}  // namespace chunkserve::rag
