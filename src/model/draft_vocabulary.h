// Whether a second model can draft for a model (speculative decoding with a
// draft model, sched/model_drafter.h): its token ids must mean the same
// tokens, or its drafts are nonsense the model rejects.
//
// Thread safety: a pure function of the two files.
#pragma once

#include "base/status.h"
#include "model/model.h"

namespace chunkserve::model {

// OK when `draft` shares `target`'s vocabulary: the same size and, when
// both GGUFs carry tokenizer.ggml.tokens, the same text for every id.
// InvalidArgument naming the first difference otherwise.
Status CheckDraftVocabulary(const Model& target, const Model& draft);

}  // namespace chunkserve::model
