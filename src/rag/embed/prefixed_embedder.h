// PrefixedEmbedder: puts fixed text before what another embedder embeds - an
// instruction before queries (Qwen3-Embedding: "Instruct: <task>\nQuery:",
// bge: "Represent this sentence for searching relevant passages: ", e5:
// "query: ") and optionally another before documents (e5: "passage: ").
//
// The document prefix changes every stored vector, so it is part of id()
// (a collection embedded with another prefix is a mismatch); the query
// prefix changes no stored vector and is not.
//
// Thread safety: as the wrapped embedder.
#pragma once

#include <memory>
#include <string>

#include "rag/embed/embedder.h"

namespace chunkserve::rag {

// The instruction Qwen3-Embedding's model card puts before retrieval queries.
inline constexpr std::string_view kQwen3EmbeddingQueryPrefix =
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:";

class PrefixedEmbedder final : public Embedder {
 public:
  PrefixedEmbedder(std::unique_ptr<Embedder> inner, std::string query_prefix, std::string document_prefix);

  int dim() const override { return inner_->dim(); }
  const std::string& id() const override { return id_; }
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;
  Status EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                    const EmbedControl& control = {}) const override;
  Status EmbedQuery(std::string_view query, std::span<float> out, const EmbedControl& control = {}) const override;
  // Token ids go to the inner embedder as they are (no prefix: ids are final).
  Status EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                     const EmbedControl& control = {}) const override {
    return inner_->EmbedTokens(ids, out, control);
  }
  int64_t max_input_tokens() const override { return inner_->max_input_tokens(); }
  bool removes_common_component() const override { return inner_->removes_common_component(); }

  const std::string& query_prefix() const { return query_prefix_; }
  const std::string& document_prefix() const { return document_prefix_; }

 private:
  std::unique_ptr<Embedder> inner_;
  std::string query_prefix_;
  std::string document_prefix_;
  std::string id_;
};

}  // namespace chunkserve::rag
