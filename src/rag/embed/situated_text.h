// Situated chunk embeddings (after SitEmb, without its trained model): a
// chunk is embedded together with its surroundings, so a short passage is
// found by what it means in its document, not only by its own words.
//
// The text embedded for a chunk is
//     [heading path, " > "-joined, then ": "]
//     [the last `context_words` words of the document text just before it]
//     the chunk
//     [the first `context_words` words just after it]
// (before/after: the parts of the neighbouring chunks that the chunk does not
// overlap). Queries are embedded plain.
//
// A per-collection option chosen at ingest: the collection's recorded
// embedder id becomes "<model id>+situated:w=<context_words>" (SituatedId),
// so its dense index, its cache key and every later ingest follow the same
// setting (EmbedCollection reads it back when not told), and a query
// embedder matches when its id equals the base (QueryEmbedderId).
//
// Thread safety: pure functions, except SituatedTexts (as Store).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"
#include "rag/store/store.h"

namespace chunkserve::rag {

struct SituatedParams {
  int context_words = 32;  // > 0
  bool operator==(const SituatedParams&) const = default;
};

// "<embedder_id>+situated:w=N".
std::string SituatedId(const std::string& embedder_id, const SituatedParams& params);
// The situated setting a recorded id carries (nullopt: plain).
std::optional<SituatedParams> SituatedOf(std::string_view recorded_id);
// The id a query embedder must have to search a collection recorded as
// `recorded_id` (the id without its situated suffix).
std::string QueryEmbedderId(std::string_view recorded_id);

// chunk id -> the text to embed, for every chunk of the collection.
StatusOr<std::unordered_map<int64_t, std::string>> SituatedTexts(Store* store, int64_t collection_id,
                                                                  const SituatedParams& params);

}  // namespace chunkserve::rag
