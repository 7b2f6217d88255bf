// The RAG HTTP routes end to end: create a collection, upload documents,
// search, ask (generated through the engine core, and extractive),
// citations that point at the right bytes of the uploaded text, delete a
// document and ask again without it being cited, delete the collection.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "fixture/fixture_model.h"
#include "model/model.h"
#include "rag/test_dir.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace chunkserve::server {
namespace {

using Json = nlohmann::json;

class RagHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = (std::filesystem::path(::testing::TempDir()) / "rag_http_qwen2.gguf").string();
    if (!std::filesystem::exists(path)) {
      fixture::FixtureSpec spec;
      spec.arch = "qwen2";
      spec.seed = 3;
      spec.n_embd = 64;
      spec.n_layer = 2;
      spec.n_head = 4;
      spec.n_head_kv = 2;
      spec.n_ff = 128;
      spec.n_vocab = 300;
      ASSERT_TRUE(fixture::WriteFixtureModel(spec, path, nullptr).ok());
    }
    model::LoadOptions lo;
    lo.n_threads = 1;
    model_ = std::move(model::Model::Load(path, lo)).value();
    tokenizer_ = std::move(tokenizer::Tokenizer::FromGguf(model_->file())).value();
    auto choice = engine::ChooseChatTemplate(model_->file(), *tokenizer_);
    ASSERT_TRUE(choice.ok()) << choice.status().ToString();
    ctx_.assembler = std::make_unique<engine::PromptAssembler>(tokenizer_.get(), std::move(choice->chat_template));
    ctx_.model_id = "fixture";
    ctx_.n_ctx_tokens = 2048;
    ctx_.tokenizer = tokenizer_.get();
    ctx_.metrics = &metrics_;
    engine::EngineOptions eo;
    eo.kv_budget_bytes = size_t{16} << 20;
    eo.scheduler.max_context_tokens = 2048;
    engine_ = std::move(engine::Engine::Create(model_.get(), eo)).value();
    ctx_.engine = engine_.get();
    ctx_.rag_db_path = dir_.path("rag.db");
    HttpServerOptions ho;
    ho.port = 0;
    http_ = std::make_unique<HttpServer>(&ctx_, ho);
    ASSERT_TRUE(http_->Bind().ok());
    thread_ = std::thread([this] { http_->Listen(); });
  }
  void TearDown() override {
    http_->Shutdown(1000);
    if (thread_.joinable()) thread_.join();
  }

  std::pair<int, Json> Call(const std::string& method, const std::string& path, const Json& body = nullptr) {
    httplib::Client c("127.0.0.1", http_->port());
    c.set_read_timeout(30, 0);
    httplib::Result r = method == "GET"      ? c.Get(path)
                        : method == "DELETE" ? c.Delete(path)
                                             : c.Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return {0, nullptr};
    Json j = Json::parse(r->body, nullptr, false);
    return {r->status, j};
  }

  rag::TestDir dir_{"rag_http"};
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  Metrics metrics_;
  ServerContext ctx_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
};

const std::string kNavy =
    "The fleet sailed at dawn. Our navy guards the ocean lanes.\n\nEvery sailor trained in the harbor for a year.\n";
const std::string kMoney = "The budget was balanced this year. Tax revenue rose by ten percent.\n";

TEST_F(RagHttpTest, CollectionUploadAskDeleteAskAgain) {
  auto [s1, created] = Call("POST", "/v1/collections", {{"name", "c"}});
  ASSERT_EQ(s1, 200) << created.dump();
  EXPECT_EQ(Call("POST", "/v1/collections", {{"name", "c"}}).first, 409);
  auto [s2, navy] = Call("POST", "/v1/collections/c/documents", {{"name", "navy.txt"}, {"text", kNavy}});
  ASSERT_EQ(s2, 200) << navy.dump();
  auto [s3, money] = Call("POST", "/v1/collections/c/documents", {{"name", "money.md"}, {"text", kMoney},
                                                                  {"format", "markdown"}});
  ASSERT_EQ(s3, 200) << money.dump();
  EXPECT_EQ(Call("POST", "/v1/collections/nope/documents", {{"name", "x"}, {"text", "y"}}).first, 404);
  EXPECT_EQ(Call("POST", "/v1/collections/c/documents", {{"name", "x"}}).first, 400);

  auto [s4, list] = Call("GET", "/v1/collections");
  ASSERT_EQ(s4, 200);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["documents"], 2);

  auto [s5, found] = Call("POST", "/v1/search", {{"collection", "c"}, {"query", "sailor harbor"}});
  ASSERT_EQ(s5, 200);
  ASSERT_FALSE(found["data"].empty());
  EXPECT_EQ(found["data"][0]["path"], "navy.txt");

  // Extractive: the citation's bytes are the sentence in the uploaded text.
  const Json ask = {{"collection", "c"},
                    {"messages", {{{"role", "user"}, {"content", "Who trained in the harbor?"}}}},
                    {"extractive", true}};
  auto [s6, ex] = Call("POST", "/v1/rag/chat/completions", ask);
  ASSERT_EQ(s6, 200) << ex.dump();
  EXPECT_EQ(ex["mode"], "extractive");
  ASSERT_FALSE(ex["evidence"].empty());
  const Json& e = ex["evidence"][0];
  EXPECT_EQ(e["path"], "navy.txt");
  EXPECT_EQ(e["document_id"], navy["id"]);
  const int64_t b = e["source_begin"], en = e["source_end"];
  EXPECT_EQ(kNavy.substr(static_cast<size_t>(b), static_cast<size_t>(en - b)), e["text"].get<std::string>());
  EXPECT_EQ(e["text"], "Every sailor trained in the harbor for a year.");
  ASSERT_FALSE(ex["citations"].empty());
  EXPECT_EQ(ex["citations"][0]["path"], "navy.txt");

  // Generated through the engine backend: sources with byte spans, usage.
  Json gen_req = ask;
  gen_req["extractive"] = false;
  gen_req["max_tokens"] = 4;
  auto [s7, gen] = Call("POST", "/v1/rag/chat/completions", gen_req);
  ASSERT_EQ(s7, 200) << gen.dump();
  EXPECT_EQ(gen["mode"], "generated");
  EXPECT_EQ(gen["object"], "chat.completion");
  ASSERT_FALSE(gen["sources"].empty());
  bool navy_source = false;
  for (const Json& src : gen["sources"]) navy_source |= src["path"] == "navy.txt";
  EXPECT_TRUE(navy_source);
  EXPECT_GT(gen["usage"]["prompt_tokens"].get<int64_t>(), 0);
  EXPECT_GT(gen["usage"]["completion_tokens"].get<int64_t>(), 0);
  // Streaming shape: SSE chunks ending in [DONE].
  gen_req["stream"] = true;
  {
    httplib::Client c("127.0.0.1", http_->port());
    c.set_read_timeout(30, 0);
    auto r = c.Post("/v1/rag/chat/completions", gen_req.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("chat.completion.chunk"), std::string::npos);
    EXPECT_NE(r->body.find("\"citations\""), std::string::npos);
    EXPECT_NE(r->body.find("data: [DONE]"), std::string::npos);
  }

  // Delete the navy document: it is no longer a source.
  auto [s8, del] = Call("DELETE", "/v1/collections/c/documents/" + std::to_string(navy["id"].get<int64_t>()));
  ASSERT_EQ(s8, 200) << del.dump();
  EXPECT_EQ(Call("DELETE", "/v1/collections/c/documents/" + std::to_string(navy["id"].get<int64_t>())).first, 404);
  auto [s9, again] = Call("POST", "/v1/rag/chat/completions", ask);
  ASSERT_EQ(s9, 200);
  for (const Json& src : again["sources"]) EXPECT_NE(src["path"], "navy.txt");
  for (const Json& c : again["citations"]) EXPECT_NE(c["path"], "navy.txt");

  // Bad input: clear 4xx, never a crash.
  EXPECT_EQ(Call("POST", "/v1/rag/chat/completions", {{"collection", "c"}}).first, 400);
  EXPECT_EQ(Call("POST", "/v1/rag/chat/completions", {{"collection", "c"}, {"messages", {{{"role", 5}}}}}).first, 400);
  EXPECT_EQ(Call("POST", "/v1/rag/chat/completions",
                 {{"collection", "missing"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}})
                .first,
            404);
  EXPECT_EQ(Call("POST", "/v1/search", {{"query", "x"}}).first, 400);

  EXPECT_EQ(Call("DELETE", "/v1/collections/c").first, 200);
  EXPECT_EQ(Call("GET", "/v1/collections/c").first, 404);
  auto [s10, empty] = Call("GET", "/v1/collections");
  EXPECT_TRUE(empty["data"].empty());
}

}  // namespace
}  // namespace chunkserve::server
