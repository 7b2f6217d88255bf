#include "server/tool_calls.h"

#include <atomic>
#include <cstring>
#include <random>

#include "sampling/grammar.h"
#include "server/json_schema_grammar.h"

namespace chunkserve::server {
namespace {

constexpr char kOpen[] = "<tool_call>";
constexpr char kClose[] = "</tool_call>";

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

std::string NewCallId() {
  static std::atomic<uint64_t> counter{std::random_device{}()};
  const uint64_t v = counter.fetch_add(0x9E3779B97F4A7C15ull);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "call_%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// {"name": N, "arguments" | "parameters": {...} or a JSON text} -> a call.
bool CallFromJson(const Json& j, ToolCall& call) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  call.id = NewCallId();
  call.name = j["name"].get<std::string>();
  const Json* args = j.contains("arguments") ? &j["arguments"] : j.contains("parameters") ? &j["parameters"] : nullptr;
  if (args == nullptr) {
    call.arguments = "{}";
  } else if (args->is_string()) {
    call.arguments = args->get<std::string>();
  } else {
    call.arguments = args->dump();
  }
  return true;
}

bool IsValidName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

}  // namespace

ToolFormat ToolFormatFor(const tokenizer::ChatTemplate& t) {
  const std::string& s = t.source();
  if (!t.UsesTools()) return ToolFormat::kChatMl;
  if (s.find("[TOOL_CALLS]") != std::string::npos) return ToolFormat::kMistral;
  if (s.find("<tool_call>") != std::string::npos) return ToolFormat::kHermes;
  if (s.find("<|python_tag|>") != std::string::npos || s.find("\"parameters\"") != std::string::npos)
    return ToolFormat::kLlama3;
  return ToolFormat::kHermes;
}

const char* ToolFormatName(ToolFormat f) {
  switch (f) {
    case ToolFormat::kHermes: return "hermes";
    case ToolFormat::kLlama3: return "llama3";
    case ToolFormat::kMistral: return "mistral";
    case ToolFormat::kChatMl: return "chatml";
  }
  return "?";
}

StatusOr<ToolRequest> ParseToolRequest(const Json& body) {
  ToolRequest r;
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgumentError("'tools' must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& t = (*it)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || t.value("type", "") != "function" || !t.contains("function") || !t["function"].is_object())
        return InvalidArgumentError("'" + where + "' must be {\"type\": \"function\", \"function\": {...}}");
      const Json& f = t["function"];
      ToolDefinition d;
      if (!f.contains("name") || !f["name"].is_string() || !IsValidName(f["name"].get<std::string>()))
        return InvalidArgumentError("'" + where + ".function.name' must be 1 to 64 of [a-zA-Z0-9_-]");
      d.name = f["name"].get<std::string>();
      if (f.contains("description") && f["description"].is_string()) d.description = f["description"];
      if (f.contains("parameters") && !f["parameters"].is_null()) {
        if (!f["parameters"].is_object()) return InvalidArgumentError("'" + where + ".function.parameters' must be an object");
        d.parameters = f["parameters"];
      }
      for (const ToolDefinition& other : r.tools)
        if (other.name == d.name) return InvalidArgumentError("'tools': the name '" + d.name + "' is used twice");
      r.tools.push_back(std::move(d));
    }
    r.tools_json = *it;
  }
  if (auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      const std::string c = it->get<std::string>();
      if (c == "none") r.choice = ToolRequest::Choice::kNone;
      else if (c == "auto") r.choice = ToolRequest::Choice::kAuto;
      else if (c == "required") r.choice = ToolRequest::Choice::kRequired;
      else return InvalidArgumentError("'tool_choice' must be \"none\", \"auto\", \"required\" or a function");
    } else if (it->is_object() && it->value("type", "") == "function" && it->contains("function") &&
               (*it)["function"].is_object() && (*it)["function"].contains("name") && (*it)["function"]["name"].is_string()) {
      r.choice = ToolRequest::Choice::kNamed;
      r.forced_name = (*it)["function"]["name"].get<std::string>();
      bool known = false;
      for (const ToolDefinition& d : r.tools) known = known || d.name == r.forced_name;
      if (!known) return InvalidArgumentError("'tool_choice' names '" + r.forced_name + "', which is not in 'tools'");
    } else {
      return InvalidArgumentError("'tool_choice' must be \"none\", \"auto\", \"required\" or a function");
    }
    if (r.tools.empty() && (r.choice == ToolRequest::Choice::kRequired || r.choice == ToolRequest::Choice::kNamed))
      return InvalidArgumentError("'tool_choice' needs 'tools'");
  }
  if (auto it = body.find("parallel_tool_calls"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return InvalidArgumentError("'parallel_tool_calls' must be a boolean");
    r.parallel = it->get<bool>();
  }
  return r;
}

StatusOr<std::string> ToolCallGbnf(const ToolRequest& request, ToolFormat format) {
  std::string rules, calls;
  for (size_t i = 0; i < request.tools.size(); ++i) {
    const ToolDefinition& d = request.tools[i];
    if (request.choice == ToolRequest::Choice::kNamed && d.name != request.forced_name) continue;
    const std::string args = "tool" + std::to_string(i) + "-args";
    StatusOr<std::string> r = JsonSchemaRules(d.parameters, args);
    if (!r.ok()) return InvalidArgumentError("'tools[" + std::to_string(i) + "].function.parameters': " + r.status().message());
    rules += *r;
    const std::string name = Json(d.name).dump();
    std::string call;
    switch (format) {
      case ToolFormat::kHermes:
      case ToolFormat::kChatMl:
        call = sampling::GbnfLiteral(std::string(kOpen) + "\n{\"name\": " + name + ", \"arguments\": ") + " " + args + " " +
               sampling::GbnfLiteral("}\n" + std::string(kClose));
        break;
      case ToolFormat::kLlama3:
        call = sampling::GbnfLiteral("{\"name\": " + name + ", \"parameters\": ") + " " + args + " \"}\"";
        break;
      case ToolFormat::kMistral:
        call = sampling::GbnfLiteral("{\"name\": " + name + ", \"arguments\": ") + " " + args + " \"}\"";
        break;
    }
    calls += (calls.empty() ? "" : " | ") + std::string("(") + call + ")";
  }
  std::string root;
  const std::string more = request.parallel ? "*" : "{0}";
  switch (format) {
    case ToolFormat::kHermes:
    case ToolFormat::kChatMl: root = "call (\"\\n\" call)" + more; break;
    case ToolFormat::kLlama3: root = "call (\";\" ws call)" + more; break;
    case ToolFormat::kMistral: root = "\"[\" call (\",\" ws call)" + more + " \"]\""; break;
  }
  std::string gbnf = "root ::= " + root + "\ncall ::= " + calls + "\n" + rules + JsonPrimitivesGbnf();
  StatusOr<sampling::Grammar> g = sampling::ParseGbnf(gbnf);
  if (!g.ok()) return InvalidArgumentError("tools: " + g.status().message());
  return gbnf;
}

std::string ToolSystemPrompt(const ToolRequest& request) {
  std::string s =
      "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
  for (const Json& t : request.tools_json) s += "\n" + t.dump();
  s += "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
       "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
       "</tool_call>";
  return s;
}

std::string HermesCallText(const std::string& name, const Json& arguments) {
  // Name first, as the models write it (a Json object would sort the keys).
  return std::string(kOpen) + "\n{\"name\": " + Json(name).dump() + ", \"arguments\": " + arguments.dump() + "}\n" +
         kClose;
}

ParsedAnswer ParseToolCalls(const std::string& text, ToolFormat format) {
  ParsedAnswer out;
  if (format == ToolFormat::kHermes || format == ToolFormat::kChatMl) {
    std::string content;
    size_t from = 0;
    while (true) {
      const size_t open = text.find(kOpen, from);
      if (open == std::string::npos) {
        content += text.substr(from);
        break;
      }
      const size_t body = open + std::strlen(kOpen);
      const size_t close = text.find(kClose, body);
      const std::string inner = Trim(text.substr(body, close == std::string::npos ? std::string::npos : close - body));
      ToolCall call;
      const Json j = Json::parse(inner, nullptr, false);
      const size_t end = close == std::string::npos ? text.size() : close + std::strlen(kClose);
      if (!j.is_discarded() && CallFromJson(j, call)) {
        content += text.substr(from, open - from);
        out.calls.push_back(std::move(call));
      } else {
        content += text.substr(from, end - from);
      }
      from = end;
    }
    out.content = out.calls.empty() ? text : Trim(content);
    return out;
  }
  std::string t = Trim(text);
  if (format == ToolFormat::kMistral) {
    if (t.rfind("[TOOL_CALLS]", 0) == 0) t = Trim(t.substr(12));
    const Json j = Json::parse(t, nullptr, false);
    if (!j.is_discarded() && j.is_array() && !j.empty()) {
      std::vector<ToolCall> calls;
      for (const Json& item : j) {
        ToolCall call;
        if (!CallFromJson(item, call)) return ParsedAnswer{text, {}};
        calls.push_back(std::move(call));
      }
      out.calls = std::move(calls);
      return out;
    }
    out.content = text;
    return out;
  }
  // kLlama3: one JSON object, or several separated by ';' or newlines.
  if (t.rfind("<|python_tag|>", 0) == 0) t = Trim(t.substr(14));
  if (!t.empty() && t[0] == '{') {
    std::vector<ToolCall> calls;
    size_t from = 0;
    bool ok = true;
    while (from < t.size() && ok) {
      size_t end = t.find_first_of(";\n", from);
      // A separator inside the JSON: grow until the piece parses.
      Json j;
      while (true) {
        j = Json::parse(t.substr(from, end == std::string::npos ? std::string::npos : end - from), nullptr, false);
        if (!j.is_discarded() || end == std::string::npos) break;
        end = t.find_first_of(";\n", end + 1);
      }
      ToolCall call;
      ok = !j.is_discarded() && CallFromJson(j, call) && (j.contains("parameters") || j.contains("arguments"));
      if (ok) calls.push_back(std::move(call));
      from = end == std::string::npos ? t.size() : t.find_first_not_of(" ;\n\t\r", end);
      if (from == std::string::npos) from = t.size();
    }
    if (ok && !calls.empty()) {
      out.calls = std::move(calls);
      return out;
    }
  }
  out.content = text;
  return out;
}

size_t ToolCallStart(const std::string& text, ToolFormat format) {
  if (format == ToolFormat::kHermes || format == ToolFormat::kChatMl) {
    const size_t at = text.find(kOpen);
    if (at != std::string::npos) return at;
    // A tail that could grow into the opener is held back.
    const std::string open = kOpen;
    for (size_t n = std::min(open.size() - 1, text.size()); n > 0; --n)
      if (text.compare(text.size() - n, n, open, 0, n) == 0) return text.size() - n;
    return text.size();
  }
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return 0;  // nothing but space yet: undecided
  const char opener = format == ToolFormat::kMistral ? '[' : '{';
  return text[first] == opener ? 0 : text.size();
}

}  // namespace chunkserve::server
