// OpenAI request bodies -> typed, validated specs (no tokenizer involved:
// prompt_builder.h turns a spec into segments).
//
// ParseCompletionSpec reads /v1/chat/completions (chat = true) and
// /v1/completions bodies: model, messages | prompt, max_tokens
// (max_completion_tokens wins when both are given), temperature [0, 2],
// top_p (0, 1], seed, stop (string or up to 4 strings), n [1, 8] (choices
// sampled independently, seed + i when seeded; streamed too), stream, stream_options.
// include_usage, presence_penalty / frequency_penalty [-2, 2], logit_bias
// ({"token id": bias in [-100, 100]}), logprobs (chat: true/false with
// top_logprobs [0, 20]; completions: an integer [0, 5]), and our extras
// top_k, min_p, repetition_penalty, ignore_eos, `documents`, `speculate`
// ("off" | "lookup", or a boolean), `recompute_fraction` ([0, 1]: the share
// of reused chunk KV recomputed in context; absent: the server's
// --recompute) and `kv_policy` (kv_policy_field.h). Fields that do not change the output
// (user, store, metadata, service_tier, parallel_tool_calls without tools,
// ...) and unknown fields are ignored; a known field of the wrong type or
// range is InvalidArgument naming it. Fields that would change the output
// and are not supported are refused by name (functions,
// function_call, audio, modalities other than ["text"], prediction,
// web_search_options, reasoning_effort, best_of > 1, suffix, echo).
//
// `documents`: see prompt_builder.h for how they become chunk segments.
//
// Structured outputs: `response_format` {"type": "text"} (the default),
// {"type": "json_object"} or {"type": "json_schema", "json_schema":
// {"name", "schema", "strict"}} (json_schema_grammar.h: an unsupported
// schema keyword is InvalidArgument naming it), or our extra `grammar`, a
// GBNF text (llama.cpp's syntax), become `grammar`. Either constrains every
// sampled token; `ignore_eos` with them is refused (the grammar decides
// where the text ends).
//
// Tool calling: `tools`, `tool_choice`, `parallel_tool_calls`; assistant
// messages may carry `tool_calls` (content null), "tool" messages a
// `tool_call_id` (tool_calls.h).
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "server/http_util.h"
#include "server/speculation_policy.h"
#include "server/tool_calls.h"
#include "tokenizer/chat_template.h"

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
  // Extra: speculative decoding asked for (true) or refused (false); nullopt:
  // the server's default (speculation_policy.h).
  std::optional<SpeculateRequest> speculate;
  std::optional<double> recompute_fraction;  // extra; nullopt: the server's
  // GBNF the output must match (from response_format or `grammar`); empty:
  // unconstrained.
  std::string grammar;
  // Tool calling (tool_calls.h): the request's tools, and per message the
  // assistant's `tool_calls` as sent (null when none); a "tool" message's
  // tool_call_id and name are in its ChatMessage.
  ToolRequest tools;
  std::vector<Json> message_tool_calls;
  int64_t n = 1;
  // >= 0: report logprobs with this many alternatives per token; -1: none.
  int top_logprobs = -1;
  std::vector<std::pair<int32_t, float>> logit_bias;
};

StatusOr<CompletionSpec> ParseCompletionSpec(const Json& body, bool chat);

// The `speculate` extra of a request body (also the RAG route's): nullopt
// when absent or null; InvalidArgument for anything but "off", "lookup",
// "draft" or a boolean.
StatusOr<std::optional<SpeculateRequest>> ParseSpeculateField(const Json& body);

// The `recompute_fraction` extra (also the RAG route's): nullopt when absent
// or null; InvalidArgument unless a number in [0, 1].
StatusOr<std::optional<double>> ParseRecomputeField(const Json& body);

}  // namespace chunkserve::server
