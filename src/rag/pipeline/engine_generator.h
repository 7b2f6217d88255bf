// EngineGenerator: AnswerGenerator over the engine core (engine/engine.h:
// paged KV, prefix cache, Cache-Craft chunk cache) through its synchronous
// facade, with the core's prompt assembler rules (the model's chat template,
// else ChatML; see engine/prompt_assembler.h).
//
// Thread safety: Generate may be called from any thread.
// REQUIRES: the engine outlives the generator; it has a tokenizer.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/prompt_assembler.h"
#include "rag/pipeline/answer_generator.h"

namespace chunkserve::rag {

class EngineGenerator final : public AnswerGenerator {
 public:
  // `note` (may be null) receives the template fallback sentence, if any.
  static StatusOr<std::unique_ptr<EngineGenerator>> Create(engine::Engine* engine, std::string* note = nullptr);
  const engine::PromptAssembler& assembler() const override { return assembler_; }
  int64_t context_tokens() const override { return engine_->max_context_tokens(); }
  StatusOr<GeneratedAnswer> Generate(const engine::Prompt& prompt, const GenerationOptions& options,
                                     const std::function<void(std::string_view)>& on_text) override;

 private:
  EngineGenerator(engine::Engine* engine, engine::PromptAssembler assembler)
      : engine_(engine), assembler_(std::move(assembler)) {}
  engine::Engine* engine_;
  engine::PromptAssembler assembler_;
};

}  // namespace chunkserve::rag
