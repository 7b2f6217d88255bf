// BuildRagPrompt: question + retrieved chunks -> a prompt of segments for the
// engine (engine/segment.h), with the numbered sources the answer cites.
//
// Layout (one chat turn rendered with the model's chat template, or plain
// text without one):
//   [prefix]  <template start> system prompt <user turn start> "Sources:\n\n[1] "
//   [chunk]   "<file name>\n<chunk text>\n\n"          source 1
//   [prefix]  "[2] "                                   label of source 2
//   [chunk]   ...                                      source 2
//   ...
//   [tail]    "Question: <question>" <user turn end> <assistant turn start>
// Chunks are in canonical order (document path, then ordinal), not score
// order: the same set of chunks always gives the same prompt, so the prefix
// cache and the chunk cache both apply. A chunk segment holds only the
// chunk's own text and file name (no number, no position), so its tokens,
// and so its chunk-cache key, are the same in every prompt it appears in; the
// numbers live in the small label segments between chunks.
//
// Tokenization: each piece is encoded on its own. Template text is encoded
// with control tokens parsed; chunk text and the question never are (a
// document or a user cannot inject "<|im_end|>"). BOS is added at the front
// when the tokenizer asks for it and the template did not print it.
//
// Thread safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/segment.h"
#include "rag/pipeline/citations.h"
#include "rag/store/store.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::rag {

inline constexpr const char* kDefaultRagSystemPrompt =
    "You answer questions using only the numbered sources given. Cite the sources you use "
    "as [1], [2] right after the statement they support. If the sources do not contain the "
    "answer, say so.";

struct RagPromptOptions {
  std::string system_prompt = kDefaultRagSystemPrompt;
};

struct RagPrompt {
  engine::Prompt segments;
  std::vector<Citation> sources;  // sources[i].number == i + 1
  std::string text;               // the whole prompt as text (for display)
  int64_t n_tokens = 0;
};

// Canonical order: by path, then ordinal.
void SortCanonical(std::vector<SearchHit>* chunks);

// `chat_template` null: plain-text layout ("<system>\n\nSources:\n\n...
// Question: ...\nAnswer:"). chunks are sorted canonically here.
StatusOr<RagPrompt> BuildRagPrompt(std::string_view question, std::vector<SearchHit> chunks,
                                   const tokenizer::Tokenizer& tokenizer,
                                   const tokenizer::ChatTemplate* chat_template,
                                   const RagPromptOptions& options = {});

}  // namespace chunkserve::rag
