#include "tokenizer/chat_template.h"

#include "base/logging.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_parser.h"

namespace chunkserve::tokenizer {
namespace {

// ChatML as Qwen2 / SmolLM2-style fine-tunes publish it, without a default
// system prompt.
constexpr std::string_view kChatMl =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

}  // namespace

StatusOr<ChatTemplate> ChatTemplate::FromJinja(std::string source, std::string bos_token, std::string eos_token) {
  ASSIGN_OR_RETURN(jinja::NodeList nodes, jinja::Parse(source));
  ChatTemplate t;
  t.source_ = std::move(source);
  t.bos_token_ = std::move(bos_token);
  t.eos_token_ = std::move(eos_token);
  t.ast_ = std::make_shared<const jinja::NodeList>(std::move(nodes));
  return t;
}

std::string_view ChatTemplate::ChatMlSource() { return kChatMl; }

ChatTemplate ChatTemplate::ChatMl(std::string bos_token, std::string eos_token) {
  StatusOr<ChatTemplate> t = FromJinja(std::string(kChatMl), std::move(bos_token), std::move(eos_token));
  CHECK_OK(t.status());
  return std::move(t).value();
}

bool ChatTemplate::UsesTools() const { return source_.find("tools") != std::string::npos; }

StatusOr<std::string> ChatTemplate::Apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  return Apply(messages, options);
}

StatusOr<std::string> ChatTemplate::Apply(std::span<const ChatMessage> messages,
                                          const ChatTemplateOptions& options) const {
  jinja::Evaluator evaluator;
  if (options.now) evaluator.SetNow(*options.now);
  jinja::List list;
  for (const ChatMessage& m : messages) {
    jinja::Value message = jinja::Value::MakeDict();
    message.dict().Set("role", jinja::Value(m.role));
    message.dict().Set("content", jinja::Value(m.content));
    if (!m.tool_calls.is_undefined()) message.dict().Set("tool_calls", m.tool_calls);
    if (!m.tool_call_id.empty()) message.dict().Set("tool_call_id", jinja::Value(m.tool_call_id));
    if (!m.name.empty()) message.dict().Set("name", jinja::Value(m.name));
    list.push_back(std::move(message));
  }
  evaluator.SetGlobal("messages", jinja::Value::MakeList(std::move(list)));
  evaluator.SetGlobal("add_generation_prompt", jinja::Value(options.add_generation_prompt));
  evaluator.SetGlobal("bos_token", jinja::Value(bos_token_));
  evaluator.SetGlobal("eos_token", jinja::Value(eos_token_));
  if (!options.tools.is_undefined()) evaluator.SetGlobal("tools", options.tools);
  for (const auto& [name, v] : options.variables) {
    std::visit([&](const auto& x) { evaluator.SetGlobal(name, jinja::Value(x)); }, v);
  }
  return evaluator.Render(*ast_);
}

}  // namespace chunkserve::tokenizer
