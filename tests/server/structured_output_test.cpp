// Structured outputs over HTTP on the random-weight fixture model:
// response_format json_schema (50 sampled requests, each validated),
// json_object streamed, the GBNF `grammar` extra on /v1/completions,
// max_tokens cutting a constrained answer ("length"), and the 400s that
// name what is wrong.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/http_util.h"
#include "server/json_schema_validator.h"
#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

using testing::HarnessOptions;
using testing::ServerHarness;

Json PostJson(httplib::Client& c, const std::string& path, const Json& body, int* status) {
  auto res = c.Post(path.c_str(), body.dump(), "application/json");
  EXPECT_TRUE(res) << "no response";
  if (!res) return Json();
  *status = res->status;
  return Json::parse(res->body, nullptr, false);
}

const Json kPersonSchema = Json::parse(R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 12},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
    "email": {"anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}]}
  },
  "required": ["name", "age", "pets"],
  "additionalProperties": false
})");

Json ChatWithSchema(uint64_t seed) {
  return Json{{"model", "fixture"},
              {"messages", Json::array({{{"role", "user"}, {"content", "Describe a person as JSON."}}})},
              {"max_tokens", 400},
              {"temperature", 1.0},
              {"seed", seed},
              {"response_format",
               {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"strict", true}, {"schema", kPersonSchema}}}}}};
}

TEST(StructuredOutputTest, JsonSchemaAnswersAlwaysValidate) {
  HarnessOptions o;
  o.n_ctx = 512;
  ServerHarness h(o);
  auto c = h.Client();
  for (uint64_t seed = 0; seed < 50; ++seed) {
    int status = 0;
    Json r = PostJson(c, "/v1/chat/completions", ChatWithSchema(seed), &status);
    ASSERT_EQ(status, 200) << r.dump();
    ASSERT_EQ(r["choices"][0]["finish_reason"], "stop") << r.dump();
    const std::string text = r["choices"][0]["message"]["content"];
    ASSERT_TRUE(Json::accept(text)) << "seed " << seed << ": " << text;
    EXPECT_TRUE(testing::Validates(Json::parse(text), kPersonSchema)) << text;
  }
}

TEST(StructuredOutputTest, JsonObjectStreamsAnObject) {
  HarnessOptions o;
  o.n_ctx = 1024;
  ServerHarness h(o);
  auto c = h.Client();
  int n_objects = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    Json body = ChatWithSchema(seed);
    body["response_format"] = {{"type", "json_object"}};
    body["stream"] = true;
    body["max_tokens"] = 900;
    std::string buffer, text, finish;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      buffer.append(data, n);
      return true;
    };
    auto res = c.send(req);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    for (size_t at = 0; (at = buffer.find("data: ", at)) != std::string::npos;) {
      const size_t end = buffer.find("\n\n", at);
      const std::string payload = buffer.substr(at + 6, end - at - 6);
      at = end;
      if (payload == "[DONE]") break;
      Json ev = Json::parse(payload);
      const Json& choice = ev["choices"][0];
      if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
      if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
    }
    if (finish == "length") continue;  // an unbounded object may not finish in time
    ASSERT_EQ(finish, "stop");
    ASSERT_TRUE(Json::accept(text)) << text;
    EXPECT_TRUE(Json::parse(text).is_object()) << text;
    ++n_objects;
  }
  EXPECT_GE(n_objects, 3);
}

TEST(StructuredOutputTest, GrammarExtraOnCompletionsAndLengthCut) {
  ServerHarness h;
  auto c = h.Client();
  int status = 0;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    Json r = PostJson(c, "/v1/completions",
                      Json{{"prompt", "Answer:"}, {"max_tokens", 20}, {"temperature", 1.0}, {"seed", seed},
                           {"grammar", "root ::= (\"yes\" | \"no\") \", \" [0-9]{2}"}},
                      &status);
    ASSERT_EQ(status, 200) << r.dump();
    const std::string text = r["choices"][0]["text"];
    EXPECT_TRUE((text.rfind("yes, ", 0) == 0 || text.rfind("no, ", 0) == 0) && text.size() == text.find(',') + 4)
        << text;
    EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  }
  // Cut by max_tokens: the answer is an unfinished prefix, "length".
  Json r = PostJson(c, "/v1/completions",
                    Json{{"prompt", "Answer:"}, {"max_tokens", 3}, {"temperature", 0},
                         {"grammar", "root ::= \"[\" [a-z]{40} \"]\""}},
                    &status);
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["choices"][0]["text"].get<std::string>().substr(0, 1), "[");
}

TEST(StructuredOutputTest, BadRequestsNameTheProblem) {
  HarnessOptions o;
  o.n_ctx = 512;
  ServerHarness h(o);
  auto c = h.Client();
  auto error_of = [&](Json patch) {
    Json body = ChatWithSchema(1);
    body.erase("response_format");
    body.update(patch);
    int status = 0;
    Json r = PostJson(c, "/v1/chat/completions", body, &status);
    EXPECT_EQ(status, 400) << r.dump();
    const std::string message = r["error"]["message"].get<std::string>();
    return message;
  };
  EXPECT_NE(error_of({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema",
                                            {{"type", "string"}, {"pattern", "^a"}}}}}}}})
                .find("unsupported JSON schema keyword 'pattern'"),
            std::string::npos);
  EXPECT_NE(error_of({{"response_format", {{"type", "yaml"}}}}).find("'response_format.type'"), std::string::npos);
  EXPECT_NE(error_of({{"response_format", {{"type", "json_schema"}}}}).find("'schema'"), std::string::npos);
  EXPECT_NE(error_of({{"grammar", "root ::= \"a\"\nx ::= [b-a]"}}).find("line 2"), std::string::npos);
  EXPECT_NE(error_of({{"grammar", "root ::= missing"}}).find("'missing'"), std::string::npos);
  EXPECT_NE(error_of({{"grammar", "root ::= \"a\""}, {"ignore_eos", true}}).find("'ignore_eos'"), std::string::npos);
  EXPECT_NE(error_of({{"grammar", "root ::= \"a\""}, {"response_format", {{"type", "json_object"}}}})
                .find("exclude each other"),
            std::string::npos);
  // The server still serves.
  int status = 0;
  Json ok = PostJson(c, "/v1/chat/completions", ChatWithSchema(2), &status);
  EXPECT_EQ(status, 200) << ok.dump();
}

}  // namespace
}  // namespace chunkserve::server

namespace chunkserve::server {
namespace {

const Json kWeatherTools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
  "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 10}},
  "required": ["city"], "additionalProperties": false}}}])");

// Reads an SSE answer: the parsed chunks.
std::vector<Json> StreamChunks(httplib::Client& c, const Json& body) {
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
  auto res = c.send(req);
  EXPECT_TRUE(res && res->status == 200);
  std::vector<Json> chunks;
  for (size_t at = 0; (at = buffer.find("data: ", at)) != std::string::npos;) {
    const size_t end = buffer.find("\n\n", at);
    const std::string payload = buffer.substr(at + 6, end - at - 6);
    at = end;
    if (payload != "[DONE]") chunks.push_back(Json::parse(payload));
  }
  return chunks;
}

// The fixture's template does not read `tools`: our ChatML tool format. A
// forced call comes back as tool_calls (streamed as deltas), and the call
// with its result is accepted in the next turn.
TEST(ToolCallRouteTest, ForcedCallThenResultRoundTrip) {
  HarnessOptions o;
  o.n_ctx = 1024;
  ServerHarness h(o);
  auto c = h.Client();
  Json body = {{"model", "fixture"},
               {"messages", Json::array({{{"role", "user"}, {"content", "Weather in Paris?"}}})},
               {"max_tokens", 200},
               {"temperature", 1.0},
               {"seed", 5},
               {"tools", kWeatherTools},
               {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}};
  int status = 0;
  Json r = PostJson(c, "/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << r.dump();
  const Json& choice = r["choices"][0];
  ASSERT_EQ(choice["finish_reason"], "tool_calls") << r.dump();
  EXPECT_TRUE(choice["message"]["content"].is_null());
  const Json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  const Json args = Json::parse(call["function"]["arguments"].get<std::string>());
  EXPECT_TRUE(testing::Validates(args, kWeatherTools[0]["function"]["parameters"])) << args.dump();

  // Streamed: the same call as a tool_calls delta, then finish_reason.
  body["stream"] = true;
  std::vector<Json> chunks = StreamChunks(c, body);
  ASSERT_GE(chunks.size(), 3u);
  Json delta_call;
  std::string finish;
  for (const Json& ch : chunks) {
    if (ch["choices"].empty()) continue;
    const Json& d = ch["choices"][0]["delta"];
    if (d.contains("tool_calls")) delta_call = d["tool_calls"][0];
    if (!ch["choices"][0]["finish_reason"].is_null()) finish = ch["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(delta_call["index"], 0);
  EXPECT_EQ(delta_call["function"], call["function"]);  // same seed, same call

  // Next turn: the call and its result; the answer is text.
  Json next = body;
  next.erase("stream");
  next.erase("tool_choice");
  next["messages"].push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", Json::array({call})}});
  next["messages"].push_back({{"role", "tool"}, {"tool_call_id", call["id"]}, {"content", "18 C, sunny"}});
  next["tool_choice"] = "auto";
  Json answer = PostJson(c, "/v1/chat/completions", next, &status);
  ASSERT_EQ(status, 200) << answer.dump();
  const Json& message = answer["choices"][0]["message"];
  EXPECT_TRUE(message["content"].is_string() || message.contains("tool_calls")) << answer.dump();
  EXPECT_GT(answer["usage"]["prompt_tokens"].get<int>(), r["usage"]["prompt_tokens"].get<int>());
}

}  // namespace
}  // namespace chunkserve::server
