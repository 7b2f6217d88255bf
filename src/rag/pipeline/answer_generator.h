// AnswerGenerator: what the RAG pipeline needs from a language model: the
// engine's prompt assembler (template, special-token policy, BOS) and
// generation over a prompt of segments. EngineGenerator (engine_generator.h) implements it
// with engine::Engine, the chunk cache included; tests may implement it with
// a scripted fake.
//
// Thread safety: implementations say; the pipeline calls one at a time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/segment.h"
#include "kv/kv_policy.h"
#include "sched/prompt_lookup.h"
#include "sched/request_stats.h"
#include "engine/prompt_assembler.h"

namespace chunkserve::rag {

struct GeneratedAnswer {
  std::string text;
  sched::RequestStats stats;  // the engine core's, unchanged
};

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  float temperature = 0.0f;  // greedy by default: answers repeat
  uint64_t seed = 0;
  // Speculative decoding with prompt-lookup drafts (same output; answers
  // that quote their sources decode faster); nullopt: off.
  std::optional<sched::LookupDraftOptions> lookup_draft;
  // A KV budget for long contexts (kv/kv_policy.h); full by default.
  kv::KvPolicy kv_policy;
};

class AnswerGenerator {
 public:
  virtual ~AnswerGenerator() = default;
  virtual const engine::PromptAssembler& assembler() const = 0;
  // Most tokens (prompt + generated) the model handles; 0: unknown.
  virtual int64_t context_tokens() const { return 0; }
  // Streams text pieces to on_text (may be empty).
  virtual StatusOr<GeneratedAnswer> Generate(const engine::Prompt& prompt, const GenerationOptions& options,
                                             const std::function<void(std::string_view)>& on_text) = 0;
};

}  // namespace chunkserve::rag
