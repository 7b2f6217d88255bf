#include "rag/pipeline/engine_generator.h"

namespace chunkserve::rag {

StatusOr<std::unique_ptr<EngineGenerator>> EngineGenerator::Create(engine::Engine* engine, std::string* note) {
  const tokenizer::Tokenizer* tok = engine->tokenizer();
  if (tok == nullptr) return InvalidArgumentError("the model's GGUF has no tokenizer: it cannot answer questions");
  ASSIGN_OR_RETURN(engine::TemplateChoice choice, engine::ChooseChatTemplate(engine->model().file(), *tok));
  if (note != nullptr) *note = choice.note;
  return std::unique_ptr<EngineGenerator>(
      new EngineGenerator(engine, engine::PromptAssembler(tok, std::move(choice.chat_template))));
}

StatusOr<GeneratedAnswer> EngineGenerator::Generate(const engine::Prompt& prompt, const GenerationOptions& options,
                                                    const std::function<void(std::string_view)>& on_text) {
  engine::RequestParams params;
  params.max_new_tokens = options.max_new_tokens;
  params.sampling.temperature = options.temperature;
  params.sampling.seed = options.seed;
  params.lookup_draft = options.lookup_draft;
  params.kv_policy = options.kv_policy;
  GeneratedAnswer out;
  tokenizer::StreamingDetokenizer detok(assembler_.tokenizer());
  ASSIGN_OR_RETURN(engine::RequestResult r, engine_->Generate(prompt, params, [&](int32_t token) {
    const std::string piece = detok.Push(token);
    out.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    return true;
  }));
  const std::string rest = detok.Flush();
  out.text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  out.stats = r.stats;
  return out;
}

}  // namespace chunkserve::rag
