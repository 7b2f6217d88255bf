// TokenizerCounter: exact token counts from a model's tokenizer (GGUF).
//
// Counts are Tokenizer::CountTokens(text, add_special = false): the tokens the
// text costs inside a prompt, without BOS/EOS. BPE counts are not additive over
// pieces (merges can cross a cut), so the chunkers re-count every chunk they
// emit with this counter and never rely on sums.
//
// Thread safety: Tokenizer is const-safe from many threads; so is this.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "rag/text/token_counter.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::rag {

class TokenizerCounter final : public TokenCounter {
 public:
  static StatusOr<std::unique_ptr<TokenizerCounter>> Open(const std::string& gguf_path);
  explicit TokenizerCounter(std::unique_ptr<tokenizer::Tokenizer> tokenizer, std::string name)
      : tokenizer_(std::move(tokenizer)), name_(std::move(name)) {}

  size_t CountTokens(std::string_view text) const override;
  bool additive() const override { return false; }
  std::string name() const override { return name_; }

 private:
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::string name_;
};

}  // namespace chunkserve::rag
