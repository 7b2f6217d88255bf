// Segment and Prompt: the interface between RAG and the engine.
//
// A prompt is a list of segments, each a span of token ids with a role:
//   kPrefix - shared instructions / system prompt (reused via the prefix
//             cache when an earlier request had the same leading tokens);
//   kChunk  - a retrieved chunk: its KV may come from the chunk cache and be
//             placed at any position (Cache-Craft);
//   kTail   - the question; always computed.
// A plain request is one segment of any kind. The engine decides how much of
// the prompt must really be computed; RAG only decides what is in it.
//
// `hash` is informational (the rag store's content hash); the engine keys the
// chunk cache by its own hash of the tokens, so a wrong hash cannot make it
// serve wrong KV.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace chunkserve::engine {

enum class SegmentKind { kPrefix, kChunk, kTail };

struct Segment {
  SegmentKind kind = SegmentKind::kTail;
  std::vector<int32_t> tokens;
  uint64_t hash = 0;
};

using Prompt = std::vector<Segment>;

inline std::string_view SegmentKindName(SegmentKind k) {
  switch (k) {
    case SegmentKind::kPrefix: return "prefix";
    case SegmentKind::kChunk: return "chunk";
    case SegmentKind::kTail: return "tail";
  }
  return "?";
}

}  // namespace chunkserve::engine
