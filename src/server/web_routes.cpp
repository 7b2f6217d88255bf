#include "server/web_routes.h"

#include <string>

#include "engine/engine.h"
#include "kv/kv_policy.h"
#include "rag/pipeline/rag_pipeline.h"
#include "server/http_util.h"
#include "server/web_assets.h"

namespace chunkserve::server {
namespace {

const WebAsset* FindAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const WebAsset& a : WebAssets())
    if (path == a.path) return &a;
  return nullptr;
}

}  // namespace

bool IsWebPagePath(std::string_view path) { return FindAsset(path) != nullptr; }

void InstallWebRoutes(httplib::Server& http, const ServerContext& ctx) {
  auto serve_asset = [](const httplib::Request& req, httplib::Response& res) {
    const WebAsset* a = FindAsset(req.path);
    if (!a) return SendError(res, 404, "Unknown route: GET " + req.path, "http_404");
    res.set_content(reinterpret_cast<const char*>(a->data), a->size, a->content_type);
    // The page never runs anything it did not ship (defence in depth behind
    // its textContent-only rendering) and is never framed by another site.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                   "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
  };
  http.Get("/", serve_asset);
  for (const WebAsset& a : WebAssets()) http.Get(a.path, serve_asset);

  http.Get("/v1/server", [&ctx](const httplib::Request&, httplib::Response& res) {
    const rag::AskParams ask;
    Json defaults = {{"temperature", 1.0},  // the OpenAI default of /v1/chat/completions
                     {"top_p", 1.0},
                     {"max_tokens", ask.generation.max_new_tokens},
                     {"rag_temperature", ask.generation.temperature},
                     {"k", ask.retrieve.k},
                     {"token_budget", ask.retrieve.selection.token_budget},
                     {"retrieval_mode", ctx.rag_embedder ? "hybrid" : "bm25"},
                     {"recompute_fraction", ctx.engine ? Json(ctx.engine->recompute_fraction()) : Json(nullptr)},
                     {"kv_policy", kv::KvPolicyName(ctx.kv_policy.kind)},
                     {"kv_budget", ctx.kv_policy.budget}};
    Json kv_policies = Json::array();  // every kv::KvPolicyKind, for the page's settings
    for (kv::KvPolicyKind k : {kv::KvPolicyKind::kFull, kv::KvPolicyKind::kSinks, kv::KvPolicyKind::kStreaming,
                               kv::KvPolicyKind::kSnapKv, kv::KvPolicyKind::kH2O, kv::KvPolicyKind::kPages,
                               kv::KvPolicyKind::kHeadwise, kv::KvPolicyKind::kGemFilter})
      kv_policies.push_back(kv::KvPolicyName(k));
    Json modes = Json::array({"bm25"});
    if (ctx.rag_embedder) modes.insert(modes.end(), {"dense", "hybrid"});
    SendJson(res, Json{{"object", "server"},
                       {"model", ctx.model_id.empty() ? Json(nullptr) : Json(ctx.model_id)},
                       {"context_tokens", ctx.engine ? Json(ctx.n_ctx_tokens) : Json(nullptr)},
                       {"generation", ctx.engine != nullptr},
                       {"rag", !ctx.rag_db_path.empty()},
                       {"embedder", ctx.rag_embedder ? Json(ctx.embedder_name) : Json(nullptr)},
                       {"retrieval_modes", modes},
                       {"kv_policies", kv_policies},
                       {"defaults", defaults}});
  });
}

}  // namespace chunkserve::server
