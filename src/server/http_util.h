// HTTP helpers shared by every route file: the ONE mapping from Status to an
// HTTP status code, OpenAI-shaped error bodies, JSON bodies in and out.
//
// OpenAI error shape: {"error": {"message", "type", "param", "code"}}; type
// is "invalid_request_error" for 4xx and "server_error" for 5xx (and
// "authentication_error" for 401). 503 answers carry Retry-After.
//
// Thread safety: stateless functions.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "sched/request_stats.h"

namespace chunkserve::server {

using Json = nlohmann::json;

// InvalidArgument, OutOfRange, FailedPrecondition -> 400; NotFound -> 404;
// AlreadyExists -> 409; ResourceExhausted, Unavailable -> 503;
// Unimplemented -> 501; Cancelled -> 499 (client closed); the rest -> 500.
int HttpStatusFor(const Status& status);

Json ErrorBody(const std::string& message, const std::string& type, const std::string& code);

// Writes `status` as an OpenAI error (and Retry-After for 503).
void SendError(httplib::Response& res, const Status& status);
void SendError(httplib::Response& res, int http_status, const std::string& message, const std::string& code);
void SendJson(httplib::Response& res, const Json& body, int http_status = 200);

// Parses the request body as a JSON object; InvalidArgument naming the
// problem for anything else.
StatusOr<Json> ParseJsonObject(const std::string& body);

// Optional typed fields: absent or null -> fallback; wrong type ->
// InvalidArgument naming the field. (Unknown fields are ignored, as OpenAI.)
StatusOr<double> GetNumber(const Json& obj, const char* field, double fallback);
StatusOr<int64_t> GetInt(const Json& obj, const char* field, int64_t fallback);
StatusOr<bool> GetBool(const Json& obj, const char* field, bool fallback);

// OpenAI `usage` of one generation: prompt_tokens (n_prompt when the core
// did not report it), completion_tokens, total_tokens,
// prompt_tokens_details {cached_tokens (prefix + chunk), prefix_cached_tokens,
// chunk_cached_tokens, chunk_recomputed_tokens, computed_tokens} and timings
// {queue_ms, ttft_ms, total_ms} (sched/request_stats.h).
Json UsageJson(const sched::RequestStats& r, int64_t n_prompt);

// One server-sent event: "data: <json>\n\n" (invalid UTF-8 replaced).
std::string SseEvent(const Json& j);

}  // namespace chunkserve::server
