// The OpenAI-compatible routes:
//   GET  /v1/models, /v1/models/{id}
//   POST /v1/chat/completions   (messages -> the model's chat template)
//   POST /v1/completions        (prompt text or token ids)
// (/v1/embeddings is its own module: embeddings_route.h.)
// Both generation routes take the fields of openai_protocol.h, stream with
// server-sent events (`data: {chunk}` ... `data: [DONE]`, one chunk per
// generated token that adds text) when "stream" is true, and report usage: prompt_tokens, completion_tokens, total_tokens and
// prompt_tokens_details {cached_tokens, prefix_cached_tokens,
// chunk_cached_tokens, chunk_recomputed_tokens, computed_tokens}.
// finish_reason: "stop" (end of generation or a stop string), "length"
// (max_tokens or the context, and a server shutdown), "tool_calls" (the
// answer was tool calls: tool_calls.h).
// n > 1: n requests submitted together (choices in order; streamed, the
// choices' events interleave, each naming its index).
// logprobs: each choice's `logprobs` (streamed: on a chunk of their own
// before their text). Structured outputs: the request's grammar
// (GrammarRegistry) constrains every sampled token. Tools: content streams
// until a tool call may begin; calls go out as `tool_calls` deltas.
//
// Errors: malformed JSON or fields -> 400; prompt (+ max_tokens) over the
// context -> 400 with code "context_length_exceeded"; queue full -> 503 with
// Retry-After; a failure during a stream -> an `error` event before [DONE].
// A client that disconnects cancels its generation (its KV blocks are freed
// within one scheduler step), streaming or not: the handler probes the
// client's socket between tokens and at least every stream_poll_ms
// (client_connection.h); a non-streaming request cancelled that way is
// counted in /metrics with status 499. Responses are unchanged for clients
// that stay.
#pragma once

#include <httplib.h>

#include "server/server_context.h"

namespace chunkserve::server {

void InstallOpenAiRoutes(httplib::Server& http, ServerContext& ctx);

}  // namespace chunkserve::server
