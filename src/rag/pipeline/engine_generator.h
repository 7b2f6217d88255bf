// EngineGenerator: AnswerGenerator over engine::Engine (paged KV, prefix
// cache, Cache-Craft chunk cache). The chat template is the model's
// (tokenizer.chat_template) when it parses, else none (plain layout).
//
// Thread safety: Generate may be called from any thread; the Engine runs
// requests one at a time.
#pragma once

#include <memory>
#include <optional>

#include "engine/engine.h"
#include "model/model.h"
#include "rag/pipeline/answer_generator.h"

namespace chunkserve::rag {

class EngineGenerator final : public AnswerGenerator {
 public:
  // REQUIRES: model outlives the generator.
  static StatusOr<std::unique_ptr<EngineGenerator>> Create(model::Model* model,
                                                           const engine::EngineOptions& options);
  const tokenizer::Tokenizer& tokenizer() const override { return *tokenizer_; }
  const tokenizer::ChatTemplate* chat_template() const override {
    return chat_template_ ? &*chat_template_ : nullptr;
  }
  int64_t context_tokens() const override { return n_ctx_; }
  StatusOr<GeneratedAnswer> Generate(const engine::Prompt& prompt, const GenerationOptions& options,
                                     const std::function<void(std::string_view)>& on_text) override;
  engine::Engine& engine() { return *engine_; }

 private:
  EngineGenerator() = default;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::optional<tokenizer::ChatTemplate> chat_template_;
  std::unique_ptr<engine::Engine> engine_;
  int64_t n_ctx_ = 0;
};

}  // namespace chunkserve::rag
