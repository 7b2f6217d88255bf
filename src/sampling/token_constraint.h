// TokenConstraint: a rule on which tokens a sequence may generate next
// (structured outputs: a JSON schema or a grammar), consulted by the
// Sampler where it picks a token.
//
// The Sampler owns the end-of-generation rule: an end-of-generation token
// is allowed exactly when CanEnd(); every other token is asked of the
// constraint. The creator gives the constraint the vocabulary's token bytes
// (server/engine build them with the tokenizer), so sampling/ needs no
// tokenizer.
//
// Thread safety: not thread-safe; one constraint per sequence, used by the
// thread that samples it.
#pragma once

#include <cstdint>
#include <span>

namespace chunkserve::sampling {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Whether `token` (not an end-of-generation token) may come next.
  virtual bool Allows(int32_t token) = 0;
  // allowed[t] = 1 for every token that may come next, else 0 (all n_vocab
  // entries written; end-of-generation tokens are the Sampler's business).
  virtual void FillAllowed(std::span<uint8_t> allowed) = 0;
  // The text so far is complete: generation may end here.
  virtual bool CanEnd() const = 0;
  // Records a generated token; a refused one leaves the state unchanged.
  virtual void Accept(int32_t token) = 0;
  // Back to the state before any Accept().
  virtual void Reset() = 0;
};

}  // namespace chunkserve::sampling
