#include "server/route_modules.h"

#include "base/logging.h"
#include "server/document_routes.h"
#include "server/embeddings_route.h"
#include "server/http_util.h"
#include "server/openai_routes.h"
#include "server/rag_routes.h"
#include "server/web_routes.h"

namespace chunkserve::server {

void InstallAllRoutes(httplib::Server& http, ServerContext& ctx) {
  InstallOpenAiRoutes(http, ctx);
  InstallEmbeddingsRoute(http, ctx);
  InstallWebRoutes(http, ctx);
  if (Status s = InstallRagRoutes(http, ctx); s.ok()) {
    InstallDocumentRoutes(http, ctx);
  } else {
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
