// SentencePerplexity: what the perplexity chunker needs from a language
// model: the perplexity of each sentence given the sentences before it.
// rag/embed/model_perplexity.h implements it with a loaded GGUF model;
// tests script it.
//
// Thread safety: implementations must allow concurrent calls (the ingester
// chunks on several threads); a model-backed one serializes internally.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::rag {

class SentencePerplexity {
 public:
  virtual ~SentencePerplexity() = default;
  // One value per sentence (> 0; larger = more surprising). On a model
  // failure an implementation returns an empty vector (the chunker then
  // falls back to sentence chunking).
  virtual std::vector<double> Perplexities(const std::vector<std::string_view>& sentences) const = 0;
  // Recorded in the chunker fingerprint.
  virtual const std::string& id() const = 0;
};

}  // namespace chunkserve::rag
