// The web page for people (web/, embedded: web_assets.h) and what it asks
// the server about itself:
//
//   GET /, /index.html, /app.js, ...   the page and its assets; open like
//                                      /health (no API key: the page asks the
//                                      user for one and sends it on every API call)
//   GET /v1/server                     model information and the defaults the
//                                      page's settings start from (API key required):
//                                      {model, context_tokens, generation, rag, embedder,
//                                       retrieval_modes, kv_policies, defaults: {temperature, top_p,
//                                       max_tokens, rag_temperature, k, token_budget,
//                                       retrieval_mode, recompute_fraction, kv_policy,
//                                       kv_budget}}; model,
//                                      context_tokens and recompute_fraction are null
//                                      without a language model
//
// Thread safety: handlers read immutable data and the context.
#pragma once

#include <httplib.h>

#include <string_view>

#include "server/server_context.h"

namespace chunkserve::server {

// True for the page's own paths (served without an API key).
bool IsWebPagePath(std::string_view path);

void InstallWebRoutes(httplib::Server& http, const ServerContext& ctx);

}  // namespace chunkserve::server
