#include "server/prompt_builder.h"

#include <algorithm>

namespace chunkserve::server {
namespace {

constexpr char kDocumentsIntro[] = "Answer the question using these documents.\n\n";
constexpr char kQuestionLead[] = "\nQuestion: ";
// Stands for the documents while the chat template renders; cut out after.
constexpr char kMarker[] = "\x1e\x1f" "chunkserve-documents" "\x1f\x1e";

std::vector<int32_t> Encode(const tokenizer::Tokenizer& tok, const std::string& text, bool parse_special) {
  return tok.Encode(text, /*add_special=*/false, parse_special);
}

}  // namespace

std::string DocumentText(const Document& doc) {
  std::string s = doc.id.empty() ? "<document>\n" : "<document id=\"" + doc.id + "\">\n";
  s += doc.text;
  s += "\n</document>\n";
  return s;
}

int64_t PromptTokens(const engine::Prompt& prompt) {
  int64_t n = 0;
  for (const engine::Segment& s : prompt) n += static_cast<int64_t>(s.tokens.size());
  return n;
}

StatusOr<engine::Prompt> BuildPrompt(const CompletionSpec& spec, const tokenizer::Tokenizer& tok,
                                     const tokenizer::ChatTemplate& chat_template) {
  engine::Prompt prompt;
  auto add = [&](engine::SegmentKind kind, std::vector<int32_t> tokens) {
    if (tokens.empty()) return;
    prompt.push_back(engine::Segment{kind, std::move(tokens), 0});
  };
  auto add_documents = [&] {
    for (const Document& d : spec.documents) add(engine::SegmentKind::kChunk, Encode(tok, DocumentText(d), false));
  };

  if (spec.chat) {
    std::vector<tokenizer::ChatMessage> messages = spec.messages;
    std::string rendered;
    if (!spec.documents.empty()) {
      // The last user message carries the documents.
      auto last_user = std::find_if(messages.rbegin(), messages.rend(),
                                    [](const tokenizer::ChatMessage& m) { return m.role == "user"; });
      if (last_user == messages.rend())
        return InvalidArgumentError("'documents' needs a user message to attach to");
      last_user->content = std::string(kDocumentsIntro) + kMarker + kQuestionLead + last_user->content;
    }
    StatusOr<std::string> r = chat_template.Apply(messages, /*add_generation_prompt=*/true);
    if (!r.ok()) return InvalidArgumentError("chat template: " + r.status().message());
    rendered = std::move(*r);
    const size_t at = spec.documents.empty() ? std::string::npos : rendered.find(kMarker);
    if (!spec.documents.empty() && at == std::string::npos)
      return InvalidArgumentError("the chat template dropped the user message that carries the documents");
    if (at == std::string::npos) {
      add(engine::SegmentKind::kTail, Encode(tok, rendered, true));
    } else {
      add(engine::SegmentKind::kPrefix, Encode(tok, rendered.substr(0, at), true));
      add_documents();
      add(engine::SegmentKind::kTail, Encode(tok, rendered.substr(at + sizeof(kMarker) - 1), true));
    }
  } else {
    add_documents();
    if (!spec.prompt_tokens.empty()) {
      for (int32_t t : spec.prompt_tokens)
        if (t >= tok.n_vocab())
          return InvalidArgumentError("'prompt' token id " + std::to_string(t) + " is outside the vocabulary");
      add(engine::SegmentKind::kTail, spec.prompt_tokens);
    } else {
      add(engine::SegmentKind::kTail, Encode(tok, spec.prompt_text, false));
    }
  }
  if (tok.add_bos() && tok.bos_id()) {
    const int32_t bos = *tok.bos_id();
    if (prompt.empty()) {
      add(engine::SegmentKind::kPrefix, {bos});
    } else if (prompt.front().tokens.front() != bos) {
      if (prompt.front().kind == engine::SegmentKind::kChunk) {
        prompt.insert(prompt.begin(), engine::Segment{engine::SegmentKind::kPrefix, {bos}, 0});
      } else {
        prompt.front().tokens.insert(prompt.front().tokens.begin(), bos);
      }
    }
  }
  if (prompt.empty()) return InvalidArgumentError("the prompt is empty");
  return prompt;
}

}  // namespace chunkserve::server
