// BuildRagPrompt: question + retrieved chunks -> a prompt of segments for the
// engine (engine/segment.h), with the numbered sources the answer cites.
//
// Layout (one chat turn rendered through the engine's PromptAssembler, i.e.
// the model's chat template or the ChatML fallback):
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
// Tokenization, special tokens and BOS: the assembler's rules
// (engine/prompt_assembler.h): chunk segments are encoded on their own; chunk
// text and the question never become control tokens (a document or a user
// cannot inject "<|im_end|>").
//
// Thread safety: pure function.
#pragma once

#include <string>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/segment.h"
#include "rag/pipeline/citations.h"
#include "rag/store/store.h"
#include "engine/prompt_assembler.h"

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

// One source of a prompt: a name (a file name, a document id; may be empty)
// and its text.
struct SourceText {
  std::string name;
  std::string text;
};

// The one sources layout, shared with /v1/chat/completions `documents` so
// that the same chunks and question give the same prompt on every route:
// the user message "Sources:\n\n[1] " <chunk: SourceBody> "[2] " ... "Question: "
// <question>, each source's body a chunk part.
engine::PromptMessage SourcesMessage(std::string_view question, std::span<const SourceText> sources);
// "<name>\n<text>\n\n" ("<text>\n\n" without a name): a chunk segment's text.
std::string SourceBody(const SourceText& source);

// `chunks` are sorted canonically here.
StatusOr<RagPrompt> BuildRagPrompt(std::string_view question, std::vector<SearchHit> chunks,
                                   const engine::PromptAssembler& assembler, const RagPromptOptions& options = {});

}  // namespace chunkserve::rag
