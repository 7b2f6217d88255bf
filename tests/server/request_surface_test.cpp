// The rest of the OpenAI request surface over HTTP: n choices, logprobs
// (chat and completions, streamed too), logit_bias, fields accepted without
// effect, and the documented output-changing fields refused by name.
#include <gtest/gtest.h>

#include <cmath>

#include "server/http_util.h"
#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

using testing::HarnessOptions;
using testing::ServerHarness;

Json Call(httplib::Client& c, const std::string& path, const Json& body, int* status) {
  auto res = c.Post(path.c_str(), body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return Json();
  *status = res->status;
  return Json::parse(res->body, nullptr, false);
}

Json Chat(int max_tokens, Json extra = Json::object()) {
  Json body = {{"messages", Json::array({{{"role", "user"}, {"content", "Tell me a story."}}})},
               {"max_tokens", max_tokens}};
  body.update(extra);
  return body;
}

TEST(RequestSurfaceTest, NChoicesAreIndependentSeededSamples) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  Json three = Call(c, "/v1/chat/completions", Chat(8, {{"n", 3}, {"seed", 11}, {"temperature", 1.0}}), &status);
  ASSERT_EQ(status, 200) << three.dump();
  ASSERT_EQ(three["choices"].size(), 3u);
  int64_t completion = 0;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(three["choices"][i]["index"], i);
  Json one = Call(c, "/v1/chat/completions", Chat(8, {{"seed", 11}, {"temperature", 1.0}}), &status);
  EXPECT_EQ(three["choices"][0]["message"], one["choices"][0]["message"]);  // choice 0 has the seed itself
  Json again = Call(c, "/v1/chat/completions", Chat(8, {{"seed", 12}, {"temperature", 1.0}}), &status);
  EXPECT_EQ(three["choices"][1]["message"], again["choices"][0]["message"]);  // choice i: seed + i
  for (const Json& ch : three["choices"]) completion += ch["message"]["content"].is_string() ? 1 : 0;
  EXPECT_EQ(completion, 3);
  EXPECT_EQ(three["usage"]["total_tokens"].get<int64_t>(),
            three["usage"]["prompt_tokens"].get<int64_t>() + three["usage"]["completion_tokens"].get<int64_t>());
  // Streamed: the same choices, their events interleaved by index.
  Json body = Chat(8, {{"n", 3}, {"seed", 11}, {"temperature", 1.0}, {"stream", true},
                       {"stream_options", {{"include_usage", true}}}});
  std::string buffer;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    return true;
  };
  ASSERT_TRUE(c.send(req));
  std::vector<std::string> texts(3);
  std::vector<std::string> finishes(3);
  Json usage;
  for (size_t at = 0; (at = buffer.find("data: {", at)) != std::string::npos;) {
    const size_t end = buffer.find("\n\n", at);
    Json ev = Json::parse(buffer.substr(at + 6, end - at - 6));
    at = end;
    if (!ev["usage"].is_null()) usage = ev["usage"];
    if (ev["choices"].empty()) continue;
    const Json& ch = ev["choices"][0];
    const size_t i = ch["index"].get<size_t>();
    ASSERT_LT(i, 3u);
    if (ch["delta"].contains("content")) texts[i] += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finishes[i] = ch["finish_reason"];
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(texts[i], three["choices"][i]["message"]["content"]) << i;
    EXPECT_EQ(finishes[i], three["choices"][i]["finish_reason"]) << i;
  }
  EXPECT_EQ(usage["completion_tokens"], three["usage"]["completion_tokens"]);
}

TEST(RequestSurfaceTest, LogprobsAreTheModelsLogSoftmax) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  Json r = Call(c, "/v1/chat/completions",
                Chat(6, {{"temperature", 0}, {"logprobs", true}, {"top_logprobs", 3}, {"ignore_eos", true}}), &status);
  ASSERT_EQ(status, 200) << r.dump();
  const Json& content = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 6u) << r.dump();
  for (const Json& e : content) {
    ASSERT_EQ(e["top_logprobs"].size(), 3u);
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]);
    EXPECT_FLOAT_EQ(e["top_logprobs"][0]["logprob"].get<float>(), e["logprob"].get<float>());
    double mass = 0;
    float last = 0;
    for (size_t k = 0; k < 3; ++k) {
      const float lp = e["top_logprobs"][k]["logprob"].get<float>();
      EXPECT_LE(lp, 0.0f);
      if (k > 0) EXPECT_LE(lp, last);
      last = lp;
      mass += std::exp(lp);
    }
    EXPECT_LE(mass, 1.0 + 1e-5);
    EXPECT_TRUE(e["bytes"].is_array());
  }
  // Streamed: the same entries, spread over the chunks.
  Json body = Chat(6, {{"temperature", 0}, {"logprobs", true}, {"top_logprobs", 3}, {"ignore_eos", true}, {"stream", true}});
  std::string buffer;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    return true;
  };
  ASSERT_TRUE(c.send(req));
  Json streamed = Json::array();
  for (size_t at = 0; (at = buffer.find("data: {", at)) != std::string::npos;) {
    const size_t end = buffer.find("\n\n", at);
    Json ev = Json::parse(buffer.substr(at + 6, end - at - 6));
    at = end;
    if (!ev["choices"].empty() && ev["choices"][0]["logprobs"].is_object())
      for (const Json& e : ev["choices"][0]["logprobs"]["content"]) streamed.push_back(e);
  }
  EXPECT_EQ(streamed, content);
  // Completions: OpenAI's legacy shape.
  Json comp = Call(c, "/v1/completions", {{"prompt", "Once"}, {"max_tokens", 3}, {"temperature", 0}, {"logprobs", 2}}, &status);
  ASSERT_EQ(status, 200) << comp.dump();
  const Json& lp = comp["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"].size(), lp["token_logprobs"].size());
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(Call(c, "/v1/chat/completions", Chat(2, {{"top_logprobs", 2}}), &status)["error"]["message"],
            "'top_logprobs' needs 'logprobs': true");
}

TEST(RequestSurfaceTest, LogitBiasSteersTheArgmax) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  // Ban the greedy token: another one comes out.
  Json top = Call(c, "/v1/chat/completions", Chat(1, {{"temperature", 0}, {"logprobs", true}, {"top_logprobs", 1}}), &status);
  ASSERT_EQ(status, 200);
  int32_t banned = -1;
  for (int32_t id = 0; id < 300 && banned < 0; ++id) {
    Json probe = Call(c, "/v1/chat/completions",
                      Chat(1, {{"temperature", 0}, {"logit_bias", {{std::to_string(id), -100}}}}), &status);
    ASSERT_EQ(status, 200) << probe.dump();
    if (probe["choices"][0]["message"]["content"] != top["choices"][0]["message"]["content"]) banned = id;
  }
  EXPECT_GE(banned, 0) << "no token's ban changed the greedy answer";
  EXPECT_NE(Call(c, "/v1/chat/completions", Chat(1, {{"logit_bias", {{"x", 1}}}}), &status)["error"]["message"]
                .get<std::string>()
                .find("token ids"),
            std::string::npos);
}

TEST(RequestSurfaceTest, NeutralFieldsAcceptedOutputFieldsRefusedByName) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  Call(c, "/v1/chat/completions",
       Chat(2, {{"user", "u1"}, {"store", false}, {"metadata", {{"k", "v"}}}, {"service_tier", "auto"},
                {"modalities", {"text"}}, {"parallel_tool_calls", true}, {"max_completion_tokens", 2}}),
       &status);
  EXPECT_EQ(status, 200);
  const std::vector<std::pair<Json, std::string>> refused = {
      {{{"functions", Json::array()}}, "'functions'"},
      {{{"function_call", "auto"}}, "'function_call'"},
      {{{"audio", {{"voice", "x"}}}}, "'audio'"},
      {{{"modalities", {"text", "audio"}}}, "'modalities'"},
      {{{"prediction", {{"type", "content"}}}}, "'prediction'"},
      {{{"reasoning_effort", "low"}}, "'reasoning_effort'"},
      {{{"web_search_options", Json::object()}}, "'web_search_options'"}};
  for (const auto& [patch, name] : refused) {
    Json r = Call(c, "/v1/chat/completions", Chat(2, patch), &status);
    EXPECT_EQ(status, 400) << patch.dump();
    EXPECT_NE(r["error"]["message"].get<std::string>().find(name), std::string::npos) << r.dump();
  }
  Json r = Call(c, "/v1/completions", {{"prompt", "a"}, {"best_of", 2}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("'best_of'"), std::string::npos);
  r = Call(c, "/v1/completions", {{"prompt", "a"}, {"suffix", "b"}}, &status);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("'suffix'"), std::string::npos);
}

}  // namespace
}  // namespace chunkserve::server
