#include "server/route_modules.h"

#include "base/logging.h"
#include "server/embeddings_route.h"
#include "server/http_util.h"
#include "server/openai_routes.h"
#include "server/rag_routes.h"

namespace chunkserve::server {
namespace {

// Without a language model (serve without -m): /v1/models lists the
// embedding model, and the completion routes exist but answer 501
// "no_model", so a client learns why instead of getting a 404.
void InstallRetrievalOnlyRoutes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/v1/models", [&ctx](const httplib::Request&, httplib::Response& res) {
    Json data = Json::array();
    if (ctx.rag_embedder != nullptr)
      data.push_back(Json{{"id", ctx.embedder_name},
                          {"object", "model"},
                          {"created", ctx.created_unix_s},
                          {"owned_by", "chunkserve"},
                          {"purpose", "embeddings"}});
    SendJson(res, Json{{"object", "list"}, {"data", data}});
  });
  auto no_model = [](const httplib::Request&, httplib::Response& res) {
    SendError(res, 501,
              "this server runs without a language model (retrieval only): start it with -m MODEL.gguf to "
              "generate; /v1/search, /v1/collections and /v1/embeddings are served",
              "no_model");
  };
  http.Post("/v1/chat/completions", no_model);
  http.Post("/v1/completions", no_model);
}

}  // namespace

void InstallAllRoutes(httplib::Server& http, ServerContext& ctx) {
  if (ctx.engine != nullptr) {
    InstallOpenAiRoutes(http, ctx);
  } else {
    InstallRetrievalOnlyRoutes(http, ctx);
  }
  InstallEmbeddingsRoute(http, ctx);
  if (Status s = InstallRagRoutes(http, ctx); !s.ok()) {
    // FailedPrecondition: not configured (no --db), not a fault.
    if (s.code() == StatusCode::kFailedPrecondition) {
      CS_LOG(Info) << "server: RAG routes off: " << s.message();
    } else {
      CS_LOG(Warning) << "server: RAG routes unavailable: " << s.ToString();
    }
    const std::string reason = "RAG routes unavailable: " + s.message();
    auto unavailable = [reason](const httplib::Request&, httplib::Response& res) {
      SendError(res, 503, reason, "rag_unavailable");
    };
    http.Get(R"(/v1/collections.*)", unavailable);
    http.Post(R"(/v1/(collections|search|rag/chat/completions).*)", unavailable);
  }
}

}  // namespace chunkserve::server
