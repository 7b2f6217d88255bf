#include "rag/pipeline/rag_prompt.h"

#include <algorithm>
#include <filesystem>

#include "base/hash.h"

namespace chunkserve::rag {

namespace {
constexpr std::string_view kSourcesMark = "@@CHUNKSERVE_SOURCES@@";
constexpr std::string_view kQuestionMark = "@@CHUNKSERVE_QUESTION@@";
}  // namespace

void SortCanonical(std::vector<SearchHit>* chunks) {
  std::stable_sort(chunks->begin(), chunks->end(), [](const SearchHit& a, const SearchHit& b) {
    return a.path != b.path ? a.path < b.path : a.chunk.ordinal < b.chunk.ordinal;
  });
}

StatusOr<RagPrompt> BuildRagPrompt(std::string_view question, std::vector<SearchHit> chunks,
                                   const tokenizer::Tokenizer& tokenizer,
                                   const tokenizer::ChatTemplate* chat_template, const RagPromptOptions& options) {
  SortCanonical(&chunks);
  // Render once with markers where the sources and the question go, then cut.
  const std::string user = "Sources:\n\n" + std::string(kSourcesMark) + "Question: " + std::string(kQuestionMark);
  std::string rendered;
  if (chat_template) {
    std::vector<tokenizer::ChatMessage> messages;
    if (!options.system_prompt.empty()) messages.push_back({"system", options.system_prompt});
    messages.push_back({"user", user});
    ASSIGN_OR_RETURN(rendered, chat_template->Apply(messages, true));
  } else {
    rendered = (options.system_prompt.empty() ? "" : options.system_prompt + "\n\n") + user + "\nAnswer:";
  }
  const size_t s_at = rendered.find(kSourcesMark);
  const size_t q_at = rendered.find(kQuestionMark);
  if (s_at == std::string::npos || q_at == std::string::npos || q_at < s_at)
    return InvalidArgumentError("the chat template dropped or reordered the user message; cannot build a RAG prompt");
  const std::string head = rendered.substr(0, s_at);
  const std::string mid = rendered.substr(s_at + kSourcesMark.size(), q_at - s_at - kSourcesMark.size());
  const std::string end = rendered.substr(q_at + kQuestionMark.size());

  RagPrompt out;
  auto add = [&](engine::SegmentKind kind, std::vector<int32_t> tokens, const std::string& text, uint64_t hash) {
    out.n_tokens += static_cast<int64_t>(tokens.size());
    out.text += text;
    if (!out.segments.empty() && out.segments.back().kind == kind && kind != engine::SegmentKind::kChunk) {
      auto& t = out.segments.back().tokens;
      t.insert(t.end(), tokens.begin(), tokens.end());
      return;
    }
    out.segments.push_back({kind, std::move(tokens), hash});
  };

  std::vector<int32_t> first = tokenizer.Encode(head, false, true);
  if (tokenizer.add_bos() && tokenizer.bos_id() && (first.empty() || first.front() != *tokenizer.bos_id()))
    first.insert(first.begin(), *tokenizer.bos_id());
  const std::string first_label = chunks.empty() ? "" : "[1] ";
  {
    std::vector<int32_t> label = tokenizer.Encode(first_label, false, false);
    first.insert(first.end(), label.begin(), label.end());
  }
  add(engine::SegmentKind::kPrefix, std::move(first), head + first_label, 0);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SearchHit& h = chunks[i];
    if (i > 0) {
      const std::string label = "[" + std::to_string(i + 1) + "] ";
      add(engine::SegmentKind::kPrefix, tokenizer.Encode(label, false, false), label, 0);
    }
    const std::string name = std::filesystem::path(h.path).filename().string();
    const std::string body = name + "\n" + h.chunk.text + "\n\n";
    add(engine::SegmentKind::kChunk, tokenizer.Encode(body, false, false), body, Hash64(body));
    Citation c;
    c.number = static_cast<int>(i) + 1;
    c.path = h.path;
    c.chunk_id = h.chunk.id;
    c.ordinal = h.chunk.ordinal;
    c.source_begin = h.chunk.source_begin;
    c.source_end = h.chunk.source_end;
    c.text = h.chunk.text;
    out.sources.push_back(std::move(c));
  }
  // mid is "Question: " (the user text between the two markers).
  std::vector<int32_t> tail = tokenizer.Encode(mid, false, true);
  std::vector<int32_t> q = tokenizer.Encode(question, false, false);
  std::vector<int32_t> rest = tokenizer.Encode(end, false, true);
  tail.insert(tail.end(), q.begin(), q.end());
  tail.insert(tail.end(), rest.begin(), rest.end());
  add(engine::SegmentKind::kTail, std::move(tail), mid + std::string(question) + end, 0);
  return out;
}

}  // namespace chunkserve::rag
