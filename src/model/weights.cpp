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

  // Several projections of the same input [cols, rows_i], stacked into one
  // packed matrix when they share a type; otherwise packed one by one into
  // `separate`.
  Status MatrixStack(const std::vector<std::pair<std::string, int64_t>>& parts, int64_t cols,
                     std::optional<kernels::PackedMatrix>* fused,
                     const std::vector<std::optional<kernels::PackedMatrix>*>& separate) const {
    std::vector<const gguf::TensorInfo*> infos;
    for (const auto& [name, rows] : parts) {
      ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, {cols, rows}, true));
      infos.push_back(t);
    }
    bool same_type = true;
    for (const gguf::TensorInfo* t : infos) same_type &= t->type == infos[0]->type;
    const auto row_bytes = RowBytes(infos[0]->type, cols);
    if (same_type && row_bytes) {
      std::vector<uint8_t> stacked;
      int64_t total_rows = 0;
      for (size_t i = 0; i < infos.size(); ++i) {
        stacked.insert(stacked.end(), infos[i]->data, infos[i]->data + *row_bytes * parts[i].second);
        total_rows += parts[i].second;
      }
      auto packed = kernels::PackedMatrix::Pack({infos[0]->type, total_rows, cols, stacked.data()});
      if (!packed.ok()) return packed.status().WithContext("model: tensor '" + infos[0]->name + "'");
      fused->emplace(std::move(packed).value());
      return Status::Ok();
    }
    for (size_t i = 0; i < infos.size(); ++i) {
      ASSIGN_OR_RETURN(auto packed, PackTensor(*infos[i], parts[i].second, cols));
      separate[i]->emplace(std::move(packed));
    }
    return Status::Ok();
  }

  // Experts of a 3-D tensor [cols, rows, n] (slab e = expert e), each packed
  // into ExpertWeights member `member`; gate and up go through
  // ExpertStack instead.
  Status ExpertMatrices(const std::string& name, int64_t cols, int64_t rows, std::vector<ExpertWeights>* experts,
                        std::optional<kernels::PackedMatrix> ExpertWeights::*member) const {
    const auto n = static_cast<int64_t>(experts->size());
    ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, {cols, rows, n}, true));
    const auto row_bytes = RowBytes(t->type, cols);
    if (!row_bytes) return InvalidArgumentError("model: tensor '" + name + "' rows are not whole blocks");
    for (int64_t e = 0; e < n; ++e) {
      auto packed = kernels::PackedMatrix::Pack({t->type, rows, cols, t->data + static_cast<size_t>(e * rows) * *row_bytes});
      if (!packed.ok()) return packed.status().WithContext("model: tensor '" + name + "'");
      ((*experts)[static_cast<size_t>(e)].*member).emplace(std::move(packed).value());
    }
    return Status::Ok();
  }

  // Each expert's gate and up slabs, stacked (gate rows, then up rows) when
  // the two tensors share a type.
  Status ExpertGateUp(const std::string& gate, const std::string& up, int64_t cols, int64_t rows,
                      std::vector<ExpertWeights>* experts) const {
    const auto n = static_cast<int64_t>(experts->size());
    ASSIGN_OR_RETURN(const gguf::TensorInfo* g, Find(gate, {cols, rows, n}, true));
    ASSIGN_OR_RETURN(const gguf::TensorInfo* u, Find(up, {cols, rows, n}, true));
    const auto row_bytes = RowBytes(g->type, cols);
    if (g->type != u->type || !row_bytes) {
      RETURN_IF_ERROR(ExpertMatrices(gate, cols, rows, experts, &ExpertWeights::w_gate));
      return ExpertMatrices(up, cols, rows, experts, &ExpertWeights::w_up);
    }
    const size_t slab = static_cast<size_t>(rows) * *row_bytes;
    std::vector<uint8_t> stacked(2 * slab);
    for (int64_t e = 0; e < n; ++e) {
      std::memcpy(stacked.data(), g->data + static_cast<size_t>(e) * slab, slab);
      std::memcpy(stacked.data() + slab, u->data + static_cast<size_t>(e) * slab, slab);
      auto packed = kernels::PackedMatrix::Pack({g->type, 2 * rows, cols, stacked.data()});
      if (!packed.ok()) return packed.status().WithContext("model: tensor '" + gate + "'");
      (*experts)[static_cast<size_t>(e)].w_gate_up.emplace(std::move(packed).value());
    }
    return Status::Ok();
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
  LayerWeights lw;
  ASSIGN_OR_RETURN(lw.attn_norm, b.Vector(p + "attn_norm.weight", d, true));
  // A fused attn_qkv (rows q | k | v) is what the stack below builds anyway.
  ASSIGN_OR_RETURN(const gguf::TensorInfo* qkv, b.Find(p + "attn_qkv.weight", {d, dq + 2 * dkv}, false));
  if (qkv) {
    ASSIGN_OR_RETURN(auto wqkv, Binder::PackTensor(*qkv, dq + 2 * dkv, d));
    lw.wqkv.emplace(std::move(wqkv));
  } else {
    RETURN_IF_ERROR(b.MatrixStack({{p + "attn_q.weight", dq}, {p + "attn_k.weight", dkv}, {p + "attn_v.weight", dkv}},
                                  d, &lw.wqkv, {&lw.wq, &lw.wk, &lw.wv}));
  }
  ASSIGN_OR_RETURN(auto wo, b.Matrix(p + "attn_output.weight", dq, d));
  lw.wo.emplace(std::move(wo));
  // Biases are required where the architecture has them, and also honoured
  // when a llama-family file carries them.
  ASSIGN_OR_RETURN(lw.bq, b.Vector(p + "attn_q.bias", dq, hp.qkv_bias));
  ASSIGN_OR_RETURN(lw.bk, b.Vector(p + "attn_k.bias", dkv, hp.qkv_bias));
  ASSIGN_OR_RETURN(lw.bv, b.Vector(p + "attn_v.bias", dkv, hp.qkv_bias));
  if (hp.qk_norm) {
    ASSIGN_OR_RETURN(lw.q_norm, b.Vector(p + "attn_q_norm.weight", hp.qk_norm_full ? dq : hp.head_dim, true));
    ASSIGN_OR_RETURN(lw.k_norm, b.Vector(p + "attn_k_norm.weight", hp.qk_norm_full ? dkv : hp.head_dim, true));
  }
  if (hp.post_norms) {
    ASSIGN_OR_RETURN(lw.post_attn_norm, b.Vector(p + "post_attention_norm.weight", d, true));
    ASSIGN_OR_RETURN(lw.post_ffn_norm, b.Vector(p + "post_ffw_norm.weight", d, true));
  }
  ASSIGN_OR_RETURN(lw.ffn_norm, b.Vector(p + "ffn_norm.weight", d, true));
  if (hp.is_moe()) {
    MoeWeights moe;
    ASSIGN_OR_RETURN(auto router, b.Matrix(p + "ffn_gate_inp.weight", d, hp.n_expert));
    moe.router.emplace(std::move(router));
    moe.experts.resize(static_cast<size_t>(hp.n_expert));
    RETURN_IF_ERROR(b.ExpertGateUp(p + "ffn_gate_exps.weight", p + "ffn_up_exps.weight", d, hp.n_ff_exp, &moe.experts));
    RETURN_IF_ERROR(b.ExpertMatrices(p + "ffn_down_exps.weight", hp.n_ff_exp, d, &moe.experts, &ExpertWeights::w_down));
    if (hp.n_ff_shexp > 0) {
      ExpertWeights& sh = moe.shared.emplace();
      const int64_t fs = hp.n_ff_shexp;
      RETURN_IF_ERROR(b.MatrixStack({{p + "ffn_gate_shexp.weight", fs}, {p + "ffn_up_shexp.weight", fs}}, d,
                                    &sh.w_gate_up, {&sh.w_gate, &sh.w_up}));
      ASSIGN_OR_RETURN(auto down, b.Matrix(p + "ffn_down_shexp.weight", fs, d));
      sh.w_down.emplace(std::move(down));
      ASSIGN_OR_RETURN(moe.shared_gate, b.Vector(p + "ffn_gate_inp_shexp.weight", d, true));
    }
    lw.moe.emplace(std::move(moe));
    return lw;
  }
  if (hp.fused_gate_up) {
    ASSIGN_OR_RETURN(auto w_gate_up, b.Matrix(p + "ffn_up.weight", d, 2 * ff));
    lw.w_gate_up.emplace(std::move(w_gate_up));
  } else {
    RETURN_IF_ERROR(b.MatrixStack({{p + "ffn_gate.weight", ff}, {p + "ffn_up.weight", ff}}, d, &lw.w_gate_up,
                                  {&lw.w_gate, &lw.w_up}));
  }
  ASSIGN_OR_RETURN(auto w_down, b.Matrix(p + "ffn_down.weight", ff, d));
  lw.w_down.emplace(std::move(w_down));
  return lw;
}

}  // namespace

size_t Weights::BytesPerToken(int64_t n_expert_used) const {
  size_t bytes = token_embd_row_bytes + output_norm.size() * sizeof(float);
  if (output) bytes += output->bytes();
  for (const LayerWeights& l : layers) {
    for (const auto* m : {&l.wqkv, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate_up, &l.w_gate, &l.w_up, &l.w_down})
      bytes += m->has_value() ? (*m)->bytes() : 0;
    if (l.moe) bytes += MoeBytesPerToken(*l.moe, n_expert_used);
    for (const std::vector<float>* v :
         {&l.attn_norm, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm, &l.ffn_norm, &l.post_attn_norm, &l.post_ffn_norm})
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
  if (w->rope_freqs.empty()) {
    // LongRoPE: the factor set of the context the model runs at; a file
    // with one set needs both.
    const std::string chosen = hp.rope_long ? "rope_factors_long.weight" : "rope_factors_short.weight";
    const std::string other = hp.rope_long ? "rope_factors_short.weight" : "rope_factors_long.weight";
    ASSIGN_OR_RETURN(w->rope_freqs, b.Vector(chosen, hp.n_rot / 2, file.FindTensor(other) != nullptr));
  }

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
