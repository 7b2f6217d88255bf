// RAG routes (installed by route_modules.cpp through __has_include):
//
//   GET    /v1/collections                       list (documents, chunks, tokens)
//   POST   /v1/collections            {name}     create (409 if it exists)
//   GET    /v1/collections/{name}                one collection and its documents
//   DELETE /v1/collections/{name}                delete with its documents
//   POST   /v1/collections/{name}/documents      {name, text, format?: text|markdown|html}
//                                                upload: extracted, chunked, stored; {id, ...}
//   DELETE /v1/collections/{name}/documents/{id}
//   POST   /v1/search       {collection, query, k?}            BM25 results with byte spans
//   POST   /v1/rag/chat/completions   the OpenAI chat shape plus {collection, k?,
//          token_budget?, extractive?}: the last user message is the question;
//          the answer cites [n]; the response adds "citations" (the sources the
//          answer cites) and "sources" (all numbered sources), each with the
//          document id, path and byte range [source_begin, source_end) of the
//          uploaded bytes. Generation goes through the server's
//          GenerationBackend (chunk segments, so the chunk cache applies with
//          the engine backend); extractive: true (or no tokenizer) answers with
//          the sources' own sentences. stream: true sends the finished answer as
//          SSE chunks (one content delta, then the finish chunk with the
//          citations, then [DONE]).
// The database is ServerContext::rag_db_path (serve --db); each request opens
// its own Store (SQLite connections are per thread). Errors go through
// SendError (the one Status -> HTTP mapping).
//
// Thread safety: handlers run on HTTP threads; nothing is shared but the
// context (read-only) and the backend (thread-safe).
#pragma once

#include <httplib.h>

#include "base/status.h"
#include "server/server_context.h"

namespace chunkserve::server {

// FailedPrecondition without --db (the routes then answer 503); errors of
// opening / creating the database pass through.
Status InstallRagRoutes(httplib::Server& http, ServerContext& ctx);

}  // namespace chunkserve::server
