#include "server/rag_routes.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/hash.h"
#include "rag/embed/collection_embedding.h"
#include "rag/pipeline/answer_generator.h"
#include "rag/pipeline/citation_lines.h"
#include "rag/pipeline/document_upload.h"
#include "rag/pipeline/rag_pipeline.h"
#include "rag/pipeline/rag_service.h"
#include "rag/store/embedding_store.h"
#include "rag/store/store.h"
#include "rag/text/token_counter.h"
#include "server/client_connection.h"
#include "server/http_util.h"
#include "server/kv_policy_field.h"
#include "server/client_watch.h"
#include "server/openai_protocol.h"
#include "server/request_stream.h"
#include "server/upload_request.h"

namespace chunkserve::server {
namespace {

// What every RAG handler shares; owned by the handlers (shared_ptr), so it
// lives as long as the httplib server.
struct RagState {
  explicit RagState(ServerContext& c) : ctx(c) {}
  ServerContext& ctx;
  // Retrieval, answering and uploads, with their defaults and validation
  // (the same service `chunkserve ask` uses); it keeps the dense indexes.
  std::unique_ptr<rag::RagService> service;
  // Uploads and deletions one at a time: SQLite has one writer anyway, and
  // an upload's embedding pass reads what the previous one wrote.
  std::mutex write_mu;
};

// AnswerGenerator over the server's engine core, through a
// RequestStream (streaming detokenizer, TTFT / inter-token metrics). Text
// goes to the pipeline's on_text as it is generated; `gone` (set by whoever
// writes that text to the client) and a probe of the client's socket between
// pieces tell that the client left, which cancels the generation: Generate
// then returns Cancelled. `on_started` runs once the core accepted the
// request (it may be null).
class CoreGenerator final : public rag::AnswerGenerator {
 public:
  CoreGenerator(ServerContext& ctx, ClientConnection conn, bool ignore_eos, std::vector<std::string> stop,
                   const std::atomic<bool>* gone, std::function<void()> on_started)
      : ctx_(ctx),
        conn_(conn),
        ignore_eos_(ignore_eos),
        stop_(std::move(stop)),
        gone_(gone),
        on_started_(std::move(on_started)) {}
  const engine::PromptAssembler& assembler() const override { return *ctx_.assembler; }
  int64_t context_tokens() const override { return ctx_.n_ctx_tokens; }

  StatusOr<rag::GeneratedAnswer> Generate(const engine::Prompt& prompt, const rag::GenerationOptions& options,
                                          const std::function<void(std::string_view)>& on_text) override {
    engine::RequestParams params;
    params.sampling.temperature = options.temperature;
    params.sampling.seed = options.seed;
    params.sampling.ignore_eos = ignore_eos_;
    params.max_new_tokens = options.max_new_tokens;
    params.lookup_draft = options.lookup_draft;
    params.recompute_fraction = options.recompute_fraction;
    auto stream = std::make_shared<RequestStream>(*ctx_.tokenizer, stop_, ctx_.metrics);
    ASSIGN_OR_RETURN(uint64_t id, ctx_.engine->Submit(prompt, params, stream->Callbacks()));
    if (on_started_) on_started_();
    engine::Engine* core = ctx_.engine;
    const bool gone = stream->Drain(
        ctx_.stream_poll_ms,
        [&](const std::string& piece) {
          if (on_text) on_text(piece);
          return !gone_->load();
        },
        [this] { return gone_->load() || conn_.PeerClosed(); }, [core, id] { core->Cancel(id); });
    if (gone) {
      client_gone_ = true;
      return CancelledError("the client closed the connection");
    }
    result_ = stream->result();
    if (result_.finish == engine::FinishReason::kError) return result_.status;
    finish_reason_ = stream->finish_reason();
    rag::GeneratedAnswer out;
    out.text = stream->WaitDone();
    out.stats = result_.stats;
    return out;
  }

  bool client_gone() const { return client_gone_; }
  const sched::RequestOutcome& result() const { return result_; }
  const std::string& finish_reason() const { return finish_reason_; }

 private:
  ServerContext& ctx_;
  const ClientConnection conn_;
  const bool ignore_eos_;
  const std::vector<std::string> stop_;
  const std::atomic<bool>* gone_;
  const std::function<void()> on_started_;
  bool client_gone_ = false;
  sched::RequestOutcome result_;
  std::string finish_reason_ = "stop";
};

StatusOr<std::unique_ptr<rag::Store>> OpenStore(const RagState& state) { return state.service->OpenStore(); }

StatusOr<int64_t> CollectionId(rag::Store& store, const std::string& name) {
  return rag::RagService::FindCollection(store, name);
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

// Files read for line numbers are capped: a request never reads more than
// a few of these.
constexpr int64_t kLineFileBytes = int64_t{64} << 20;

Json OrNull(int64_t v, bool known) { return known ? Json(v) : Json(nullptr); }

// Where a cited or found range lies, as `ask --json` says it: 1-based lines
// (null for uploads and PDFs, rag/pipeline/citation_lines.h) and PDF pages
// (null elsewhere).
void AddLocation(Json& j, const std::string& path, int64_t begin, int64_t end, uint32_t page_begin,
                 uint32_t page_end, rag::CitationLines& lines) {
  const std::optional<rag::LineRange> l = lines.Find(path, begin, end);
  j["line_begin"] = OrNull(l ? l->begin : 0, l.has_value());
  j["line_end"] = OrNull(l ? l->end : 0, l.has_value());
  j["page_begin"] = OrNull(page_begin, page_begin > 0);
  j["page_end"] = OrNull(page_end, page_end > 0);
}

Json CitationJson(const rag::Citation& c, rag::CitationLines& lines) {
  Json j{{"number", c.number},           {"path", c.path},
         {"document_id", c.document_id}, {"chunk_id", c.chunk_id},
         {"source_begin", c.source_begin}, {"source_end", c.source_end},
         {"score", c.score},             {"text", c.text}};
  AddLocation(j, c.path, c.source_begin, c.source_end, c.page_begin, c.page_end, lines);
  if (!c.also_in.empty()) j["also_in"] = c.also_in;  // near-duplicate copies merged into it
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

std::string NewRagId() {
  static std::atomic<uint64_t> counter{0};
  const uint64_t now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return "ragchat-" + HashToHex(HashCombine(Hash64(std::to_string(now)), counter.fetch_add(1)));
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One /v1/rag/chat/completions request, parsed and resolved in the handler
// (so bad input, a missing collection or a model mismatch get their 4xx),
// then run by Run() - in the handler, or on a RagStreamJob's thread.
struct RagChat {
  ServerContext* ctx = nullptr;
  const rag::RagService* service = nullptr;
  std::unique_ptr<rag::Store> store;
  int64_t collection_id = 0;
  rag::Retrieval retrieval;
  std::string question;
  rag::AskParams params;
  bool generate = false;  // through the engine core; else extractive
  bool ignore_eos = false;
  std::vector<std::string> stop;
  ClientConnection conn;
  std::string id;
  int64_t created = 0;

  struct Outcome {
    StatusOr<rag::AskResult> result = InternalError("not run");
    bool client_gone = false;
    sched::RequestOutcome generation;
    std::string finish_reason = "stop";
  };

  // `emit`: the answer's text as it comes - generated text piece by piece,
  // an extractive answer whole. `gone`: set when the client left (by the
  // caller; Run also probes the socket). `on_started`: see CoreGenerator.
  Outcome Run(const std::function<void(const std::string&)>& emit, const std::atomic<bool>& gone,
              std::function<void()> on_started) {
    CoreGenerator generator(*ctx, conn, ignore_eos, stop, &gone, std::move(on_started));
    rag::AskParams p = params;
    p.retrieve.embed_control.cancel = &gone;  // a client gone while its query waits for the embedder
    Outcome out;
    out.result = service->Ask(store.get(), collection_id, retrieval, question, p, generate ? &generator : nullptr,
                              [&](std::string_view piece) {
                                if (emit) emit(std::string(piece));
                              });
    out.client_gone = generator.client_gone() || gone.load();
    out.generation = generator.result();
    out.finish_reason = generator.finish_reason();
    return out;
  }

  // The RAG fields every response carries: usage, mode, citations (the
  // sources the answer cites), sources (all numbered sources), evidence
  // (extractive: the sentences used), retrieval (the mode used).
  Json Fields(const Outcome& o) const {
    const rag::AskResult& r = *o.result;
    Json citations = Json::array(), sources = Json::array(), evidence = Json::array();
    rag::CitationLines lines(kLineFileBytes);
    for (const rag::Citation& c : r.sources) {
      Json j = CitationJson(c, lines);
      sources.push_back(j);
      if (std::find(r.cited.begin(), r.cited.end(), c.number) != r.cited.end()) citations.push_back(j);
    }
    for (const rag::Citation& c : r.evidence) evidence.push_back(CitationJson(c, lines));
    Json usage = r.extractive ? UsageJson(sched::RequestStats{}, 0) : UsageJson(o.generation.stats, 0);
    Json fields{{"usage", usage},
                {"mode", r.extractive ? "extractive" : "generated"},
                {"retrieval", std::string(rag::RetrievalModeName(retrieval.mode))},
                {"citations", citations},
                {"sources", sources},
                {"evidence", evidence}};
    // What fitting the prompt to the model's context gave up (prompt_fit.h).
    if (!r.extractive)
      fields["context_fit"] = {{"sources_dropped", r.n_sources_dropped},
                               {"source_cut", r.source_cut},
                               {"max_tokens", r.max_new_tokens}};
    return fields;
  }

  Json Chunk(const Json& delta, const Json& finish_reason) const {
    return Json{{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", ctx->model_id},
                {"choices", Json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}};
  }
};

StatusOr<std::shared_ptr<RagChat>> ParseRagChat(RagState& state, const httplib::Request& req, bool* stream) {
  ServerContext& ctx = state.ctx;
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
  // The defaults are the pipeline's (rag::AskParams), as `ask` uses them.
  const rag::AskParams defaults;
  ASSIGN_OR_RETURN(int64_t k, GetInt(body, "k", defaults.retrieve.k));
  ASSIGN_OR_RETURN(int64_t budget, GetInt(body, "token_budget", defaults.retrieve.selection.token_budget));
  ASSIGN_OR_RETURN(int64_t max_tokens, GetInt(body, "max_tokens", defaults.generation.max_new_tokens));
  ASSIGN_OR_RETURN(double temperature, GetNumber(body, "temperature", 0.0));
  ASSIGN_OR_RETURN(int64_t seed, GetInt(body, "seed", 0));
  ASSIGN_OR_RETURN(bool extractive, GetBool(body, "extractive", false));
  ASSIGN_OR_RETURN(bool ignore_eos, GetBool(body, "ignore_eos", false));
  ASSIGN_OR_RETURN(*stream, GetBool(body, "stream", false));
  if (!ctx.engine && !extractive)
    return UnimplementedError("this server runs without a language model (retrieval only): ask with "
                              "\"extractive\": true, or start it with -m MODEL.gguf to generate");
  ASSIGN_OR_RETURN(std::string mode, GetString(body, "mode", false));
  ASSIGN_OR_RETURN(std::optional<SpeculateRequest> speculate, ParseSpeculateField(body));
  ASSIGN_OR_RETURN(std::optional<double> recompute, ParseRecomputeField(body));
  ASSIGN_OR_RETURN(kv::KvPolicy kv_policy, ParseKvPolicyField(body, ctx.kv_policy));
  std::vector<std::string> stop;
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    const bool one = it->is_string();
    const bool many = it->is_array() && it->size() <= 4 &&
                      std::all_of(it->begin(), it->end(), [](const Json& j) { return j.is_string(); });
    if (!one && !many) return InvalidArgumentError("'stop' must be a string or an array of at most 4 strings");
    if (one) stop.push_back(it->get<std::string>());
    if (many)
      for (const Json& j : *it) stop.push_back(j.get<std::string>());
    for (const std::string& x : stop)
      if (x.empty()) return InvalidArgumentError("'stop' strings must not be empty");
  }
  auto chat = std::make_shared<RagChat>();
  chat->ctx = &ctx;
  chat->service = state.service.get();
  // Out-of-range k becomes 0 before the cast, so it cannot wrap into range.
  chat->params.retrieve.k = k < 1 || k > 100 ? 0 : static_cast<int>(k);
  chat->params.retrieve.selection.token_budget = budget;
  chat->params.generation.max_new_tokens = max_tokens;
  chat->params.generation.temperature = static_cast<float>(temperature);
  chat->params.generation.seed = static_cast<uint64_t>(seed);
  chat->params.generation.recompute_fraction = recompute;
  // RAG answers quote their sources: drafts from them by default (greedy).
  chat->params.generation.lookup_draft = ctx.speculation.For(speculate, temperature <= 0, /*has_documents=*/true);
  chat->params.generation.kv_policy = kv_policy;
  RETURN_IF_ERROR(rag::ValidateAskParams(chat->params));  // 400 before any work
  ASSIGN_OR_RETURN(chat->store, OpenStore(state));
  ASSIGN_OR_RETURN(chat->collection_id, CollectionId(*chat->store, collection));
  ASSIGN_OR_RETURN(chat->retrieval,
                   state.service->ResolveRetrieval(chat->store.get(), chat->collection_id, collection, mode));
  chat->question = std::move(question);
  chat->generate = ctx.engine && ctx.tokenizer && !extractive;
  chat->ignore_eos = ignore_eos;
  chat->stop = std::move(stop);
  chat->conn = ClientConnection::Of(req);
  chat->id = NewRagId();
  chat->created = UnixSeconds();
  return chat;
}

// A streaming answer produced on its own thread. The handler waits until
// the core accepted the generation (or the whole answer is done: an
// extractive one, or a failure), so a queue that is full (503 with
// Retry-After), a prompt that does not fit the context (400) and the like
// get their HTTP status; from then on the content provider writes each
// piece as the worker queues it.
//
// Thread safety: the worker and the HTTP thread share only mu_-guarded
// state and the `gone` flag. The destructor (HTTP thread) tells the worker
// the client is gone (cancelling a generation still running) and joins it.
class RagStreamJob {
 public:
  explicit RagStreamJob(std::shared_ptr<RagChat> chat) : chat_(std::move(chat)) {
    worker_ = std::thread([this] {
      RagChat::Outcome o = chat_->Run(
          [this](const std::string& piece) {
            {
              std::lock_guard<std::mutex> lock(mu_);
              pieces_.push_back(piece);
            }
            cv_.notify_all();
          },
          gone_,
          [this] {
            {
              std::lock_guard<std::mutex> lock(mu_);
              started_ = true;
            }
            cv_.notify_all();
          });
      {
        std::lock_guard<std::mutex> lock(mu_);
        outcome_ = std::move(o);
        finished_ = true;
      }
      cv_.notify_all();
    });
  }
  ~RagStreamJob() {
    gone_.store(true);
    worker_.join();
  }
  RagStreamJob(const RagStreamJob&) = delete;
  RagStreamJob& operator=(const RagStreamJob&) = delete;

  // Blocks until generation started or the answer is complete; returns the
  // failure when it ended before generation started, else OK.
  Status WaitStarted() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return started_ || finished_; });
    if (finished_ && !outcome_.result.ok()) return outcome_.result.status();
    return Status::Ok();
  }
  void ClientGone() { gone_.store(true); }

  struct Next {
    std::vector<std::string> pieces;
    bool done = false;  // no piece will follow; outcome() is valid
  };
  // Waits up to timeout_ms for pieces or the end.
  Next Take(int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return finished_ || !pieces_.empty(); });
    Next n;
    n.pieces.swap(pieces_);
    n.done = finished_;
    return n;
  }
  // REQUIRES: Take() returned done.
  const RagChat::Outcome& outcome() const { return outcome_; }
  const RagChat& chat() const { return *chat_; }

 private:
  std::shared_ptr<RagChat> chat_;
  std::atomic<bool> gone_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> pieces_;  // (mu_) queued, not yet written
  bool started_ = false;             // (mu_)
  bool finished_ = false;            // (mu_)
  RagChat::Outcome outcome_;         // (mu_) valid once finished_
  std::thread worker_;               // last: starts after the state above exists
};

void StreamRagChat(ServerContext& ctx, std::shared_ptr<RagStreamJob> job, httplib::Response& res) {
  std::atomic<int>* open_streams = &ctx.n_open_streams;
  open_streams->fetch_add(1);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto role_sent = std::make_shared<bool>(false);
  const int poll_ms = ctx.stream_poll_ms;
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, role_sent, poll_ms](size_t, httplib::DataSink& sink) {
        const RagChat& chat = job->chat();
        auto send = [&sink](const Json& j) {
          const std::string ev = SseEvent(j);
          return sink.write(ev.data(), ev.size());
        };
        auto gone = [&] {
          job->ClientGone();  // the worker cancels the generation
          return false;
        };
        if (!*role_sent) {
          *role_sent = true;
          if (!send(chat.Chunk({{"role", "assistant"}, {"content", ""}}, nullptr))) return gone();
        }
        RagStreamJob::Next next = job->Take(poll_ms);
        for (const std::string& piece : next.pieces)
          if (!send(chat.Chunk({{"content", piece}}, nullptr))) return gone();
        if (!next.done) return sink.is_writable() && !chat.conn.PeerClosed() ? true : gone();
        const RagChat::Outcome& o = job->outcome();
        if (o.client_gone) return false;  // generation cancelled; nobody to tell
        if (!o.result.ok()) {
          const Status& s = o.result.status();
          send(ErrorBody(s.message(), HttpStatusFor(s) >= 500 ? "server_error" : "invalid_request_error",
                         "rag_failed"));
        } else {
          Json last = chat.Chunk(Json::object(), o.result->extractive ? "stop" : o.finish_reason);
          last.update(chat.Fields(o));
          send(last);
        }
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      },
      [open_streams](bool) { open_streams->fetch_sub(1); });
}

Status HandleRagChat(RagState& state, const httplib::Request& req, httplib::Response& res) {
  bool stream = false;
  ASSIGN_OR_RETURN(std::shared_ptr<RagChat> chat, ParseRagChat(state, req, &stream));
  if (stream) {
    auto job = std::make_shared<RagStreamJob>(std::move(chat));
    RETURN_IF_ERROR(job->WaitStarted());
    StreamRagChat(state.ctx, std::move(job), res);
    return Status::Ok();
  }
  // Run probes the socket between tokens itself; the watch also covers the
  // query's embedding before generation starts.
  ClientWatch watch(chat->conn, state.ctx.stream_poll_ms);
  RagChat::Outcome o = chat->Run(nullptr, *watch.gone(), nullptr);
  if (o.client_gone) return CancelledError("the client closed the connection");  // 499 in /metrics
  RETURN_IF_ERROR(o.result.status());
  Json body = {{"id", chat->id},
               {"object", "chat.completion"},
               {"created", chat->created},
               {"model", state.ctx.model_id},
               {"choices", Json::array({{{"index", 0},
                                         {"message", {{"role", "assistant"}, {"content", o.result->answer}}},
                                         {"finish_reason", o.result->extractive ? "stop" : o.finish_reason}}})}};
  body.update(chat->Fields(o));
  SendJson(res, body);
  return Status::Ok();
}

// POST /v1/collections/{name}/documents. With an embedder the collection's
// embedding pass runs after the document is stored, so its chunks are found
// densely by the next question; a collection embedded with another model is
// refused before anything is written.
Status HandleUpload(RagState& state, const httplib::Request& req, httplib::Response& res) {
  ASSIGN_OR_RETURN(UploadRequest upload, ParseUploadRequest(req));  // JSON or multipart
  const std::string collection = req.matches[1];
  std::lock_guard<std::mutex> lock(state.write_mu);
  ASSIGN_OR_RETURN(auto store, OpenStore(state));
  ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, collection));
  // A client that leaves stops the embedding (and so the upload).
  ClientWatch watch(ClientConnection::Of(req), state.ctx.stream_poll_ms);
  rag::EmbedControl control;
  control.cancel = watch.gone();
  ASSIGN_OR_RETURN(rag::UploadResult up,
                   state.service->Upload(store.get(), cid, collection, upload.name, upload.bytes, upload.format,
                                                         control));
  const rag::DocumentRecord& r = up.document;
  Json out = {{"id", r.id}, {"name", r.path}, {"bytes", r.size_bytes}, {"chunks", r.n_chunks}, {"format", r.format}};
  if (up.n_embedded) {
    out["embedded_chunks"] = *up.n_embedded;
    out["embedder"] = state.service->embedder()->id();
  }
  SendJson(res, out);
  return Status::Ok();
}

Status HandleSearch(RagState& state, const httplib::Request& req, httplib::Response& res) {
  ASSIGN_OR_RETURN(Json body, ParseJsonObject(req.body));
  ASSIGN_OR_RETURN(std::string collection, GetString(body, "collection", true));
  ASSIGN_OR_RETURN(std::string query, GetString(body, "query", true));
  ASSIGN_OR_RETURN(std::string mode, GetString(body, "mode", false));
  ASSIGN_OR_RETURN(int64_t k, GetInt(body, "k", 10));
  if (k < 1 || k > 1000) return InvalidArgumentError("'k' must be between 1 and 1000");
  // Taken as given: the server's working directory means nothing to the
  // client (`search --path-prefix` makes local paths absolute first).
  ASSIGN_OR_RETURN(std::string path_prefix, GetString(body, "path_prefix", false));
  ASSIGN_OR_RETURN(auto store, OpenStore(state));
  ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, collection));
  ASSIGN_OR_RETURN(rag::Retrieval retrieval, state.service->ResolveRetrieval(store.get(), cid, collection, mode));
  ClientWatch watch(ClientConnection::Of(req), state.ctx.stream_poll_ms);
  rag::RetrieveParams p;
  p.k = static_cast<int>(k);
  p.path_prefix = path_prefix;
  p.embed_control.cancel = watch.gone();
  ASSIGN_OR_RETURN(auto hits, state.service->Search(store.get(), cid, retrieval, query, p));
  Json data = Json::array();
  rag::CitationLines lines(kLineFileBytes);
  for (size_t i = 0; i < hits.size(); ++i) {
    const rag::SearchHit& h = hits[i].hit;
    Json j = {{"rank", i + 1},
              {"score", h.score},
              {"document_id", h.chunk.document_id},
              {"path", h.path},
              {"chunk_id", h.chunk.id},
              {"source_begin", h.chunk.source_begin},
              {"source_end", h.chunk.source_end},
              {"text", h.chunk.text}};
    AddLocation(j, h.path, h.chunk.source_begin, h.chunk.source_end, h.chunk.page_begin, h.chunk.page_end, lines);
    if (!h.also_in.empty()) j["also_in"] = h.also_in;
    if (hits[i].bm25_rank > 0) j["bm25_rank"] = hits[i].bm25_rank;
    if (hits[i].dense_rank > 0) {
      j["dense_rank"] = hits[i].dense_rank;
      j["dense_similarity"] = hits[i].dense_similarity;
    }
    data.push_back(std::move(j));
  }
  SendJson(res, Json{{"object", "list"}, {"mode", std::string(rag::RetrievalModeName(retrieval.mode))}, {"data", data}});
  return Status::Ok();
}

}  // namespace

Status InstallRagRoutes(httplib::Server& http, ServerContext& ctx) {
  if (ctx.rag_db_path.empty()) return FailedPreconditionError("no database (start the server with --db DB)");
  auto state = std::make_shared<RagState>(ctx);
  rag::RagServiceOptions options;
  options.db_path = ctx.rag_db_path;
  options.embedder = ctx.rag_embedder;
  options.embedder_role = "this server's --embed-model";
  options.embedder_source = ctx.rag_embedder_source;
  ASSIGN_OR_RETURN(state->service, rag::RagService::Open(options));

  http.Get("/v1/collections", [state](const httplib::Request&, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(*state));
      ASSIGN_OR_RETURN(auto list, store->ListCollections());
      rag::EmbeddingStore es(store.get());
      Json data = Json::array();
      for (const auto& c : list) {
        Json j = {{"name", c.name},          {"id", c.id},         {"created", c.created_at_s},
                  {"documents", c.n_documents}, {"chunks", c.n_chunks}, {"tokens", c.n_tokens},
                  {"bytes", c.size_bytes}};
        ASSIGN_OR_RETURN(auto embedder, es.GetEmbedder(c.id));
        j["embedder"] = embedder ? Json(embedder->embedder_id) : Json(nullptr);
        data.push_back(std::move(j));
      }
      SendJson(res, Json{{"object", "list"}, {"data", data}});
      return Status::Ok();
    });
  });
  http.Post("/v1/collections", [state](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(Json body, ParseJsonObject(req.body));
      ASSIGN_OR_RETURN(std::string name, GetString(body, "name", true));
      if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos)
        return InvalidArgumentError("collection names are 1-200 characters without '/'");
      std::lock_guard<std::mutex> lock(state->write_mu);
      ASSIGN_OR_RETURN(auto store, OpenStore(*state));
      ASSIGN_OR_RETURN(auto existing, store->FindCollection(name));
      if (existing) return AlreadyExistsError("collection '" + name + "' already exists");
      ASSIGN_OR_RETURN(int64_t id, store->GetOrCreateCollection(name));
      SendJson(res, Json{{"name", name}, {"id", id}, {"object", "collection"}});
      return Status::Ok();
    });
  });
  http.Get(R"(/v1/collections/([^/]+))", [state](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(*state));
      ASSIGN_OR_RETURN(int64_t cid, CollectionId(*store, req.matches[1]));
      ASSIGN_OR_RETURN(auto docs, store->ListDocuments(cid));
      Json data = Json::array();
      for (const auto& d : docs)
        data.push_back({{"id", d.id}, {"name", d.path}, {"bytes", d.size_bytes}, {"chunks", d.n_chunks},
                        {"format", d.format}});
      rag::EmbeddingStore es(store.get());
      ASSIGN_OR_RETURN(auto embedder, es.GetEmbedder(cid));
      SendJson(res, Json{{"name", std::string(req.matches[1])},
                         {"id", cid},
                         {"embedder", embedder ? Json(embedder->embedder_id) : Json(nullptr)},
                         {"documents", data}});
      return Status::Ok();
    });
  });
  http.Delete(R"(/v1/collections/([^/]+))", [state](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() -> Status {
      std::lock_guard<std::mutex> lock(state->write_mu);
      ASSIGN_OR_RETURN(auto store, OpenStore(*state));
      RETURN_IF_ERROR(store->DeleteCollection(req.matches[1]));
      SendJson(res, Json{{"name", std::string(req.matches[1])}, {"deleted", true}});
      return Status::Ok();
    });
  });
  http.Post(R"(/v1/collections/([^/]+)/documents)", [state](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() { return HandleUpload(*state, req, res); });
  });
  http.Delete(R"(/v1/collections/([^/]+)/documents/(\d+))",
              [state](const httplib::Request& req, httplib::Response& res) {
                Guard(res, [&]() -> Status {
                  std::lock_guard<std::mutex> lock(state->write_mu);
                  ASSIGN_OR_RETURN(auto store, OpenStore(*state));
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
  http.Post("/v1/search", [state](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() { return HandleSearch(*state, req, res); });
  });
  http.Post("/v1/rag/chat/completions", [state](const httplib::Request& req, httplib::Response& res) {
    Guard(res, [&]() { return HandleRagChat(*state, req, res); });
  });
  return Status::Ok();
}

}  // namespace chunkserve::server
