// GgufSummary: the facts about a GGUF file a person (or `chunkserve info`)
// wants first: size, parameter count, tensors per type, the common
// llama.cpp hyper-parameter keys, tokenizer and chat-template presence.
//
// Still the file format only: it reads the metadata *keys* llama.cpp files
// conventionally carry (`<arch>.context_length`, `tokenizer.ggml.*`) without
// interpreting them as a model; absent keys stay nullopt.
//
// Thread safety: a value; Summarize() only reads the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"

namespace chunkserve::gguf {

struct DTypeCount {
  std::string dtype;  // "q4_K", ...
  int64_t n_tensors = 0;
  int64_t n_elements = 0;
  uint64_t n_bytes = 0;
};

// One `<arch>.<suffix>` hyper-parameter that is present.
struct HParam {
  std::string key;    // full key, e.g. "qwen2.context_length"
  std::string label;  // short name, e.g. "context_length"
  Value value;
};

struct GgufSummary {
  uint32_t version = 0;
  uint64_t file_bytes = 0;
  uint64_t alignment = 0;
  uint64_t data_offset = 0;
  std::optional<std::string> architecture;  // general.architecture
  std::optional<std::string> name;          // general.name
  int64_t n_tensors = 0;
  int64_t n_params = 0;         // sum of tensor elements
  uint64_t tensor_bytes = 0;    // sum of tensor data sizes
  std::vector<DTypeCount> dtypes;  // most bytes first
  std::vector<HParam> hparams;     // in a fixed, readable order
  std::optional<std::string> tokenizer_model;  // tokenizer.ggml.model
  std::optional<std::string> tokenizer_pre;    // tokenizer.ggml.pre
  std::optional<int64_t> vocab_size;           // length of tokenizer.ggml.tokens
  std::optional<int64_t> n_merges;
  std::optional<int64_t> bos_token_id, eos_token_id;
  bool has_chat_template = false;
  std::string chat_template_first_line;  // empty when absent
  int64_t n_metadata = 0;
};

GgufSummary Summarize(const GgufFile& file);

// "array<string>[151936]", "u32", "string", "array<array>[2]".
std::string ValueTypeLabel(const Value& v);

}  // namespace chunkserve::gguf
