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

#include "server/metrics.h"
#include "server/speculation_policy.h"
#include "server/text_embedder.h"
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
  std::string model_id;                        // what /v1/models lists
  int64_t created_unix_s = 0;                  // when the model was loaded
  int64_t n_ctx_tokens = 4096;                 // prompt + completion limit
  const tokenizer::Tokenizer* tokenizer = nullptr;
  // Every prompt is built through it (template, special-token policy, BOS).
  std::unique_ptr<engine::PromptAssembler> assembler;
  // The one engine core: every generation and decoder embedding goes
  // through it (thread-safe).
  engine::Engine* engine = nullptr;
  Metrics* metrics = nullptr;
  TextEmbedder* embedder = nullptr;            // null: /v1/embeddings answers 501
  std::string rag_db_path;                     // --db, for the RAG routes
  // --embed-model: the RAG routes' dense side (uploads are embedded, search
  // and ask are hybrid) and, when set, what /v1/embeddings answers from
  // (text inputs). Null: BM25 only, /v1/embeddings from `embedder`.
  const rag::Embedder* rag_embedder = nullptr;
  std::string rag_embedder_name;               // the id /v1/embeddings reports
  int stream_poll_ms = 50;                     // SSE writer wake-up period
  SpeculationPolicy speculation;               // --speculate, --draft-tokens
  // SSE responses still being written; shutdown waits for them so that a
  // stream whose generation finished in the grace period gets its [DONE].
  std::atomic<int> n_open_streams{0};
};

}  // namespace chunkserve::server
