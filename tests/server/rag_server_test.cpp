// The server's RAG side and client disconnects, through HTTP on a loopback
// port (an in-process server over a small qwen2 fixture model and a tiny
// GloVe embedding model):
//   - `--embed-model`: uploads are embedded at once, /v1/search takes
//     mode bm25|dense|hybrid, a collection embedded with another model is a
//     400 naming both (and the upload stores nothing), /v1/embeddings answers
//     from the embedding model;
//   - /v1/rag/chat/completions streams token by token, citations in the last
//     chunk before [DONE], and the streamed text equals the non-streamed one;
//   - a client that disconnects - streaming or not, OpenAI or RAG route -
//     cancels its generation within a second, and the server keeps serving;
//   - the end-to-end flow (create, upload, ask hybrid, citations on
//     the right bytes, delete, ask again, no longer cited);
// (The `chunkserve serve` executable's RAG wiring: rag_serve_cli_test.cpp.)
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "fixture/fixture_model.h"
#include "model/model.h"
#include "rag/embed/collection_embedding.h"
#include "rag/embed/queued_embedder.h"
#include "rag/embed/static_embedder.h"
#include "rag/embed_test_util.h"
#include "rag/gated_embedder.h"
#include "rag/pipeline/document_upload.h"
#include "rag/store/store.h"
#include "rag/test_dir.h"
#include "server/http_server.h"
#include "rag/embed/engine_embedder.h"
#include "engine/engine.h"
#include "rag/pipeline/rag_prompt.h"
#include "server/rag_server_docs.h"
#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

using Json = nlohmann::json;

using testing::FixturePath;  // the HTTP tests' qwen2 fixture (server_harness.h)

struct RagServerOptions {
  bool embed_model = true;  // the tiny GloVe model as --embed-model
  int64_t n_ctx = 4096;
  int64_t max_queue = 64;
  // /v1/embeddings from this embedder instead (not used by the RAG routes).
  const rag::Embedder* embeddings_from = nullptr;
};

// A server like `chunkserve serve -m fixture --db DB [--embed-model glove]`.
class RagServer {
 public:
  explicit RagServer(const rag::TestDir& dir, RagServerOptions o = {}) {
    model::LoadOptions lo;
    lo.n_threads = 1;
    model_ = std::move(model::Model::Load(FixturePath(), lo)).value();
    tokenizer_ = std::move(tokenizer::Tokenizer::FromGguf(model_->file())).value();
    auto tmpl = tokenizer::ChatTemplate::FromJinja(*model_->file().GetString("tokenizer.chat_template"), "", "");
    EXPECT_TRUE(tmpl.ok());
    ctx_.assembler = std::make_unique<engine::PromptAssembler>(tokenizer_.get(), std::move(tmpl).value());
    ctx_.model_id = "fixture";
    ctx_.n_ctx_tokens = o.n_ctx;
    ctx_.tokenizer = tokenizer_.get();
    ctx_.metrics = &metrics_;
    ctx_.stream_poll_ms = 10;
    ctx_.rag_db_path = dir.path("rag.db");
    if (o.embed_model) {
      glove_path_ = rag::WriteTinyGloveModel(dir);
      auto e = rag::StaticEmbedder::Load(glove_path_);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      glove_ = std::move(e).value();
      ctx_.rag_embedder = glove_.get();
    }
    engine::EngineOptions eo;
    eo.kv_budget_bytes = size_t{64} << 20;
    eo.scheduler.max_step_tokens = 256;
    eo.scheduler.max_context_tokens = o.n_ctx;
    eo.scheduler.max_waiting = o.max_queue;
    engine_ = std::move(engine::Engine::Create(model_.get(), eo)).value();
    ctx_.engine = engine_.get();
    // As `serve` does: /v1/embeddings from the --embed-model when given,
    // else the decoder through the engine core.
    decoder_embedder_ = std::make_unique<rag::EngineEmbedder>(engine_.get(), o.n_ctx);
    if (o.embeddings_from) {
      ctx_.embedder = o.embeddings_from;
      ctx_.embedder_name = "test-embedder";
    } else if (glove_) {
      ctx_.embedder = glove_.get();
      ctx_.embedder_name = "tiny-glove";
    } else {
      ctx_.embedder = decoder_embedder_.get();
      ctx_.embedder_name = ctx_.model_id;
      ctx_.embedder_tokenizer = ctx_.tokenizer;
    }
    HttpServerOptions ho;
    ho.port = 0;
    ho.n_http_threads = 16;
    http_ = std::make_unique<HttpServer>(&ctx_, ho);
    const Status s = http_->Bind();
    EXPECT_TRUE(s.ok()) << s.ToString();
    thread_ = std::thread([this] { http_->Listen(); });
  }
  ~RagServer() {
    http_->Shutdown(1000);
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return http_->port(); }
  engine::Engine& engine() { return *engine_; }
  const rag::StaticEmbedder& glove() const { return *glove_; }
  const std::string& db_path() const { return ctx_.rag_db_path; }

  std::pair<int, Json> Call(const std::string& method, const std::string& path, const Json& body = nullptr) const {
    httplib::Client c("127.0.0.1", port());
    c.set_read_timeout(30, 0);
    httplib::Result r = method == "GET"      ? c.Get(path)
                        : method == "DELETE" ? c.Delete(path)
                                             : c.Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return {0, nullptr};
    return {r->status, Json::parse(r->body, nullptr, false)};
  }

  std::string Metrics() const {
    httplib::Client c("127.0.0.1", port());
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }

  // Waits up to timeout_ms for no running or waiting request; true if so.
  bool WaitIdle(int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
      const sched::SchedulerStats st = engine_->Stats();
      if (st.n_running == 0 && st.n_waiting == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  server::Metrics metrics_;
  ServerContext ctx_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<rag::EngineEmbedder> decoder_embedder_;
  std::unique_ptr<rag::StaticEmbedder> glove_;
  std::string glove_path_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
};

// Creates "docs" with the three documents; returns their ids by name.
std::map<std::string, int64_t> CreateDocs(const RagServer& s) {
  std::map<std::string, int64_t> ids;
  EXPECT_EQ(s.Call("POST", "/v1/collections", {{"name", "docs"}}).first, 200);
  for (const auto& [name, text] :
       std::vector<std::pair<std::string, std::string>>{{"navy.txt", kNavy}, {"money.txt", kMoney}, {"pets.txt", kPets}}) {
    auto [status, doc] = s.Call("POST", "/v1/collections/docs/documents", {{"name", name}, {"text", text}});
    EXPECT_EQ(status, 200) << doc.dump();
    ids[name] = doc.value("id", int64_t{-1});
  }
  return ids;
}

// SSE events of a streaming request (data payloads in order); the receiver
// hangs up after `stop_after` events when >= 0.
std::vector<std::string> StreamEvents(int port, const std::string& path, const Json& body, int stop_after = -1) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  std::string buffer;
  std::vector<std::string> events;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    size_t at;
    while ((at = buffer.find("\n\n")) != std::string::npos) {
      std::string ev = buffer.substr(0, at);
      buffer.erase(0, at + 2);
      if (ev.rfind("data: ", 0) == 0) events.push_back(ev.substr(6));
    }
    return stop_after < 0 || static_cast<int>(events.size()) < stop_after;
  };
  c.send(req);
  return events;
}

// A raw TCP client: sends one HTTP request and returns the socket (or -1).
int SendRaw(int port, const std::string& path, const Json& body) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  const std::string b = body.dump();
  const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                          "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// The value of a Prometheus sample line that starts with `prefix`, or -1.
double Sample(const std::string& metrics, const std::string& prefix) {
  const size_t at = metrics.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  const size_t sp = metrics.find(' ', at + 1 + prefix.size());
  return std::stod(metrics.substr(sp + 1, metrics.find('\n', sp) - sp - 1));
}

TEST(RagServerTest, UploadsAreEmbeddedAndSearchTakesAMode) {
  rag::TestDir dir("rag_server_modes");
  RagServer s(dir);
  EXPECT_EQ(s.Call("POST", "/v1/collections", {{"name", "docs"}}).first, 200);
  auto [st, navy] = s.Call("POST", "/v1/collections/docs/documents", {{"name", "navy.txt"}, {"text", kNavy}});
  ASSERT_EQ(st, 200) << navy.dump();
  EXPECT_GT(navy["embedded_chunks"].get<int64_t>(), 0);
  EXPECT_EQ(navy["embedder"], s.glove().id());
  ASSERT_EQ(s.Call("POST", "/v1/collections/docs/documents", {{"name", "money.txt"}, {"text", kMoney}}).first, 200);
  ASSERT_EQ(s.Call("POST", "/v1/collections/docs/documents", {{"name", "pets.txt"}, {"text", kPets}}).first, 200);
  auto [sc, coll] = s.Call("GET", "/v1/collections/docs");
  ASSERT_EQ(sc, 200);
  EXPECT_EQ(coll["embedder"], s.glove().id());

  // "navy fleet ocean" shares no word with any document: BM25 finds
  // nothing, dense finds the navy document through the word vectors.
  const Json q = {{"collection", "docs"}, {"query", "navy fleet ocean"}, {"k", 3}};
  Json bm25 = q, dense = q;
  bm25["mode"] = "bm25";
  dense["mode"] = "dense";
  auto [s1, r1] = s.Call("POST", "/v1/search", bm25);
  ASSERT_EQ(s1, 200) << r1.dump();
  EXPECT_EQ(r1["mode"], "bm25");
  EXPECT_TRUE(r1["data"].empty()) << r1.dump();
  auto [s2, r2] = s.Call("POST", "/v1/search", dense);
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(r2["mode"], "dense");
  ASSERT_FALSE(r2["data"].empty());
  EXPECT_EQ(r2["data"][0]["path"], "navy.txt");
  EXPECT_GT(r2["data"][0]["dense_similarity"].get<double>(), 0.5);
  // Default: hybrid, because the collection has vectors from this model.
  auto [s3, r3] = s.Call("POST", "/v1/search", q);
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(r3["mode"], "hybrid");
  ASSERT_FALSE(r3["data"].empty());
  EXPECT_EQ(r3["data"][0]["path"], "navy.txt");
  // A word both lists know: hybrid ranks the money document first.
  auto [s4, r4] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "budget"}, {"mode", "hybrid"}});
  ASSERT_EQ(s4, 200);
  EXPECT_EQ(r4["data"][0]["path"], "money.txt");
  EXPECT_EQ(r4["data"][0]["bm25_rank"], 1);
  EXPECT_EQ(r4["data"][0]["dense_rank"], 1);
  // An upload is found densely by the very next search.
  ASSERT_EQ(s.Call("POST", "/v1/collections/docs/documents",
                   {{"name", "school.txt"}, {"text", "The teacher met every student of the class."}})
                .first,
            200);
  auto [s5, r5] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "education learning"}, {"mode", "dense"}});
  ASSERT_EQ(s5, 200);
  EXPECT_EQ(r5["data"][0]["path"], "school.txt") << r5.dump();

  Json bad = q;
  bad["mode"] = "vector";
  EXPECT_EQ(s.Call("POST", "/v1/search", bad).first, 400);
  bad["mode"] = 3;
  EXPECT_EQ(s.Call("POST", "/v1/search", bad).first, 400);
}

TEST(RagServerTest, CollectionOfAnotherEmbedderIsA400NamingBoth) {
  rag::TestDir dir("rag_server_mismatch");
  RagServer s(dir);
  ASSERT_EQ(s.Call("POST", "/v1/collections", {{"name", "docs"}}).first, 200);
  ASSERT_EQ(s.Call("POST", "/v1/collections", {{"name", "other"}}).first, 200);
  ASSERT_EQ(s.Call("POST", "/v1/collections/other/documents", {{"name", "pets.txt"}, {"text", kPets}}).first, 200);
  std::string other_id;
  {
    // Embed "docs" as `chunkserve ingest --embed-model` with another model
    // would: the same vectors under another SIF weight are another embedder.
    auto store = std::move(rag::Store::Open(s.db_path(), rag::Store::Mode::kReadWrite)).value();
    const int64_t cid = std::move(store->FindCollection("docs")).value().value();
    rag::ApproxTokenCounter counter;
    ASSERT_TRUE(rag::PutDocumentBytes(store.get(), cid, "money.txt", kMoney, rag::DocumentFormat::kPlainText,
                                      rag::ChunkerParams{}, counter)
                    .ok());
  }
  {
    auto store = std::move(rag::Store::Open(s.db_path(), rag::Store::Mode::kReadWrite)).value();
    const int64_t cid = std::move(store->FindCollection("docs")).value().value();
    rag::StaticEmbedderOptions eo;
    eo.sif_a = 0.01;
    // The server wrote its GloVe GGUF into the test directory.
    auto other = rag::StaticEmbedder::Load(dir.path("tiny-glove.gguf"), eo);
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    other_id = (*other)->id();
    ASSERT_NE(other_id, s.glove().id());
    ASSERT_TRUE(rag::EmbedCollection(store.get(), cid, **other).ok());
  }
  auto [s1, up] = s.Call("POST", "/v1/collections/docs/documents", {{"name", "navy.txt"}, {"text", kNavy}});
  EXPECT_EQ(s1, 400) << up.dump();
  const std::string message = up["error"]["message"];
  EXPECT_NE(message.find(other_id), std::string::npos) << message;
  EXPECT_NE(message.find(s.glove().id()), std::string::npos) << message;
  // Nothing was stored.
  auto [s2, coll] = s.Call("GET", "/v1/collections/docs");
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(coll["documents"].size(), 1u) << coll.dump();
  // Search and ask say the same unless they ask for BM25 only.
  auto [s3, found] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "budget"}});
  EXPECT_EQ(s3, 400);
  EXPECT_NE(found["error"]["message"].get<std::string>().find(other_id), std::string::npos);
  EXPECT_EQ(s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "budget"}, {"mode", "dense"}}).first, 400);
  EXPECT_EQ(s.Call("POST", "/v1/rag/chat/completions", Ask("What about the budget?")).first, 400);
  EXPECT_EQ(s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "budget"}, {"mode", "bm25"}}).first, 200);
  // The other collection is fine.
  EXPECT_EQ(s.Call("POST", "/v1/search", {{"collection", "other"}, {"query", "cat"}, {"mode", "dense"}}).first, 200);
}

// Uploads and dense searches at once: the in-memory index is reopened when
// the database changed, never serves a stale or half-built one, and the
// last upload is found.
TEST(RagServerTest, ConcurrentUploadsAndDenseSearches) {
  rag::TestDir dir("rag_server_concurrent_index");
  RagServer s(dir);
  CreateDocs(s);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const std::string name = "fleet-" + std::to_string(t) + "-" + std::to_string(i) + ".txt";
        auto [st, r] = s.Call("POST", "/v1/collections/docs/documents",
                              {{"name", name}, {"text", "The fleet met the navy at sea, report " + std::to_string(i) + "."}});
        if (st != 200) ++failures;
      }
    });
    threads.emplace_back([&] {
      for (int i = 0; i < 12; ++i) {
        auto [st, r] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "kitten puppy"}, {"mode", "dense"}});
        if (st != 200 || r["data"].empty() || r["data"][0]["path"] != "pets.txt") ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto [st, r] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "ocean ship sailor"}, {"mode", "dense"}, {"k", 20}});
  ASSERT_EQ(st, 200);
  // Every upload is found; the two threads' identical texts come back as one
  // source with the other copy in also_in (near-duplicates merge).
  int n_fleet = 0;
  for (const Json& h : r["data"]) {
    n_fleet += h["path"].get<std::string>().rfind("fleet-", 0) == 0 ? 1 : 0;
    if (h.contains("also_in"))
      for (const Json& p : h["also_in"]) n_fleet += p.get<std::string>().rfind("fleet-", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(n_fleet, 12) << r.dump();
}

TEST(RagServerTest, DenseWithoutAnEmbeddingModelSaysWhatIsMissing) {
  rag::TestDir dir("rag_server_noembed");
  RagServerOptions o;
  o.embed_model = false;
  RagServer s(dir, o);
  CreateDocs(s);
  auto [st, r] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "ship"}, {"mode", "dense"}});
  EXPECT_EQ(st, 400);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("--embed-model"), std::string::npos) << r.dump();
  auto [s2, r2] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "ship"}});
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(r2["mode"], "bm25");
  EXPECT_EQ(r2["data"][0]["path"], "navy.txt");
}

TEST(RagServerTest, EmbeddingsComeFromTheEmbedModel) {
  rag::TestDir dir("rag_server_embeddings");
  RagServer s(dir);
  auto [st, r] = s.Call("POST", "/v1/embeddings", {{"input", {"the navy ship", "a kitten"}}, {"model", "x"}});
  ASSERT_EQ(st, 200) << r.dump();
  EXPECT_EQ(r["model"], "tiny-glove");
  ASSERT_EQ(r["data"].size(), 2u);
  std::vector<float> want(8);
  ASSERT_TRUE(s.glove().Embed("the navy ship", want).ok());
  double norm = 0;
  for (float x : want) norm += static_cast<double>(x) * x;
  const std::vector<float> got = r["data"][0]["embedding"];
  ASSERT_EQ(got.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(got[i], want[i] / std::sqrt(norm), 1e-6);
  EXPECT_EQ(s.Call("POST", "/v1/embeddings", {{"input", {1, 2, 3}}}).first, 400);
  EXPECT_EQ(s.Call("POST", "/v1/embeddings", {{"input", ""}}).first, 400);
}

TEST(RagServerTest, StreamsTokenByTokenWithCitationsLast) {
  rag::TestDir dir("rag_server_stream");
  RagServer s(dir);
  CreateDocs(s);
  Json req = Ask("Who trained in the harbor?", 12);
  req["ignore_eos"] = true;  // exactly 12 tokens
  auto [st, whole] = s.Call("POST", "/v1/rag/chat/completions", req);
  ASSERT_EQ(st, 200) << whole.dump();
  EXPECT_EQ(whole["mode"], "generated");
  EXPECT_EQ(whole["retrieval"], "hybrid");
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(whole["usage"]["completion_tokens"], 12);

  req["stream"] = true;
  const std::vector<std::string> events = StreamEvents(s.port(), "/v1/rag/chat/completions", req);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const Json first = Json::parse(events[0]);
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  int n_content = 0;
  for (size_t i = 1; i + 2 < events.size(); ++i) {
    const Json e = Json::parse(events[i]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_TRUE(e["choices"][0]["finish_reason"].is_null());
    EXPECT_FALSE(e.contains("citations"));
    text += e["choices"][0]["delta"]["content"].get<std::string>();
    ++n_content;
  }
  // Token by token: several pieces (the old route sent the answer in one).
  EXPECT_GE(n_content, 3);
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"].get<std::string>());
  const Json last = Json::parse(events[events.size() - 2]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(last["sources"], whole["sources"]);
  EXPECT_EQ(last["citations"], whole["citations"]);
  EXPECT_EQ(last["usage"]["completion_tokens"], 12);
  EXPECT_EQ(last["mode"], "generated");

  // A stop string cuts the answer where it first appears, streamed or not.
  const std::string answer = whole["choices"][0]["message"]["content"];
  size_t at = 1;
  while (at < answer.size() && !std::isalnum(static_cast<unsigned char>(answer[at]))) ++at;
  ASSERT_LT(at, answer.size()) << "no ASCII letter or digit in the fixture's answer: " << answer;
  {
    Json with_stop = req;
    with_stop["stream"] = false;
    with_stop["stop"] = answer.substr(at, 1);
    auto [ss, stopped] = s.Call("POST", "/v1/rag/chat/completions", with_stop);
    ASSERT_EQ(ss, 200) << stopped.dump();
    EXPECT_EQ(stopped["choices"][0]["message"]["content"], answer.substr(0, answer.find(answer.substr(at, 1))));
    EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop");
  }
  Json bad_stop = req;
  bad_stop["stop"] = Json::array({1});
  EXPECT_EQ(s.Call("POST", "/v1/rag/chat/completions", bad_stop).first, 400);

  // Extractive answers stream in one piece, with their evidence.
  req["extractive"] = true;
  const std::vector<std::string> ex = StreamEvents(s.port(), "/v1/rag/chat/completions", req);
  ASSERT_EQ(ex.size(), 4u);
  EXPECT_EQ(Json::parse(ex[1])["choices"][0]["delta"]["content"].get<std::string>().rfind(
                "Every sailor trained in the harbor for a year.", 0),
            0u)
      << ex[1];
  EXPECT_EQ(Json::parse(ex[2])["evidence"][0]["path"], "navy.txt");
}

// Failures before the first token keep their HTTP status when streaming:
// the stream starts only once the core accepted the generation.
TEST(RagServerTest, StreamingFailuresBeforeGenerationGetTheirStatus) {
  rag::TestDir dir("rag_server_stream_errors");
  RagServerOptions o;
  o.max_queue = 0;  // every generation is refused
  o.n_ctx = 512;
  RagServer s(dir, o);
  CreateDocs(s);
  Json req = Ask("Who trained in the harbor?", 4);
  req["stream"] = true;
  httplib::Client c("127.0.0.1", s.port());
  auto full = c.Post("/v1/rag/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 503) << full->body;
  EXPECT_EQ(full->get_header_value("Retry-After"), "1");
  req["max_tokens"] = 600;  // prompt + answer cannot fit 512 tokens
  auto too_long = c.Post("/v1/rag/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(too_long);
  EXPECT_EQ(too_long->status, 400) << too_long->body;
  EXPECT_NE(too_long->body.find("context"), std::string::npos) << too_long->body;
  // Extractive answers need no generation: still streamed.
  req["extractive"] = true;
  const auto events = StreamEvents(s.port(), "/v1/rag/chat/completions", req);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(Json::parse(events[2])["mode"], "extractive");
}

TEST(RagServerTest, StreamingClientThatLeavesCancelsTheGeneration) {
  rag::TestDir dir("rag_server_stream_gone");
  RagServer s(dir);
  CreateDocs(s);
  Json req = Ask("Who trained in the harbor?", 3500);
  req["ignore_eos"] = true;
  req["stream"] = true;
  const auto events = StreamEvents(s.port(), "/v1/rag/chat/completions", req, /*stop_after=*/4);
  ASSERT_EQ(events.size(), 4u);
  const auto left = std::chrono::steady_clock::now();
  EXPECT_TRUE(s.WaitIdle(1000));
  EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::seconds(1));
  // Cancelled, not finished: far fewer tokens than asked for.
  EXPECT_LT(Sample(s.Metrics(), "chunkserve_completion_tokens_total"), 3500);
  const sched::SchedulerStats st = s.engine().Stats();
  EXPECT_EQ(st.n_blocks_free + st.n_blocks_cached, st.n_blocks_total);
  EXPECT_EQ(s.Call("POST", "/v1/rag/chat/completions", Ask("Who trained in the harbor?", 2)).first, 200);
}

TEST(RagServerTest, ConcurrentStreamingAsksAllComplete) {
  rag::TestDir dir("rag_server_concurrent");
  RagServer s(dir);
  CreateDocs(s);
  const std::vector<std::string> questions = {"Who trained in the harbor?", "What happened to the budget?",
                                              "What did the puppy do?", "Where did the ship go?"};
  std::vector<std::vector<std::string>> events(12);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < events.size(); ++i) {
    clients.emplace_back([&, i] {
      Json req = Ask(questions[i % questions.size()], 6);
      req["stream"] = true;
      req["ignore_eos"] = true;
      req["extractive"] = i % 3 == 2;  // a few extractive ones in the mix
      events[i] = StreamEvents(s.port(), "/v1/rag/chat/completions", req);
    });
  }
  for (std::thread& t : clients) t.join();
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_GE(events[i].size(), 4u) << i;
    EXPECT_EQ(events[i].back(), "[DONE]") << i;
    const Json last = Json::parse(events[i][events[i].size() - 2]);
    EXPECT_TRUE(last.contains("citations")) << last.dump();
    EXPECT_FALSE(last["sources"].empty()) << last.dump();
    if (i % 3 != 2) {
      EXPECT_EQ(last["usage"]["completion_tokens"], 6) << last.dump();
    }
  }
  EXPECT_TRUE(s.WaitIdle(1000));
}

// Issue 6: a non-streaming request whose client hangs up is cancelled
// within a second (status 499 in /metrics), and the server keeps serving.
void ExpectNonStreamingDisconnectCancels(RagServer& s, const std::string& route, const Json& body) {
  const int fd = SendRaw(s.port(), route, body);
  ASSERT_GE(fd, 0);
  // Let the generation start, then leave without reading anything.
  for (int i = 0; i < 200 && s.engine().Stats().n_running == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(s.engine().Stats().n_running, 1);
  close(fd);
  const auto left = std::chrono::steady_clock::now();
  EXPECT_TRUE(s.WaitIdle(1000));
  EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::seconds(1));
  const std::string m = s.Metrics();
  EXPECT_LT(Sample(m, "chunkserve_completion_tokens_total"), 3500);
  double n_499 = -1;
  for (int i = 0; i < 100 && n_499 < 1; ++i) {  // counted once the handler returned
    n_499 = Sample(s.Metrics(), "chunkserve_requests_total{route=\"" + route + "\",code=\"499\"}");
    if (n_499 < 1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(n_499, 1) << s.Metrics();
  const sched::SchedulerStats st = s.engine().Stats();
  EXPECT_EQ(st.n_blocks_free + st.n_blocks_cached, st.n_blocks_total);
}

TEST(RagServerTest, NonStreamingClientThatLeavesCancelsTheCompletion) {
  rag::TestDir dir("rag_server_gone_openai");
  RagServerOptions o;
  o.embed_model = false;
  RagServer s(dir, o);
  const Json body = {{"messages", {{{"role", "user"}, {"content", "tell me a long story"}}}},
                     {"max_tokens", 3500},
                     {"ignore_eos", true},
                     {"temperature", 0}};
  ExpectNonStreamingDisconnectCancels(s, "/v1/chat/completions", body);
  // Still serving, with the same bytes as ever for a client that stays.
  httplib::Client c("127.0.0.1", s.port());
  Json small = body;
  small["max_tokens"] = 4;
  auto r = c.Post("/v1/chat/completions", small.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_FALSE(r->has_header("Transfer-Encoding"));
  EXPECT_EQ(Json::parse(r->body)["usage"]["completion_tokens"], 4);
}

TEST(RagServerTest, NonStreamingRagClientThatLeavesCancelsTheAnswer) {
  rag::TestDir dir("rag_server_gone_rag");
  RagServer s(dir);
  CreateDocs(s);
  Json body = Ask("Who trained in the harbor?", 3500);
  body["ignore_eos"] = true;
  ExpectNonStreamingDisconnectCancels(s, "/v1/rag/chat/completions", body);
  EXPECT_EQ(s.Call("POST", "/v1/rag/chat/completions", Ask("Who trained in the harbor?", 2)).first, 200);
}

// Waits until /metrics counts `n` responses of `code` on `route`.
bool WaitForStatusCount(const RagServer& s, const std::string& route, int code, double n) {
  const std::string key = "chunkserve_requests_total{route=\"" + route + "\",code=\"" + std::to_string(code) + "\"}";
  for (int i = 0; i < 200; ++i) {
    if (Sample(s.Metrics(), key) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Issue 15 row 4 with an --embed-model (on its own queue): clients that
// leave cancel their embeddings - the running one stops through its
// control, the queued one leaves the queue without running - and both count
// as 499; the worker then serves the next request.
TEST(RagServerTest, EmbeddingsOfAClientThatLeavesAreCancelled) {
  rag::TestDir dir("rag_server_embed_gone");
  auto inner = std::make_unique<rag::GatedEmbedder>();
  rag::GatedEmbedder* gated = inner.get();
  auto queued = rag::QueuedEmbedder::Create(std::move(inner), {.max_queued = 4, .max_wait_ms = 30000, .poll_ms = 5});
  ASSERT_TRUE(queued.ok());
  RagServerOptions o;
  o.embed_model = false;
  o.embeddings_from = queued->get();
  {
    RagServer s(dir, o);
    const int running = SendRaw(s.port(), "/v1/embeddings", {{"input", "first"}});
    ASSERT_GE(running, 0);
    ASSERT_TRUE(gated->WaitStarted(1));
    const int waiting = SendRaw(s.port(), "/v1/embeddings", {{"input", {"second", "third"}}});
    ASSERT_GE(waiting, 0);
    for (int i = 0; i < 500 && (*queued)->stats().n_queued < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_EQ((*queued)->stats().n_queued, 1);
    const auto left = std::chrono::steady_clock::now();
    // The waiting client leaves first and its job leaves the queue; only then
    // the running one (closing both at once races the worker, which would
    // start the queued job as soon as the running one stops).
    close(waiting);
    for (int i = 0; i < 1000 && (*queued)->stats().n_dropped < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    close(running);
    EXPECT_TRUE(WaitForStatusCount(s, "/v1/embeddings", 499, 2)) << s.Metrics();
    EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::seconds(2));
    EXPECT_EQ(gated->n_started(), 1);               // the queued job never ran
    EXPECT_EQ(gated->n_stopped_while_running(), 1);  // the running one was told to stop
    EXPECT_EQ((*queued)->stats().n_dropped, 1);
    gated->Open();
    auto [st, r] = s.Call("POST", "/v1/embeddings", {{"input", "four"}});
    EXPECT_EQ(st, 200) << r.dump();
    EXPECT_EQ(r["model"], "test-embedder");
  }
}

// Issue 15 row 4 through the decoder (the engine core): a request of many
// long inputs whose client leaves stops within a step; 499 in /metrics.
TEST(RagServerTest, DecoderEmbeddingsOfAClientThatLeavesAreCancelled) {
  rag::TestDir dir("rag_server_embed_gone_decoder");
  RagServerOptions o;
  o.embed_model = false;
  RagServer s(dir, o);
  std::string long_text;
  while (long_text.size() < 3000) long_text += "the mill by the river turns all day ";
  const Json body = {{"input", std::vector<std::string>(512, long_text)}};
  const int fd = SendRaw(s.port(), "/v1/embeddings", body);
  ASSERT_GE(fd, 0);
  bool started = false;  // the engine core runs one of its embeddings
  for (int i = 0; i < 2000 && !started; ++i) {
    started = s.engine().Stats().n_running > 0;
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(started);
  close(fd);
  const auto left = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitForStatusCount(s, "/v1/embeddings", 499, 1)) << s.Metrics();
  EXPECT_TRUE(s.WaitIdle(1000));
  EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::seconds(2));
  auto [st, r] = s.Call("POST", "/v1/embeddings", {{"input", "the mill"}});
  EXPECT_EQ(st, 200) << r.dump();
}

// The flow with --embed-model: create, upload, ask (hybrid),
// citations on the right bytes, delete, ask again, no longer cited.
TEST(RagServerTest, EndToEndHybridAskDeleteAskAgain) {
  rag::TestDir dir("rag_server_e2e");
  RagServer s(dir);
  const auto ids = CreateDocs(s);
  Json ex = Ask("Which sailor trained in the harbor?");
  ex["extractive"] = true;
  auto [s1, a1] = s.Call("POST", "/v1/rag/chat/completions", ex);
  ASSERT_EQ(s1, 200) << a1.dump();
  EXPECT_EQ(a1["retrieval"], "hybrid");
  ASSERT_FALSE(a1["citations"].empty());
  ASSERT_FALSE(a1["evidence"].empty());
  const Json& e = a1["evidence"][0];
  EXPECT_EQ(e["path"], "navy.txt");
  EXPECT_EQ(e["document_id"], ids.at("navy.txt"));
  const int64_t b = e["source_begin"], en = e["source_end"];
  EXPECT_EQ(kNavy.substr(static_cast<size_t>(b), static_cast<size_t>(en - b)), e["text"].get<std::string>());
  for (const Json& c : a1["citations"]) {
    const std::string& doc = c["path"] == "navy.txt" ? kNavy : c["path"] == "money.txt" ? kMoney : kPets;
    const int64_t cb = c["source_begin"], ce = c["source_end"];
    EXPECT_EQ(doc.substr(static_cast<size_t>(cb), static_cast<size_t>(ce - cb)), c["text"].get<std::string>());
  }
  // Dense alone finds the navy document for words it does not contain.
  Json dense = Ask("fleet ocean navy");
  dense["extractive"] = true;
  dense["mode"] = "dense";
  auto [s2, a2] = s.Call("POST", "/v1/rag/chat/completions", dense);
  ASSERT_EQ(s2, 200) << a2.dump();
  ASSERT_FALSE(a2["sources"].empty());
  EXPECT_EQ(a2["sources"][0]["path"], "navy.txt");
  // Generated through the engine core: numbered sources with byte spans.
  auto [s3, a3] = s.Call("POST", "/v1/rag/chat/completions", Ask("Which sailor trained in the harbor?"));
  ASSERT_EQ(s3, 200) << a3.dump();
  EXPECT_EQ(a3["mode"], "generated");
  bool navy_source = false;
  for (const Json& src : a3["sources"]) navy_source |= src["path"] == "navy.txt";
  EXPECT_TRUE(navy_source);

  // Delete the navy document: neither dense nor BM25 brings it back.
  ASSERT_EQ(s.Call("DELETE", "/v1/collections/docs/documents/" + std::to_string(ids.at("navy.txt"))).first, 200);
  for (const Json& req : {ex, dense}) {
    auto [st, again] = s.Call("POST", "/v1/rag/chat/completions", req);
    ASSERT_EQ(st, 200) << again.dump();
    for (const Json& src : again["sources"]) EXPECT_NE(src["path"], "navy.txt");
    for (const Json& c : again["citations"]) EXPECT_NE(c["path"], "navy.txt");
  }
  auto [s4, found] = s.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "fleet ocean navy"}, {"mode", "dense"}});
  ASSERT_EQ(s4, 200);
  for (const Json& h : found["data"]) EXPECT_NE(h["path"], "navy.txt");
}


}  // namespace
}  // namespace chunkserve::server
