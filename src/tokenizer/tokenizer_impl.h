// TokenizerImpl: the state behind a Tokenizer: vocabulary, special-token
// ids and flags, the kind-specific TextEncoder, the special-token matcher
// and each token's output bytes. Private to the tokenizer module (tests may
// include it to reach the exact twins of the cached paths).
//
// Thread safety: immutable after construction (the encoders' caches lock
// themselves).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/text_encoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace chunkserve::tokenizer {

class TokenizerImpl {
 public:
  Vocab vocab;
  TokenizerKind kind = TokenizerKind::kSpm;
  std::string pre_name;
  std::unique_ptr<TextEncoder> encoder;

  std::optional<int32_t> bos, eos, eot, eom, unk, pad, sep, cls, mask;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM dummy prefix (Decode removes it again)
  std::vector<bool> end_of_generation;  // per id

  // Output bytes per id: decoded text of normal/byte tokens, stored text of
  // control / user-defined / unknown tokens.
  std::vector<std::string> pieces;

  // Special tokens matched in input text, bucketed by first byte, each
  // bucket longest first. `always` marks user-defined tokens, matched even
  // when parse_special is false.
  struct Special {
    std::string_view text;
    int32_t id;
    bool always;
  };
  std::array<std::vector<Special>, 256> specials_by_first_byte;
  bool has_always_specials = false;

  void BuildSpecials();
  void BuildPieces();
  // Splits `text` at special tokens: calls on_text(fragment) for plain text
  // and on_token(id) for each special token, in order. With parse_special,
  // control-token text is recognised except where it overlaps one of the
  // `plain` byte ranges (ascending, non-overlapping).
  template <typename OnText, typename OnToken>
  void Partition(std::string_view text, bool parse_special, OnText on_text, OnToken on_token,
                 std::span<const TextRange> plain = {}) const;

  bool IsSpecialType(int32_t id) const {
    const TokenType t = vocab.Type(id);
    return t == TokenType::kControl || t == TokenType::kUnknown;
  }
};

template <typename OnText, typename OnToken>
void TokenizerImpl::Partition(std::string_view text, bool parse_special, OnText on_text, OnToken on_token,
                              std::span<const TextRange> plain) const {
  if (!parse_special && !has_always_specials) {
    if (!text.empty()) on_text(text);
    return;
  }
  size_t fragment_begin = 0;
  size_t pos = 0;
  size_t next_plain = 0;  // the first range that does not end at or before pos
  while (pos < text.size()) {
    while (next_plain < plain.size() && plain[next_plain].end <= pos) ++next_plain;
    const auto& bucket = specials_by_first_byte[static_cast<uint8_t>(text[pos])];
    const Special* match = nullptr;
    for (const Special& s : bucket) {
      // Control tokens: only with parse_special, and never where the text
      // overlaps plain (user or document) text.
      if (!s.always && (!parse_special ||
                        (next_plain < plain.size() && plain[next_plain].begin < pos + s.text.size())))
        continue;
      if (text.compare(pos, s.text.size(), s.text) == 0) {
        match = &s;
        break;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    if (pos > fragment_begin) on_text(text.substr(fragment_begin, pos - fragment_begin));
    on_token(match->id);
    pos += match->text.size();
    fragment_begin = pos;
  }
  if (fragment_begin < text.size()) on_text(text.substr(fragment_begin));
}

}  // namespace chunkserve::tokenizer
