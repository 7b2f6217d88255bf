// HfVocabToGguf: turns a Hugging Face byte-level BPE tokenizer.json (plus an
// optional tokenizer_config.json) into the llama.cpp vocab-only GGUF metadata.
//
// Written keys: general.architecture, general.name, tokenizer.ggml.model
// ("gpt2"), tokenizer.ggml.pre, tokenizer.ggml.tokens (by id; added tokens
// included; id gaps filled with "[PAD{id}]"), tokenizer.ggml.token_type
// (1 normal, 3 control = special added token, 4 user-defined = non-special
// added token, 5 unused = gap filler), tokenizer.ggml.merges ("a b"; the
// JSON may hold "a b" strings or [a, b] pairs), bos/eos/padding token ids and
// add_bos_token/add_eos_token when known, tokenizer.chat_template when present.
//
// Errors in the JSON (missing fields, a non-BPE model, ids out of range) come
// back as InvalidArgument naming the field; nlohmann exceptions never escape.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "gguf/gguf_writer.h"

namespace chunkserve::tools {

struct HfVocabParams {
  std::string architecture = "qwen2";  // general.architecture: "qwen2" or "llama"
  std::string pre;                     // tokenizer.ggml.pre; empty: from architecture
  std::string name;                    // general.name; empty: "vocab"
  std::optional<bool> add_bos;         // overrides what the config says
  std::optional<bool> add_eos;
};

struct HfVocabSummary {
  size_t n_tokens = 0;        // including gap fillers
  size_t n_added_tokens = 0;  // from "added_tokens"
  size_t n_gap_tokens = 0;
  size_t n_merges = 0;
  std::optional<int32_t> bos_id, eos_id, pad_id;
  bool has_chat_template = false;
};

// `tokenizer_json` / `config_json` are file contents; `config_json` may be
// empty (no config). Fills `writer` with metadata only (no tensors).
StatusOr<HfVocabSummary> HfVocabToGguf(const std::string& tokenizer_json,
                                       const std::string& config_json,
                                       const HfVocabParams& params, gguf::GgufWriter* writer);

}  // namespace chunkserve::tools
