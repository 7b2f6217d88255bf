// Generate: `chunkserve generate`'s text completion, a thin layer over the
// engine core's synchronous facade (engine.h) that keeps llama2.c's step
// semantics, so its golden outputs reproduce byte for byte: the sequence
// s_0 .. s_{P-1} is the encoded prompt (BOS first), and `n_steps` counts
// positions including the prompt. Tokens s_1 .. s_{n_steps} are emitted:
// prompt tokens s_1 .. s_{P-1} (as text only when echo_prompt), then sampled
// tokens, each sampled from the logits of the position before it. So at most
// n_steps - P + 1 tokens are sampled and n_steps positions are computed.
// Generation stops early when a sampled token is BOS (llama2.c's sequence
// delimiter) or ends generation (the engine's end-of-generation tokens);
// neither is emitted.
//
// Thread safety: as Engine::Generate.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"
#include "sampling/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::engine {

struct GenerateParams {
  std::string prompt;
  // Positions to compute, prompt included (llama2.c's "steps"); <= 0 means
  // the engine's context. Clamped to the engine's context.
  int64_t n_steps = 256;
  // Generated tokens at most instead (positions then = prompt - 1 + this,
  // clamped to the context); nullopt: n_steps decides.
  std::optional<int64_t> max_new_tokens;
  sampling::SamplingParams sampling;
  bool echo_prompt = false;    // emit the prompt's text before the generated text
  bool parse_special = false;  // recognise control-token text in the prompt
  // Speculative decoding (prompt lookup); nullopt: off. Same tokens.
  std::optional<sched::LookupDraftOptions> lookup_draft;
  // A KV budget for long contexts (kv/kv_policy.h); full by default.
  kv::KvPolicy kv_policy;
};

enum class StopReason { kSteps, kEndOfGeneration, kBos };

struct GenerateResult {
  std::vector<int32_t> tokens;  // the whole sequence: prompt (BOS first) + sampled
  int64_t n_prompt_tokens = 0;
  int64_t n_sampled_tokens = 0;
  int64_t n_steps = 0;  // after clamping
  StopReason stop_reason = StopReason::kSteps;
  RequestStats stats;   // the engine's (zeros when nothing was sampled)
};

// Streams text pieces to `on_text` as they complete (UTF-8 sequences are
// never split). Errors: InvalidArgument for an empty encoded prompt or a
// tokenizer larger than the model, any error the engine reports.
StatusOr<GenerateResult> Generate(Engine& engine, const tokenizer::Tokenizer& tokenizer,
                                  const GenerateParams& params,
                                  const std::function<void(std::string_view)>& on_text);

}  // namespace chunkserve::engine
