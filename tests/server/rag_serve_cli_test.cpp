// The `chunkserve serve --db --embed-model` executable, as a user runs it:
// it wires uploads, search, ask and embeddings; the same question gives the
// same prompt and answer through `ask`, the RAG route and the OpenAI route;
// a restart with another embedding model refuses the collection; the chunk
// cache directory survives a restart; without -m it serves retrieval only,
// with the embedding model its collections record, and citations carry lines.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "rag/embed/embedder_loader.h"
#include "rag/embed_test_util.h"
#include "rag/pipeline/rag_prompt.h"
#include "rag/test_dir.h"
#include "server/rag_server_docs.h"
#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

using testing::FixturePath;  // the HTTP tests' qwen2 fixture (server_harness.h)

std::string serve_binary() { return (std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve").string(); }

// `chunkserve serve` on the fixture model, as a user runs it, with
// `flags` after the common ones (e.g. --db DB --embed-model E).
class ServeProcess {
 public:
  ServeProcess(const std::string& db, const std::string& embed_model, const std::string& dir)
      : ServeProcess(std::vector<std::string>{"--db", db, "--embed-model", embed_model}, dir) {}
  // `with_model` false: no -m (retrieval only).
  ServeProcess(const std::vector<std::string>& flags, const std::string& dir, bool with_model = true) {
    binary_ = std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve";
    if (!std::filesystem::exists(binary_)) return;
    port_file_ = dir + "/port";
    std::filesystem::remove(port_file_);
    std::vector<std::string> args = {binary_.string(), "serve", "--port", "0", "--port-file", port_file_,
                                     "--threads", "1", "--http-threads", "8", "--grace-s", "2"};
    if (with_model) args.insert(args.end(), {"-m", FixturePath(), "--ctx", "1024", "--kv-mib", "32"});
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const std::string log = dir + "/serve.log";
      if (FILE* f = std::freopen(log.c_str(), "a", stderr)) (void)f;
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && port_ == 0 && pid_ > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::ifstream in(port_file_);
      if (in) in >> port_;
    }
  }
  ~ServeProcess() { Stop(); }
  bool binary_exists() const { return std::filesystem::exists(binary_); }
  int port() const { return port_; }
  // SIGTERM; true when the server exited with status 0.
  bool Stop() {
    if (pid_ <= 0) return false;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 400; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return false;
  }
  std::pair<int, Json> Call(const std::string& method, const std::string& path, const Json& body = nullptr) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    httplib::Result r = method == "GET" ? c.Get(path) : c.Post(path, body.dump(), "application/json");
    if (!r) return {0, nullptr};
    return {r->status, Json::parse(r->body, nullptr, false)};
  }
  std::string binary() const { return binary_.string(); }

 private:
  std::filesystem::path binary_;
  std::string port_file_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// One engine core, one prompt assembler: for a fixed question, collection and
// model, `ask --json`, /v1/rag/chat/completions and /v1/chat/completions
// given the same chunks (as `documents`, in the same order, with the same
// system prompt) build the same prompt tokens and give the same greedy answer.
TEST(RagServeCliTest, SameQuestionSamePromptOnEveryPath) {
  rag::TestDir dir("rag_same_everywhere");
  const std::string db = dir.path("rag.db");
  const std::string question = "Who trained in the harbor?";
  Json rag_answer;
  Json chat_answer;
  {
    ServeProcess serve(std::vector<std::string>{"--db", db}, dir.path(""));
    if (!serve.binary_exists()) GTEST_SKIP() << "chunkserve was not built";
    ASSERT_GT(serve.port(), 0);
    EXPECT_EQ(serve.Call("POST", "/v1/collections", {{"name", "docs"}}).first, 200);
    for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
             {"navy.txt", kNavy}, {"money.txt", kMoney}, {"pets.txt", kPets}}) {
      EXPECT_EQ(serve.Call("POST", "/v1/collections/docs/documents", {{"name", name}, {"text", text}}).first, 200);
    }
    int status = 0;
    std::tie(status, rag_answer) = serve.Call("POST", "/v1/rag/chat/completions", Ask(question, 8));
    ASSERT_EQ(status, 200) << rag_answer.dump();
    ASSERT_EQ(rag_answer["mode"], "generated");
    // The same chunks, in prompt order, as documents named by file name.
    Json documents = Json::array();
    for (const Json& src : rag_answer["sources"])
      documents.push_back({{"id", std::filesystem::path(src["path"].get<std::string>()).filename().string()},
                           {"text", src["text"]}});
    const Json chat = {{"messages", {{{"role", "system"}, {"content", rag::kDefaultRagSystemPrompt}},
                                     {{"role", "user"}, {"content", question}}}},
                       {"documents", documents},
                       {"max_tokens", 8},
                       {"temperature", 0}};
    std::tie(status, chat_answer) = serve.Call("POST", "/v1/chat/completions", chat);
    ASSERT_EQ(status, 200) << chat_answer.dump();
  }
  const std::string rag_text = rag_answer["choices"][0]["message"]["content"];
  EXPECT_EQ(chat_answer["usage"]["prompt_tokens"], rag_answer["usage"]["prompt_tokens"]);
  EXPECT_EQ(chat_answer["choices"][0]["message"]["content"].get<std::string>(), rag_text);

  const std::string binary = (std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve").string();
  const std::string cmd = binary + " ask '" + question + "' --db " + db + " --collection docs -m " + FixturePath() +
                          " --json --max-tokens 8 --temp 0 --threads 1 --chunk-cache-dir none 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0) << out;
  const Json ask = Json::parse(out, nullptr, false);
  ASSERT_FALSE(ask.is_discarded()) << out;
  EXPECT_EQ(ask["generation"]["n_prompt_tokens"], rag_answer["usage"]["prompt_tokens"]) << out;
  EXPECT_EQ(ask["answer"].get<std::string>(), rag_text);
  ASSERT_EQ(ask["sources"].size(), rag_answer["sources"].size());
}

TEST(RagServeCliTest, EmbedModelFlagWiresUploadsSearchAskAndEmbeddings) {
  rag::TestDir dir("rag_serve_cli");
  const std::string glove = rag::WriteTinyGloveModel(dir);
  ASSERT_FALSE(glove.empty());
  // Another embedding model: the same words with other vectors.
  std::string other_json = rag::TinyGloveJson();
  for (size_t at = other_json.find("0.800000"); at != std::string::npos; at = other_json.find("0.800000", at))
    other_json.replace(at, 8, "0.500000");
  dir.Write("other-glove.json", other_json);
  ASSERT_TRUE(rag::ConvertGloveJson(dir.path("other-glove.json"), dir.path("other-glove.gguf")).ok());
  const std::string db = dir.path("rag.db");
  {
    ServeProcess serve(db, glove, dir.path());
    if (!serve.binary_exists()) GTEST_SKIP() << "build the chunkserve target first";
    ASSERT_GT(serve.port(), 0) << "the server did not start";
    ASSERT_EQ(serve.Call("POST", "/v1/collections", {{"name", "docs"}}).first, 200);
    for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{{"navy.txt", kNavy}, {"money.txt", kMoney}}) {
      auto [st, doc] = serve.Call("POST", "/v1/collections/docs/documents", {{"name", name}, {"text", text}});
      ASSERT_EQ(st, 200) << doc.dump();
      EXPECT_GT(doc["embedded_chunks"].get<int64_t>(), 0);
    }
    auto [s1, found] = serve.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "fleet ocean"}, {"mode", "dense"}});
    ASSERT_EQ(s1, 200) << found.dump();
    EXPECT_EQ(found["data"][0]["path"], "navy.txt");
    Json ask = Ask("Who trained in the harbor?");
    ask["extractive"] = true;
    auto [s2, answer] = serve.Call("POST", "/v1/rag/chat/completions", ask);
    ASSERT_EQ(s2, 200) << answer.dump();
    EXPECT_EQ(answer["retrieval"], "hybrid");
    EXPECT_EQ(answer["evidence"][0]["path"], "navy.txt");
    auto [s3, emb] = serve.Call("POST", "/v1/embeddings", {{"input", "the navy"}});
    ASSERT_EQ(s3, 200) << emb.dump();
    EXPECT_EQ(emb["model"], "tiny-glove");
    EXPECT_EQ(emb["data"][0]["embedding"].size(), 8u);
    EXPECT_TRUE(serve.Stop());
  }
  {
    // The uploads' collection records the model file (issue 20), so the
    // CLI and a later serve find it without --embed-model.
    FILE* pipe = popen((serve_binary() + " collections --json --db " + db).c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
    ASSERT_EQ(pclose(pipe), 0) << out;
    const Json list = Json::parse(out, nullptr, false);
    ASSERT_FALSE(list.is_discarded()) << out;
    EXPECT_EQ(list["collections"][0]["embed_model"], glove) << out;
  }
  {
    // Restarted with another model: the collection is refused, naming both.
    ServeProcess serve(db, dir.path("other-glove.gguf"), dir.path());
    ASSERT_GT(serve.port(), 0) << "the server did not start";
    auto [st, r] = serve.Call("POST", "/v1/collections/docs/documents", {{"name", "pets.txt"}, {"text", kPets}});
    EXPECT_EQ(st, 400) << r.dump();
    const std::string message = r["error"]["message"];
    EXPECT_NE(message.find("glove-sif/tiny-glove/8/"), std::string::npos) << message;
    EXPECT_NE(message.find("glove-sif/other-glove/8/"), std::string::npos) << message;
    EXPECT_EQ(serve.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "navy"}}).first, 400);
    // BM25 alone still works.
    auto [s2, found] = serve.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "harbor"}, {"mode", "bm25"}});
    EXPECT_EQ(s2, 200);
    EXPECT_EQ(found["data"][0]["path"], "navy.txt");
    EXPECT_TRUE(serve.Stop());
  }
}

// A bert-style encoder (random weights, real WordPiece vocabulary) as the
// --embed-model: loaded through rag::LoadEmbedder, it embeds uploads,
// answers dense searches and /v1/embeddings (unit vectors of its width).
TEST(RagServeCliTest, EncoderModelAsEmbedModel) {
  const std::string vocab = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-bert-bge.gguf";
  if (!std::filesystem::exists(vocab)) GTEST_SKIP() << "no shared test data (" << vocab << ")";
  rag::TestDir dir("rag_serve_cli_bert");
  fixture::FixtureSpec spec;
  spec.arch = "bert";
  spec.seed = 5;
  spec.n_embd = 32;
  spec.n_layer = 2;
  spec.n_head = 2;
  spec.n_ff = 64;
  spec.n_ctx = 128;
  spec.vocab_gguf = vocab;
  spec.name = "tiny-bert";
  const std::string bert = dir.path("tiny-bert.gguf");
  ASSERT_TRUE(fixture::WriteFixtureModel(spec, bert, nullptr).ok());
  ServeProcess serve(dir.path("rag.db"), bert, dir.path());
  if (!serve.binary_exists()) GTEST_SKIP() << "build the chunkserve target first";
  ASSERT_GT(serve.port(), 0) << "the server did not start";
  ASSERT_EQ(serve.Call("POST", "/v1/collections", {{"name", "docs"}}).first, 200);
  size_t n_chunks = 0;
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{{"navy.txt", kNavy}, {"money.txt", kMoney}}) {
    auto [st, doc] = serve.Call("POST", "/v1/collections/docs/documents", {{"name", name}, {"text", text}});
    ASSERT_EQ(st, 200) << doc.dump();
    EXPECT_EQ(doc["embedded_chunks"], doc["chunks"]);
    n_chunks += doc["chunks"].get<size_t>();
  }
  // A tiny collection: dense search ranks every chunk.
  auto [s1, found] = serve.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "ship crew"}, {"mode", "dense"}});
  ASSERT_EQ(s1, 200) << found.dump();
  EXPECT_EQ(found["data"].size(), n_chunks) << found.dump();
  auto [s2, emb] = serve.Call("POST", "/v1/embeddings", {{"input", {"the ship left port", "the ship left port"}}});
  ASSERT_EQ(s2, 200) << emb.dump();
  EXPECT_EQ(emb["model"], "tiny-bert");
  const std::vector<float> a = emb["data"][0]["embedding"], b = emb["data"][1]["embedding"];
  ASSERT_EQ(a.size(), 32u);
  double norm = 0;
  for (float x : a) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(serve.Stop());
}

// serve's chunk-cache flags: --chunk-cache-dir keeps chunk KV across a
// restart, so the same documents in another order are reused (re-rotated)
// instead of recomputed; a bad --recompute is refused before serving.
TEST(ServeCliTest, ChunkCacheDirSurvivesARestart) {
  rag::TestDir dir("serve_chunk_cache_dir");
  const std::string cache_dir = dir.path("kvc");
  const std::vector<std::string> flags = {"--chunk-cache-dir", cache_dir, "--recompute", "0.15"};
  auto complete = [](const ServeProcess& serve, const std::vector<std::string>& documents) {
    return serve.Call("POST", "/v1/completions",
                      {{"prompt", "Question: who trained in the harbor?"}, {"max_tokens", 2}, {"documents", documents}});
  };
  {
    ServeProcess serve(flags, dir.path());
    if (!serve.binary_exists()) GTEST_SKIP() << "build the chunkserve target first";
    ASSERT_GT(serve.port(), 0) << "the server did not start";
    auto [st, r] = complete(serve, {kNavy, kMoney});
    ASSERT_EQ(st, 200) << r.dump();
    EXPECT_EQ(r["usage"]["prompt_tokens_details"]["chunk_cached_tokens"], 0) << r.dump();
    EXPECT_TRUE(serve.Stop());
  }
  ASSERT_TRUE(std::filesystem::exists(cache_dir));
  EXPECT_GE(std::distance(std::filesystem::directory_iterator(cache_dir), std::filesystem::directory_iterator()), 2);
  {
    ServeProcess serve(flags, dir.path());
    ASSERT_GT(serve.port(), 0) << "the server did not restart";
    auto [st, r] = complete(serve, {kMoney, kNavy});  // other order: no common prefix beyond the lead-in
    ASSERT_EQ(st, 200) << r.dump();
    const Json& details = r["usage"]["prompt_tokens_details"];
    EXPECT_GT(details["chunk_cached_tokens"].get<int64_t>(), 0) << r.dump();
    EXPECT_GT(details["chunk_recomputed_tokens"].get<int64_t>(), 0) << r.dump();
    EXPECT_TRUE(serve.Stop());
  }
  const std::string binary = (std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve").string();
  const int status = std::system((binary + " serve -m " + FixturePath() + " --recompute 2 2>/dev/null").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
}

// 1-based line of byte `offset` of `text`.
int64_t LineOf(const std::string& text, int64_t offset) {
  return 1 + std::count(text.begin(), text.begin() + offset, '\n');
}

// Issue 20: `serve --db DB` without -m serves retrieval, uploads and
// embeddings with the embedding model its collection records (no
// --embed-model); the completion routes answer 501 saying why; /health and
// /v1/models say what is loaded; citations and search hits carry the lines
// of ingested files (null pages for text); /v1/search honours path_prefix.
TEST(RagServeCliTest, RetrievalOnlyWithoutModel) {
  rag::TestDir dir("rag_serve_retrieval_only");
  const std::string glove = rag::WriteTinyGloveModel(dir);
  ASSERT_FALSE(glove.empty());
  std::filesystem::create_directories(dir.path("docs"));
  const std::string navy_text = "A title line\n\n" + kNavy;
  dir.Write("docs/navy.txt", navy_text);
  dir.Write("docs/money.txt", kMoney);
  const std::string db = dir.path("rag.db");
  const std::string binary = (std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve").string();
  if (!std::filesystem::exists(binary)) GTEST_SKIP() << "build the chunkserve target first";
  ASSERT_EQ(std::system((binary + " ingest " + dir.path("docs") + " --db " + db + " --collection docs --quiet " +
                         "--embed-model " + glove + " 2>/dev/null").c_str()), 0);
  // Nothing to serve: a usage error.
  EXPECT_EQ(WEXITSTATUS(std::system((binary + " serve --port 0 2>/dev/null").c_str())), 2);

  ServeProcess serve(std::vector<std::string>{"--db", db}, dir.path(), /*with_model=*/false);
  ASSERT_GT(serve.port(), 0) << "the server did not start";
  auto [sh, health] = serve.Call("GET", "/health");
  ASSERT_EQ(sh, 200);
  EXPECT_TRUE(health["model"].is_null()) << health.dump();
  EXPECT_EQ(health["embedding_model"], "tiny-glove") << health.dump();
  EXPECT_EQ(health["rag"], true);
  auto [sm, models] = serve.Call("GET", "/v1/models");
  ASSERT_EQ(sm, 200);
  ASSERT_EQ(models["data"].size(), 1u) << models.dump();
  EXPECT_EQ(models["data"][0]["id"], "tiny-glove");

  // The LLM routes exist and say why they cannot answer.
  for (const char* route : {"/v1/chat/completions", "/v1/completions"}) {
    auto [st, r] = serve.Call("POST", route, {{"prompt", "hi"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
    EXPECT_EQ(st, 501) << route;
    EXPECT_EQ(r["error"]["code"], "no_model") << r.dump();
  }
  auto [sg, generated] = serve.Call("POST", "/v1/rag/chat/completions", Ask("Who trained in the harbor?"));
  EXPECT_EQ(sg, 501) << generated.dump();
  EXPECT_NE(generated["error"]["message"].get<std::string>().find("extractive"), std::string::npos);

  // Retrieval works, densely, with the collection's recorded model.
  Json ask = Ask("Who trained in the harbor?");
  ask["extractive"] = true;
  auto [sa, answer] = serve.Call("POST", "/v1/rag/chat/completions", ask);
  ASSERT_EQ(sa, 200) << answer.dump();
  EXPECT_EQ(answer["retrieval"], "hybrid");
  const Json& evidence = answer["evidence"][0];
  ASSERT_EQ(evidence["path"], dir.path("docs/navy.txt")) << answer.dump();
  const int64_t begin = evidence["source_begin"], end = evidence["source_end"];
  EXPECT_EQ(navy_text.substr(begin, end - begin), evidence["text"].get<std::string>());
  EXPECT_EQ(evidence["line_begin"], LineOf(navy_text, begin)) << evidence.dump();
  EXPECT_EQ(evidence["line_begin"], 3) << evidence.dump();
  EXPECT_EQ(evidence["line_end"], LineOf(navy_text, end - 1));
  EXPECT_TRUE(evidence["page_begin"].is_null());
  ASSERT_FALSE(answer["sources"].empty());
  EXPECT_FALSE(answer["sources"][0]["line_begin"].is_null()) << answer.dump();

  auto [ss, found] = serve.Call("POST", "/v1/search",
                                {{"collection", "docs"}, {"query", "harbor debt"}, {"path_prefix", dir.path("docs/m")}});
  ASSERT_EQ(ss, 200) << found.dump();
  ASSERT_EQ(found["data"].size(), 1u) << found.dump();
  EXPECT_EQ(found["data"][0]["path"], dir.path("docs/money.txt"));
  EXPECT_EQ(found["data"][0]["line_begin"], 1);
  EXPECT_TRUE(found["data"][0]["page_end"].is_null());

  // Uploads are embedded; /v1/embeddings answers from the same model.
  auto [su, doc] = serve.Call("POST", "/v1/collections/docs/documents", {{"name", "pets.txt"}, {"text", kPets}});
  ASSERT_EQ(su, 200) << doc.dump();
  EXPECT_GT(doc["embedded_chunks"].get<int64_t>(), 0);
  auto [se, emb] = serve.Call("POST", "/v1/embeddings", {{"input", "the navy"}});
  ASSERT_EQ(se, 200) << emb.dump();
  EXPECT_EQ(emb["model"], "tiny-glove");
  // An upload's citation has no lines (its path is a name, not a file).
  auto [sp, pets] = serve.Call("POST", "/v1/search", {{"collection", "docs"}, {"query", "kitten"}, {"mode", "bm25"}});
  ASSERT_EQ(sp, 200);
  EXPECT_EQ(pets["data"][0]["path"], "pets.txt");
  EXPECT_TRUE(pets["data"][0]["line_begin"].is_null());
  EXPECT_TRUE(serve.Stop());
}

}  // namespace
}  // namespace chunkserve::server
