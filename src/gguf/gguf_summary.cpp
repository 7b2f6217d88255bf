#include "gguf/gguf_summary.h"

#include <algorithm>
#include <map>

namespace chunkserve::gguf {
namespace {

// The `<arch>.` keys llama.cpp writes that say most about a model's shape.
constexpr const char* kHParamSuffixes[] = {
    "context_length",
    "embedding_length",
    "block_count",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.layer_norm_rms_epsilon",
    "attention.sliding_window",
    "rope.dimension_count",
    "rope.freq_base",
    "rope.scaling.type",
    "rope.scaling.factor",
    "expert_count",
    "expert_used_count",
    "vocab_size",
    "pooling_type",
};

}  // namespace

std::string ValueTypeLabel(const Value& v) {
  if (v.type != ValueType::kArray) return std::string(ValueTypeName(v.type));
  return "array<" + std::string(ValueTypeName(v.array_type)) + ">[" + std::to_string(v.array.size()) +
         "]";
}

GgufSummary Summarize(const GgufFile& f) {
  GgufSummary s;
  s.version = f.version();
  s.file_bytes = f.file_size();
  s.alignment = f.alignment();
  s.data_offset = f.data_offset();
  s.architecture = f.GetString("general.architecture");
  s.name = f.GetString("general.name");
  s.n_metadata = static_cast<int64_t>(f.metadata().size());

  std::map<std::string, DTypeCount> by_type;
  for (const TensorInfo& t : f.tensors()) {
    ++s.n_tensors;
    s.n_params += t.n_elements();
    s.tensor_bytes += t.n_bytes;
    DTypeCount& c = by_type[std::string(DTypeName(t.type))];
    c.dtype = DTypeName(t.type);
    ++c.n_tensors;
    c.n_elements += t.n_elements();
    c.n_bytes += t.n_bytes;
  }
  for (auto& [name, c] : by_type) s.dtypes.push_back(c);
  std::stable_sort(s.dtypes.begin(), s.dtypes.end(),
                   [](const DTypeCount& a, const DTypeCount& b) { return a.n_bytes > b.n_bytes; });

  if (s.architecture) {
    for (const char* suffix : kHParamSuffixes) {
      std::string key = *s.architecture + "." + suffix;
      if (const Value* v = f.Find(key)) s.hparams.push_back({key, suffix, *v});
    }
  }

  s.tokenizer_model = f.GetString("tokenizer.ggml.model");
  s.tokenizer_pre = f.GetString("tokenizer.ggml.pre");
  if (const std::vector<Value>* tokens = f.GetArray("tokenizer.ggml.tokens")) {
    s.vocab_size = static_cast<int64_t>(tokens->size());
  }
  if (const std::vector<Value>* merges = f.GetArray("tokenizer.ggml.merges")) {
    s.n_merges = static_cast<int64_t>(merges->size());
  }
  s.bos_token_id = f.GetInt("tokenizer.ggml.bos_token_id");
  s.eos_token_id = f.GetInt("tokenizer.ggml.eos_token_id");
  if (std::optional<std::string> t = f.GetString("tokenizer.chat_template")) {
    s.has_chat_template = true;
    // The first non-empty line says which template family this is.
    size_t start = 0;
    while (start < t->size()) {
      size_t end = t->find('\n', start);
      if (end == std::string::npos) end = t->size();
      std::string line = t->substr(start, end - start);
      if (line.find_first_not_of(" \t\r") != std::string::npos) {
        s.chat_template_first_line = line;
        break;
      }
      start = end + 1;
    }
  }
  return s;
}

}  // namespace chunkserve::gguf
