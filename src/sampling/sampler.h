// Sampler: turns one step's logits into one token id.
//
// Built from SamplingParams as a chain of LogitsProcessors, run in this order
// (the llama.cpp default order, so that the same params mean the same thing):
//   logit bias -> end-of-generation ban (ignore_eos) -> repetition/presence/
//   frequency penalties -> top-k -> top-p -> min-p -> temperature -> pick.
// With temperature <= 0 the pick is the argmax after bias, ban and penalties
// (truncation cannot change the argmax, so it is skipped). Otherwise the pick
// draws from the softmax of the surviving logits with the Sampler's own
// seeded Rng: same seed, same logits, same Accept() history => same tokens on
// every run and machine.
//
// Usage per generated token:
//   int32_t t = sampler.Sample(logits);   // logits: n_vocab floats, unchanged
//   sampler.Accept(t);                    // feeds the penalty history
//   if (sampler.IsEndOfGeneration(t)) stop;
// Accept() may also be fed prompt tokens so that penalties see them.
//
// Constraint (structured outputs): with SetConstraint(), every pick is a
// token the TokenConstraint allows (an end-of-generation token only where
// it CanEnd()). Sample() first picks as if unconstrained and keeps that
// token when it is allowed (the common case: no mask computed); otherwise
// it computes the allowed set and picks again among the chain's surviving
// candidates that are allowed, or, when none is, runs the chain over the
// allowed tokens only. Greedy: the argmax over allowed tokens. Sampling:
// p(t | allowed) of the chain's distribution p (the two-stage draw has
// exactly that law: p(t) + (1 - p(A)) p(t)/p(A) = p(t)/p(A)). If nothing
// at all is allowed (a grammar no token can continue), the pick is an
// end-of-generation token, or the unconstrained pick when there is none.
// Accept() forwards generated tokens to the constraint; set the constraint
// after feeding prompt tokens.
//
// Invariants: Sample() always returns an id in [0, n_vocab) (NaN logits are
// treated as -inf; if every logit is -inf the lowest id wins greedy and the
// draw is uniform).
// Thread safety: not thread-safe; use one Sampler per sequence.
// REQUIRES: n_vocab > 0; logits.size() == n_vocab for every Sample().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sampling/logits_processor.h"
#include "sampling/rng.h"
#include "sampling/sampling_params.h"
#include "sampling/token_candidates.h"
#include "sampling/token_constraint.h"

namespace chunkserve::sampling {

class Sampler {
 public:
  Sampler(SamplingParams params, int n_vocab);
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;

  // Picks a token from `logits` (n_vocab values; not modified). Does not call
  // Accept(): the caller decides what enters the sequence.
  int32_t Sample(std::span<const float> logits);

  // Speculative decoding: picks a token from `logits` given a guess `draft`
  // made without looking at them, such that the result is distributed as
  // Sample()'s (Leviathan et al.'s rule for a draft that is one token for
  // sure): greedy returns the argmax; otherwise the draft is kept with its
  // probability p(draft), else a token is drawn from p without the draft.
  // The caller compares the result with the draft. Uses one or two Rng
  // draws, so seeded runs differ from Sample()'s (in draws, not in law).
  int32_t SampleAgainstDraft(std::span<const float> logits, int32_t draft);
  // Speculative sampling with a draft drawn from a known distribution `q`
  // (n_vocab probabilities, e.g. a draft model's): the draft is kept with
  // probability min(1, p(draft) / q(draft)), else a token is drawn from
  // norm(max(0, p - q)) (Leviathan et al., Chen et al.), so the result is
  // distributed as Sample()'s whatever q is. Greedy returns the argmax.
  // One or two Rng draws.
  int32_t SampleAgainstDraftDistribution(std::span<const float> logits, int32_t draft, std::span<const float> q);
  // Records a token appended to the sequence (penalty history; the
  // constraint, unless it is an end-of-generation token).
  void Accept(int32_t token);

  // From now on every pick obeys `constraint` (null: none).
  void SetConstraint(std::shared_ptr<TokenConstraint> constraint);
  bool constrained() const { return constraint_ != nullptr; }

  // Forgets the accepted history (the constraint's too) and re-seeds the Rng with params.seed, so a
  // Reset() sampler replays exactly like a new one.
  void Reset();

  // End-of-generation ids (EOS, EOT, <|im_end|>, ...). With
  // params.ignore_eos they are banned from sampling instead.
  void SetEndOfGenerationTokens(std::vector<int32_t> ids);
  bool IsEndOfGeneration(int32_t token) const;
  const std::vector<int32_t>& end_of_generation_tokens() const { return eog_ids_; }

  // Probability of the token returned by the last Sample() under the final
  // distribution it was drawn from (1 for greedy).
  float last_probability() const { return last_p_; }

  const SamplingParams& params() const { return params_; }
  int n_vocab() const { return n_vocab_; }
  // Processor names in chain order, e.g. "logit_bias,penalties,top_k,...".
  std::string ChainDescription() const;

 private:
  void BuildChain();
  // A draw from candidates_ under `norm` (sets last_p_).
  int32_t Draw(const TokenCandidates::Normalizer& norm);
  int32_t SampleUnconstrained(std::span<const float> logits);
  // The pick when the unconstrained one was refused (candidates_ holds the
  // chain's output for `logits` unless the greedy fast path ran).
  int32_t SampleConstrained(std::span<const float> logits);
  // candidates_ = the chain's output for `logits` restricted as Sample()'s
  // law restricts it (the constraint's allowed tokens); false when the
  // constraint allows nothing (then SampleConstrained decides).
  bool FillTargetCandidates(std::span<const float> logits);
  bool IsAllowed(int32_t token);
  // allowed_ for this step (end-of-generation ids included); false when
  // nothing is allowed.
  bool ComputeAllowed();
  // Keeps only allowed candidates (the order, hence `sorted`, is kept).
  void KeepAllowedCandidates();

  SamplingParams params_;
  int n_vocab_;
  std::vector<int32_t> eog_ids_;
  std::vector<std::unique_ptr<LogitsProcessor>> chain_;
  TokenCandidates candidates_;
  Rng rng_;
  float last_p_ = 1.0f;
  std::shared_ptr<TokenConstraint> constraint_;  // this sequence's own
  std::vector<uint8_t> allowed_;  // per token, this step (constrained only)
};

}  // namespace chunkserve::sampling
