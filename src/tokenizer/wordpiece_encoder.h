// WordPieceEncoder: BERT tokenization (`tokenizer.ggml.model = "bert"`).
//
// Normalisation as BERT's basic tokenizer (uncased): drop NUL, U+FFFD and
// control characters; map whitespace to spaces; put spaces around CJK
// ideographs; strip accents (canonical decomposition, then drop nonspacing
// marks); lower-case. Split on whitespace and around every punctuation
// character (Unicode P* and the ASCII symbols). Each word is then encoded
// greedily, longest vocabulary match first, continuation pieces spelled
// "##..."; a word with no full cover (or over 100 characters) is [UNK].
// Results are cached per word.
//
// Two spellings of the vocabulary exist: Hugging Face's ("hello", "##lo")
// and llama.cpp's GGUF conversion ("▁hello" for word starts, "lo" for
// continuations: the "phantom space"). `phantom_space` selects the latter.
//
// Thread safety: const methods may run concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/text_encoder.h"
#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace chunkserve::tokenizer {

struct WordPieceOptions {
  std::optional<int32_t> unk_id;
  bool lower_case = true;
  size_t max_word_chars = 100;
  bool phantom_space = false;  // word starts are "▁"-prefixed, continuations bare
};

class WordPieceEncoder final : public TextEncoder {
 public:
  // REQUIRES: `vocab` outlives the encoder.
  WordPieceEncoder(const Vocab& vocab, WordPieceOptions options) : vocab_(vocab), options_(options) {}

  void Encode(std::string_view text, bool after_special, std::vector<int32_t>* out) const override;
  // Continuation pieces -> their text; word starts -> " " + text (words
  // are space-separated).
  std::string TokenBytes(int32_t id) const override;

  // The normalised words of `text` (exposed for tests).
  std::vector<std::string> Words(std::string_view text) const;
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;

 private:
  // Calls on_word(std::string_view) for each normalised word of `text`.
  template <typename OnWord>
  void ForEachWord(std::string_view text, OnWord on_word) const;

  const Vocab& vocab_;
  WordPieceOptions options_;
  WordCache cache_;
};

}  // namespace chunkserve::tokenizer
