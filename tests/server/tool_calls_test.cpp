// Tool calling: request parsing, the model formats parsed back into calls,
// the streamed-content holdback, forced-call grammars (every sentence parses
// into a call whose arguments validate), and the prompts the published
// templates (Qwen2.5, Llama 3.2) and our ChatML format render.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "server/json_schema_validator.h"
#include "server/prompt_builder.h"
#include "server/tool_calls.h"

namespace chunkserve::server {
namespace {

namespace fs = std::filesystem;

const Json kTools = Json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
      "unit": {"enum": ["c", "f"]}}, "required": ["city"], "additionalProperties": false}}},
  {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}
])");

ToolRequest Request(const std::string& choice_json, bool parallel = true) {
  Json body = {{"tools", kTools}, {"parallel_tool_calls", parallel}};
  if (!choice_json.empty()) body["tool_choice"] = Json::parse(choice_json);
  StatusOr<ToolRequest> r = ParseToolRequest(body);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

TEST(ToolCallsTest, ParsesRequestsAndNamesBadFields) {
  EXPECT_EQ(Request("").choice, ToolRequest::Choice::kAuto);
  EXPECT_EQ(Request("\"required\"").choice, ToolRequest::Choice::kRequired);
  ToolRequest named = Request(R"({"type": "function", "function": {"name": "add"}})");
  EXPECT_EQ(named.choice, ToolRequest::Choice::kNamed);
  EXPECT_EQ(named.forced_name, "add");
  EXPECT_FALSE(Request("\"none\"").active());
  auto error = [](const char* body) {
    StatusOr<ToolRequest> r = ParseToolRequest(Json::parse(body));
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_NE(error(R"({"tools": {}})").find("'tools'"), std::string::npos);
  EXPECT_NE(error(R"({"tools": [{"type": "function", "function": {"name": "a b"}}]})").find("tools[0].function.name"),
            std::string::npos);
  EXPECT_NE(error(R"({"tools": [{"type": "code"}]})").find("tools[0]"), std::string::npos);
  EXPECT_NE(error(R"({"tool_choice": "required"})").find("needs 'tools'"), std::string::npos);
  EXPECT_NE(error(R"({"tools": [{"type": "function", "function": {"name": "f"}}],
                     "tool_choice": {"type": "function", "function": {"name": "g"}}})").find("'g'"),
            std::string::npos);
  EXPECT_NE(error(R"({"parallel_tool_calls": 1})").find("parallel_tool_calls"), std::string::npos);
}

TEST(ToolCallsTest, ParsesEachFormat) {
  ParsedAnswer h = ParseToolCalls(
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}\n</tool_call>",
      ToolFormat::kHermes);
  ASSERT_EQ(h.calls.size(), 2u);
  EXPECT_EQ(h.content, "Let me check.");
  EXPECT_EQ(h.calls[0].name, "get_weather");
  EXPECT_EQ(Json::parse(h.calls[0].arguments), Json::parse(R"({"city": "Paris"})"));
  EXPECT_EQ(h.calls[1].arguments, R"({"a":1,"b":2})");
  EXPECT_NE(h.calls[0].id, h.calls[1].id);
  EXPECT_EQ(h.calls[0].id.rfind("call_", 0), 0u);
  // Not a call: stays text.
  EXPECT_TRUE(ParseToolCalls("<tool_call>\n{oops}\n</tool_call>", ToolFormat::kHermes).calls.empty());
  EXPECT_EQ(ParseToolCalls("plain words", ToolFormat::kChatMl).content, "plain words");

  ParsedAnswer l = ParseToolCalls("{\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}}; "
                                  "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo;Bergen\"}}",
                                  ToolFormat::kLlama3);
  ASSERT_EQ(l.calls.size(), 2u);
  EXPECT_EQ(l.calls[1].arguments, R"({"city":"Oslo;Bergen"})");
  EXPECT_TRUE(ParseToolCalls("{\"answer\": 4}", ToolFormat::kLlama3).calls.empty());

  ParsedAnswer m = ParseToolCalls("[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 5, \"b\": 6}}]",
                                  ToolFormat::kMistral);
  ASSERT_EQ(m.calls.size(), 1u);
  EXPECT_EQ(m.calls[0].arguments, R"({"a":5,"b":6})");
  EXPECT_TRUE(ParseToolCalls("[1, 2]", ToolFormat::kMistral).calls.empty());
}

TEST(ToolCallsTest, StreamedContentStopsWhereACallMayBegin) {
  EXPECT_EQ(ToolCallStart("Hello", ToolFormat::kHermes), 5u);
  EXPECT_EQ(ToolCallStart("Hello <tool", ToolFormat::kHermes), 6u);
  EXPECT_EQ(ToolCallStart("Hi <tool_call>{", ToolFormat::kHermes), 3u);
  EXPECT_EQ(ToolCallStart("Hello <b>", ToolFormat::kHermes), 9u);
  EXPECT_EQ(ToolCallStart("  ", ToolFormat::kLlama3), 0u);
  EXPECT_EQ(ToolCallStart(" {\"na", ToolFormat::kLlama3), 0u);
  EXPECT_EQ(ToolCallStart("The sum", ToolFormat::kLlama3), 7u);
  EXPECT_EQ(ToolCallStart("[{", ToolFormat::kMistral), 0u);
}

// Every sentence of a forced-call grammar parses into calls of the allowed
// tools whose arguments validate against their parameters.
TEST(ToolCallsTest, ForcedCallGrammarsGiveValidCalls) {
  std::mt19937 rng(4);
  for (ToolFormat format : {ToolFormat::kHermes, ToolFormat::kChatMl, ToolFormat::kLlama3, ToolFormat::kMistral}) {
    for (const char* choice : {"\"required\"", R"({"type": "function", "function": {"name": "add"}})"}) {
      for (bool parallel : {true, false}) {
        const ToolRequest request = Request(choice, parallel);
        StatusOr<std::string> gbnf = ToolCallGbnf(request, format);
        ASSERT_TRUE(gbnf.ok()) << gbnf.status().ToString();
        auto g = std::make_shared<const sampling::Grammar>(*sampling::ParseGbnf(*gbnf));
        for (int walk = 0; walk < 20; ++walk) {
          sampling::GrammarMatcher m(g);
          std::string text;
          for (int step = 0; step < 3000 && !(m.CanEnd() && (!m.CanContinue() || rng() % 4 == 0)); ++step) {
            std::vector<char> next;
            for (int b = 0; b < 256; ++b)
              if (m.Allows(std::string(1, static_cast<char>(b)))) next.push_back(static_cast<char>(b));
            std::vector<char> closers;
            for (char c : next)
              if (c == '"' || c == '}' || c == ']' || c == '<' || c == '\n') closers.push_back(c);
            const char c = !closers.empty() && rng() % 2 ? closers[rng() % closers.size()] : next[rng() % next.size()];
            ASSERT_TRUE(m.Accept(std::string(1, c)));
            text += c;
          }
          ASSERT_TRUE(m.CanEnd()) << text;
          const ParsedAnswer a = ParseToolCalls(text, format);
          ASSERT_FALSE(a.calls.empty()) << ToolFormatName(format) << ": " << text;
          if (!parallel) EXPECT_EQ(a.calls.size(), 1u) << text;
          for (const ToolCall& call : a.calls) {
            const Json* params = nullptr;
            for (const ToolDefinition& d : request.tools)
              if (d.name == call.name) params = &d.parameters;
            ASSERT_NE(params, nullptr) << call.name;
            if (request.choice == ToolRequest::Choice::kNamed) {
              EXPECT_EQ(call.name, "add");
            }
            EXPECT_TRUE(testing::Validates(Json::parse(call.arguments), *params)) << call.arguments;
          }
        }
      }
    }
  }
}

std::string ReadTemplate(const std::string& name) {
  std::ifstream in(fs::path(CHUNKSERVE_SOURCE_DIR) / "tests" / "chat_template" / "templates" / name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CompletionSpec Conversation() {
  Json body = Json::parse(R"({"messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18 C, sunny"}]})");
  body["tools"] = kTools;
  StatusOr<CompletionSpec> spec = ParseCompletionSpec(body, /*chat=*/true);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

std::string Render(const tokenizer::ChatTemplate& t, const CompletionSpec& spec) {
  StatusOr<std::vector<engine::PromptMessage>> messages = ToolMessages(spec, t);
  EXPECT_TRUE(messages.ok());
  std::vector<tokenizer::ChatMessage> chat;
  for (const engine::PromptMessage& m : *messages) {
    tokenizer::ChatMessage c;
    c.role = m.role;
    for (const engine::PromptPart& p : m.parts) c.content += p.text;
    c.tool_calls = m.tool_calls;
    c.tool_call_id = m.tool_call_id;
    c.name = m.name;
    chat.push_back(std::move(c));
  }
  tokenizer::ChatTemplateOptions options;
  if (ToolFormatFor(t) != ToolFormat::kChatMl) options.tools = JsonToJinja(spec.tools.tools_json);
  StatusOr<std::string> text = t.Apply(chat, options);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "";
}

TEST(ToolCallsTest, PublishedTemplatesRenderToolsCallsAndResults) {
  auto qwen = tokenizer::ChatTemplate::FromJinja(ReadTemplate("qwen2.5.jinja"), "", "<|im_end|>");
  ASSERT_TRUE(qwen.ok());
  EXPECT_EQ(ToolFormatFor(*qwen), ToolFormat::kHermes);
  const std::string q = Render(*qwen, Conversation());
  // (Keys come out sorted: the request body's JSON parser does not keep their order.)
  EXPECT_NE(q.find("<tools>\n{\"function\": {\"description\": \"Weather for a city\", \"name\": \"get_weather\""),
            std::string::npos)
      << q;
  EXPECT_NE(q.find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"),
            std::string::npos)
      << q;
  EXPECT_NE(q.find("<tool_response>\n18 C, sunny\n</tool_response>"), std::string::npos) << q;
  EXPECT_NE(q.find("Be brief."), std::string::npos);

  auto llama = tokenizer::ChatTemplate::FromJinja(ReadTemplate("llama3.2.jinja"), "<|begin_of_text|>", "<|eot_id|>");
  ASSERT_TRUE(llama.ok());
  EXPECT_EQ(ToolFormatFor(*llama), ToolFormat::kLlama3);
  const std::string l = Render(*llama, Conversation());
  EXPECT_NE(l.find("\"name\": \"get_weather\""), std::string::npos) << l;
  EXPECT_NE(l.find("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"), std::string::npos) << l;
  EXPECT_NE(l.find("ipython<|end_header_id|>\n\n\"18 C, sunny\""), std::string::npos) << l;

  // A template that does not read `tools`: our ChatML tool format.
  const tokenizer::ChatTemplate chatml = tokenizer::ChatTemplate::ChatMl();
  EXPECT_EQ(ToolFormatFor(chatml), ToolFormat::kChatMl);
  const std::string c = Render(chatml, Conversation());
  EXPECT_NE(c.find("<|im_start|>system\nBe brief.\n\n# Tools"), std::string::npos) << c;
  EXPECT_NE(c.find("<tools>\n{\"function\":{\"description\":\"Weather for a city\""), std::string::npos) << c;
  EXPECT_NE(c.find("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n"
                   "</tool_call><|im_end|>"),
            std::string::npos)
      << c;
  EXPECT_NE(c.find("<|im_start|>user\n<tool_response>\n18 C, sunny\n</tool_response><|im_end|>"), std::string::npos) << c;
}

}  // namespace
}  // namespace chunkserve::server

namespace chunkserve::server {
namespace {

// Qwen3's own template (the shared test data's tokenizer_config.json).
TEST(ToolCallsTest, Qwen3TemplateRendersTheRoundTrip) {
  std::ifstream in(fs::path(CHUNKSERVE_TESTDATA_DIR) / "tokenizers" / "qwen3" / "tokenizer_config.json");
  if (!in) GTEST_SKIP() << "no Qwen3 tokenizer_config.json in the test data";
  const Json config = Json::parse(in);
  auto qwen3 = tokenizer::ChatTemplate::FromJinja(config["chat_template"].get<std::string>(), "", "<|im_end|>");
  ASSERT_TRUE(qwen3.ok()) << qwen3.status().ToString();
  EXPECT_EQ(ToolFormatFor(*qwen3), ToolFormat::kHermes);
  const std::string q = Render(*qwen3, Conversation());
  EXPECT_NE(q.find("<tools>\n{\"function\": {\"description\": \"Weather for a city\""), std::string::npos) << q;
  EXPECT_NE(q.find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"),
            std::string::npos)
      << q;
  EXPECT_NE(q.find("<tool_response>\n18 C, sunny\n</tool_response>"), std::string::npos) << q;
}

}  // namespace
}  // namespace chunkserve::server
