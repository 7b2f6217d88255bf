// FitRagPrompt: a RAG prompt that fits the model's context, whatever the
// collection's chunk sizes (issue 20: "the prompt does not fit the model").
//
// Given the ranked chunks, the answer length asked for and the context:
//   1. the lowest-ranked chunks are dropped while more than one is left and
//      prompt + answer exceed the context;
//   2. if the best chunk alone still does not fit, the answer may shrink to
//      what is left, but not below half of the room the template leaves;
//   3. below that, the chunk's text is cut (whole tokens, from its end) so
//      that it fits with that half-room answer.
// So a question always gets an answer from its best source, except when
// the question, the template and the answer length asked for leave no room
// for any source (OutOfRange). The report says what was given up.
//
// Thread safety: a pure function over the assembler (thread-safe).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/prompt_assembler.h"
#include "rag/pipeline/rag_prompt.h"
#include "rag/store/store.h"

namespace chunkserve::rag {

struct PromptFit {
  RagPrompt prompt;
  int64_t max_new_tokens = 0;   // the answer length that fits (<= asked)
  int n_sources_dropped = 0;    // lowest-ranked chunks left out
  bool source_cut = false;      // the best chunk's text was shortened
};

// `chunks` best first (kept ones stay in rank order; the prompt orders them
// canonically). n_ctx <= 0: no limit (nothing dropped or cut).
StatusOr<PromptFit> FitRagPrompt(std::string_view question, std::vector<SearchHit> chunks,
                                 const engine::PromptAssembler& assembler, const RagPromptOptions& options,
                                 int64_t max_new_tokens, int64_t n_ctx);

}  // namespace chunkserve::rag
