// Converts a llama2.c checkpoint and its tokenizer into a standard GGUF file
// (`llama` architecture, SentencePiece-style `tokenizer.ggml.*` metadata), so
// the rest of chunkserve (and other GGUF engines) can load it.
//
// Checkpoint ("legacy" llama2.c export, version 0): 7 int32 (dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative
// vocab_size means the classifier is stored separately instead of shared with
// the token embedding), then float32 tensors: token_embedding (vocab, dim),
// rms_att (L, dim), wq (L, dim, dim), wk (L, kv_dim, dim), wv (L, kv_dim,
// dim), wo (L, dim, dim), rms_ffn (L, dim), w1 (L, hidden, dim), w2 (L, dim,
// hidden), w3 (L, hidden, dim), rms_final (dim), freq_cis real and imag
// (seq_len, head_size / 2 each: skipped), [wcls (vocab, dim)].
//
// Tokenizer (llama2.c tokenizer.bin): int32 max_token_length, then per
// token: float32 score, int32 byte length, bytes. Ids 0, 1, 2 become
// <unk>, <s>, </s> (control), "<0xNN>" pieces byte tokens, spaces "▁".
//
// Q/K rows are written WITHOUT the llama.cpp permutation: llama2.c already
// rotates adjacent pairs, which is what the llama GGUF convention means.
//
// Every size is checked against the file size first; a truncated or foreign
// file is a DataLoss / Unimplemented Status naming what was wrong.
#pragma once

#include <string>

#include "base/status.h"
#include "tensor/dtype.h"

namespace chunkserve::model {

struct Llama2cConvertParams {
  std::string checkpoint_path;
  std::string tokenizer_path;
  std::string output_path;
  // Type of the 2-D weight tensors: f32, f16 or q8_0. A matrix whose row
  // length is not a multiple of the type's block size stays f32. Norm
  // vectors are always f32.
  DType weight_type = DType::kF32;
  std::string name;  // general.name; default: checkpoint file stem
};

struct Llama2cConvertResult {
  int dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
  int n_tensors = 0;
  int n_fallback_f32 = 0;  // matrices kept f32 because of their row length
};

StatusOr<Llama2cConvertResult> ConvertLlama2c(const Llama2cConvertParams& params);

}  // namespace chunkserve::model
