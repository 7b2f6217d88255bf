#include "server/route_modules.h"

#include "base/logging.h"
#include "server/http_util.h"
#include "server/openai_routes.h"
#if __has_include("server/rag_routes.h")
#include "server/rag_routes.h"
#define CHUNKSERVE_HAS_RAG_ROUTES 1
#endif

namespace chunkserve::server {

void InstallAllRoutes(httplib::Server& http, ServerContext& ctx) {
  InstallOpenAiRoutes(http, ctx);
#ifdef CHUNKSERVE_HAS_RAG_ROUTES
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
#endif
}

}  // namespace chunkserve::server
