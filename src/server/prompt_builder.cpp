#include "server/prompt_builder.h"

#include <algorithm>

namespace chunkserve::server {

tokenizer::jinja::Value JsonToJinja(const Json& j) {
  using tokenizer::jinja::Value;
  switch (j.type()) {
    case Json::value_t::null: return Value::None();
    case Json::value_t::boolean: return Value(j.get<bool>());
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return Value(j.get<int64_t>());
    case Json::value_t::number_float: return Value(j.get<double>());
    case Json::value_t::string: return Value(j.get<std::string>());
    case Json::value_t::array: {
      tokenizer::jinja::List items;
      for (const Json& x : j) items.push_back(JsonToJinja(x));
      return Value::MakeList(std::move(items));
    }
    case Json::value_t::object: {
      Value d = Value::MakeDict();
      for (const auto& [k, v] : j.items()) d.dict().Set(k, JsonToJinja(v));
      return d;
    }
    default: return Value::None();
  }
}

namespace {

// An assistant call's arguments as a JSON value (templates print them with
// tojson); a text that is not JSON stays a string.
Json ArgumentsOf(const Json& call) {
  const Json& f = call["function"];
  if (!f.contains("arguments")) return Json::object();
  if (!f["arguments"].is_string()) return f["arguments"];
  Json parsed = Json::parse(f["arguments"].get<std::string>(), nullptr, false);
  return parsed.is_discarded() ? f["arguments"] : parsed;
}

}  // namespace

StatusOr<std::vector<engine::PromptMessage>> ToolMessages(const CompletionSpec& spec,
                                                          const tokenizer::ChatTemplate& chat_template) {
  const bool native = ToolFormatFor(chat_template) != ToolFormat::kChatMl;
  std::vector<engine::PromptMessage> out;
  for (size_t i = 0; i < spec.messages.size(); ++i) {
    const tokenizer::ChatMessage& m = spec.messages[i];
    const Json calls = i < spec.message_tool_calls.size() ? spec.message_tool_calls[i] : Json();
    engine::PromptMessage pm = engine::PromptMessage::Text(m.role, m.content);
    if (calls.is_array()) {
      if (native) {
        Json normalized = Json::array();
        for (const Json& c : calls)
          normalized.push_back({{"id", c.value("id", "")},
                                {"type", "function"},
                                {"function", {{"name", c["function"]["name"]}, {"arguments", ArgumentsOf(c)}}}});
        pm.tool_calls = JsonToJinja(normalized);
      } else {
        std::string text = m.content;
        for (const Json& c : calls)
          text += (text.empty() ? "" : "\n") + HermesCallText(c["function"]["name"].get<std::string>(), ArgumentsOf(c));
        pm = engine::PromptMessage::Text(m.role, text);
      }
    }
    if (m.role == "tool") {
      if (native) {
        pm.tool_call_id = m.tool_call_id;
        pm.name = m.name;
      } else {
        pm = engine::PromptMessage::Text("user", "<tool_response>\n" + m.content + "\n</tool_response>");
      }
    }
    out.push_back(std::move(pm));
  }
  if (spec.tools.active() && !native) {
    // Our ChatML tool format: the definitions lead the system message.
    const std::string prompt = ToolSystemPrompt(spec.tools);
    if (!out.empty() && out.front().role == "system" && out.front().parts.size() == 1) {
      out.front().parts.front().text = out.front().parts.front().text + "\n\n" + prompt;
    } else {
      out.insert(out.begin(), engine::PromptMessage::Text("system", prompt));
    }
  }
  return out;
}
rag::SourceText DocumentSource(const Document& doc) { return rag::SourceText{doc.id, doc.text}; }

int64_t PromptTokens(const engine::Prompt& prompt) {
  int64_t n = 0;
  for (const engine::Segment& s : prompt) n += static_cast<int64_t>(s.tokens.size());
  return n;
}

StatusOr<engine::Prompt> BuildPrompt(const CompletionSpec& spec, const engine::PromptAssembler& assembler) {
  using Part = engine::PromptPart;
  std::vector<rag::SourceText> sources;
  std::vector<Part> documents;
  for (const Document& d : spec.documents) {
    sources.push_back(DocumentSource(d));
    documents.push_back(Part{Part::Kind::kChunk, rag::SourceBody(sources.back())});
  }
  engine::AssembledPrompt assembled;
  if (spec.chat) {
    ASSIGN_OR_RETURN(std::vector<engine::PromptMessage> messages, ToolMessages(spec, assembler.chat_template()));
    if (!documents.empty()) {
      // The last user message carries the documents.
      auto last_user = std::find_if(messages.rbegin(), messages.rend(),
                                    [](const engine::PromptMessage& m) { return m.role == "user"; });
      if (last_user == messages.rend()) return InvalidArgumentError("'documents' needs a user message to attach to");
      *last_user = rag::SourcesMessage(last_user->parts.front().text, sources);
    }
    tokenizer::jinja::Value tools;
    if (spec.tools.active() && ToolFormatFor(assembler.chat_template()) != ToolFormat::kChatMl)
      tools = JsonToJinja(spec.tools.tools_json);
    ASSIGN_OR_RETURN(assembled, assembler.Chat(messages, /*add_generation_prompt=*/true, tools));
  } else if (!spec.prompt_tokens.empty()) {
    assembled = assembler.Raw(documents);
    for (int32_t t : spec.prompt_tokens)
      if (t < 0 || t >= assembler.tokenizer().n_vocab())
        return InvalidArgumentError("'prompt' token id " + std::to_string(t) + " is outside the vocabulary");
    // Token ids are the caller's own: taken as they are, after the documents.
    assembled.segments.push_back(engine::Segment{engine::SegmentKind::kTail, spec.prompt_tokens, 0});
  } else {
    documents.push_back(Part{Part::Kind::kText, spec.prompt_text});
    assembled = assembler.Raw(documents);
  }
  if (PromptTokens(assembled.segments) == 0) return InvalidArgumentError("the prompt is empty");
  return std::move(assembled.segments);
}

}  // namespace chunkserve::server
