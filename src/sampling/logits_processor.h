// LogitsProcessor: one step of the sampling chain (bias, penalties, top-k,
// top-p, min-p, temperature, ...). A Sampler runs its processors in order over
// a TokenCandidates set, then picks one token from what remains.
//
// Invariants every processor keeps: it never empties a non-empty candidate
// set (at least one token survives), and it leaves `sorted` / `probs_valid`
// truthful.
//
// Thread safety: not thread-safe; processors are owned by one Sampler.
#pragma once

#include <cstdint>
#include <string_view>

#include "sampling/token_candidates.h"

namespace chunkserve::sampling {

class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  virtual std::string_view name() const = 0;
  // Rewrites or narrows `candidates`.
  virtual void Apply(TokenCandidates& candidates) = 0;
  // Told every token appended to the sequence (prompt tokens too, if the
  // caller wants them penalised). Stateless processors ignore it.
  virtual void Accept(int32_t token) {}
  // Forgets accepted history (start of a new sequence).
  virtual void Reset() {}
};

}  // namespace chunkserve::sampling
