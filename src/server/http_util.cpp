#include "server/http_util.h"

#include <cmath>

namespace chunkserve::server {

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal:
    case StatusCode::kIo: return 500;
  }
  return 500;
}

Json ErrorBody(const std::string& message, const std::string& type, const std::string& code) {
  return Json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

void SendJson(httplib::Response& res, const Json& body, int http_status) {
  res.status = http_status;
  // Replace invalid UTF-8 (model output may contain it) instead of throwing.
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, int http_status, const std::string& message, const std::string& code) {
  const std::string type = http_status == 401   ? "authentication_error"
                           : http_status >= 500 ? "server_error"
                                                : "invalid_request_error";
  if (http_status == 503) res.set_header("Retry-After", "1");
  SendJson(res, ErrorBody(message, type, code), http_status);
}

void SendError(httplib::Response& res, const Status& status) {
  const int code = HttpStatusFor(status);
  std::string name(StatusCodeName(status.code()));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  SendError(res, code, status.message(), name);
}

StatusOr<Json> ParseJsonObject(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError("the request body is not valid JSON");
  if (!j.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  return j;
}

StatusOr<double> GetNumber(const Json& obj, const char* field, double fallback) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number()) return InvalidArgumentError(std::string("'") + field + "' must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) return InvalidArgumentError(std::string("'") + field + "' must be finite");
  return v;
}

StatusOr<int64_t> GetInt(const Json& obj, const char* field, int64_t fallback) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) return static_cast<int64_t>(v);
  }
  return InvalidArgumentError(std::string("'") + field + "' must be an integer");
}

StatusOr<bool> GetBool(const Json& obj, const char* field, bool fallback) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return InvalidArgumentError(std::string("'") + field + "' must be a boolean");
  return it->get<bool>();
}

Json UsageJson(const sched::RequestStats& r, int64_t n_prompt) {
  const int64_t prompt = r.n_prompt_tokens > 0 ? r.n_prompt_tokens : n_prompt;
  return Json{{"prompt_tokens", prompt},
              {"completion_tokens", r.n_generated_tokens},
              {"total_tokens", prompt + r.n_generated_tokens},
              {"prompt_tokens_details",
               {{"cached_tokens", r.n_reused_tokens()},
                {"prefix_cached_tokens", r.n_prefix_reused_tokens},
                {"chunk_cached_tokens", r.n_chunk_reused_tokens},
                {"chunk_recomputed_tokens", r.n_chunk_recomputed_tokens},
                {"computed_tokens", r.n_computed_tokens},
                // Chunk-cache lookups of this request by tier (chunk_cache.h).
                {"chunk_hits",
                 {{"ram", r.n_chunk_ram_hits}, {"disk", r.n_chunk_disk_hits}, {"remote", r.n_chunk_remote_hits}}},
                {"chunk_misses", r.n_chunk_misses}}},
              {"completion_tokens_details",
               {{"accepted_prediction_tokens", r.n_draft_accepted},
                {"rejected_prediction_tokens", r.n_draft_tokens - r.n_draft_accepted}}},
              // KV policy (kv_policy extension): tokens the cache dropped.
              {"kv_cache", {{"evicted_tokens", r.n_kv_evicted_tokens}, {"compactions", r.n_kv_compactions}}},
              {"timings", {{"queue_ms", r.queue_ms}, {"ttft_ms", r.ttft_ms}, {"total_ms", r.total_ms}}}};
}

std::string SseEvent(const Json& j) {
  return "data: " + j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
}

}  // namespace chunkserve::server
