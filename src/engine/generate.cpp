#include "engine/generate.h"

#include <algorithm>

namespace chunkserve::engine {

StatusOr<GenerateResult> Generate(Engine& engine, const tokenizer::Tokenizer& tokenizer,
                                  const GenerateParams& params,
                                  const std::function<void(std::string_view)>& on_text) {
  if (tokenizer.n_vocab() > engine.model().hparams().n_vocab)
    return InvalidArgumentError("generate: tokenizer has " + std::to_string(tokenizer.n_vocab()) +
                                " tokens but the model only " + std::to_string(engine.model().hparams().n_vocab));
  GenerateResult result;
  result.tokens = tokenizer.Encode(params.prompt, /*add_special=*/true, params.parse_special);
  if (result.tokens.empty())
    return InvalidArgumentError("generate: the prompt encodes to no tokens (no BOS in this vocabulary?)");
  const auto n_prompt = static_cast<int64_t>(result.tokens.size());
  result.n_prompt_tokens = n_prompt;
  const int64_t n_ctx = engine.max_context_tokens();
  const int64_t asked_steps = params.max_new_tokens ? n_prompt - 1 + *params.max_new_tokens : params.n_steps;
  // Streaming (rolling positions) goes on past the context; the prompt
  // itself still has to fit.
  const bool unbounded = params.kv_policy.rolling_positions() && asked_steps > 0;
  const int64_t n_steps = asked_steps <= 0 ? n_ctx : unbounded ? asked_steps : std::min(asked_steps, n_ctx);
  result.n_steps = n_steps;

  // The detokenizer sees every token (so the SPM leading-space rule applies
  // at the true start), but prompt text is only passed on when echoing.
  tokenizer::StreamingDetokenizer detok(tokenizer);
  auto emit = [&](int32_t id, bool visible) {
    std::string text = detok.Push(id);
    if (visible && !text.empty()) on_text(text);
  };
  emit(result.tokens[0], params.echo_prompt);
  // Prompt tokens past n_steps are never reached (llama2.c semantics).
  const int64_t n_echo = std::min(n_prompt - 1, n_steps);
  for (int64_t i = 1; i <= n_echo; ++i) emit(result.tokens[static_cast<size_t>(i)], params.echo_prompt);
  if (n_steps < n_prompt) {
    result.tokens.resize(static_cast<size_t>(n_steps + 1));
    std::string rest = detok.Flush();
    if (params.echo_prompt && !rest.empty()) on_text(rest);
    return result;
  }

  RequestParams rp;
  rp.sampling = params.sampling;
  rp.lookup_draft = params.lookup_draft;
  rp.kv_policy = params.kv_policy;
  // Position pos's logits pick s_{pos+1}; the last pick is s_{n_steps}.
  rp.max_new_tokens = n_steps - n_prompt + 1;
  rp.end_of_generation = engine.end_of_generation();
  const std::optional<int32_t> bos = tokenizer.bos_id();
  if (bos) rp.end_of_generation.push_back(*bos);
  Prompt prompt{Segment{SegmentKind::kTail, result.tokens}};
  ASSIGN_OR_RETURN(RequestResult r, engine.Generate(prompt, rp, [&](int32_t token) {
    emit(token, true);  // the core's thread; Generate waits for it
    return true;
  }));
  result.tokens.insert(result.tokens.end(), r.tokens.begin(), r.tokens.end());
  result.n_sampled_tokens = static_cast<int64_t>(r.tokens.size());
  result.stats = r.stats;
  if (r.finish == FinishReason::kEndOfGeneration)
    result.stop_reason = bos && r.end_token == *bos ? StopReason::kBos : StopReason::kEndOfGeneration;
  std::string rest = detok.Flush();
  if (!rest.empty()) on_text(rest);
  return result;
}

}  // namespace chunkserve::engine
