// ChatTemplate: renders a conversation into the prompt text a chat model was
// trained on, from the model's own Jinja template (`tokenizer.chat_template`
// in GGUF, `chat_template` in Hugging Face's tokenizer_config.json).
//
// The template runs on a small Jinja interpreter (jinja_*.h) that implements
// what published chat templates use, with Hugging Face's settings
// (trim_blocks, lstrip_blocks, no trailing newline, `raise_exception`,
// `strftime_now`, `tojson` without key sorting). Variables given to the
// template: messages (list of {role, content}), add_generation_prompt,
// bos_token, eos_token, plus any ChatTemplateOptions::variables (e.g.
// enable_thinking=false for Qwen3). Tool calling: ChatTemplateOptions::tools
// becomes `tools` and a message's tool_calls / tool_call_id / name its fields
// of those names (as Hugging Face passes them); left undefined, the
// template's tool-calling branches are skipped.
//
// Errors: FromJinja gives kInvalidArgument for syntax errors and
// kUnimplemented for Jinja constructs outside the subset, naming the line and
// the construct. Apply gives the template's own raise_exception() message
// (e.g. "System role not supported") as kInvalidArgument, and runtime errors
// (undefined attribute, unsupported filter) with their line. Never crashes,
// whatever the template source.
//
// Fallback: a model without a template gets ChatMl() (`<|im_start|>role\n
// content<|im_end|>\n`, the format of Qwen, SmolLM and many fine-tunes); the
// caller should say so to the user (the `chat` command does).
//
// Thread safety: immutable after construction; Apply may run concurrently
// from many threads (each call has its own evaluator).
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "tokenizer/jinja_value.h"

namespace chunkserve::tokenizer {

namespace jinja {
struct Node;
}

struct ChatMessage {
  std::string role;     // "system", "user", "assistant" (templates may accept more)
  std::string content;
  // An assistant turn's calls: a list of {id, type: "function", function:
  // {name, arguments (a dict)}}; undefined when none.
  jinja::Value tool_calls;
  std::string tool_call_id;  // a "tool" message: the call it answers
  std::string name;          // a "tool" message: the function's name
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  // The instant strftime_now() formats (local time); nullopt = now. Tests fix it.
  std::optional<std::time_t> now;
  // Extra template variables, e.g. {"enable_thinking", false}.
  std::map<std::string, std::variant<bool, int64_t, std::string>> variables;
  // The `tools` list (OpenAI's [{type: "function", function: {name,
  // description, parameters}}]); undefined: none.
  jinja::Value tools;
};

class ChatTemplate {
 public:
  // Parses `source` once. bos_token / eos_token are the token texts the
  // template may print (e.g. "<|begin_of_text|>"), empty if the model has none.
  static StatusOr<ChatTemplate> FromJinja(std::string source, std::string bos_token, std::string eos_token);

  // The ChatML fallback (see above).
  static ChatTemplate ChatMl(std::string bos_token = "", std::string eos_token = "<|im_end|>");
  static std::string_view ChatMlSource();

  StatusOr<std::string> Apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
  StatusOr<std::string> Apply(std::span<const ChatMessage> messages, const ChatTemplateOptions& options) const;

  const std::string& source() const { return source_; }
  // Whether the template reads a `tools` variable (renders tool definitions).
  bool UsesTools() const;
  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }

 private:
  ChatTemplate() = default;

  std::string source_;
  std::string bos_token_;
  std::string eos_token_;
  // Shared so that ChatTemplate copies cheaply; never mutated after parsing.
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Node>>> ast_;
};

}  // namespace chunkserve::tokenizer
