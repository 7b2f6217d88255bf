// BuildPrompt: a parsed OpenAI request (openai_protocol.h) -> a prompt of
// segments for the engine core, through the engine's PromptAssembler (the
// one template / special-token / BOS policy: message text never becomes
// control tokens).
//
// `documents` (extra body field for pipelines that retrieve on their own):
// an array of strings or of {"id", "text"} objects. Each document becomes
// ONE chunk segment (kChunk), so the engine can reuse its KV from the chunk
// cache at any position. The layout is the RAG route's (rag_prompt.h,
// SourcesMessage), so the same chunks and question give the same prompt on
// /v1/chat/completions and /v1/rag/chat/completions:
//   chat:            the LAST user message becomes
//                      "Sources:\n\n[1] " <ID\nTEXT\n\n> "[2] " ... "Question: " <content>
//                    (a document without an id: TEXT\n\n), rendered through
//                    the chat template and cut into
//                    [prefix][chunk][prefix "[2] "][chunk]...[tail];
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
#include "engine/prompt_assembler.h"
#include "rag/pipeline/rag_prompt.h"

namespace chunkserve::server {

// A document as a source of the layout above.
rag::SourceText DocumentSource(const Document& doc);

// Tokenizes the request into segments (prompt token ids of /v1/completions
// are taken as they are).
StatusOr<engine::Prompt> BuildPrompt(const CompletionSpec& spec, const engine::PromptAssembler& assembler);

int64_t PromptTokens(const engine::Prompt& prompt);

// Tool calling (tool_calls.h): the chat messages as the template gets them.
// A template that reads `tools` gets assistant tool_calls (arguments parsed
// to JSON) and tool_call_id / name as message fields; any other template
// gets our ChatML tool format (calls as <tool_call> text, results as user
// <tool_response> messages, the definitions appended to the system message,
// or a new one, when tools are active).
StatusOr<std::vector<engine::PromptMessage>> ToolMessages(const CompletionSpec& spec,
                                                          const tokenizer::ChatTemplate& chat_template);

// A JSON value as a template value.
tokenizer::jinja::Value JsonToJinja(const Json& j);

}  // namespace chunkserve::server
