#include "rag/pipeline/rag_pipeline.h"

#include "base/clock.h"
#include "rag/pipeline/extractive_answer.h"
#include "rag/pipeline/prompt_fit.h"

namespace chunkserve::rag {

StatusOr<AskResult> RagPipeline::Ask(std::string_view question, const AskParams& params,
                                     const std::function<void(std::string_view)>& on_text) {
  Stopwatch total;
  AskResult result;
  RetrieveParams rp = params.retrieve;
  if (!params.force_mode) rp.mode = (embedder_ && dense_) ? RetrievalMode::kHybrid : RetrievalMode::kBm25;
  Retriever retriever(store_, collection_id_, embedder_, dense_);
  Stopwatch sw;
  ASSIGN_OR_RETURN(result.retrieved, retriever.Retrieve(question, rp));
  result.retrieve_ms = sw.ElapsedMillis();
  result.extractive = params.extractive || generator_ == nullptr;

  if (result.retrieved.empty()) {
    result.answer = kNoSourcesAnswer;
    if (on_text) on_text(result.answer);
    result.total_ms = total.ElapsedMillis();
    return result;
  }
  std::vector<SearchHit> hits;
  for (const RetrievedChunk& r : result.retrieved) hits.push_back(r.hit);

  if (result.extractive) {
    // Sources numbered in rank order (the best first), as the reader expects.
    for (size_t i = 0; i < hits.size(); ++i) {
      result.sources.push_back(CitationOf(hits[i], static_cast<int>(i) + 1));
    }
    const CollectionTransform* transform = dense_ ? &dense_->transform() : nullptr;
    ASSIGN_OR_RETURN(ExtractiveResult ex, ExtractiveAnswer(question, hits, dense_ ? embedder_ : nullptr, transform,
                                                           params.max_sentences, params.retrieve.embed_control));
    result.answer = ex.text.empty() ? "The retrieved passages contain no sentence about the question." : ex.text;
    result.evidence = std::move(ex.sentences);
    if (on_text) on_text(result.answer);
  } else {
    // The store counts tokens approximately; the model's own count decides
    // what fits its context (prompt_fit.h).
    ASSIGN_OR_RETURN(PromptFit fit, FitRagPrompt(question, hits, generator_->assembler(), params.prompt,
                                                 params.generation.max_new_tokens, generator_->context_tokens()));
    result.retrieved.erase(result.retrieved.end() - fit.n_sources_dropped, result.retrieved.end());
    result.n_sources_dropped = fit.n_sources_dropped;
    result.source_cut = fit.source_cut;
    result.sources = fit.prompt.sources;
    result.prompt_text = fit.prompt.text;
    GenerationOptions generation = params.generation;
    generation.max_new_tokens = fit.max_new_tokens;
    result.max_new_tokens = fit.max_new_tokens;
    ASSIGN_OR_RETURN(result.generation, generator_->Generate(fit.prompt.segments, generation, on_text));
    result.answer = result.generation.text;
  }
  result.cited = FindCitations(result.answer, static_cast<int>(result.sources.size()));
  result.total_ms = total.ElapsedMillis();
  return result;
}

}  // namespace chunkserve::rag
