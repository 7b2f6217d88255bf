// TokenCounter: how many model tokens a piece of text costs.
//
// Chunk budgets are in tokens. With a model at hand, TokenizerCounter
// (tokenizer_counter.h) counts exactly with the model's tokenizer. Without one,
// ApproxTokenCounter uses a documented rule that tracks byte-level BPE
// vocabularies of 32K-150K entries on English prose:
//
//   the text is cut into runs of one class; whitespace is free;
//   - ASCII letters: ceil(n_letters / 6) tokens per run ("the" 1,
//     "government" 2, "internationalization" 4);
//   - ASCII digits: ceil(n_digits / 3) tokens per run (Llama 3 / Qwen split
//     numbers into groups of at most three digits);
//   - every other ASCII character (punctuation, symbols, controls): 1 token;
//   - every non-ASCII code point: 1 token (CJK is about one token per
//     character; accented Latin letters are over-counted, the safe side).
//
// Measured on the SOTU corpus (bench/rag/token_count_bench.cpp): the rule
// counts 1.07x the Llama-2 SPM tokens and 1.21x the GPT-2 BPE tokens, so
// budgets built on it err on the small side.
//
// The rule is *additive*: counting a text equals the sum of counting pieces cut
// at run boundaries, or inside a run at multiples of 6 letters / 3 digits / any
// code point. The chunkers rely on this to pack by summing piece counts; for a
// counter that is not additive they re-count each chunk.
//
// Thread safety: implementations must allow concurrent const calls.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace chunkserve::rag {

class TokenCounter {
 public:
  virtual ~TokenCounter() = default;
  virtual size_t CountTokens(std::string_view text) const = 0;
  // True when CountTokens is additive over the pieces the chunkers cut (see above).
  virtual bool additive() const = 0;
  // Short description stored with a collection ("approx-v1", "gguf:model.gguf").
  virtual std::string name() const = 0;
};

class ApproxTokenCounter final : public TokenCounter {
 public:
  size_t CountTokens(std::string_view text) const override;
  bool additive() const override { return true; }
  std::string name() const override { return "approx-v1"; }
};

// Character classes of the approximation (also used to cut pieces).
enum class CharClass : uint8_t { kSpace, kLetter, kDigit, kPunct, kNonAscii };
CharClass ClassifyByte(unsigned char c);
// Letters / digits per token inside a run of that class (1 for the others).
inline size_t CharsPerToken(CharClass c) {
  return c == CharClass::kLetter ? 6 : (c == CharClass::kDigit ? 3 : 1);
}

// The counter for `tokenizer_path`: a GGUF model's tokenizer when non-empty
// (error when the tokenizer module is not built in or the file is bad), the
// approximation otherwise.
StatusOr<std::unique_ptr<TokenCounter>> MakeTokenCounter(const std::string& tokenizer_path);

}  // namespace chunkserve::rag
