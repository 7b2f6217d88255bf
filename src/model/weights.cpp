#include "model/weights.h"

#include <cstring>
#include <string>

#include "base/logging.h"

namespace chunkserve::model {
namespace {

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

class Binder {
 public:
  explicit Binder(const gguf::GgufFile& file) : file_(file) {}

  // The tensor, or nullptr when absent and optional; a Status for a wrong
  // shape, or absent and required.
  StatusOr<const gguf::TensorInfo*> Find(const std::string& name, std::vector<int64_t> dims,
                                         bool required) const {
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (!t) {
      if (required) return InvalidArgumentError("model: missing tensor '" + name + "'");
      return static_cast<const gguf::TensorInfo*>(nullptr);
    }
    // Trailing dims of 1 are equivalent (some writers keep them).
    std::vector<int64_t> got = t->dims;
    while (got.size() > dims.size() && got.back() == 1) got.pop_back();
    if (got != dims)
      return InvalidArgumentError("model: tensor '" + name + "' has dims " + DimsString(t->dims) +
                                  ", expected " + DimsString(dims));
    return t;
  }

  // A 1-D tensor as f32.
  StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n, bool required) const {
    ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, {n}, required));
    std::vector<float> out;
    if (!t) return out;
    out.resize(static_cast<size_t>(n));
    if (t->type == DType::kF32) {
      std::memcpy(out.data(), t->data, static_cast<size_t>(n) * sizeof(float));
    } else if (t->type == DType::kF16 || t->type == DType::kBF16) {
      kernels::DequantizeRow(t->type, t->data, out.data(), n);
    } else {
      return UnimplementedError("model: tensor '" + name + "' has type " +
                                std::string(DTypeName(t->type)) + "; vectors must be f32, f16 or bf16");
    }
    return out;
  }

  // A projection [cols, rows] (ggml order), packed for MatMul.
  StatusOr<kernels::PackedMatrix> Matrix(const std::string& name, int64_t cols, int64_t rows) const {
    ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, {cols, rows}, true));
    return PackTensor(*t, rows, cols);
  }

  static StatusOr<kernels::PackedMatrix> PackTensor(const gguf::TensorInfo& t, int64_t rows, int64_t cols) {
    auto packed = kernels::PackedMatrix::Pack({t.type, rows, cols, t.data});
    if (!packed.ok()) return packed.status().WithContext("model: tensor '" + t.name + "'");
    return packed;
  }

 private:
  const gguf::GgufFile& file_;
};

StatusOr<LayerWeights> BindLayer(const Binder& b, const HParams& hp, int64_t layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), dkv = hp.n_embd_kv(), ff = hp.n_ff;
  ASSIGN_OR_RETURN(auto attn_norm, b.Vector(p + "attn_norm.weight", d, true));
  ASSIGN_OR_RETURN(auto wq, b.Matrix(p + "attn_q.weight", d, dq));
  ASSIGN_OR_RETURN(auto wk, b.Matrix(p + "attn_k.weight", d, dkv));
  ASSIGN_OR_RETURN(auto wv, b.Matrix(p + "attn_v.weight", d, dkv));
  ASSIGN_OR_RETURN(auto wo, b.Matrix(p + "attn_output.weight", dq, d));
  // Biases are required where the architecture has them, and also honoured
  // when a llama-family file carries them.
  ASSIGN_OR_RETURN(auto bq, b.Vector(p + "attn_q.bias", dq, hp.qkv_bias));
  ASSIGN_OR_RETURN(auto bk, b.Vector(p + "attn_k.bias", dkv, hp.qkv_bias));
  ASSIGN_OR_RETURN(auto bv, b.Vector(p + "attn_v.bias", dkv, hp.qkv_bias));
  std::vector<float> q_norm, k_norm;
  if (hp.qk_norm) {
    ASSIGN_OR_RETURN(q_norm, b.Vector(p + "attn_q_norm.weight", hp.head_dim, true));
    ASSIGN_OR_RETURN(k_norm, b.Vector(p + "attn_k_norm.weight", hp.head_dim, true));
  }
  ASSIGN_OR_RETURN(auto ffn_norm, b.Vector(p + "ffn_norm.weight", d, true));
  ASSIGN_OR_RETURN(auto w_gate, b.Matrix(p + "ffn_gate.weight", d, ff));
  ASSIGN_OR_RETURN(auto w_up, b.Matrix(p + "ffn_up.weight", d, ff));
  ASSIGN_OR_RETURN(auto w_down, b.Matrix(p + "ffn_down.weight", ff, d));
  return LayerWeights{std::move(attn_norm), std::move(wq), std::move(wk), std::move(wv),
                      std::move(wo), std::move(bq), std::move(bk), std::move(bv),
                      std::move(q_norm), std::move(k_norm), std::move(ffn_norm),
                      std::move(w_gate), std::move(w_up), std::move(w_down)};
}

}  // namespace

size_t Weights::BytesPerToken() const {
  size_t bytes = token_embd_row_bytes + output_norm.size() * sizeof(float);
  if (output) bytes += output->bytes();
  for (const LayerWeights& l : layers) {
    for (const kernels::PackedMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      bytes += m->bytes();
    for (const std::vector<float>* v : {&l.attn_norm, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm, &l.ffn_norm})
      bytes += v->size() * sizeof(float);
  }
  return bytes;
}

StatusOr<std::unique_ptr<Weights>> BindWeights(const gguf::GgufFile& file, const HParams& hp,
                                               ThreadPool* pool) {
  const Binder b(file);
  auto w = std::make_unique<Weights>();
  ASSIGN_OR_RETURN(w->token_embd, b.Find("token_embd.weight", {hp.n_embd, hp.n_vocab}, true));
  auto row_bytes = RowBytes(w->token_embd->type, hp.n_embd);
  if (!row_bytes)
    return InvalidArgumentError("model: tensor 'token_embd.weight' row of " + std::to_string(hp.n_embd) +
                                " is not a whole number of " +
                                std::string(DTypeName(w->token_embd->type)) + " blocks");
  w->token_embd_row_bytes = *row_bytes;
  ASSIGN_OR_RETURN(w->output_norm, b.Vector("output_norm.weight", hp.n_embd, true));
  ASSIGN_OR_RETURN(w->rope_freqs, b.Vector("rope_freqs.weight", hp.n_rot / 2, false));

  ASSIGN_OR_RETURN(const gguf::TensorInfo* output, b.Find("output.weight", {hp.n_embd, hp.n_vocab}, false));
  w->tied_output = output == nullptr;
  ASSIGN_OR_RETURN(auto packed_output,
                   Binder::PackTensor(output ? *output : *w->token_embd, hp.n_vocab, hp.n_embd));
  w->output.emplace(std::move(packed_output));

  // Layers pack independently: spread them over the pool.
  std::vector<std::optional<StatusOr<LayerWeights>>> layers(static_cast<size_t>(hp.n_layer));
  auto bind = [&](int64_t layer, int) { layers[static_cast<size_t>(layer)].emplace(BindLayer(b, hp, layer)); };
  if (pool) {
    pool->ParallelFor(hp.n_layer, bind);
  } else {
    for (int64_t l = 0; l < hp.n_layer; ++l) bind(l, 0);
  }
  w->layers.reserve(layers.size());
  for (auto& layer : layers) {
    if (!layer->ok()) return layer->status();
    w->layers.push_back(std::move(*layer).value());
  }
  return w;
}

}  // namespace chunkserve::model
