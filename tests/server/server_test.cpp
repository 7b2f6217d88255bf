// HTTP behaviour of the server through httplib's client: the OpenAI routes
// (non-stream and SSE), the error paths (auth, malformed and oversized
// bodies, over-long prompts, n out of range, queue full), client disconnects, stop
// strings, metrics, documents with chunk-cache reuse, graceful shutdown, and
// a battery of handcrafted bad inputs that must never crash the server.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/access_log.h"
#include "server/http_util.h"
#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

using testing::HarnessOptions;
using testing::ServerHarness;

Json Post(httplib::Client& c, const std::string& path, const Json& body, int* status = nullptr) {
  auto res = c.Post(path.c_str(), body.dump(), "application/json");
  EXPECT_TRUE(res) << "no response";
  if (!res) return Json();
  if (status) *status = res->status;
  return Json::parse(res->body, nullptr, false);
}

Json ChatBody(const std::string& content, int max_tokens = 8) {
  return Json{{"model", "fixture"},
              {"messages", Json::array({{{"role", "user"}, {"content", content}}})},
              {"max_tokens", max_tokens},
              {"temperature", 0}};
}

void ExpectOpenAiError(const Json& j, const std::string& code) {
  ASSERT_TRUE(j.is_object()) << j.dump();
  ASSERT_TRUE(j.contains("error")) << j.dump();
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_TRUE(j["error"].contains("param"));
  if (!code.empty()) {
    EXPECT_EQ(j["error"]["code"], code) << j.dump();
  }
}

// Reads an SSE stream: the data payloads in order.
std::vector<std::string> StreamEvents(httplib::Client& c, const std::string& path, const Json& body,
                                      int* status = nullptr, int stop_after = -1,
                                      std::atomic<int>* n_seen = nullptr) {
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
      if (n_seen) n_seen->store(static_cast<int>(events.size()));
    }
    return stop_after < 0 || static_cast<int>(events.size()) < stop_after;
  };
  auto res = c.send(req);
  if (status) *status = res ? res->status : -1;
  return events;
}

TEST(ServerTest, ModelsAndHealth) {
  ServerHarness h;
  auto c = h.Client();
  auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  Json j = Json::parse(res->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "fixture");
  EXPECT_EQ(c.Get("/v1/models/fixture")->status, 200);
  EXPECT_EQ(c.Get("/v1/models/other")->status, 404);
  EXPECT_EQ(c.Get("/health")->status, 200);
  auto missing = c.Get("/nope");
  EXPECT_EQ(missing->status, 404);
  ExpectOpenAiError(Json::parse(missing->body), "");
}

TEST(ServerTest, ChatCompletionNonStreamIsDeterministicWhenGreedy) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  Json a = Post(c, "/v1/chat/completions", ChatBody("hello", 6), &status);
  ASSERT_EQ(status, 200) << a.dump();
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(a["choices"][0]["message"]["content"].is_string());
  EXPECT_EQ(a["usage"]["completion_tokens"].get<int>() + a["usage"]["prompt_tokens"].get<int>(),
            a["usage"]["total_tokens"].get<int>());
  EXPECT_LE(a["usage"]["completion_tokens"].get<int>(), 6);
  Json b = Post(c, "/v1/chat/completions", ChatBody("hello", 6));
  EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
  // The second run found the first one's prompt blocks in the prefix cache.
  EXPECT_GT(b["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
}

TEST(ServerTest, StreamMatchesNonStreamAndEndsWithDone) {
  ServerHarness h;
  auto c = h.Client();
  Json body = ChatBody("tell me", 10);
  Json whole = Post(c, "/v1/chat/completions", body);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  int status = 0;
  auto events = StreamEvents(c, "/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 200);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string finish;
  Json usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    Json e = Json::parse(events[i]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e["choices"].empty()) {
      usage = e["usage"];
      continue;
    }
    const Json& ch = e["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(finish, whole["choices"][0]["finish_reason"].get<std::string>());
  ASSERT_TRUE(usage.is_object());
  EXPECT_EQ(usage["completion_tokens"], whole["usage"]["completion_tokens"]);
  EXPECT_EQ(usage["prompt_tokens"], whole["usage"]["prompt_tokens"]);
}

TEST(ServerTest, CompletionsWithTextTokensAndStop) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  Json a = Post(c, "/v1/completions", {{"prompt", "the miller"}, {"max_tokens", 12}, {"temperature", 0}}, &status);
  ASSERT_EQ(status, 200) << a.dump();
  EXPECT_EQ(a["object"], "text_completion");
  const std::string text = a["choices"][0]["text"];
  Json ids = Post(c, "/v1/completions", {{"prompt", Json::array({5, 6, 7})}, {"max_tokens", 3}, {"temperature", 0}}, &status);
  EXPECT_EQ(status, 200) << ids.dump();
  EXPECT_EQ(ids["usage"]["prompt_tokens"], 3);
  // A stop string taken from the greedy text (an ASCII character past the
  // start) ends the output right before its first occurrence.
  size_t at = std::string::npos;
  for (size_t i = 1; i < text.size() && at == std::string::npos; ++i)
    if (std::isalnum(static_cast<unsigned char>(text[i]))) at = i;
  if (at == std::string::npos) GTEST_SKIP() << "no ASCII character in the fixture's output";
  const std::string stop = text.substr(at, 1);
  Json s = Post(c, "/v1/completions",
                {{"prompt", "the miller"}, {"max_tokens", 12}, {"temperature", 0}, {"stop", stop}}, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(s["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(s["choices"][0]["finish_reason"], "stop");
}

TEST(ServerTest, AuthRequiresTheKey) {
  HarnessOptions o;
  o.api_keys = {"sekrit-key-1", "other-key"};
  ServerHarness h(o);
  auto c = h.Client();
  auto res = c.Get("/v1/models");
  EXPECT_EQ(res->status, 401);
  ExpectOpenAiError(Json::parse(res->body), "invalid_api_key");
  EXPECT_EQ(Json::parse(res->body)["error"]["type"], "authentication_error");
  res = c.Get("/v1/models", {{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(res->status, 401);
  res = c.Post("/v1/chat/completions", {{"Authorization", "Basic sekrit-key-1"}}, ChatBody("x").dump(), "application/json");
  EXPECT_EQ(res->status, 401);
  res = c.Get("/v1/models", {{"Authorization", "Bearer sekrit-key-1"}});
  EXPECT_EQ(res->status, 200);
  res = c.Get("/v1/models", {{"Authorization", "Bearer other-key"}});
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(c.Get("/health")->status, 200);  // open for load balancers
  EXPECT_EQ(c.Get("/metrics")->status, 401);
}

TEST(ServerTest, BadRequestsGet4xxInOpenAiShape) {
  ServerHarness h;
  auto c = h.Client();
  struct Case {
    std::string path;
    std::string body;
    int status;
  };
  const std::vector<Case> cases = {
      {"/v1/chat/completions", "{not json", 400},
      {"/v1/chat/completions", "", 400},
      {"/v1/chat/completions", "[1,2]", 400},
      {"/v1/chat/completions", "null", 400},
      {"/v1/chat/completions", R"({"messages": []})", 400},
      {"/v1/chat/completions", R"({"messages": "hi"})", 400},
      {"/v1/chat/completions", R"({"messages": [{"content": "no role"}]})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": 5}]})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "n": 9})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "7"})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "temperature": 9})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "top_p": -1})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "documents": "doc"})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "documents": [{"id": 1}]})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e300})", 400},
      {"/v1/completions", R"({})", 400},
      {"/v1/completions", R"({"prompt": ["a", "b"]})", 400},
      {"/v1/completions", R"({"prompt": [1, -3]})", 400},
      {"/v1/completions", R"({"prompt": [999999]})", 400},
      {"/v1/completions", R"({"prompt": {"a": 1}})", 400},
      {"/v1/completions", R"({"prompt": "x", "echo": true})", 400},
      {"/v1/embeddings", R"({bad)", 400},
      {"/v1/embeddings", R"({})", 400},
      {"/v1/embeddings", R"({"input": []})", 400},
      {"/v1/embeddings", R"({"input": [[]]})", 400},
      {"/v1/embeddings", R"({"input": [1, "a"]})", 400},
      {"/v1/embeddings", R"({"input": [99999]})", 400},
      {"/v1/embeddings", R"({"input": "x", "encoding_format": "hex"})", 400},
  };
  for (const Case& k : cases) {
    auto res = c.Post(k.path.c_str(), k.body, "application/json");
    ASSERT_TRUE(res) << k.body;
    EXPECT_EQ(res->status, k.status) << k.path << " " << k.body << " -> " << res->body;
    ExpectOpenAiError(Json::parse(res->body, nullptr, false), "");
  }
  // Unknown fields are ignored.
  Json body = ChatBody("x", 2);
  body["frobnicate"] = {{"deep", true}};
  body["user"] = "someone";
  int status = 0;
  Post(c, "/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 200);
  // The server still works after all of that.
  EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST(ServerTest, OverLongPromptAndOversizedBody) {
  HarnessOptions o;
  o.n_ctx = 64;
  o.max_body_bytes = 4096;
  ServerHarness h(o);
  auto c = h.Client();
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word ";
  int status = 0;
  Json j = Post(c, "/v1/chat/completions", ChatBody(long_text), &status);
  EXPECT_EQ(status, 400);
  ExpectOpenAiError(j, "context_length_exceeded");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("maximum context length is 64"), std::string::npos);
  // Prompt fits, but prompt + max_tokens does not.
  j = Post(c, "/v1/completions", {{"prompt", "hi"}, {"max_tokens", 1000}}, &status);
  EXPECT_EQ(status, 400);
  ExpectOpenAiError(j, "context_length_exceeded");
  // Without max_tokens the completion runs to the end of the context.
  j = Post(c, "/v1/completions", {{"prompt", "hi"}, {"temperature", 0}}, &status);
  EXPECT_EQ(status, 200);
  EXPECT_LE(j["usage"]["total_tokens"].get<int>(), 64);
  std::string huge(10000, 'a');
  auto res = c.Post("/v1/completions", Json{{"prompt", huge}}.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  ExpectOpenAiError(Json::parse(res->body, nullptr, false), "request_too_large");
}

TEST(ServerTest, QueueFullGets503WithRetryAfter) {
  HarnessOptions o;
  o.max_queue = 0;  // every generation is refused
  ServerHarness h(o);
  auto c = h.Client();
  auto res = c.Post("/v1/chat/completions", ChatBody("x").dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  ExpectOpenAiError(Json::parse(res->body), "resource_exhausted");
}

TEST(ServerTest, ClientDisconnectMidStreamFreesBlocks) {
  HarnessOptions o;
  o.n_ctx = 2048;
  ServerHarness h(o);
  auto c = h.Client();
  Json body = ChatBody("a long answer please", 2000);
  body["stream"] = true;
  body["temperature"] = 1.0;
  body["seed"] = 1;
  // Hang up after 3 events.
  auto events = StreamEvents(c, "/v1/chat/completions", body, nullptr, 3);
  EXPECT_EQ(events.size(), 3u);
  // Within a few steps the generation is cancelled and its blocks freed.
  sched::SchedulerStats st;
  for (int i = 0; i < 200; ++i) {
    st = h.engine().Stats();
    if (st.n_running == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(st.n_running, 0);
  EXPECT_EQ(st.n_blocks_free + st.n_blocks_cached, st.n_blocks_total);
}

TEST(ServerTest, MetricsExposeCountersAndHistograms) {
  ServerHarness h;
  auto c = h.Client();
  Post(c, "/v1/chat/completions", ChatBody("hi", 4));
  c.Post("/v1/chat/completions", "{oops", "application/json");
  auto res = c.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const std::string& m = res->body;
  for (const char* needle :
       {"chunkserve_requests_total{route=\"/v1/chat/completions\",code=\"200\"} 1",
        "chunkserve_requests_total{route=\"/v1/chat/completions\",code=\"400\"} 1",
        "chunkserve_time_to_first_token_seconds_count 1", "chunkserve_inter_token_latency_seconds_bucket{le=\"+Inf\"}",
        "chunkserve_kv_blocks{state=\"free\"}", "chunkserve_cache_hit_tokens_total{kind=\"prefix\"}",
        "chunkserve_cache_hit_tokens_total{kind=\"chunk\"}", "# TYPE chunkserve_completion_tokens_total counter"}) {
    EXPECT_NE(m.find(needle), std::string::npos) << needle << "\n" << m;
  }
}

TEST(ServerTest, DocumentsReuseChunkKv) {
  HarnessOptions o;
  o.n_ctx = 1024;
  ServerHarness h(o);
  auto c = h.Client();
  Json docs = Json::array({"the river runs past the mill", {{"id", "d2"}, {"text", "rain fills the pond"}}});
  Json body = ChatBody("what happens?", 4);
  body["documents"] = docs;
  int status = 0;
  Json a = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << a.dump();
  EXPECT_EQ(a["usage"]["prompt_tokens_details"]["chunk_cached_tokens"], 0);
  // Same documents in the other order, another question: chunk KV reused.
  Json body2 = ChatBody("and then?", 4);
  body2["documents"] = Json::array({docs[1], docs[0]});
  Json b = Post(c, "/v1/chat/completions", body2, &status);
  ASSERT_EQ(status, 200) << b.dump();
  const Json& d = b["usage"]["prompt_tokens_details"];
  EXPECT_GT(d["chunk_cached_tokens"].get<int>(), 0) << b.dump();
  EXPECT_EQ(d["cached_tokens"].get<int>(), d["prefix_cached_tokens"].get<int>() + d["chunk_cached_tokens"].get<int>());
  // Every prompt token is either shared, reused or computed (recomputed
  // chunk tokens count as computed).
  EXPECT_EQ(b["usage"]["prompt_tokens"].get<int>(),
            d["prefix_cached_tokens"].get<int>() + d["chunk_cached_tokens"].get<int>() + d["computed_tokens"].get<int>());
}

// Greedy requests with documents speculate by default (serve --speculate
// auto): the same text as without, the drafts reported in usage and
// /metrics; the request field overrides; a bad value is a 400.
TEST(ServerTest, SpeculationIsExactAndReported) {
  HarnessOptions o;
  o.n_ctx = 1024;
  ServerHarness h(o);
  auto c = h.Client();
  Json body = ChatBody("tell it again", 48);
  body["documents"] = Json::array({"the river runs past the mill and the mill turns the stone"});
  int status = 0;
  Json spec = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << spec.dump();
  body["speculate"] = "off";
  Json plain = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << plain.dump();
  EXPECT_EQ(spec["choices"][0]["message"]["content"], plain["choices"][0]["message"]["content"]);
  const Json& sd = spec["usage"]["completion_tokens_details"];
  const Json& pd = plain["usage"]["completion_tokens_details"];
  EXPECT_EQ(pd["accepted_prediction_tokens"], 0);
  EXPECT_EQ(pd["rejected_prediction_tokens"], 0);
  const int drafted = sd["accepted_prediction_tokens"].get<int>() + sd["rejected_prediction_tokens"].get<int>();
  EXPECT_GT(drafted, 0) << spec.dump();
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("chunkserve_draft_tokens_total{outcome=\"accepted\"} " +
                               std::to_string(sd["accepted_prediction_tokens"].get<int>())),
            std::string::npos)
      << metrics->body;
  body["speculate"] = "sometimes";
  Json bad = Post(c, "/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
  ExpectOpenAiError(bad, "");
  // Draft-model speculation from a server without a drafter: a 400 that
  // says so, and the server keeps serving.
  body["speculate"] = "draft";
  Json no_drafter = Post(c, "/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(no_drafter.dump().find("draft model"), std::string::npos) << no_drafter.dump();
  body["speculate"] = false;
  Post(c, "/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 200);
}

// "speculate": "draft" on a server with a drafter (here the model's first
// layer, as serve --self-draft-layers 1): the same text as plain decoding,
// drafts reported; a sampled request asking for it completes too.
TEST(ServerTest, DraftModelSpeculationIsExactAndReported) {
  HarnessOptions o;
  o.n_ctx = 1024;
  o.self_draft_layers = 1;
  ServerHarness h(o);
  auto c = h.Client();
  Json body = ChatBody("tell it again", 40);
  body["speculate"] = "draft";
  int status = 0;
  Json spec = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << spec.dump();
  body["speculate"] = "off";
  Json plain = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << plain.dump();
  EXPECT_EQ(spec["choices"][0]["message"]["content"], plain["choices"][0]["message"]["content"]);
  const Json& sd = spec["usage"]["completion_tokens_details"];
  EXPECT_GT(sd["accepted_prediction_tokens"].get<int>() + sd["rejected_prediction_tokens"].get<int>(), 0)
      << spec.dump();
  body["speculate"] = "draft";
  body["temperature"] = 0.8;
  body["seed"] = 7;
  Json sampled = Post(c, "/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 200) << sampled.dump();
}

// The kv_policy extension: a request's cache held to its budget (usage
// says what was dropped); full by default; bad values are 400s naming it.
TEST(ServerTest, KvPolicyFieldHoldsTheCacheToItsBudget) {
  HarnessOptions o;
  o.n_ctx = 1024;
  ServerHarness h(o);
  auto c = h.Client();
  Json body = ChatBody("the river runs past the mill and the mill turns the stone and the stone grinds the corn", 40);
  int status = 0;
  Json full = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << full.dump();
  EXPECT_EQ(full["usage"]["kv_cache"]["evicted_tokens"], 0);
  body["kv_policy"] = Json{{"name", "sinks"}, {"budget", 16}, {"sinks", 4}};
  Json sinks = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << sinks.dump();
  const int prompt = sinks["usage"]["prompt_tokens"].get<int>();
  ASSERT_GT(prompt, 16 + 8);
  EXPECT_GT(sinks["usage"]["kv_cache"]["compactions"].get<int>(), 0) << sinks.dump();
  EXPECT_GE(sinks["usage"]["kv_cache"]["evicted_tokens"].get<int>(), prompt - 16) << sinks.dump();
  for (const Json& bad : {Json("gemfilter"), Json("pages"), Json{{"name", "h2o"}}, Json{{"name", "snapkv"}, {"budget", 8}},
                          Json(3)}) {
    body["kv_policy"] = bad;
    Json r = Post(c, "/v1/chat/completions", body, &status);
    EXPECT_EQ(status, 400) << bad.dump();
    EXPECT_NE(r.dump().find("kv_policy"), std::string::npos) << r.dump();
  }
  // Streaming runs past the context: max_tokens beyond it is no longer a 400.
  body["kv_policy"] = Json{{"name", "streaming"}, {"budget", 64}};
  body["max_tokens"] = 1100;
  body["ignore_eos"] = true;
  Json streaming = Post(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << streaming.dump();
  EXPECT_EQ(streaming["usage"]["completion_tokens"], 1100) << streaming.dump();
  body["kv_policy"] = Json{{"name", "sinks"}, {"budget", 64}};
  Post(c, "/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400) << "sinks keeps positions: the context still bounds it";
}

// --log-requests: one line per request, after the response, with the
// status and size; control bytes in the path cannot reach the terminal.
TEST(ServerTest, AccessLogHasOneEscapedLinePerRequest) {
  auto lines = std::make_shared<std::vector<std::string>>();
  auto mu = std::make_shared<std::mutex>();
  HarnessOptions o;
  o.tune_http = [lines, mu](HttpServerOptions& h) {
    h.access_log = [lines, mu](std::string_view line) {
      std::lock_guard<std::mutex> lock(*mu);
      lines->emplace_back(line);
    };
  };
  ServerHarness h(o);
  auto c = h.Client();
  ASSERT_EQ(c.Get("/health")->status, 200);
  int status = 0;
  Post(c, "/v1/chat/completions", ChatBody("hello", 3), &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(c.Get("/no%1b[31mpe?key=secret")->status, 404);
  std::vector<std::string> got;
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(*mu);
      got = *lines;
    }
    if (got.size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(got.size(), 3u);
  // A line is written once its response is, so a client's next request may
  // be logged first: find each by its content.
  auto line_with = [&](const std::string& part) {
    for (const std::string& l : got)
      if (l.find(part) != std::string::npos) return l;
    return std::string();
  };
  EXPECT_FALSE(line_with(" GET /health 200 ").empty());
  const std::string chat = line_with(" POST /v1/chat/completions 200 ");
  EXPECT_NE(chat.find("ms\n"), std::string::npos) << chat;
  const std::string missing = line_with(" 404 ");
  EXPECT_NE(missing.find("/no\\x1b[31mpe 404 "), std::string::npos) << missing;  // escaped, not raw
  for (const std::string& l : got) {
    EXPECT_EQ(l.find('\x1b'), std::string::npos) << l;
    EXPECT_EQ(l.find("secret"), std::string::npos) << l;  // no query strings
    EXPECT_EQ(l.back(), '\n');
  }
}

TEST(AccessLogTest, FormatsTimeClientAndMissingFields) {
  AccessRecord r;
  r.client = "10.0.0.7";
  r.method = "POST";
  r.path = "/v1/search?q=1";
  r.status = 503;
  // 2026-12-07T18:50:01.123Z
  EXPECT_EQ(FormatAccessLine(r, 1796669401123), "2026-12-07T18:50:01.123Z 10.0.0.7 POST /v1/search 503 - -");
  r.body_bytes = 12;
  r.wall_ms = 3.25;
  r.path = "/a b\n";
  EXPECT_EQ(FormatAccessLine(r, 1796669401123), "2026-12-07T18:50:01.123Z 10.0.0.7 POST /a\\x20b\\x0a 503 12 3.2ms");
}

std::vector<float> DecodeBase64Floats(const std::string& b64) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string bytes;
  int buf = 0, bits = 0;
  for (char c : b64) {
    const int v = val(c);
    if (v < 0) break;
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

TEST(ServerTest, EmbeddingsArePooledNormalisedHiddenStates) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  Json j = Post(c, "/v1/embeddings", {{"input", Json::array({"the mill", "the river runs"})}}, &status);
  ASSERT_EQ(status, 200) << j.dump();
  ASSERT_EQ(j["data"].size(), 2u);
  const std::vector<float> a = j["data"][0]["embedding"].get<std::vector<float>>();
  const std::vector<float> b = j["data"][1]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(a.size(), static_cast<size_t>(h.model().hparams().n_embd));
  double na = 0, dot = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    na += double{a[i]} * a[i];
    dot += double{a[i]} * b[i];
  }
  EXPECT_NEAR(na, 1.0, 1e-5);
  EXPECT_LT(dot, 0.99999);  // different texts, different vectors
  const auto ids = h.tokenizer().Encode("the mill", true, false);
  EXPECT_EQ(j["usage"]["prompt_tokens"].get<size_t>(),
            ids.size() + h.tokenizer().Encode("the river runs", true, false).size());
  // Alone, as token ids, and base64: the same vector.
  Json alone = Post(c, "/v1/embeddings", {{"input", ids}, {"encoding_format", "base64"}}, &status);
  ASSERT_EQ(status, 200);
  const std::vector<float> a2 = DecodeBase64Floats(alone["data"][0]["embedding"].get<std::string>());
  ASSERT_EQ(a2.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(a2[i], a[i]);

  // Exact twin of the hidden states: for the f32 fixture, the logits are the
  // hidden rows times output.weight, so kHidden must be exactly what feeds
  // the output projection. (A model of its own: the server's belongs to its
  // engine core's thread.)
  auto own = model::Model::Load(testing::FixturePath(), {.n_threads = 1});
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  model::Model& m = **own;
  const gguf::TensorInfo* out_w = m.file().FindTensor("output.weight");
  ASSERT_NE(out_w, nullptr);
  ASSERT_EQ(out_w->type, DType::kF32);
  const auto* W = reinterpret_cast<const float*>(out_w->data);
  const int64_t d = m.hparams().n_embd;
  auto kv1 = m.NewKvCache(static_cast<int64_t>(ids.size()));
  auto kv2 = m.NewKvCache(static_cast<int64_t>(ids.size()));
  model::SequenceBatch s1{.kv = kv1.get(), .tokens = ids, .first_slot = 0, .positions = {}, .logits = model::LogitsMode::kHidden};
  model::SequenceBatch s2{.kv = kv2.get(), .tokens = ids, .first_slot = 0, .positions = {}, .logits = model::LogitsMode::kAll};
  model::Logits both;
  model::SequenceBatch batch[2] = {s1, s2};
  ASSERT_TRUE(m.Forward(batch, &both).ok());
  ASSERT_EQ(both.n_hidden_rows, static_cast<int64_t>(ids.size()));
  ASSERT_EQ(both.n_rows, static_cast<int64_t>(ids.size()));
  for (int64_t r = 0; r < both.n_rows; ++r) {
    for (int64_t v : {int64_t{0}, int64_t{17}, m.hparams().n_vocab - 1}) {
      double ref = 0;
      for (int64_t i = 0; i < d; ++i) ref += double{both.hidden[static_cast<size_t>(r * d + i)]} * W[v * d + i];
      EXPECT_NEAR(both.Row(r)[static_cast<size_t>(v)], ref, 1e-3) << "row " << r << " vocab " << v;
    }
  }
}

// Race found by reading (one engine core issue): chunk planning ran parallel
// sections on the model's pool on the scheduler thread while /v1/embeddings
// ran a Forward on an HTTP thread. Both now run on the core's thread; under
// ThreadSanitizer (make tsan) this test is the reproduction.
TEST(ServerTest, EmbeddingsAndChunkPlanningRunConcurrently) {
  HarnessOptions o;
  o.n_ctx = 1024;
  ServerHarness h(o);
  std::atomic<int> n_ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      auto c = h.Client();
      for (int r = 0; r < 4; ++r) {
        int status = 0;
        if (i % 2 == 0) {
          Json body = ChatBody("what happens? " + std::to_string(r), 2);
          body["documents"] = Json::array({"the river runs past the mill " + std::to_string(r % 2),
                                           "rain fills the pond " + std::to_string(i)});
          Post(c, "/v1/chat/completions", body, &status);
        } else {
          Post(c, "/v1/embeddings", {{"input", Json::array({"the mill " + std::to_string(r), "a pond"})}}, &status);
        }
        if (status == 200) n_ok.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(n_ok.load(), 16);
  const sched::SchedulerStats st = h.engine().Stats();
  EXPECT_GT(st.n_chunk_hits + st.n_chunk_misses, 0);
  EXPECT_EQ(st.n_blocks_free + st.n_blocks_cached, st.n_blocks_total);
}

TEST(ServerTest, ConcurrentStreamsAllComplete) {
  ServerHarness h;
  std::atomic<int> n_ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 12; ++i) {
    clients.emplace_back([&, i] {
      auto c = h.Client();
      Json body = ChatBody("client " + std::to_string(i), 12);
      body["stream"] = true;
      int status = 0;
      auto events = StreamEvents(c, "/v1/chat/completions", body, &status);
      if (status == 200 && !events.empty() && events.back() == "[DONE]") n_ok.fetch_add(1);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(n_ok.load(), 12);
}

// Streams `body` (stream: true) and stops the server with `grace_ms` once
// the first events are in; returns every event the client got.
std::vector<std::string> StreamThroughShutdown(ServerHarness& h, Json body, int64_t grace_ms) {
  body["stream"] = true;
  std::vector<std::string> events;
  std::atomic<int> n_seen{0};
  std::thread client([&] {
    auto c = h.Client();
    events = StreamEvents(c, "/v1/chat/completions", body, nullptr, -1, &n_seen);
  });
  while (n_seen.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  h.Stop(grace_ms);
  client.join();
  return events;
}

// Issue 15 row 18: a stream cut off by shutdown ends with an OpenAI
// finish_reason ("length": the answer did not reach its end), then [DONE].
TEST(ServerTest, StreamCutByShutdownEndsWithAnOpenAiFinishReason) {
  HarnessOptions o;
  o.n_ctx = 2048;
  ServerHarness h(o);
  Json body = ChatBody("never finish", 1900);
  body["ignore_eos"] = true;
  const std::vector<std::string> events = StreamThroughShutdown(h, body, /*grace_ms=*/0);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string finish;
  for (const std::string& e : events) {
    const Json j = Json::parse(e, nullptr, false);
    if (j.is_object() && j.contains("choices") && !j["choices"].empty() && !j["choices"][0]["finish_reason"].is_null())
      finish = j["choices"][0]["finish_reason"].get<std::string>();
  }
  EXPECT_EQ(finish, "length");
}

TEST(ServerTest, ShutdownLetsInFlightStreamFinish) {
  HarnessOptions o;
  o.n_ctx = 2048;
  ServerHarness h(o);
  Json body = ChatBody("finish me", 1500);
  body["temperature"] = 1.0;
  body["seed"] = 2;
  const std::vector<std::string> events = StreamThroughShutdown(h, body, /*grace_ms=*/5000);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  // After shutdown, nothing is accepted.
  auto c = h.Client();
  c.set_connection_timeout(1, 0);
  auto res = c.Get("/health");
  EXPECT_FALSE(res && res->status == 200);
}

}  // namespace
}  // namespace chunkserve::server
