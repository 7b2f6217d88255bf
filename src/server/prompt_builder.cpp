#include "server/prompt_builder.h"

#include <algorithm>

namespace chunkserve::server {
rag::SourceText DocumentSource(const Document& doc) { return rag::SourceText{doc.id, doc.text}; }

int64_t PromptTokens(const engine::Prompt& prompt) {
  int64_t n = 0;
  for (const engine::Segment& s : prompt) n += static_cast<int64_t>(s.tokens.size());
  return n;
}

StatusOr<engine::Prompt> BuildPrompt(const CompletionSpec& spec, const engine::PromptAssembler& assembler) {
  using Part = engine::PromptPart;
  std::vector<rag::SourceText> sources;
  std::vector<Part> documents;
  for (const Document& d : spec.documents) {
    sources.push_back(DocumentSource(d));
    documents.push_back(Part{Part::Kind::kChunk, rag::SourceBody(sources.back())});
  }
  engine::AssembledPrompt assembled;
  if (spec.chat) {
    std::vector<engine::PromptMessage> messages;
    for (const tokenizer::ChatMessage& m : spec.messages) messages.push_back(engine::PromptMessage::Text(m.role, m.content));
    if (!documents.empty()) {
      // The last user message carries the documents.
      auto last_user = std::find_if(messages.rbegin(), messages.rend(),
                                    [](const engine::PromptMessage& m) { return m.role == "user"; });
      if (last_user == messages.rend()) return InvalidArgumentError("'documents' needs a user message to attach to");
      *last_user = rag::SourcesMessage(last_user->parts.front().text, sources);
    }
    ASSIGN_OR_RETURN(assembled, assembler.Chat(messages));
  } else if (!spec.prompt_tokens.empty()) {
    assembled = assembler.Raw(documents);
    for (int32_t t : spec.prompt_tokens)
      if (t < 0 || t >= assembler.tokenizer().n_vocab())
        return InvalidArgumentError("'prompt' token id " + std::to_string(t) + " is outside the vocabulary");
    // Token ids are the caller's own: taken as they are, after the documents.
    assembled.segments.push_back(engine::Segment{engine::SegmentKind::kTail, spec.prompt_tokens, 0});
  } else {
    documents.push_back(Part{Part::Kind::kText, spec.prompt_text});
    assembled = assembler.Raw(documents);
  }
  if (PromptTokens(assembled.segments) == 0) return InvalidArgumentError("the prompt is empty");
  return std::move(assembled.segments);
}

}  // namespace chunkserve::server
