#include "rag/pipeline/prompt_fit.h"

#include <algorithm>
#include <string>

namespace chunkserve::rag {

StatusOr<PromptFit> FitRagPrompt(std::string_view question, std::vector<SearchHit> chunks,
                                 const engine::PromptAssembler& assembler, const RagPromptOptions& options,
                                 int64_t max_new_tokens, int64_t n_ctx) {
  PromptFit fit;
  fit.max_new_tokens = max_new_tokens;
  ASSIGN_OR_RETURN(fit.prompt, BuildRagPrompt(question, chunks, assembler, options));
  if (n_ctx <= 0 || fit.prompt.n_tokens + max_new_tokens <= n_ctx) return fit;

  // 1. Fewer sources.
  while (chunks.size() > 1 && fit.prompt.n_tokens + max_new_tokens > n_ctx) {
    chunks.pop_back();
    ++fit.n_sources_dropped;
    ASSIGN_OR_RETURN(fit.prompt, BuildRagPrompt(question, chunks, assembler, options));
  }
  if (fit.prompt.n_tokens + max_new_tokens <= n_ctx) return fit;

  // 2. A shorter answer, down to half the room the template leaves.
  ASSIGN_OR_RETURN(RagPrompt bare, BuildRagPrompt(question, {}, assembler, options));
  const int64_t room = n_ctx - bare.n_tokens;
  // An answer that cannot fit even without sources is the caller's error
  // (as the OpenAI routes answer an over-long max_tokens).
  if (bare.n_tokens + max_new_tokens >= n_ctx)
    return OutOfRangeError("the question and the prompt template (" + std::to_string(bare.n_tokens) +
                           " tokens) plus " + std::to_string(max_new_tokens) +
                           " answer tokens leave no room for a source in the model's context of " +
                           std::to_string(n_ctx) + " tokens");
  const int64_t min_answer = std::max<int64_t>(1, std::min(max_new_tokens, room / 2));
  if (n_ctx - fit.prompt.n_tokens >= min_answer) {
    fit.max_new_tokens = n_ctx - fit.prompt.n_tokens;
    return fit;
  }

  // 3. The best chunk cut to fit next to that answer. Token counts of a
  // cut text shift by a token or two at the seam, so a few rounds.
  fit.max_new_tokens = min_answer;
  if (chunks.empty()) return OutOfRangeError("the prompt does not fit the model's context");
  const tokenizer::Tokenizer& tok = assembler.tokenizer();
  std::vector<int32_t> ids = tok.Encode(chunks[0].chunk.text, /*add_special=*/false, /*parse_special=*/false);
  for (int round = 0; round < 6 && fit.prompt.n_tokens + fit.max_new_tokens > n_ctx; ++round) {
    const int64_t excess = fit.prompt.n_tokens + fit.max_new_tokens - n_ctx;
    const int64_t keep = static_cast<int64_t>(ids.size()) - excess - 2;
    if (keep < 1) return OutOfRangeError("the prompt does not fit the model's context of " + std::to_string(n_ctx) +
                                         " tokens even with one source cut short");
    ids.resize(static_cast<size_t>(keep));
    chunks[0].chunk.text = tok.Decode(ids);
    fit.source_cut = true;
    ASSIGN_OR_RETURN(fit.prompt, BuildRagPrompt(question, chunks, assembler, options));
  }
  if (fit.prompt.n_tokens + fit.max_new_tokens > n_ctx)
    return OutOfRangeError("the prompt does not fit the model's context of " + std::to_string(n_ctx) + " tokens");
  return fit;
}

}  // namespace chunkserve::rag
