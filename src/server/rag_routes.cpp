#include "server/rag_routes.h"

#include <condition_variable>
#include <ctime>
#include <mutex>

#include "base/hash.h"
#include "rag/pipeline/answer_generator.h"
#include "rag/pipeline/document_upload.h"
#include "rag/pipeline/rag_pipeline.h"
#include "rag/store/store.h"
#include "rag/text/token_counter.h"
#include "server/generation_backend.h"
#include "server/http_util.h"

namespace chunkserve::server {
namespace {

// AnswerGenerator over the server's GenerationBackend: starts the request
// and waits for on_done (called exactly once), collecting the tokens.
class BackendGenerator final : public rag::AnswerGenerator {
 public:
  explicit BackendGenerator(ServerContext& ctx) : ctx_(ctx) {}
  const tokenizer::Tokenizer& tokenizer() const override { return *ctx_.tokenizer; }
  const tokenizer::ChatTemplate* chat_template() const override { return ctx_.chat_template.get(); }
  int64_t context_tokens() const override { return ctx_.n_ctx_tokens; }

  StatusOr<rag::GeneratedAnswer> Generate(const engine::Prompt& prompt, const rag::GenerationOptions& options,
                                          const std::function<void(std::string_view)>& on_text) override {
    GenerationRequest request;
    request.prompt = prompt;
    request.sampling.temperature = options.temperature;
    request.sampling.seed = options.seed;
    request.max_new_tokens = options.max_new_tokens;
    request.end_of_generation = ctx_.end_of_generation;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::vector<int32_t> tokens;
    GenerationResult result;
    GenerationCallbacks callbacks;
    callbacks.on_token = [&](int32_t t) {
      std::lock_guard<std::mutex> lock(mu);
      tokens.push_back(t);
      return true;
    };
    callbacks.on_done = [&](const GenerationResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      result = r;
      done = true;
      cv.notify_all();
    };
    ASSIGN_OR_RETURN(uint64_t id, ctx_.backend->Start(std::move(request), callbacks));
    (void)id;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (result.finish == GenerationFinish::kError) return result.status;
    rag::GeneratedAnswer out;
    out.text = ctx_.tokenizer->Decode(tokens, /*skip_special=*/true);
    if (on_text) on_text(out.text);
    out.n_prompt_tokens = result.n_prompt_tokens;
    out.n_reused_tokens = result.n_prefix_cached_tokens + result.n_chunk_cached_tokens;
    out.n_computed_tokens = result.n_computed_prompt_tokens;
    out.n_generated_tokens = result.n_generated_tokens;
    return out;
  }

 private:
  ServerContext& ctx_;
};

StatusOr<std::unique_ptr<rag::Store>> OpenStore(const ServerContext& ctx) {
  return rag::Store::Open(ctx.rag_db_path, rag::Store::Mode::kReadWrite);
}

StatusOr<int64_t> CollectionId(rag::Store& store, const std::string& name) {
  ASSIGN_OR_RETURN(auto id, store.FindCollection(name));
  if (!id) return NotFoundError("no collection named '" + name + "'");
  return *id;
}

StatusOr<std::string> GetString(const Json& obj, const char* field, bool required) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    if (required) return InvalidArgumentError(std::string("'") + field + "' is required");
    return std::string();
  }
  if (!it->is_string()) return InvalidArgumentError(std::string("'") + field + "' must be a string");
  return it->get<std::string>();
}

Json CitationJson(const rag::Citation& c, rag::Store& store) {
  Json j = {{"number", c.number},         {"path", c.path},         {"chunk_id", c.chunk_id},
            {"source_begin", c.source_begin}, {"source_end", c.source_end}, {"text", c.text}};
  // The document id, for DELETE .../documents/{id}.
  auto st = store.db().Prepare("SELECT document_id FROM chunks WHERE id = ?1");
  if (st.ok() && st->Bind(1, c.chunk_id).ok()) {
    auto row = st->Step();
    if (row.ok() && *row) j["document_id"] = st->ColumnInt64(0);
  }
  return j;
}

// Runs `fn` and turns a non-OK Status into the error response.
// nlohmann/json throws on type mismatches deep inside a body; such an
// exception is the client's malformed input and stops here.
template <typename Fn>
void Guard(httplib::Response& res, Fn&& fn) {
  Status s;
  try {
    s = fn();
  } catch (const std::exception& e) {
    s = InvalidArgumentError(std::string("malformed request: ") + e.what());
  }
  if (!s.ok()) SendError(res, s);
}

Status HandleRagChat(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ASSIGN_OR_RETURN(Json body, ParseJsonObject(req.body));
  ASSIGN_OR_RETURN(std::string collection, GetString(body, "collection", true));
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return InvalidArgumentError("'messages' must be a non-empty array");
  std::string question;
  for (const Json& m : *messages) {
    if (!m.is_object()) return InvalidArgumentError("every message must be an object");
    if (m.value("role", "") == "user" && m.contains("content") && m["content"].is_string())
      question = m["content"].get<std::string>();
  }
  if (question.empty()) return InvalidArgumentError("no user message with text content");
  ASSIGN_OR_RETURN(int64_t k, GetInt(body, "k", 5));
  ASSIGN_OR_RETURN(int64_t budget, GetInt(body, "token_budget", 1500));
  ASSIGN_OR_RETURN(int64_t max_tokens, GetInt(body, "max_tokens", 256));
  ASSIGN_OR_RETURN(double temperature, GetNumber(body, "temperature", 0.0));
  ASSIGN_OR_RETURN(bool extractive, GetBool(body, "extractive", false));
  ASSIGN_OR_RETURN(bool stream, GetBool(body, "stream", false));
  if (k < 1 || k > 100) return InvalidArgumentError("'k' must be between 1 and 100");
  if (max_tokens < 1) return InvalidArgumentError("'max_tokens' must be positive");

  ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
  ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, collection));
  BackendGenerator generator(ctx);
  const bool can_generate = ctx.backend && ctx.tokenizer && !extractive;
  rag::RagPipeline pipeline(store.get(), cid, nullptr, nullptr, can_generate ? &generator : nullptr);
  rag::AskParams params;
  params.retrieve.k = static_cast<int>(k);
  params.retrieve.selection.token_budget = budget;
  params.generation.max_new_tokens = max_tokens;
  params.generation.temperature = static_cast<float>(temperature);
  ASSIGN_OR_RETURN(rag::AskResult r, pipeline.Ask(question, params));

  Json citations = Json::array(), sources = Json::array();
  for (const rag::Citation& c : r.sources) {
    Json j = CitationJson(c, *store);
    sources.push_back(j);
    if (std::find(r.cited.begin(), r.cited.end(), c.number) != r.cited.end()) citations.push_back(j);
  }
  Json evidence = Json::array();
  for (const rag::Citation& c : r.evidence) evidence.push_back(CitationJson(c, *store));
  const std::string id = "ragchat-" + HashToHex(Hash64(question + std::to_string(std::time(nullptr))));
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  Json usage = {{"prompt_tokens", r.generation.n_prompt_tokens},
                {"completion_tokens", r.generation.n_generated_tokens},
                {"total_tokens", r.generation.n_prompt_tokens + r.generation.n_generated_tokens},
                {"prompt_tokens_details", {{"cached_tokens", r.generation.n_reused_tokens}}}};
  const std::string mode = r.extractive ? "extractive" : "generated";
  if (!stream) {
    SendJson(res, Json{{"id", id},
                       {"object", "chat.completion"},
                       {"created", created},
                       {"model", ctx.model_id},
                       {"choices", Json::array({{{"index", 0},
                                                 {"message", {{"role", "assistant"}, {"content", r.answer}}},
                                                 {"finish_reason", "stop"}}})},
                       {"usage", usage},
                       {"mode", mode},
                       {"citations", citations},
                       {"sources", sources},
                       {"evidence", evidence}});
    return Status::Ok();
  }
  auto dump = [](const Json& j) { return "data: " + j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n"; };
  std::string sse;
  sse += dump({{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", ctx.model_id},
               {"choices", Json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", r.answer}}},
                                         {"finish_reason", nullptr}}})}});
  sse += dump({{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", ctx.model_id},
               {"choices", Json::array({{{"index", 0}, {"delta", Json::object()}, {"finish_reason", "stop"}}})},
               {"usage", usage}, {"mode", mode}, {"citations", citations}, {"sources", sources}});
  sse += "data: [DONE]\n\n";
  res.set_content(sse, "text/event-stream");
  return Status::Ok();
}

}  // namespace

Status InstallRagRoutes(httplib::Server& http, ServerContext& ctx) {
  if (ctx.rag_db_path.empty()) return FailedPreconditionError("no database (start the server with --db DB)");
  { ASSIGN_OR_RETURN(auto store, OpenStore(ctx)); }  // creates / checks the schema once

  http.Get("/v1/collections", [&ctx](const httplib::Request&, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
      ASSIGN_OR_RETURN(auto list, store->ListCollections());
      Json data = Json::array();
      for (const auto& c : list)
        data.push_back({{"name", c.name}, {"id", c.id}, {"created", c.created_at_s}, {"documents", c.n_documents},
                        {"chunks", c.n_chunks}, {"tokens", c.n_tokens}, {"bytes", c.size_bytes}});
      SendJson(res, Json{{"object", "list"}, {"data", data}});
      return Status::Ok();
    });
  });
  http.Post("/v1/collections", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(Json body, ParseJsonObject(req.body));
      ASSIGN_OR_RETURN(std::string name, GetString(body, "name", true));
      if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos)
        return InvalidArgumentError("collection names are 1-200 characters without '/'");
      ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
      ASSIGN_OR_RETURN(auto existing, store->FindCollection(name));
      if (existing) return AlreadyExistsError("collection '" + name + "' already exists");
      ASSIGN_OR_RETURN(int64_t id, store->GetOrCreateCollection(name));
      SendJson(res, Json{{"name", name}, {"id", id}, {"object", "collection"}});
      return Status::Ok();
    });
  });
  http.Get(R"(/v1/collections/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
      ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, req.matches[1]));
      ASSIGN_OR_RETURN(auto docs, store->ListDocuments(cid));
      Json data = Json::array();
      for (const auto& d : docs)
        data.push_back({{"id", d.id}, {"name", d.path}, {"bytes", d.size_bytes}, {"chunks", d.n_chunks},
                        {"format", d.format}});
      SendJson(res, Json{{"name", std::string(req.matches[1])}, {"id", cid}, {"documents", data}});
      return Status::Ok();
    });
  });
  http.Delete(R"(/v1/collections/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
      RETURN_IF_ERROR(store->DeleteCollection(req.matches[1]));
      SendJson(res, Json{{"name", std::string(req.matches[1])}, {"deleted", true}});
      return Status::Ok();
    });
  });
  http.Post(R"(/v1/collections/([^/]+)/documents)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(Json body, ParseJsonObject(req.body));
      ASSIGN_OR_RETURN(std::string name, GetString(body, "name", true));
      ASSIGN_OR_RETURN(std::string text, GetString(body, "text", true));
      ASSIGN_OR_RETURN(std::string format_name, GetString(body, "format", false));
      ASSIGN_OR_RETURN(rag::DocumentFormat format, rag::ParseUploadFormat(format_name.empty() ? "text" : format_name));
      ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
      ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, req.matches[1]));
      rag::ApproxTokenCounter counter;
      ASSIGN_OR_RETURN(rag::DocumentRecord r,
                       rag::PutDocumentBytes(store.get(), cid, name, text, format, rag::ChunkerParams{}, counter));
      SendJson(res, Json{{"id", r.id}, {"name", r.path}, {"bytes", r.size_bytes}, {"chunks", r.n_chunks},
                         {"format", r.format}});
      return Status::Ok();
    });
  });
  http.Delete(R"(/v1/collections/([^/]+)/documents/(\d+))",
              [&ctx](const httplib::Request& req, httplib::Response& res) {
                Guard(res, [&]() -> Status {
                  ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
                  ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, req.matches[1]));
                  int64_t doc_id = 0;
                  try {
                    doc_id = std::stoll(std::string(req.matches[2]));
                  } catch (...) {
                    return InvalidArgumentError("bad document id");
                  }
                  ASSIGN_OR_RETURN(bool deleted, store->DeleteDocumentById(cid, doc_id));
                  if (!deleted) return NotFoundError("no document " + std::to_string(doc_id) + " in the collection");
                  SendJson(res, Json{{"id", doc_id}, {"deleted", true}});
                  return Status::Ok();
                });
              });
  http.Post("/v1/search", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(Json body, ParseJsonObject(req.body));
      ASSIGN_OR_RETURN(std::string collection, GetString(body, "collection", true));
      ASSIGN_OR_RETURN(std::string query, GetString(body, "query", true));
      ASSIGN_OR_RETURN(int64_t k, GetInt(body, "k", 10));
      if (k < 1 || k > 1000) return InvalidArgumentError("'k' must be between 1 and 1000");
      ASSIGN_OR_RETURN(auto store, OpenStore(ctx));
      ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, collection));
      rag::Retriever retriever(store.get(), cid, nullptr, nullptr);
      rag::RetrieveParams p;
      p.mode = rag::RetrievalMode::kBm25;
      p.k = static_cast<int>(k);
      ASSIGN_OR_RETURN(auto hits, retriever.Retrieve(query, p));
      Json data = Json::array();
      for (size_t i = 0; i < hits.size(); ++i) {
        const rag::SearchHit& h = hits[i].hit;
        data.push_back({{"rank", i + 1}, {"score", h.score}, {"document_id", h.chunk.document_id},
                        {"path", h.path}, {"chunk_id", h.chunk.id}, {"source_begin", h.chunk.source_begin},
                        {"source_end", h.chunk.source_end}, {"text", h.chunk.text}});
      }
      SendJson(res, Json{{"object", "list"}, {"data", data}});
      return Status::Ok();
    });
  });
  http.Post("/v1/rag/chat/completions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() { return HandleRagChat(ctx, req, res); });
  });
  return Status::Ok();
}

}  // namespace chunkserve::server
