// PromptAssembler: the one place a decoder prompt is built from messages, for
// every path (`chat`, `ask`, /v1/chat/completions, /v1/completions,
// /v1/rag/chat/completions), so the same question over the same model gives
// the same tokens wherever it is asked.
//
// It owns the three rules that used to be written three times:
//   - Template choice (ChooseChatTemplate): an explicit one (--template-file,
//     --chatml), else the GGUF's tokenizer.chat_template, else ChatML, and
//     the fallback is said in one sentence (TemplateChoice::note).
//   - Special-token policy: text from users and documents never becomes
//     control tokens; only the template's own markup does. Each message is
//     rendered with a marker in place of every part of its content; the
//     markers are then replaced by the parts, whose byte ranges the tokenizer
//     treats as plain text (Tokenizer::EncodeTemplated). A template that
//     drops, repeats or reorders a part (so the markers do not come back once
//     each, in order) is refused with InvalidArgument.
//   - BOS: prepended when the model adds BOS and the rendering did not print
//     it.
// Segments: parts of kind kChunk become kChunk segments, encoded on their own
// (their tokens, and so their chunk-cache key, never depend on what is around
// them); the text between them is encoded as whole runs: the run before the
// first chunk is a kPrefix segment, runs between chunks kPrefix segments, the
// run after the last chunk the kTail. A prompt without chunks is one kTail
// segment.
//
// Thread safety: const methods may be called from any thread.
// REQUIRES: the tokenizer outlives the assembler.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/segment.h"
#include "gguf/gguf_file.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::engine {

struct PromptPart {
  enum class Kind {
    kText,   // inline text (a user's words, a label)
    kChunk,  // a cacheable, position-independent segment (a document, a retrieved chunk)
  };
  Kind kind = Kind::kText;
  std::string text;
};

struct PromptMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::vector<PromptPart> parts;
  // Tool calling, passed to the template as tokenizer::ChatMessage's fields.
  tokenizer::jinja::Value tool_calls;
  std::string tool_call_id;
  std::string name;

  static PromptMessage Text(std::string role, std::string text) {
    PromptMessage m;
    m.role = std::move(role);
    m.parts.push_back(PromptPart{PromptPart::Kind::kText, std::move(text)});
    return m;
  }
};

struct AssembledPrompt {
  Prompt segments;
  std::string text;  // the rendered prompt (for display; BOS not included)
  int64_t n_tokens = 0;
};

struct TemplateChoice {
  tokenizer::ChatTemplate chat_template;
  std::string note;  // non-empty when a fallback was taken: one sentence for the user
};

// `template_file_source`: the text of a --template-file (nullopt: none);
// `chatml`: --chatml. Errors: a template that does not parse (naming its
// origin and the way out).
StatusOr<TemplateChoice> ChooseChatTemplate(const gguf::GgufFile& file, const tokenizer::Tokenizer& tokenizer,
                                            const std::optional<std::string>& template_file_source = std::nullopt,
                                            bool chatml = false);

class PromptAssembler {
 public:
  PromptAssembler(const tokenizer::Tokenizer* tokenizer, tokenizer::ChatTemplate chat_template)
      : tokenizer_(tokenizer), template_(std::move(chat_template)) {}

  // Renders a conversation through the chat template (with the assistant's
  // generation prompt when add_generation_prompt).
  // `tools`: the template's `tools` variable (undefined: none).
  StatusOr<AssembledPrompt> Chat(std::span<const PromptMessage> messages, bool add_generation_prompt = true,
                                 const tokenizer::jinja::Value& tools = {}) const;
  // A raw completion prompt (no template): the parts in order, user text
  // plain, BOS as above.
  AssembledPrompt Raw(std::span<const PromptPart> parts) const;

  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const tokenizer::ChatTemplate& chat_template() const { return template_; }

 private:
  // Encodes `text`, whose `parts` sit at the given byte ranges, into segments.
  AssembledPrompt Encode(const std::string& text, std::span<const PromptPart> parts,
                         std::span<const tokenizer::TextRange> ranges) const;

  const tokenizer::Tokenizer* tokenizer_;
  tokenizer::ChatTemplate template_;
};

}  // namespace chunkserve::engine
