// The /v1/embeddings route (installed by route_modules.cpp), over the one
// embedding interface, ServerContext::embedder (a rag::Embedder):
//   - with `serve --embed-model`: that model, on its own worker thread and
//     bounded queue (rag::QueuedEmbedder); text inputs only (token ids would
//     be ids of another tokenizer than the one clients know);
//   - else the loaded decoder through the engine core (rag::EngineEmbedder):
//     mean-pooled final-norm hidden states; text is tokenized with the
//     model's tokenizer (ServerContext::embedder_tokenizer), and token ids
//     (an array of ids, or arrays of them) are accepted;
//   - neither: 501.
// Body: {input: string | [string] | [int] | [[int]], encoding_format?:
// float | base64}; vectors are L2-normalised. usage.prompt_tokens counts the
// model's tokens when the server knows the tokenizer, else approximately
// (rag::ApproxTokenCounter).
//
// Errors: malformed input 400; an input over the model's length 400 with
// code "context_length_exceeded"; a full queue 503 (issue 15's bounded
// queues). A client that leaves while its embedding waits or runs cancels it
// (ClientWatch probes its socket): a queued job is dropped without running,
// a running one stops before its next forward pass (issue 15 row 4), and
// the request is counted as 499 in /metrics.
//
// Thread safety: handlers run on HTTP threads; the embedders are thread-safe.
#pragma once

#include <httplib.h>

#include "server/server_context.h"

namespace chunkserve::server {

void InstallEmbeddingsRoute(httplib::Server& http, ServerContext& ctx);

}  // namespace chunkserve::server
