#include "rag/embed/prefixed_embedder.h"

#include <cinttypes>
#include <cstdio>
#include <vector>

#include "base/hash.h"

namespace chunkserve::rag {

PrefixedEmbedder::PrefixedEmbedder(std::unique_ptr<Embedder> inner, std::string query_prefix,
                                   std::string document_prefix)
    : inner_(std::move(inner)), query_prefix_(std::move(query_prefix)), document_prefix_(std::move(document_prefix)) {
  id_ = inner_->id();
  if (!document_prefix_.empty()) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "%016" PRIx64, Hash64(document_prefix_));
    id_ += "/doc-prefix:" + std::string(hex);
  }
}

Status PrefixedEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  if (document_prefix_.empty()) return inner_->Embed(text, out, control);
  return inner_->Embed(document_prefix_ + std::string(text), out, control);
}

Status PrefixedEmbedder::EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                                    const EmbedControl& control) const {
  if (document_prefix_.empty()) return inner_->EmbedBatch(texts, out, control);
  std::vector<std::string> prefixed;
  prefixed.reserve(texts.size());
  for (std::string_view t : texts) prefixed.push_back(document_prefix_ + std::string(t));
  const std::vector<std::string_view> views(prefixed.begin(), prefixed.end());
  return inner_->EmbedBatch(views, out, control);
}

Status PrefixedEmbedder::EmbedQuery(std::string_view query, std::span<float> out,
                                    const EmbedControl& control) const {
  return inner_->Embed(query_prefix_ + std::string(query), out, control);
}

}  // namespace chunkserve::rag
