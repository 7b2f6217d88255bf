// AnswerGenerator: what the RAG pipeline needs from a language model: its
// tokenizer and chat template (to build the prompt) and generation over a
// prompt of segments. EngineGenerator (engine_generator.h) implements it
// with engine::Engine, the chunk cache included; tests may implement it with
// a scripted fake.
//
// Thread safety: implementations say; the pipeline calls one at a time.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/segment.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::rag {

struct GeneratedAnswer {
  std::string text;
  int64_t n_prompt_tokens = 0;
  int64_t n_reused_tokens = 0;      // prefix cache + chunk cache
  int64_t n_computed_tokens = 0;
  int64_t n_chunk_hits = 0;         // chunk segments served from the chunk cache
  int64_t n_chunk_misses = 0;
  int64_t n_generated_tokens = 0;
  double ttft_ms = 0;
  double total_ms = 0;
};

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  float temperature = 0.0f;  // greedy by default: answers repeat
  uint64_t seed = 0;
};

class AnswerGenerator {
 public:
  virtual ~AnswerGenerator() = default;
  virtual const tokenizer::Tokenizer& tokenizer() const = 0;
  // Null: plain-text prompt layout.
  virtual const tokenizer::ChatTemplate* chat_template() const = 0;
  // Most tokens (prompt + generated) the model handles; 0: unknown.
  virtual int64_t context_tokens() const { return 0; }
  // Streams text pieces to on_text (may be empty).
  virtual StatusOr<GeneratedAnswer> Generate(const engine::Prompt& prompt, const GenerationOptions& options,
                                             const std::function<void(std::string_view)>& on_text) = 0;
};

}  // namespace chunkserve::rag
