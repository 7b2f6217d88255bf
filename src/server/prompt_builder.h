// BuildPrompt: a parsed OpenAI request (openai_protocol.h) -> a prompt of
// segments for the generation backend.
//
// `documents` (extra body field for pipelines that retrieve on their own):
// an array of strings or of {"id", "text"} objects. Each document becomes
// ONE chunk segment (kChunk), so the engine can reuse its KV from the chunk
// cache at any position. Template (documented in docs/architecture.md):
//   each document:   <document id="ID">\nTEXT\n</document>\n
//                    (<document>\nTEXT\n</document>\n without an id)
//   chat:            the LAST user message is rendered through the chat
//                    template as
//                      "Answer the question using these documents.\n\n"
//                      <documents> "\nQuestion: " <original content>
//                    and the rendered prompt is cut into
//                    [prefix: everything before the documents]
//                    [chunk]...[chunk] [tail: the rest];
//   completions:     [chunk]...[chunk] [tail: the prompt].
// A document's tokens depend only on its id and text, never on its place.
//
// Thread safety: stateless functions (the tokenizer and template are
// thread-safe).
#pragma once

#include <string>

#include "base/status.h"
#include "engine/segment.h"
#include "server/openai_protocol.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::server {

// Chunk text of one document (see the template above).
std::string DocumentText(const Document& doc);

// Tokenizes the request into segments; BOS is prepended when the model asks
// for it and the text does not start with it.
StatusOr<engine::Prompt> BuildPrompt(const CompletionSpec& spec, const tokenizer::Tokenizer& tokenizer,
                                     const tokenizer::ChatTemplate& chat_template);

int64_t PromptTokens(const engine::Prompt& prompt);

}  // namespace chunkserve::server
