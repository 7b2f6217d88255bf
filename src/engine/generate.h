// Generate: the simple single-sequence generation loop (prompt -> prefill ->
// decode -> streamed text), used by `chunkserve generate` and `bench` until
// the batched, paged-KV Engine (later issues) replaces it.
//
// Step semantics follow llama2.c, so its golden outputs reproduce byte for
// byte: the sequence s_0 .. s_{P-1} is the encoded prompt (BOS first), and
// `n_steps` counts positions including the prompt. Tokens s_1 .. s_{n_steps}
// are emitted: prompt tokens s_1 .. s_{P-1} (as text only when echo_prompt),
// then sampled tokens, each sampled from the logits of the position before
// it. So at most n_steps - P + 1 tokens are sampled and n_steps positions
// are computed. Generation stops early when a sampled token is BOS (llama2.c's
// sequence delimiter) or ends generation (EOS/EOT); neither is emitted.
//
// The prompt is prefilled in Forward calls of prefill_slice_tokens (one
// matrix-matrix product per weight each), then each step decodes one token.
//
// Thread safety: uses the model's Forward; one Generate per model at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/model.h"
#include "sampling/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::engine {

struct GenerateParams {
  std::string prompt;
  // Positions to compute, prompt included (llama2.c's "steps"); <= 0 means
  // the model's context length. Clamped to the context length.
  int64_t n_steps = 256;
  sampling::SamplingParams sampling;
  bool echo_prompt = false;  // emit the prompt's text before the generated text
  bool parse_special = false;  // recognise control-token text in the prompt
  // Tokens per prefill Forward call: large enough for the matrix-matrix
  // kernels to run at full speed, small enough to bound scratch memory.
  int64_t prefill_slice_tokens = 512;
};

enum class StopReason { kSteps, kEndOfGeneration, kBos };

struct GenerateResult {
  std::vector<int32_t> tokens;  // the whole sequence: prompt (BOS first) + sampled
  int64_t n_prompt_tokens = 0;
  int64_t n_sampled_tokens = 0;
  int64_t n_steps = 0;          // after clamping
  double prefill_seconds = 0;   // the prompt's Forward
  double decode_seconds = 0;    // every later Forward + sampling
  int64_t n_decode_forwards = 0;
  StopReason stop_reason = StopReason::kSteps;
};

// Streams text pieces to `on_text` as they complete (UTF-8 sequences are
// never split). Errors: InvalidArgument for an empty encoded prompt, any
// error Forward reports.
StatusOr<GenerateResult> Generate(model::Model& model, const tokenizer::Tokenizer& tokenizer,
                                  const GenerateParams& params,
                                  const std::function<void(std::string_view)>& on_text);

}  // namespace chunkserve::engine
