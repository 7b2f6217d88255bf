#include "hf_vocab.h"

#include <map>
#include <vector>

#include <nlohmann/json.hpp>

namespace chunkserve::tools {
namespace {

using nlohmann::json;

constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenUserDefined = 4;
constexpr int32_t kTokenUnused = 5;
// Vocabularies are at most a few hundred thousand ids; a larger id is a
// corrupt file, and gap filling would otherwise allocate without bound.
constexpr int64_t kMaxTokenId = 1 << 24;

// bos_token & co. are a string, an {"content": ...} object, or null.
std::optional<std::string> TokenText(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

// Whether a post-processor template starts (bos) or ends (eos) with a special
// token; nullopt when there is no TemplateProcessing to tell.
std::optional<bool> TemplateAdds(const json& post, bool at_start) {
  if (!post.is_object()) return std::nullopt;
  std::string type = post.value("type", "");
  if (type == "Sequence" && post.contains("processors") && post["processors"].is_array()) {
    for (const json& p : post["processors"]) {
      if (auto r = TemplateAdds(p, at_start)) return r;
    }
    return std::nullopt;
  }
  if (type != "TemplateProcessing" || !post.contains("single") || !post["single"].is_array()) {
    return std::nullopt;
  }
  const json& single = post["single"];
  if (single.empty()) return false;
  const json& piece = at_start ? single.front() : single.back();
  return piece.is_object() && piece.contains("SpecialToken");
}

StatusOr<HfVocabSummary> Convert(const json& tok, const json& config, const HfVocabParams& params,
                                 gguf::GgufWriter* writer) {
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object()) {
    return InvalidArgumentError("tokenizer.json: no \"model\" object");
  }
  const json& model = tok["model"];
  std::string type = model.value("type", "");
  if (type != "BPE") {
    return InvalidArgumentError("tokenizer.json: model.type is \"" + type +
                                "\"; only byte-level \"BPE\" is supported");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return InvalidArgumentError("tokenizer.json: model.vocab is not an object");
  }

  // id -> (text, type)
  std::map<int64_t, std::pair<std::string, int32_t>> by_id;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxTokenId) {
      return InvalidArgumentError("tokenizer.json: model.vocab[\"" + text +
                                  "\"] is not an id in [0, " + std::to_string(kMaxTokenId) + ")");
    }
    auto [it, inserted] = by_id.emplace(id.get<int64_t>(), std::make_pair(text, kTokenNormal));
    if (!inserted) {
      return InvalidArgumentError("tokenizer.json: model.vocab id " + std::to_string(it->first) +
                                  " is used by both \"" + it->second.first + "\" and \"" + text +
                                  "\"");
    }
  }
  HfVocabSummary summary;
  std::map<std::string, int64_t> added_by_text;
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const json& a : tok["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string()) {
        return InvalidArgumentError("tokenizer.json: an added_tokens entry lacks id or content");
      }
      int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id >= kMaxTokenId) {
        return InvalidArgumentError("tokenizer.json: added token id " + std::to_string(id) +
                                    " is out of range");
      }
      bool special = a.value("special", false);
      // An added token overrides the model's entry for the same id (as in HF).
      by_id[id] = {a["content"].get<std::string>(), special ? kTokenControl : kTokenUserDefined};
      added_by_text[a["content"].get<std::string>()] = id;
      ++summary.n_added_tokens;
    }
  }
  if (by_id.empty()) return InvalidArgumentError("tokenizer.json: the vocabulary is empty");

  int64_t n_tokens = by_id.rbegin()->first + 1;
  std::vector<std::string> tokens(static_cast<size_t>(n_tokens));
  std::vector<int32_t> types(static_cast<size_t>(n_tokens), kTokenUnused);
  std::vector<bool> filled(static_cast<size_t>(n_tokens), false);
  for (auto& [id, entry] : by_id) {
    tokens[id] = entry.first;
    types[id] = entry.second;
    filled[id] = true;
  }
  for (int64_t id = 0; id < n_tokens; ++id) {
    if (!filled[id]) {
      tokens[id] = "[PAD" + std::to_string(id) + "]";
      ++summary.n_gap_tokens;
    }
  }
  summary.n_tokens = tokens.size();

  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    merges.reserve(model["merges"].size());
    size_t k = 0;
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return InvalidArgumentError("tokenizer.json: model.merges[" + std::to_string(k) +
                                    "] is neither \"a b\" nor [a, b]");
      }
      ++k;
    }
  }
  summary.n_merges = merges.size();

  auto lookup = [&](const std::optional<std::string>& text) -> std::optional<int32_t> {
    if (!text) return std::nullopt;
    if (auto it = added_by_text.find(*text); it != added_by_text.end()) {
      return static_cast<int32_t>(it->second);
    }
    const json& vocab = model["vocab"];
    if (auto it = vocab.find(*text); it != vocab.end()) return it->get<int32_t>();
    return std::nullopt;
  };
  if (config.is_object()) {
    summary.bos_id = lookup(TokenText(config, "bos_token"));
    summary.eos_id = lookup(TokenText(config, "eos_token"));
    summary.pad_id = lookup(TokenText(config, "pad_token"));
  }

  std::string pre = params.pre;
  if (pre.empty()) pre = params.architecture == "llama" ? "llama-bpe" : params.architecture;

  writer->SetString("general.architecture", params.architecture);
  writer->SetString("general.name", params.name.empty() ? "vocab" : params.name);
  writer->SetString("tokenizer.ggml.model", "gpt2");
  writer->SetString("tokenizer.ggml.pre", pre);
  writer->SetStringArray("tokenizer.ggml.tokens", std::move(tokens));
  writer->SetI32Array("tokenizer.ggml.token_type", std::move(types));
  writer->SetStringArray("tokenizer.ggml.merges", std::move(merges));
  if (summary.bos_id) writer->SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*summary.bos_id));
  if (summary.eos_id) writer->SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*summary.eos_id));
  if (summary.pad_id) {
    writer->SetU32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(*summary.pad_id));
  }

  std::optional<bool> add_bos = params.add_bos, add_eos = params.add_eos;
  if (!add_bos && config.is_object() && config.contains("add_bos_token") &&
      config["add_bos_token"].is_boolean()) {
    add_bos = config["add_bos_token"].get<bool>();
  }
  if (!add_eos && config.is_object() && config.contains("add_eos_token") &&
      config["add_eos_token"].is_boolean()) {
    add_eos = config["add_eos_token"].get<bool>();
  }
  if (tok.contains("post_processor")) {
    if (!add_bos) add_bos = TemplateAdds(tok["post_processor"], true);
    if (!add_eos) add_eos = TemplateAdds(tok["post_processor"], false);
  }
  if (add_bos) writer->SetBool("tokenizer.ggml.add_bos_token", *add_bos);
  if (add_eos) writer->SetBool("tokenizer.ggml.add_eos_token", *add_eos);

  if (config.is_object() && config.contains("chat_template")) {
    const json& ct = config["chat_template"];
    if (ct.is_string()) {
      writer->SetString("tokenizer.chat_template", ct.get<std::string>());
      summary.has_chat_template = true;
    } else if (ct.is_array()) {
      // Named templates [{"name": "default", "template": ...}, ...]: keep the default.
      for (const json& t : ct) {
        if (t.is_object() && t.value("name", "") == "default" && t.contains("template") &&
            t["template"].is_string()) {
          writer->SetString("tokenizer.chat_template", t["template"].get<std::string>());
          summary.has_chat_template = true;
        }
      }
    }
  }
  return summary;
}

}  // namespace

StatusOr<HfVocabSummary> HfVocabToGguf(const std::string& tokenizer_json,
                                       const std::string& config_json,
                                       const HfVocabParams& params, gguf::GgufWriter* writer) {
  if (params.architecture != "qwen2" && params.architecture != "llama") {
    return InvalidArgumentError("architecture \"" + params.architecture +
                                "\" is not one of qwen2, llama");
  }
  json tok = json::parse(tokenizer_json, nullptr, /*allow_exceptions=*/false);
  if (tok.is_discarded()) return InvalidArgumentError("tokenizer.json: not valid JSON");
  json config;
  if (!config_json.empty()) {
    config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) return InvalidArgumentError("tokenizer_config.json: not valid JSON");
  }
  try {
    return Convert(tok, config, params, writer);
  } catch (const json::exception& e) {
    // Wrong-typed fields surface as type errors; they are input errors.
    return InvalidArgumentError(std::string("tokenizer json: ") + e.what());
  }
}

}  // namespace chunkserve::tools
