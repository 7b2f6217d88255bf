// Head roles for the headwise KV policy (RazorAttention, DuoAttention): which
// (layer, KV head) pairs are retrieval heads, which read far back in the
// context, and which are streaming heads, for which the attention sinks and
// a recent window suffice.
//
// Calibration, once per model: a random token sequence of kCalibrationTokens
// ids, then the same sequence again, in one forward pass; the second copy's
// queries vote with their attention (kernels/attention_votes.h). Copying heads
// (induction and echo heads, RazorAttention's retrieval heads) put their mass
// on the first copy, beyond the sinks and a window; a pair's score is the
// share of its mass there. The top quarter of the pairs by score (at least
// one) are retrieval heads. The result is cached beside the model file
// (MODEL.heads, a text file keyed by the model fingerprint) when the
// directory is writable, so later processes skip the pass.
//
// Thread safety: CalibrateHeadRoles runs the model; call it from the thread
// that runs the model (the scheduler thread).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/model.h"

namespace chunkserve::model {

struct HeadRoles {
  int n_layers = 0;
  int n_kv_heads = 0;
  std::vector<float> long_range_share;  // (n_layers, n_kv_heads)
  std::vector<uint8_t> retrieval;       // (n_layers, n_kv_heads): 1 = retrieval head

  bool is_retrieval(int layer, int kv_head) const {
    return retrieval[static_cast<size_t>(layer) * static_cast<size_t>(n_kv_heads) + static_cast<size_t>(kv_head)] != 0;
  }
};

inline constexpr int64_t kCalibrationTokens = 256;

// The roles from `cache_path` when it holds this model's (same fingerprint),
// else from a calibration pass, then written there (best effort: a directory
// that cannot be written only costs the next process the pass). An empty
// cache_path skips the file.
StatusOr<HeadRoles> LoadOrCalibrateHeadRoles(const Model& model, const std::string& cache_path);

// The calibration pass alone.
StatusOr<HeadRoles> CalibrateHeadRoles(const Model& model);

}  // namespace chunkserve::model
