// ServerHarness: an in-process chunkserve HTTP server on a loopback port over
// a small random-weight qwen2 fixture model (ChatML template) and its engine
// core, for the HTTP tests.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "fixture/fixture_model.h"
#include "model/model.h"
#include "server/http_server.h"
#include "rag/embed/engine_embedder.h"

namespace chunkserve::server::testing {

inline std::string FixturePath() {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "server_test_qwen2.gguf").string();
  if (!std::filesystem::exists(path)) {
    fixture::FixtureSpec spec;
    spec.arch = "qwen2";
    spec.type = "f32";
    spec.seed = 3;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_head = 4;
    spec.n_head_kv = 2;
    spec.n_ff = 128;
    spec.n_vocab = 300;
    const Status s = fixture::WriteFixtureModel(spec, path, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return path;
}

struct HarnessOptions {
  std::vector<std::string> api_keys;
  int64_t n_ctx = 256;
  int64_t max_queue = 64;
  size_t max_body_bytes = 1 << 16;
  size_t kv_bytes = size_t{8} << 20;
  bool embeddings = true;  // a rag::EngineEmbedder over the fixture model
  std::string rag_db_path;  // non-empty: the RAG routes over this database
  int64_t self_draft_layers = 0;  // > 0: "speculate": "draft" drafts with the model's first layers
  // Adjusts the HTTP options last (connection caps, timeouts, hosts).
  std::function<void(HttpServerOptions&)> tune_http;
};

class ServerHarness {
 public:
  explicit ServerHarness(HarnessOptions o = {}) {
    model::LoadOptions lo;
    lo.n_threads = 1;
    auto m = model::Model::Load(FixturePath(), lo);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(m).value();
    auto tok = tokenizer::Tokenizer::FromGguf(model_->file());
    EXPECT_TRUE(tok.ok()) << tok.status().ToString();
    tokenizer_ = std::move(tok).value();
    auto tmpl = tokenizer::ChatTemplate::FromJinja(*model_->file().GetString("tokenizer.chat_template"), "", "");
    EXPECT_TRUE(tmpl.ok());
    ctx_.assembler = std::make_unique<engine::PromptAssembler>(tokenizer_.get(), std::move(tmpl).value());
    ctx_.model_id = "fixture";
    ctx_.n_ctx_tokens = o.n_ctx;
    ctx_.tokenizer = tokenizer_.get();
    ctx_.metrics = &metrics_;
    ctx_.rag_db_path = o.rag_db_path;
    ctx_.stream_poll_ms = 10;
    engine::EngineOptions eo;
    eo.kv_budget_bytes = o.kv_bytes;
    eo.chunk_cache.ram_budget_bytes = size_t{16} << 20;
    eo.scheduler.max_step_tokens = 64;
    eo.scheduler.max_waiting = o.max_queue;
    eo.scheduler.max_context_tokens = o.n_ctx;
    eo.self_draft_layers = o.self_draft_layers;
    eo.draft_kv_budget_bytes = size_t{8} << 20;
    engine_ = std::move(engine::Engine::Create(model_.get(), eo)).value();
    ctx_.engine = engine_.get();
    if (o.embeddings) {
      embedder_ = std::make_unique<rag::EngineEmbedder>(engine_.get(), o.n_ctx);
      ctx_.embedder = embedder_.get();
      ctx_.embedder_name = ctx_.model_id;
      ctx_.embedder_tokenizer = ctx_.tokenizer;
    }
    HttpServerOptions ho;
    ho.port = 0;
    ho.api_keys = o.api_keys;
    ho.max_body_bytes = o.max_body_bytes;
    ho.n_http_threads = 48;
    if (o.tune_http) o.tune_http(ho);
    http_ = std::make_unique<HttpServer>(&ctx_, ho);
    const Status s = http_->Bind();
    EXPECT_TRUE(s.ok()) << s.ToString();
    thread_ = std::thread([this] { http_->Listen(); });
  }

  ~ServerHarness() { Stop(2000); }

  void Stop(int64_t grace_ms) {
    if (!http_) return;
    http_->Shutdown(grace_ms);
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return http_->port(); }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port());
    c.set_read_timeout(30, 0);
    return c;
  }
  engine::Engine& engine() { return *engine_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  model::Model& model() { return *model_; }
  HttpServer& http() { return *http_; }

 private:
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  Metrics metrics_;
  ServerContext ctx_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<rag::EngineEmbedder> embedder_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
};

}  // namespace chunkserve::server::testing
