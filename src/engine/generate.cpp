#include "engine/generate.h"

#include <algorithm>

#include "base/clock.h"
#include "sampling/sampler.h"

namespace chunkserve::engine {

StatusOr<GenerateResult> Generate(model::Model& model, const tokenizer::Tokenizer& tokenizer,
                                  const GenerateParams& params,
                                  const std::function<void(std::string_view)>& on_text) {
  const model::HParams& hp = model.hparams();
  if (tokenizer.n_vocab() > hp.n_vocab)
    return InvalidArgumentError("generate: tokenizer has " + std::to_string(tokenizer.n_vocab()) +
                                " tokens but the model only " + std::to_string(hp.n_vocab));
  GenerateResult result;
  result.tokens = tokenizer.Encode(params.prompt, /*add_special=*/true, params.parse_special);
  if (result.tokens.empty())
    return InvalidArgumentError("generate: the prompt encodes to no tokens (no BOS in this vocabulary?)");
  const int64_t n_prompt = static_cast<int64_t>(result.tokens.size());
  result.n_prompt_tokens = n_prompt;

  const int64_t n_ctx = hp.n_ctx_train > 0 ? hp.n_ctx_train : std::max<int64_t>(n_prompt, 4096);
  int64_t n_steps = params.n_steps <= 0 ? n_ctx : std::min(params.n_steps, n_ctx);
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

  auto kv = model.NewKvCache(n_steps);
  sampling::Sampler sampler(params.sampling, static_cast<int>(hp.n_vocab));
  std::vector<int32_t> eog;
  for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) {
    if (tokenizer.IsEndOfGeneration(id)) eog.push_back(id);
  }
  sampler.SetEndOfGenerationTokens(std::move(eog));
  for (int32_t t : result.tokens) sampler.Accept(t);
  const std::optional<int32_t> bos = tokenizer.bos_id();

  model::Logits logits;
  Stopwatch watch;
  // Prefill in slices so the forward pass's scratch (which grows with the
  // tokens per call) stays bounded for long prompts.
  const int64_t slice = std::max<int64_t>(1, params.prefill_slice_tokens);
  for (int64_t begin = 0; begin < n_prompt; begin += slice) {
    const int64_t n = std::min(slice, n_prompt - begin);
    model::SequenceBatch seq{.kv = kv.get(),
                             .tokens = std::span<const int32_t>(result.tokens).subspan(static_cast<size_t>(begin),
                                                                                       static_cast<size_t>(n)),
                             .first_slot = begin,
                             .positions = {},
                             .logits = begin + n == n_prompt ? model::LogitsMode::kLast : model::LogitsMode::kNone};
    RETURN_IF_ERROR(model.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits));
  }
  result.prefill_seconds = watch.ElapsedSeconds();
  watch.Reset();

  // Position pos's logits pick s_{pos+1}; the last pick is s_{n_steps}.
  for (int64_t pos = n_prompt - 1;; ++pos) {
    const int32_t next = sampler.Sample(logits.Row(0));
    if (bos && next == *bos) {
      result.stop_reason = StopReason::kBos;
      break;
    }
    if (sampler.IsEndOfGeneration(next)) {
      result.stop_reason = StopReason::kEndOfGeneration;
      break;
    }
    sampler.Accept(next);
    result.tokens.push_back(next);
    ++result.n_sampled_tokens;
    emit(next, true);
    if (pos + 1 >= n_steps) break;
    model::SequenceBatch seq{.kv = kv.get(), .tokens = std::span<const int32_t>(&result.tokens.back(), 1),
                             .first_slot = pos + 1, .positions = {}, .logits = model::LogitsMode::kLast};
    RETURN_IF_ERROR(model.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits));
    ++result.n_decode_forwards;
  }
  result.decode_seconds = watch.ElapsedSeconds();
  std::string rest = detok.Flush();
  if (!rest.empty()) on_text(rest);
  return result;
}

}  // namespace chunkserve::engine
