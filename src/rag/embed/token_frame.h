// TokenFrame: how a neural embedder frames a text for its model - the
// optional first and last special tokens ([CLS] ... [SEP] for bert,
// ... <|endoftext|> for last-token pooling) around the text's tokens, the
// text cut so the whole input fits max_tokens. Shared by EncoderEmbedder and
// DecoderEmbedder so both truncate by the same rule.
//
// Thread safety: immutable after construction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace chunkserve::rag {

struct TokenFrame {
  std::optional<int32_t> first_id;
  std::optional<int32_t> last_id;
  int64_t max_tokens = 0;  // special tokens included
  int32_t empty_id = 0;    // the one input token of an empty text without specials

  int64_t n_special() const { return (first_id ? 1 : 0) + (last_id ? 1 : 0); }
  // InvalidArgument (naming `model_path`) when max_tokens leaves no room for text.
  Status Validate(const std::string& model_path) const;
  // [first] body[0 .. max_tokens - n_special) [last]; never empty.
  std::vector<int32_t> Frame(const std::vector<int32_t>& body) const;
};

}  // namespace chunkserve::rag
