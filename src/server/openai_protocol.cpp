#include "server/openai_protocol.h"

#include <climits>
#include <cstdlib>

#include "server/json_schema_grammar.h"

namespace chunkserve::server {
namespace {


Status CheckRange(double v, double lo, double hi, const char* field) {
  if (v < lo || v > hi)
    return InvalidArgumentError(std::string("'") + field + "' must lie in [" + std::to_string(lo).substr(0, 4) +
                                ", " + std::to_string(hi).substr(0, 4) + "]");
  return Status::Ok();
}

// Message content: a string, or an array of {"type": "text", "text": ...}
// parts (other part types are refused).
StatusOr<std::string> ContentText(const Json& content, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return InvalidArgumentError("'" + where + "' must be a string or an array of parts");
  std::string text;
  for (const Json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      return InvalidArgumentError("'" + where + "' parts must be objects with a 'type'");
    if (part["type"] != "text") return InvalidArgumentError("'" + where + "': only text parts are supported");
    if (!part.contains("text") || !part["text"].is_string())
      return InvalidArgumentError("'" + where + "' text parts need a string 'text'");
    text += part["text"].get<std::string>();
  }
  return text;
}


// `response_format` and `grammar` -> the GBNF the output must match.
StatusOr<std::string> ParseOutputGrammar(const Json& body) {
  std::string grammar;
  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    if (!it->is_object() || !it->contains("type") || !(*it)["type"].is_string())
      return InvalidArgumentError("'response_format' must be an object with a string 'type'");
    const std::string type = (*it)["type"].get<std::string>();
    if (type == "json_object") {
      grammar = JsonObjectGbnf();
    } else if (type == "json_schema") {
      auto js = it->find("json_schema");
      if (js == it->end() || !js->is_object() || !js->contains("schema"))
        return InvalidArgumentError("'response_format.json_schema' must be an object with a 'schema'");
      StatusOr<std::string> g = JsonSchemaToGbnf((*js)["schema"]);
      if (!g.ok()) return InvalidArgumentError("'response_format.json_schema.schema': " + g.status().message());
      grammar = *std::move(g);
    } else if (type != "text") {
      return InvalidArgumentError("'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
    }
  }
  if (auto it = body.find("grammar"); it != body.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().empty())
      return InvalidArgumentError("'grammar' must be a non-empty GBNF string");
    if (!grammar.empty()) return InvalidArgumentError("'grammar' and a JSON 'response_format' exclude each other");
    grammar = it->get<std::string>();
  }
  return grammar;
}

}  // namespace

StatusOr<std::optional<double>> ParseRecomputeField(const Json& body) {
  auto it = body.find("recompute_fraction");
  if (it == body.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number() || !(it->get<double>() >= 0 && it->get<double>() <= 1))
    return InvalidArgumentError("'recompute_fraction' must be a number in [0, 1]");
  return std::optional<double>(it->get<double>());
}

StatusOr<std::optional<SpeculateRequest>> ParseSpeculateField(const Json& body) {
  auto it = body.find("speculate");
  if (it == body.end() || it->is_null()) return std::optional<SpeculateRequest>();
  if (it->is_boolean()) return std::optional(it->get<bool>() ? SpeculateRequest::kOn : SpeculateRequest::kOff);
  if (it->is_string()) {
    if (*it == "off") return std::optional(SpeculateRequest::kOff);
    if (*it == "lookup") return std::optional(SpeculateRequest::kLookup);
    if (*it == "draft") return std::optional(SpeculateRequest::kDraft);
  }
  return InvalidArgumentError("'speculate' must be \"off\", \"lookup\", \"draft\" or a boolean");
}

StatusOr<CompletionSpec> ParseCompletionSpec(const Json& body, bool chat) {
  CompletionSpec spec;
  spec.chat = chat;
  if (auto it = body.find("model"); it != body.end() && it->is_string()) spec.model = it->get<std::string>();

  if (chat) {
    auto it = body.find("messages");
    if (it == body.end() || !it->is_array() || it->empty())
      return InvalidArgumentError("'messages' must be a non-empty array");
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& m = (*it)[i];
      if (!m.is_object()) return InvalidArgumentError("messages[" + std::to_string(i) + "] must be an object");
      auto role = m.find("role");
      if (role == m.end() || !role->is_string())
        return InvalidArgumentError("messages[" + std::to_string(i) + "].role must be a string");
      tokenizer::ChatMessage msg;
      msg.role = role->get<std::string>();
      if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name
      ASSIGN_OR_RETURN(msg.content, ContentText(m.contains("content") ? m["content"] : Json(), i));
      Json calls;
      if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null()) {
        const std::string where = "messages[" + std::to_string(i) + "].tool_calls";
        if (msg.role != "assistant" || !tc->is_array()) return InvalidArgumentError("'" + where + "' must be an array on an assistant message");
        for (const Json& c : *tc)
          if (!c.is_object() || !c.contains("function") || !c["function"].is_object() || !c["function"].contains("name") ||
              !c["function"]["name"].is_string())
            return InvalidArgumentError("'" + where + "' entries need function.name");
        calls = *tc;
      }
      if (msg.role == "tool") {
        if (auto id = m.find("tool_call_id"); id != m.end() && id->is_string()) msg.tool_call_id = id->get<std::string>();
        if (auto name = m.find("name"); name != m.end() && name->is_string()) msg.name = name->get<std::string>();
      }
      spec.messages.push_back(std::move(msg));
      spec.message_tool_calls.push_back(std::move(calls));
    }
  } else {
    auto it = body.find("prompt");
    if (it == body.end() || it->is_null()) return InvalidArgumentError("'prompt' is required");
    if (it->is_string()) {
      spec.prompt_text = it->get<std::string>();
    } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
      spec.prompt_text = (*it)[0].get<std::string>();
    } else if (it->is_array() && !it->empty() && std::all_of(it->begin(), it->end(), [](const Json& j) { return j.is_number_integer(); })) {
      for (const Json& j : *it) {
        const int64_t v = j.get<int64_t>();
        if (v < 0 || v > INT32_MAX) return InvalidArgumentError("'prompt' token ids must be non-negative 32-bit integers");
        spec.prompt_tokens.push_back(static_cast<int32_t>(v));
      }
    } else if (it->is_array() && it->size() > 1) {
      return InvalidArgumentError("'prompt': only one prompt per request is supported");
    } else {
      return InvalidArgumentError("'prompt' must be a string, an array of one string or an array of token ids");
    }
    ASSIGN_OR_RETURN(spec.echo, GetBool(body, "echo", false));
    if (spec.echo) return InvalidArgumentError("'echo' is not supported");
  }

  for (const char* field : {"functions", "function_call", "audio", "prediction", "web_search_options", "reasoning_effort"})
    if (body.contains(field) && !body[field].is_null())
      return InvalidArgumentError(std::string("'") + field + "' is not supported" +
                                  (std::string(field).rfind("function", 0) == 0 ? " (use 'tools')" : ""));
  if (auto it = body.find("modalities"); it != body.end() && !it->is_null() && *it != Json::array({"text"}))
    return InvalidArgumentError("'modalities' other than [\"text\"] are not supported");
  if (!chat) {
    ASSIGN_OR_RETURN(const int64_t best_of, GetInt(body, "best_of", 1));
    if (best_of != 1) return InvalidArgumentError("'best_of' other than 1 is not supported");
    if (auto it = body.find("suffix"); it != body.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      return InvalidArgumentError("'suffix' is not supported");
  }
  ASSIGN_OR_RETURN(spec.n, GetInt(body, "n", 1));
  if (spec.n < 1 || spec.n > 8) return InvalidArgumentError("'n' must lie in [1, 8]");
  if (auto it = body.find("logprobs"); it != body.end() && !it->is_null()) {
    if (chat) {
      if (!it->is_boolean()) return InvalidArgumentError("'logprobs' must be a boolean");
      ASSIGN_OR_RETURN(const int64_t top, GetInt(body, "top_logprobs", 0));
      if (top < 0 || top > 20) return InvalidArgumentError("'top_logprobs' must lie in [0, 20]");
      if (it->get<bool>()) spec.top_logprobs = static_cast<int>(top);
    } else {
      if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 5)
        return InvalidArgumentError("'logprobs' must be an integer in [0, 5]");
      spec.top_logprobs = static_cast<int>(it->get<int64_t>());
    }
  } else if (chat && body.contains("top_logprobs") && !body["top_logprobs"].is_null()) {
    return InvalidArgumentError("'top_logprobs' needs 'logprobs': true");
  }
  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgumentError("'logit_bias' must be an object of token id -> bias");
    for (const auto& [key, value] : it->items()) {
      char* end = nullptr;
      const long long id = std::strtoll(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX)
        return InvalidArgumentError("'logit_bias' keys must be token ids, got '" + key + "'");
      if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100)
        return InvalidArgumentError("'logit_bias' values must lie in [-100, 100]");
      spec.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
    }
  }
  ASSIGN_OR_RETURN(const int64_t max_tokens, GetInt(body, "max_tokens", -1));
  ASSIGN_OR_RETURN(const int64_t max_completion, GetInt(body, "max_completion_tokens", -1));
  const int64_t mt = max_completion >= 0 ? max_completion : max_tokens;
  if (body.contains("max_tokens") && !body["max_tokens"].is_null() && max_tokens < 1)
    return InvalidArgumentError("'max_tokens' must be at least 1");
  if (body.contains("max_completion_tokens") && !body["max_completion_tokens"].is_null() && max_completion < 1)
    return InvalidArgumentError("'max_completion_tokens' must be at least 1");
  if (mt >= 1) spec.max_tokens = mt;

  ASSIGN_OR_RETURN(spec.temperature, GetNumber(body, "temperature", 1.0));
  RETURN_IF_ERROR(CheckRange(spec.temperature, 0, 2, "temperature"));
  ASSIGN_OR_RETURN(spec.top_p, GetNumber(body, "top_p", 1.0));
  RETURN_IF_ERROR(CheckRange(spec.top_p, 0, 1, "top_p"));
  ASSIGN_OR_RETURN(spec.top_k, GetInt(body, "top_k", 0));
  ASSIGN_OR_RETURN(spec.min_p, GetNumber(body, "min_p", 0.0));
  RETURN_IF_ERROR(CheckRange(spec.min_p, 0, 1, "min_p"));
  ASSIGN_OR_RETURN(spec.repetition_penalty, GetNumber(body, "repetition_penalty", 1.0));
  RETURN_IF_ERROR(CheckRange(spec.repetition_penalty, 0.01, 10, "repetition_penalty"));
  ASSIGN_OR_RETURN(spec.presence_penalty, GetNumber(body, "presence_penalty", 0.0));
  RETURN_IF_ERROR(CheckRange(spec.presence_penalty, -2, 2, "presence_penalty"));
  ASSIGN_OR_RETURN(spec.frequency_penalty, GetNumber(body, "frequency_penalty", 0.0));
  RETURN_IF_ERROR(CheckRange(spec.frequency_penalty, -2, 2, "frequency_penalty"));
  if (body.contains("seed") && !body["seed"].is_null()) {
    ASSIGN_OR_RETURN(const int64_t seed, GetInt(body, "seed", 0));
    spec.seed = static_cast<uint64_t>(seed);
  }
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      spec.stop.push_back(it->get<std::string>());
    } else if (it->is_array() && it->size() <= 4 &&
               std::all_of(it->begin(), it->end(), [](const Json& j) { return j.is_string(); })) {
      for (const Json& j : *it) spec.stop.push_back(j.get<std::string>());
    } else {
      return InvalidArgumentError("'stop' must be a string or an array of at most 4 strings");
    }
  }
  ASSIGN_OR_RETURN(spec.stream, GetBool(body, "stream", false));
  ASSIGN_OR_RETURN(spec.ignore_eos, GetBool(body, "ignore_eos", false));
  ASSIGN_OR_RETURN(spec.speculate, ParseSpeculateField(body));
  ASSIGN_OR_RETURN(spec.recompute_fraction, ParseRecomputeField(body));
  ASSIGN_OR_RETURN(spec.grammar, ParseOutputGrammar(body));
  if (chat) {
    ASSIGN_OR_RETURN(spec.tools, ParseToolRequest(body));
  }
  if (!spec.grammar.empty() && spec.ignore_eos)
    return InvalidArgumentError("'ignore_eos' cannot be combined with 'response_format' or 'grammar'");
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgumentError("'stream_options' must be an object");
    ASSIGN_OR_RETURN(spec.include_usage, GetBool(*it, "include_usage", false));
  }
  if (auto it = body.find("documents"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgumentError("'documents' must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& d = (*it)[i];
      Document doc;
      if (d.is_string()) {
        doc.text = d.get<std::string>();
      } else if (d.is_object() && d.contains("text") && d["text"].is_string()) {
        doc.text = d["text"].get<std::string>();
        if (d.contains("id")) {
          if (d["id"].is_string()) doc.id = d["id"].get<std::string>();
          else if (d["id"].is_number_integer()) doc.id = std::to_string(d["id"].get<int64_t>());
          else return InvalidArgumentError("documents[" + std::to_string(i) + "].id must be a string or integer");
        }
      } else {
        return InvalidArgumentError("documents[" + std::to_string(i) +
                                    "] must be a string or an object with a string 'text'");
      }
      spec.documents.push_back(std::move(doc));
    }
  }
  return spec;
}

}  // namespace chunkserve::server
