// GemFilter: an early layer's attention picks the prompt tokens the full
// model then processes. The first layers of a long prompt are run alone; the
// prompt's last token votes at the filter layer (its attention probabilities,
// summed over the heads), and the first token, the last one and the
// highest-voted rest are kept, n_keep in all, in their order. The kept
// tokens are then a new, shorter prompt (positions 0, 1, ...), as GemFilter
// feeds its selection back to the model: time to first token and the cache
// both shrink with it.
//
// The filter layer defaults to 2/5 of the depth (GemFilter found layers 13-19
// of 32-42-layer models to retrieve best); what it can find depends on the
// last prompt token already attending to the answer's evidence there.
//
// Thread safety: runs the model: call it from the thread that runs it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "model/model.h"

namespace chunkserve::model {

int64_t GemFilterLayer(const HParams& hp);

// Indices into prompt, ascending, n_keep of them (all when the prompt is
// not longer). Runs layers [0, layer] over the prompt in slices of 512.
StatusOr<std::vector<int64_t>> GemFilterSelect(Model& model, std::span<const int32_t> prompt, int64_t n_keep,
                                               int64_t layer);

}  // namespace chunkserve::model
