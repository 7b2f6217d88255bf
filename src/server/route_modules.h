// Route modules: every group of HTTP routes installs itself from one
// function taking the httplib server and the ServerContext.
//
// InstallAllRoutes (route_modules.cpp) calls each module in turn:
//   InstallOpenAiRoutes   (openai_routes.h): /v1/models, /v1/completions,
//                         /v1/chat/completions, /v1/embeddings; without a
//                         model (ServerContext::engine null: `serve`
//                         without -m) /v1/models lists the embedding model
//                         and the completion routes answer 501 "no_model";
//   InstallRagRoutes      (rag_routes.h): the RAG routes (/v1/collections,
//                         /v1/search, /v1/rag/chat/completions).
// A module that fails to install (e.g. cannot open its database) is logged
// and its routes answer 503 with the reason.
#pragma once

#include <httplib.h>

#include "server/server_context.h"

namespace chunkserve::server {

void InstallAllRoutes(httplib::Server& http, ServerContext& ctx);

}  // namespace chunkserve::server
