// StaticEmbedder: sentence vectors from word vectors with SIF weighting
// (Arora et al., "A simple but tough-to-beat baseline for sentence
// embeddings"), no neural network needed.
//
//   words(text): lower-cased ASCII; maximal runs of letters, digits and
//                non-ASCII bytes (everything else separates words).
//   raw(text)  = (1/n) sum_w  a / (a + p(w)) * e(w)    over the n known words
//   final      = CollectionTransform (common component removed, L2 normalised)
// p(w) comes from the GGUF's token_freq (Zipf law over the frequency rank,
// see glove_converter.h); a defaults to 1e-3.
//
// The model file is the GGUF written by ConvertGloveJson, memory-mapped; the
// vocabulary goes into a hash map at load (~0.2 s for 341k words).
// id() = "glove-sif/<name>/<dim>/<hash of the vectors>/a=<a>".
//
// Thread safety: immutable after Load; Embed is const.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_file.h"
#include "rag/embed/embedder.h"

namespace chunkserve::rag {

struct StaticEmbedderOptions {
  double sif_a = 1e-3;
};

class StaticEmbedder final : public Embedder {
 public:
  static StatusOr<std::unique_ptr<StaticEmbedder>> Load(const std::string& gguf_path,
                                                        const StaticEmbedderOptions& options = {});
  int dim() const override { return dim_; }
  const std::string& id() const override { return id_; }
  // Never fails on its own (a table lookup); only `control` can stop it.
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;
  bool removes_common_component() const override { return true; }

  // The words Embed would look up, in order (for tests and the semantic chunker).
  static std::vector<std::string> Words(std::string_view text);
  // Row of `word` in the vocabulary, or -1.
  int64_t Find(std::string_view word) const;
  float SifWeight(int64_t row) const { return weights_[static_cast<size_t>(row)]; }
  size_t vocab_size() const { return weights_.size(); }

 private:
  StaticEmbedder() = default;
  void AddRow(int64_t row, float weight, float* acc) const;

  std::unique_ptr<gguf::GgufFile> file_;
  int dim_ = 0;
  std::string id_;
  DType dtype_ = DType::kF16;
  const uint8_t* vectors_ = nullptr;
  std::vector<float> weights_;  // SIF weight per row
  std::unordered_map<std::string, int64_t> vocab_;
};

}  // namespace chunkserve::rag
