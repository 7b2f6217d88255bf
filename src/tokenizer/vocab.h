// Vocab: the token table shared by every tokenizer kind: each id's stored
// text, score and type, and the reverse map from text to id.
//
// Invariants: text/score/type have n_tokens() entries; Find() returns the
// first id whose stored text equals the query (GGUF vocabularies rarely hold
// duplicates; the first one wins). The map holds views into `text`, which is
// never resized after Build().
//
// Thread safety: immutable after Build(); readable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::gguf {
class GgufFile;
}

namespace chunkserve::tokenizer {

class Vocab {
 public:
  // Reads tokenizer.ggml.tokens (required), .scores and .token_type
  // (optional; defaults 0 and kNormal). Errors name the bad key.
  static StatusOr<Vocab> FromGguf(const gguf::GgufFile& file);
  // For tests and converters: builds from parallel arrays. `scores` and
  // `types` may be empty (defaults) or must match `texts` in length.
  static StatusOr<Vocab> FromArrays(std::vector<std::string> texts, std::vector<float> scores,
                                    std::vector<TokenType> types);

  Vocab() = default;
  Vocab(Vocab&&) noexcept = default;
  Vocab& operator=(Vocab&&) noexcept = default;

  int32_t n_tokens() const { return static_cast<int32_t>(text_.size()); }
  bool Valid(int32_t id) const { return id >= 0 && id < n_tokens(); }
  // REQUIRES: Valid(id).
  const std::string& Text(int32_t id) const { return text_[id]; }
  float Score(int32_t id) const { return score_[id]; }
  TokenType Type(int32_t id) const { return type_[id]; }

  std::optional<int32_t> Find(std::string_view text) const {
    auto it = to_id_.find(text);
    if (it == to_id_.end()) return std::nullopt;
    return it->second;
  }

 private:
  void BuildIndex();

  std::vector<std::string> text_;
  std::vector<float> score_;
  std::vector<TokenType> type_;
  std::unordered_map<std::string_view, int32_t> to_id_;
};

}  // namespace chunkserve::tokenizer
