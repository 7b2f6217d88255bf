#include "rag/text/tokenizer_counter.h"

#include <filesystem>

namespace chunkserve::rag {

StatusOr<std::unique_ptr<TokenizerCounter>> TokenizerCounter::Open(const std::string& gguf_path) {
  auto tok = tokenizer::Tokenizer::Open(gguf_path);
  if (!tok.ok()) return tok.status().WithContext("--tokenizer " + gguf_path);
  std::string name = "gguf:" + std::filesystem::path(gguf_path).filename().string();
  return std::make_unique<TokenizerCounter>(std::move(tok).value(), std::move(name));
}

size_t TokenizerCounter::CountTokens(std::string_view text) const {
  return tokenizer_->CountTokens(text, /*add_special=*/false);
}

}  // namespace chunkserve::rag
