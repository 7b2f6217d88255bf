// SamplingParams: every knob of token selection, in one value struct.
//
// Defaults follow the common llama.cpp defaults so that a user moving from
// there sees the same behaviour. A knob at its "off" value (top_k <= 0,
// top_p >= 1, min_p <= 0, penalties at 1 / 0) removes that step from the
// chain entirely, so a fully "off" chain with temperature 1 samples from the
// model's raw softmax.
//
// Thread safety: a plain value.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "base/status.h"

namespace chunkserve::sampling {

struct SamplingParams {
  // Softmax temperature. <= 0 means greedy (argmax after bias and penalties;
  // the truncation steps and the seed are then irrelevant).
  float temperature = 0.8f;
  int top_k = 40;          // keep the k most likely tokens; <= 0 disables
  float top_p = 0.95f;     // nucleus: smallest set with cumulative p >= top_p; >= 1 disables
  float min_p = 0.05f;     // drop tokens with p < min_p * p_max; <= 0 disables
  int min_keep = 1;        // top-p / min-p never keep fewer than this many tokens

  // Penalties over the last `repeat_last_n` accepted tokens (0 disables, -1
  // means "all accepted tokens so far"). llama.cpp semantics: a repeated
  // token's logit is divided by repeat_penalty when positive, multiplied when
  // negative; then count * frequency_penalty + presence_penalty is subtracted.
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;

  // Added to a token's logit before anything else; -INFINITY bans the token.
  // Ids outside [0, n_vocab) are ignored.
  std::vector<std::pair<int32_t, float>> logit_bias;

  // Same seed + same logits + same accepted tokens => same choices, on every
  // run and machine (the PRNG is our own, not std::).
  uint64_t seed = 0x5EED5EED5EEDull;

  // End of generation: with ignore_eos the Sampler bans every id registered
  // with SetEndOfGenerationTokens so generation runs until its length limit.
  bool ignore_eos = false;
};

// The names the knobs have where they were given (flags or JSON fields), for
// the error messages.
struct SamplingNames {
  const char* temperature = "--temp";
  const char* top_p = "--top-p";
  const char* min_p = "--min-p";
  const char* top_k = "--top-k";
  const char* repeat_penalty = "--repeat-penalty";
  const char* presence_penalty = "--presence-penalty";
  const char* frequency_penalty = "--frequency-penalty";
};

// InvalidArgument naming the first knob outside its range: temperature
// [0, 100], top_p (0, 1], min_p [0, 1], top_k >= 0, repeat_penalty
// [0.01, 10], presence/frequency penalties [-2, 2]; NaN and infinities
// never pass. (The HTTP routes check the same ranges on their own fields.)
Status ValidateSamplingParams(const SamplingParams& params, const SamplingNames& names = {});

}  // namespace chunkserve::sampling
