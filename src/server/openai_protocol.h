// OpenAI request bodies -> typed, validated specs, and prompts made of
// segments.
//
// ParseCompletionSpec reads /v1/chat/completions (chat = true) and
// /v1/completions bodies: model, messages | prompt, max_tokens
// (max_completion_tokens), temperature [0, 2], top_p (0, 1], seed, stop
// (string or up to 4 strings), n (only 1), stream, stream_options.
// include_usage, presence_penalty / frequency_penalty [-2, 2], and our
// extras top_k, min_p, repetition_penalty, ignore_eos and `documents`. Unknown fields are
// ignored, as OpenAI does; a known field of the wrong type or range is
// InvalidArgument naming it.
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
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/segment.h"
#include "server/http_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::server {

struct Document {
  std::string id;  // may be empty
  std::string text;
};

struct CompletionSpec {
  bool chat = false;
  std::string model;
  std::vector<tokenizer::ChatMessage> messages;  // chat
  std::string prompt_text;                       // completions (text form)
  std::vector<int32_t> prompt_tokens;            // completions (token-id form)
  std::vector<Document> documents;
  std::optional<int64_t> max_tokens;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;  // completions: refused (not supported)
  bool ignore_eos = false;  // extra (vLLM / llama.cpp): run to max_tokens
};

StatusOr<CompletionSpec> ParseCompletionSpec(const Json& body, bool chat);

// Chunk text of one document (see the template above).
std::string DocumentText(const Document& doc);

// Tokenizes the request into segments; BOS is prepended when the model asks
// for it and the text does not start with it.
StatusOr<engine::Prompt> BuildPrompt(const CompletionSpec& spec, const tokenizer::Tokenizer& tokenizer,
                                     const tokenizer::ChatTemplate& chat_template);

int64_t PromptTokens(const engine::Prompt& prompt);

}  // namespace chunkserve::server
