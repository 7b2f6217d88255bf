#include "tokenizer/vocab.h"

#include <cmath>

#include "gguf/gguf_file.h"

namespace chunkserve::tokenizer {

StatusOr<Vocab> Vocab::FromArrays(std::vector<std::string> texts, std::vector<float> scores,
                                  std::vector<TokenType> types) {
  if (texts.empty()) return InvalidArgumentError("tokenizer: empty vocabulary");
  if (texts.size() > static_cast<size_t>(INT32_MAX)) {
    return OutOfRangeError("tokenizer: vocabulary has more than 2^31 tokens");
  }
  if (!scores.empty() && scores.size() != texts.size()) {
    return InvalidArgumentError("tokenizer: " + std::to_string(scores.size()) + " scores for " +
                                std::to_string(texts.size()) + " tokens");
  }
  if (!types.empty() && types.size() != texts.size()) {
    return InvalidArgumentError("tokenizer: " + std::to_string(types.size()) + " token types for " +
                                std::to_string(texts.size()) + " tokens");
  }
  Vocab v;
  v.text_ = std::move(texts);
  v.score_ = scores.empty() ? std::vector<float>(v.text_.size(), 0.0f) : std::move(scores);
  v.type_ = types.empty() ? std::vector<TokenType>(v.text_.size(), TokenType::kNormal) : std::move(types);
  v.BuildIndex();
  return v;
}

StatusOr<Vocab> Vocab::FromGguf(const gguf::GgufFile& file) {
  const std::vector<gguf::Value>* tokens = file.GetArray("tokenizer.ggml.tokens");
  if (tokens == nullptr) {
    return InvalidArgumentError("tokenizer: GGUF has no string array 'tokenizer.ggml.tokens'");
  }
  std::vector<std::string> texts;
  texts.reserve(tokens->size());
  for (size_t i = 0; i < tokens->size(); ++i) {
    const std::string* s = (*tokens)[i].AsString();
    if (s == nullptr) {
      return DataLossError("tokenizer: 'tokenizer.ggml.tokens'[" + std::to_string(i) + "] is not a string");
    }
    texts.push_back(*s);
  }

  std::vector<float> scores;
  if (const std::vector<gguf::Value>* arr = file.GetArray("tokenizer.ggml.scores")) {
    scores.reserve(arr->size());
    for (size_t i = 0; i < arr->size(); ++i) {
      const std::optional<double> f = (*arr)[i].AsFloat();
      if (!f || !std::isfinite(*f)) {
        return DataLossError("tokenizer: 'tokenizer.ggml.scores'[" + std::to_string(i) +
                             "] is not a finite number");
      }
      scores.push_back(static_cast<float>(*f));
    }
  } else if (file.Find("tokenizer.ggml.scores") != nullptr) {
    return DataLossError("tokenizer: 'tokenizer.ggml.scores' is not an array");
  }

  std::vector<TokenType> types;
  if (const std::vector<gguf::Value>* arr = file.GetArray("tokenizer.ggml.token_type")) {
    types.reserve(arr->size());
    for (size_t i = 0; i < arr->size(); ++i) {
      const std::optional<int64_t> t = (*arr)[i].AsInt();
      if (!t || *t < 0 || *t > 6) {
        return DataLossError("tokenizer: 'tokenizer.ggml.token_type'[" + std::to_string(i) +
                             "] is not a token type in 0..6");
      }
      types.push_back(static_cast<TokenType>(*t));
    }
  } else if (file.Find("tokenizer.ggml.token_type") != nullptr) {
    return DataLossError("tokenizer: 'tokenizer.ggml.token_type' is not an array");
  }
  return FromArrays(std::move(texts), std::move(scores), std::move(types));
}

void Vocab::BuildIndex() {
  to_id_.clear();
  to_id_.reserve(text_.size());
  for (size_t i = 0; i < text_.size(); ++i) {
    to_id_.try_emplace(std::string_view(text_[i]), static_cast<int32_t>(i));
  }
}

}  // namespace chunkserve::tokenizer
