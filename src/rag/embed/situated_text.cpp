#include "rag/embed/situated_text.h"

#include <algorithm>
#include <charconv>

namespace chunkserve::rag {
namespace {

constexpr std::string_view kSuffix = "+situated:w=";

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// The last (from_end) or first n whitespace-separated words of s.
std::string_view Words(std::string_view s, int n, bool from_end) {
  if (n <= 0 || s.empty()) return {};
  if (from_end) {
    size_t i = s.size();
    while (i > 0 && IsSpace(s[i - 1])) --i;
    const size_t end = i;
    for (int w = 0; w < n && i > 0; ++w) {
      while (i > 0 && !IsSpace(s[i - 1])) --i;
      if (w + 1 < n)
        while (i > 0 && IsSpace(s[i - 1])) --i;
    }
    return s.substr(i, end - i);
  }
  size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) ++i;
  const size_t begin = i;
  for (int w = 0; w < n && i < s.size(); ++w) {
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (w + 1 < n)
      while (i < s.size() && IsSpace(s[i])) ++i;
  }
  return s.substr(begin, i - begin);
}

}  // namespace

std::string SituatedId(const std::string& embedder_id, const SituatedParams& params) {
  return embedder_id + std::string(kSuffix) + std::to_string(params.context_words);
}

std::optional<SituatedParams> SituatedOf(std::string_view recorded_id) {
  const size_t at = recorded_id.rfind(kSuffix);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view n = recorded_id.substr(at + kSuffix.size());
  SituatedParams p;
  const auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), p.context_words);
  if (ec != std::errc() || ptr != n.data() + n.size() || p.context_words <= 0) return std::nullopt;
  return p;
}

std::string QueryEmbedderId(std::string_view recorded_id) {
  if (!SituatedOf(recorded_id)) return std::string(recorded_id);
  return std::string(recorded_id.substr(0, recorded_id.rfind(kSuffix)));
}

StatusOr<std::unordered_map<int64_t, std::string>> SituatedTexts(Store* store, int64_t collection_id,
                                                                  const SituatedParams& params) {
  std::unordered_map<int64_t, std::string> out;
  ASSIGN_OR_RETURN(std::vector<DocumentRecord> docs, store->ListDocuments(collection_id));
  for (const DocumentRecord& doc : docs) {
    ASSIGN_OR_RETURN(std::vector<StoredChunk> chunks, store->GetChunks(doc.id));
    for (size_t i = 0; i < chunks.size(); ++i) {
      const StoredChunk& c = chunks[i];
      std::string text;
      for (const std::string& h : c.heading_path) text += (text.empty() ? "" : " > ") + h;
      if (!text.empty()) text += ": ";
      if (i > 0) {
        // The previous chunk's text before this one begins (chunks overlap).
        const StoredChunk& p = chunks[i - 1];
        const int64_t n = std::clamp<int64_t>(c.text_begin - p.text_begin, 0, static_cast<int64_t>(p.text.size()));
        const std::string_view before = Words(std::string_view(p.text).substr(0, static_cast<size_t>(n)),
                                              params.context_words, /*from_end=*/true);
        if (!before.empty()) text.append(before).append(" ");
      }
      text += c.text;
      if (i + 1 < chunks.size()) {
        const StoredChunk& nx = chunks[i + 1];
        const int64_t skip = std::clamp<int64_t>(c.text_end - nx.text_begin, 0, static_cast<int64_t>(nx.text.size()));
        const std::string_view after = Words(std::string_view(nx.text).substr(static_cast<size_t>(skip)),
                                             params.context_words, /*from_end=*/false);
        if (!after.empty()) text.append(" ").append(after);
      }
      out.emplace(c.id, std::move(text));
    }
  }
  return out;
}

}  // namespace chunkserve::rag
