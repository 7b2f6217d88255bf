// Tool calling: OpenAI `tools` / `tool_choice` in, the model's tool-call
// text out as `tool_calls`.
//
// Formats (ToolFormat, chosen from the model's chat template):
//   kHermes   Qwen2.5 / Qwen3 / Hermes templates (`<tool_call>` in the
//             source): the template renders `tools`; the model answers
//             <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>,
//             one block per call.
//   kLlama3   Llama 3.x templates (`<|python_tag|>` / "parameters"): the
//             answer is {"name": N, "parameters": {...}} (several separated
//             by ';' or newlines).
//   kMistral  Mistral templates (`[TOOL_CALLS]`, a control token that leaves
//             no text): the answer is [{"name": N, "arguments": {...}}, ...].
//   kChatMl   any template that does not read `tools` (and the ChatML
//             fallback): our documented format. The tools are described in
//             a system message (ToolSystemPrompt: Hermes' wording, the
//             definitions as JSON inside <tools></tools>), calls are
//             written and parsed as in kHermes, an earlier assistant call is
//             rendered as its <tool_call> text and a tool result as a user
//             message <tool_response>\n{content}\n</tool_response>.
//
// tool_choice: "none" (tools neither rendered nor parsed), "auto" (the
// default: the answer is text or calls), "required" or {"type":
// "function", "function": {"name": N}}: ToolCallGbnf makes a grammar that
// forces a call in the model's format (arguments valid against the tool's
// `parameters` schema; several calls allowed with parallel_tool_calls).
//
// Thread safety: stateless functions.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "server/http_util.h"
#include "tokenizer/chat_template.h"

namespace chunkserve::server {

enum class ToolFormat { kHermes, kLlama3, kMistral, kChatMl };

ToolFormat ToolFormatFor(const tokenizer::ChatTemplate& chat_template);
const char* ToolFormatName(ToolFormat format);

struct ToolDefinition {
  std::string name;
  std::string description;
  Json parameters = Json::object();  // a JSON schema
};

struct ToolRequest {
  std::vector<ToolDefinition> tools;
  Json tools_json = Json::array();  // as the client sent them (for the template)
  enum class Choice { kNone, kAuto, kRequired, kNamed };
  Choice choice = Choice::kAuto;
  std::string forced_name;  // kNamed
  bool parallel = true;     // parallel_tool_calls
  bool active() const { return !tools.empty() && choice != Choice::kNone; }
};

// `tools`, `tool_choice`, `parallel_tool_calls` (InvalidArgument naming the
// field). No `tools`: an inactive request.
StatusOr<ToolRequest> ParseToolRequest(const Json& body);

// The grammar forcing a call (tool_choice "required" or a named function).
// REQUIRES: request.active() and a forcing choice.
StatusOr<std::string> ToolCallGbnf(const ToolRequest& request, ToolFormat format);

// kChatMl: the system text that describes the tools.
std::string ToolSystemPrompt(const ToolRequest& request);

// An assistant turn's call as kHermes / kChatMl text.
std::string HermesCallText(const std::string& name, const Json& arguments);

struct ToolCall {
  std::string id;         // "call_..."
  std::string name;
  std::string arguments;  // a JSON text
};
struct ParsedAnswer {
  std::string content;         // the text outside the calls (trimmed)
  std::vector<ToolCall> calls;
};
// Splits a generated answer into text and calls; text that only looks like
// a call (bad JSON, no name) stays content.
ParsedAnswer ParseToolCalls(const std::string& text, ToolFormat format);

// Where a call may begin in `text` (streamed content stops there):
// text.size() when none can, else the offset of the first character that
// starts or could start a call (so a partial opener is held back).
size_t ToolCallStart(const std::string& text, ToolFormat format);

}  // namespace chunkserve::server
