#include "rag/pipeline/rag_prompt.h"

#include <algorithm>
#include <filesystem>


namespace chunkserve::rag {

void SortCanonical(std::vector<SearchHit>* chunks) {
  std::stable_sort(chunks->begin(), chunks->end(), [](const SearchHit& a, const SearchHit& b) {
    return a.path != b.path ? a.path < b.path : a.chunk.ordinal < b.chunk.ordinal;
  });
}

std::string SourceBody(const SourceText& source) {
  return (source.name.empty() ? "" : source.name + "\n") + source.text + "\n\n";
}

engine::PromptMessage SourcesMessage(std::string_view question, std::span<const SourceText> sources) {
  using Part = engine::PromptPart;
  engine::PromptMessage user{"user", {}};
  user.parts.push_back(Part{Part::Kind::kText, "Sources:\n\n"});
  for (size_t i = 0; i < sources.size(); ++i) {
    user.parts.push_back(Part{Part::Kind::kText, "[" + std::to_string(i + 1) + "] "});
    user.parts.push_back(Part{Part::Kind::kChunk, SourceBody(sources[i])});
  }
  user.parts.push_back(Part{Part::Kind::kText, "Question: " + std::string(question)});
  return user;
}

StatusOr<RagPrompt> BuildRagPrompt(std::string_view question, std::vector<SearchHit> chunks,
                                   const engine::PromptAssembler& assembler, const RagPromptOptions& options) {
  SortCanonical(&chunks);
  RagPrompt out;
  std::vector<SourceText> sources;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SearchHit& h = chunks[i];
    sources.push_back(SourceText{std::filesystem::path(h.path).filename().string(), h.chunk.text});
    out.sources.push_back(CitationOf(h, static_cast<int>(i) + 1));
  }
  std::vector<engine::PromptMessage> messages;
  if (!options.system_prompt.empty()) messages.push_back(engine::PromptMessage::Text("system", options.system_prompt));
  messages.push_back(SourcesMessage(question, sources));
  ASSIGN_OR_RETURN(engine::AssembledPrompt assembled, assembler.Chat(messages));
  out.segments = std::move(assembled.segments);
  out.text = std::move(assembled.text);
  out.n_tokens = assembled.n_tokens;
  return out;
}

}  // namespace chunkserve::rag
