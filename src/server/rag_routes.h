// RAG routes (installed by route_modules.cpp):
//
//   GET    /v1/collections                       list (documents, chunks, tokens, embedder)
//   POST   /v1/collections            {name}     create (409 if it exists)
//   GET    /v1/collections/{name}                one collection, its embedder and documents
//   DELETE /v1/collections/{name}                delete with its documents
//   POST   /v1/collections/{name}/documents      {name, text, format?: text|markdown|html}
//          upload: extracted, chunked, stored; {id, name, bytes, chunks, format}. With
//          `serve --embed-model` the new chunks are embedded at once (the response adds
//          embedded_chunks and embedder), so the next question finds them densely.
//   DELETE /v1/collections/{name}/documents/{id}
//   POST   /v1/search   {collection, query, k?, mode?: bm25|dense|hybrid, path_prefix?}
//          ranked chunks with byte spans, lines and pages (as citations below; and
//          bm25_rank / dense_rank / dense_similarity); path_prefix keeps documents whose
//          path starts with it, taken as given; the response names the mode used.
//   POST   /v1/rag/chat/completions   the OpenAI chat shape (max_tokens, temperature,
//          seed, stop, stream) plus {collection, k?, token_budget?, extractive?, mode?,
//          ignore_eos?}: the last user message is the question; the answer cites [n].
//
// Retrieval: without `mode`, hybrid (BM25 + dense, reciprocal rank fusion) when
// the server has an --embed-model and the collection has vectors from it,
// else BM25. dense / hybrid without vectors -> 400 saying what is missing; a
// collection embedded with another model than the server's -> 400 naming
// both (uploads too, before anything is stored; mode bm25 still works).
//
// Chat response (non-streaming): a chat.completion plus
//   "mode": "generated" | "extractive", "retrieval": "bm25" | "dense" | "hybrid",
//   "citations": the sources the answer cites, "sources": all numbered sources,
//   "evidence": (extractive) the sentences used - each {number, path, document_id,
//   chunk_id, source_begin, source_end, line_begin, line_end, page_begin, page_end,
//   text}: the byte range [source_begin, source_end) of the file (or of the uploaded
//   bytes), its 1-based lines as `ask --json` gives them (null for uploads and
//   PDFs), its PDF pages (null for other formats) - and "usage" as
//   /v1/chat/completions.
// Generation goes through the engine core (chunk segments, so the chunk cache
// applies); extractive: true answers with the sources' own sentences. Without a
// model (`serve` without -m) a request that is not extractive is 501.
//
// Streaming (stream: true), server-sent events:
//   data: {"object":"chat.completion.chunk", "choices":[{"delta":{"role":"assistant","content":""}}]}
//   data: {... "choices":[{"delta":{"content":"<piece>"},"finish_reason":null}]}   one per
//         piece of text as the model generates it (an extractive answer: one piece)
//   data: {... "choices":[{"delta":{},"finish_reason":"stop"|"length"}],
//          "usage", "mode", "retrieval", "citations", "sources", "evidence"}
//   data: [DONE]
// The answer is produced on a worker thread and the stream begins only once
// the core has accepted the generation (or an extractive answer is ready),
// so everything that fails before the first token - bad input, an unknown
// collection, a model mismatch, a prompt that does not fit the context (400),
// a full queue (503 with Retry-After) - gets its HTTP status as without
// streaming; a failure during generation is an {"error": {...}} event before
// [DONE].
//
// Client disconnects: a client that leaves (streaming or not) cancels the
// generation - its socket is probed between tokens (client_connection.h) - and a
// cancelled non-streaming request is counted as status 499 in /metrics.
//
// The database is ServerContext::rag_db_path (serve --db); each request opens
// its own Store (SQLite connections are per thread); dense indexes are kept
// in memory between requests (rag/retrieve/collection_indexes.h, through
// rag::RagService). Errors go through SendError
// (the one Status -> HTTP mapping).
//
// Thread safety: handlers run on HTTP threads; they share the context
// (read-only), the engine core (thread-safe) and the index cache (locked);
// uploads and deletions run one at a time.
#pragma once

#include <httplib.h>

#include "base/status.h"
#include "server/server_context.h"

namespace chunkserve::server {

// FailedPrecondition without --db (the routes then answer 503); errors of
// opening / creating the database pass through.
Status InstallRagRoutes(httplib::Server& http, ServerContext& ctx);

}  // namespace chunkserve::server
