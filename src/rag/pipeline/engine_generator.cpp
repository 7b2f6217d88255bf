#include "rag/pipeline/engine_generator.h"

namespace chunkserve::rag {

StatusOr<std::unique_ptr<EngineGenerator>> EngineGenerator::Create(model::Model* model,
                                                                   const engine::EngineOptions& options) {
  std::unique_ptr<EngineGenerator> g(new EngineGenerator());
  ASSIGN_OR_RETURN(g->tokenizer_, tokenizer::Tokenizer::FromGguf(model->file()));
  if (auto source = model->file().GetString("tokenizer.chat_template")) {
    auto text = [&](std::optional<int32_t> id) {
      return id ? std::string(g->tokenizer_->TokenText(*id)) : std::string();
    };
    auto t = tokenizer::ChatTemplate::FromJinja(*source, text(g->tokenizer_->bos_id()), text(g->tokenizer_->eos_id()));
    if (t.ok()) g->chat_template_ = std::move(*t);
  }
  ASSIGN_OR_RETURN(g->engine_, engine::Engine::Create(model, options));
  g->n_ctx_ = model->hparams().n_ctx_train;
  return g;
}

StatusOr<GeneratedAnswer> EngineGenerator::Generate(const engine::Prompt& prompt, const GenerationOptions& options,
                                                    const std::function<void(std::string_view)>& on_text) {
  engine::RequestParams params;
  params.max_new_tokens = options.max_new_tokens;
  params.sampling.temperature = options.temperature;
  params.sampling.seed = options.seed;
  GeneratedAnswer out;
  tokenizer::StreamingDetokenizer detok(*tokenizer_);
  ASSIGN_OR_RETURN(engine::RequestResult r, engine_->Generate(prompt, params, [&](int32_t token) {
    const std::string piece = detok.Push(token);
    out.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    return true;
  }));
  const std::string rest = detok.Flush();
  out.text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  const engine::RequestStats& s = r.stats;
  out.n_prompt_tokens = s.n_prompt_tokens;
  out.n_reused_tokens = s.n_prefix_reused_tokens + s.n_chunk_reused_tokens;
  out.n_computed_tokens = s.n_computed_tokens;
  out.n_chunk_hits = s.n_chunk_ram_hits + s.n_chunk_disk_hits;
  out.n_chunk_misses = s.n_chunk_misses;
  out.n_generated_tokens = s.n_generated_tokens;
  out.ttft_ms = s.ttft_ms;
  out.total_ms = s.total_ms;
  return out;
}

}  // namespace chunkserve::rag
