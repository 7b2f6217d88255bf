// ServerContext: what route handlers share - the loaded model, its
// tokenizer and chat template, the engine core and the metrics. Built
// once by `chunkserve serve` (or a test) before routes are installed;
// immutable afterwards except through the thread-safe objects it points to.
//
// Route modules (openai_routes.h; rag routes from the retrieval side) take a
// ServerContext& when they install their handlers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kv/kv_policy.h"
#include "rag/store/embedding_store.h"
#include "server/metrics.h"
#include "server/speculation_policy.h"
#include "engine/prompt_assembler.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::engine {
class Engine;
}  // namespace chunkserve::engine
namespace chunkserve::rag {
class Embedder;
}

namespace chunkserve::server {

struct ServerContext {
  std::string model_id;                        // what /v1/models lists; empty: no model (-m)
  int64_t created_unix_s = 0;                  // when the model was loaded
  int64_t n_ctx_tokens = 4096;                 // prompt + completion limit
  const tokenizer::Tokenizer* tokenizer = nullptr;
  // Every prompt is built through it (template, special-token policy, BOS).
  std::unique_ptr<engine::PromptAssembler> assembler;
  // The one engine core: every generation and decoder embedding goes
  // through it (thread-safe). Null when serving without a model
  // (retrieval only; the completion routes answer 501).
  engine::Engine* engine = nullptr;
  Metrics* metrics = nullptr;
  // What /v1/embeddings answers from (embeddings_route.h): the --embed-model
  // on its own queue, else the decoder through the engine core
  // (rag::EngineEmbedder). Null: 501.
  const rag::Embedder* embedder = nullptr;
  std::string embedder_name;                   // the "model" /v1/embeddings reports
  // The tokenizer whose ids `embedder` takes (the decoder's); null: the
  // embedder takes text only.
  const tokenizer::Tokenizer* embedder_tokenizer = nullptr;
  std::string rag_db_path;                     // --db, for the RAG routes
  // --embed-model: the RAG routes' dense side (uploads are embedded, search
  // and ask are hybrid). Null: BM25 only.
  const rag::Embedder* rag_embedder = nullptr;
  // Where rag_embedder was loaded from (recorded with the collections
  // uploads embed); empty: not recorded.
  rag::EmbedderSource rag_embedder_source;
  // What the server could not load at startup (e.g. a collection's
  // recorded embedding model not found); /health lists them.
  std::vector<std::string> warnings;
  int stream_poll_ms = 50;                     // SSE writer wake-up period
  SpeculationPolicy speculation;               // --speculate, --draft-tokens
  kv::KvPolicy kv_policy;                      // --kv-policy, --kv-budget: requests' default
  // SSE responses still being written; shutdown waits for them so that a
  // stream whose generation finished in the grace period gets its [DONE].
  std::atomic<int> n_open_streams{0};
};

}  // namespace chunkserve::server
