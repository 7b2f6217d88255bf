#include "server/embeddings_route.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "rag/embed/embedder.h"
#include "rag/text/token_counter.h"
#include "server/client_watch.h"
#include "server/http_util.h"

namespace chunkserve::server {
namespace {

std::string Base64(const void* data, size_t n) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = uint32_t{p[i]} << 16;
    if (i + 1 < n) v |= uint32_t{p[i + 1]} << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The inputs of one request: texts, or token ids of embedder_tokenizer.
struct EmbeddingInputs {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> ids;
};

StatusOr<EmbeddingInputs> ParseInputs(const ServerContext& ctx, const Json& body) {
  EmbeddingInputs in;
  auto it = body.find("input");
  if (it == body.end() || it->is_null()) return InvalidArgumentError("'input' is required");
  const tokenizer::Tokenizer* tok = ctx.embedder_tokenizer;
  auto ids_of = [&](const Json& arr) -> StatusOr<std::vector<int32_t>> {
    if (tok == nullptr)
      return InvalidArgumentError("'input' must be a string or an array of strings: this server embeds text with '" +
                                  ctx.embedder_name + "' (token ids are not accepted)");
    std::vector<int32_t> ids;
    for (const Json& j : arr) {
      if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() >= tok->n_vocab())
        return InvalidArgumentError("'input' token ids must be integers in [0, " + std::to_string(tok->n_vocab()) +
                                    ")");
      ids.push_back(static_cast<int32_t>(j.get<int64_t>()));
    }
    return ids;
  };
  auto is_string = [](const Json& j) { return j.is_string(); };
  if (it->is_string()) {
    in.texts.push_back(it->get<std::string>());
  } else if (it->is_array() && !it->empty()) {
    if (std::all_of(it->begin(), it->end(), is_string)) {
      for (const Json& j : *it) in.texts.push_back(j.get<std::string>());
    } else if (std::all_of(it->begin(), it->end(), [](const Json& j) { return j.is_number_integer(); })) {
      ASSIGN_OR_RETURN(std::vector<int32_t> ids, ids_of(*it));
      in.ids.push_back(std::move(ids));
    } else if (std::all_of(it->begin(), it->end(), [](const Json& j) { return j.is_array(); })) {
      for (const Json& j : *it) {
        ASSIGN_OR_RETURN(std::vector<int32_t> ids, ids_of(j));
        in.ids.push_back(std::move(ids));
      }
    } else {
      return InvalidArgumentError("'input' must be a string, strings, token ids or arrays of token ids");
    }
  } else {
    return InvalidArgumentError("'input' must be a non-empty string or array");
  }
  if (in.texts.size() + in.ids.size() > 2048) return InvalidArgumentError("'input' holds more than 2048 items");
  for (size_t i = 0; i < in.texts.size(); ++i)
    if (in.texts[i].empty()) return InvalidArgumentError("'input' item " + std::to_string(i) + " is empty");
  // The model's tokenizer turns text into its ids here, so usage counts
  // them exactly and an over-long text is the same 400 as over-long ids.
  if (tok != nullptr) {
    for (const std::string& t : in.texts) in.ids.push_back(tok->Encode(t, /*add_special=*/true, /*parse_special=*/false));
    in.texts.clear();
  }
  return in;
}

void HandleEmbeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  StatusOr<Json> body = ParseJsonObject(req.body);
  if (!body.ok()) return SendError(res, body.status());
  if (ctx.embedder == nullptr) return SendError(res, UnimplementedError("this server has no embedding model loaded"));
  StatusOr<EmbeddingInputs> inputs = ParseInputs(ctx, *body);
  if (!inputs.ok()) return SendError(res, inputs.status());
  std::string format = "float";
  if (auto f = body->find("encoding_format"); f != body->end() && !f->is_null()) {
    if (!f->is_string() || (*f != "float" && *f != "base64"))
      return SendError(res, InvalidArgumentError("'encoding_format' must be \"float\" or \"base64\""));
    format = f->get<std::string>();
  }
  const rag::Embedder& embedder = *ctx.embedder;
  for (size_t i = 0; i < inputs->ids.size(); ++i) {
    if (inputs->ids[i].empty())
      return SendError(res, InvalidArgumentError("'input' item " + std::to_string(i) + " is empty"));
    if (static_cast<int64_t>(inputs->ids[i].size()) > embedder.max_input_tokens())
      return SendError(res, 400,
                       "'input' item " + std::to_string(i) + " has " + std::to_string(inputs->ids[i].size()) +
                           " tokens; the maximum is " + std::to_string(embedder.max_input_tokens()),
                       "context_length_exceeded");
  }
  const size_t n = inputs->texts.size() + inputs->ids.size();
  const size_t dim = static_cast<size_t>(embedder.dim());
  std::vector<float> vectors(n * dim);
  // The client leaving cancels the embedding, queued or running.
  ClientWatch watch(ClientConnection::Of(req), ctx.stream_poll_ms);
  rag::EmbedControl control;
  control.cancel = watch.gone();
  int64_t n_tokens = 0;
  if (!inputs->texts.empty()) {
    // One batch: a neural embedder runs the texts through shared forward passes.
    const std::vector<std::string_view> views(inputs->texts.begin(), inputs->texts.end());
    if (Status s = embedder.EmbedBatch(views, vectors, control); !s.ok()) return SendError(res, s);
    const rag::ApproxTokenCounter counter;
    for (const std::string& t : inputs->texts) n_tokens += static_cast<int64_t>(counter.CountTokens(t));
  } else {
    for (size_t i = 0; i < inputs->ids.size(); ++i) {
      const std::span<float> v(&vectors[i * dim], dim);
      if (Status s = embedder.EmbedTokens(inputs->ids[i], v, control); !s.ok()) return SendError(res, s);
      n_tokens += static_cast<int64_t>(inputs->ids[i].size());
    }
  }
  Json data = Json::array();
  for (size_t i = 0; i < n; ++i) {
    std::span<float> v(&vectors[i * dim], dim);
    double norm2 = 0;
    for (float x : v) norm2 += static_cast<double>(x) * x;
    // A text with no word the model knows stays the zero vector.
    if (norm2 > 0) {
      const double inv = 1.0 / std::sqrt(norm2);
      for (float& x : v) x = static_cast<float>(x * inv);
    }
    Json item = {{"object", "embedding"}, {"index", i}};
    if (format == "base64") {
      item["embedding"] = Base64(v.data(), v.size() * sizeof(float));
    } else {
      item["embedding"] = std::vector<float>(v.begin(), v.end());
    }
    data.push_back(std::move(item));
  }
  SendJson(res, Json{{"object", "list"},
                     {"data", std::move(data)},
                     {"model", ctx.embedder_name},
                     {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}});
}

}  // namespace

void InstallEmbeddingsRoute(httplib::Server& http, ServerContext& ctx) {
  http.Post("/v1/embeddings", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleEmbeddings(ctx, req, res);
  });
}

}  // namespace chunkserve::server
