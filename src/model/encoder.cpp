#include "model/encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

#include "base/hash.h"
#include "base/logging.h"
#include "kernels/matmul.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/fingerprint.h"

namespace chunkserve::model {

std::string_view PoolingName(Pooling p) {
  switch (p) {
    case Pooling::kNone: return "none";
    case Pooling::kMean: return "mean";
    case Pooling::kCls: return "cls";
    case Pooling::kLast: return "last";
  }
  return "?";
}

void PoolAndNormalize(const float* hidden, int64_t n_tokens, int64_t n_embd, Pooling pooling, float* out) {
  CHECK(n_tokens > 0 && pooling != Pooling::kNone);
  const auto d = static_cast<size_t>(n_embd);
  std::vector<double> acc(d, 0.0);
  if (pooling == Pooling::kMean) {
    for (int64_t t = 0; t < n_tokens; ++t)
      for (size_t j = 0; j < d; ++j) acc[j] += hidden[static_cast<size_t>(t) * d + j];
    for (double& a : acc) a /= static_cast<double>(n_tokens);
  } else {
    const int64_t t = pooling == Pooling::kCls ? 0 : n_tokens - 1;
    for (size_t j = 0; j < d; ++j) acc[j] = hidden[static_cast<size_t>(t) * d + j];
  }
  double norm = 0;
  for (double a : acc) norm += a * a;
  // A zero vector stays zero (it then matches nothing).
  const double inv = norm > 1e-30 ? 1.0 / std::sqrt(norm) : 0.0;
  for (size_t j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] * inv);
}

namespace {

constexpr std::string_view kArch = "bert";

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Tensor lookup with shape checks; messages name the tensor.
class EncoderBinder {
 public:
  explicit EncoderBinder(const gguf::GgufFile& file) : file_(file) {}

  StatusOr<const gguf::TensorInfo*> Find(const std::string& name, std::vector<int64_t> dims,
                                         bool required) const {
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (!t) {
      if (required) return InvalidArgumentError("encoder: missing tensor '" + name + "'");
      return static_cast<const gguf::TensorInfo*>(nullptr);
    }
    std::vector<int64_t> got = t->dims;
    while (got.size() > dims.size() && got.back() == 1) got.pop_back();
    if (got != dims)
      return InvalidArgumentError("encoder: tensor '" + name + "' has dims " + DimsString(t->dims) +
                                  ", expected " + DimsString(dims));
    return t;
  }

  // A whole table [cols, rows] dequantized to f32 (rows * cols floats).
  StatusOr<std::vector<float>> Table(const gguf::TensorInfo& t, int64_t cols, int64_t rows) const {
    if (!kernels::CanDequantize(t.type))
      return UnimplementedError("encoder: tensor '" + t.name + "' has unsupported type " +
                                std::string(DTypeName(t.type)));
    const auto row_bytes = RowBytes(t.type, cols);
    if (!row_bytes)
      return InvalidArgumentError("encoder: tensor '" + t.name + "' rows of " + std::to_string(cols) +
                                  " are not whole " + std::string(DTypeName(t.type)) + " blocks");
    std::vector<float> out(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      kernels::DequantizeRow(t.type, t.data + r * *row_bytes, &out[static_cast<size_t>(r * cols)], cols);
    return out;
  }

  // A vector (norm weight, bias) of n values as f32.
  StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n) const {
    ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, {n}, true));
    if (t->type != DType::kF32 && t->type != DType::kF16 && t->type != DType::kBF16)
      return UnimplementedError("encoder: tensor '" + name + "' has type " + std::string(DTypeName(t->type)) +
                                "; vectors must be f32, f16 or bf16");
    return Table(*t, n, 1);
  }

  StatusOr<kernels::PackedMatrix> Pack(const gguf::TensorInfo& t, int64_t rows, int64_t cols) const {
    auto packed = kernels::PackedMatrix::Pack({t.type, rows, cols, t.data});
    if (!packed.ok()) return packed.status().WithContext("encoder: tensor '" + t.name + "'");
    return packed;
  }

  // A projection [cols, rows] (ggml order) packed for MatMul.
  StatusOr<kernels::PackedMatrix> Matrix(const std::string& name, int64_t cols, int64_t rows) const {
    ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, {cols, rows}, true));
    return Pack(*t, rows, cols);
  }

 private:
  const gguf::GgufFile& file_;
};

std::optional<int64_t> PositiveInt(const gguf::GgufFile& f, const std::string& key) {
  const auto v = f.GetInt(key);
  if (!v || *v <= 0 || *v > (int64_t{1} << 24)) return std::nullopt;
  return v;
}

}  // namespace

struct EncoderModel::Weights {
  struct Layer {
    // q | k | v stacked when they share a type (one MatMul per pass), else
    // three matrices.
    std::optional<kernels::PackedMatrix> wqkv, wq, wk, wv;
    std::vector<float> bqkv;  // (3 n_embd,) bq | bk | bv
    std::optional<kernels::PackedMatrix> wo;
    std::vector<float> bo, attn_norm_w, attn_norm_b;
    std::optional<kernels::PackedMatrix> w_up, w_down;
    std::vector<float> b_up, b_down, out_norm_w, out_norm_b;
  };
  const gguf::TensorInfo* token_embd = nullptr;
  size_t token_embd_row_bytes = 0;
  std::vector<float> position_embd;  // (n_ctx, n_embd)
  std::vector<float> token_type0;    // (n_embd,) row 0 of token_types, or empty
  std::vector<float> embd_norm_w, embd_norm_b;
  std::vector<Layer> layers;
};

struct EncoderModel::Scratch {
  std::vector<float> x;     // (T, d) residual stream
  std::vector<float> qkv;   // (T, 3d) projection output
  std::vector<float> q, k, v;  // (T, d) each, split out of qkv for attention
  std::vector<float> attn;  // (T, d)
  std::vector<float> proj;  // (T, d)
  std::vector<float> up;    // (T, ff)
  std::vector<int32_t> kv_len;  // (T,)
};

StatusOr<EncoderHParams> ReadEncoderHParams(const gguf::GgufFile& f) {
  const auto arch = f.GetString("general.architecture");
  if (arch != std::optional<std::string>(std::string(kArch)))
    return UnimplementedError("encoder: architecture '" + arch.value_or("") + "' is not bert");
  const std::string a(kArch);
  EncoderHParams hp;
  auto need = [&](const std::string& key, int64_t* out) -> Status {
    const auto v = PositiveInt(f, a + "." + key);
    if (!v) return InvalidArgumentError("encoder: missing or invalid " + a + "." + key);
    *out = *v;
    return Status::Ok();
  };
  RETURN_IF_ERROR(need("embedding_length", &hp.n_embd));
  RETURN_IF_ERROR(need("block_count", &hp.n_layer));
  RETURN_IF_ERROR(need("feed_forward_length", &hp.n_ff));
  RETURN_IF_ERROR(need("attention.head_count", &hp.n_head));
  if (hp.n_embd % hp.n_head != 0)
    return InvalidArgumentError("encoder: embedding_length " + std::to_string(hp.n_embd) +
                                " is not a multiple of attention.head_count " + std::to_string(hp.n_head));
  hp.head_dim = hp.n_embd / hp.n_head;
  if (const auto eps = f.GetFloat(a + ".attention.layer_norm_epsilon")) {
    if (!(*eps > 0 && *eps < 1)) return InvalidArgumentError("encoder: bad attention.layer_norm_epsilon");
    hp.layer_norm_eps = static_cast<float>(*eps);
  }
  if (f.GetBool(a + ".attention.causal").value_or(false))
    return UnimplementedError("encoder: causal bert models are not supported");
  if (const auto p = f.GetInt(a + ".pooling_type")) {
    if (*p == 1) hp.pooling = Pooling::kMean;
    else if (*p == 2) hp.pooling = Pooling::kCls;
    else if (*p == 3) hp.pooling = Pooling::kLast;
    else return UnimplementedError("encoder: pooling_type " + std::to_string(*p) +
                                   " (supported: 1 mean, 2 cls, 3 last)");
  }
  const gguf::TensorInfo* embd = f.FindTensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2 || embd->dims[0] != hp.n_embd || embd->dims[1] <= 0)
    return InvalidArgumentError("encoder: missing tensor 'token_embd.weight' of shape [" +
                                std::to_string(hp.n_embd) + ", n_vocab]");
  hp.n_vocab = embd->dims[1];
  const gguf::TensorInfo* pos = f.FindTensor("position_embd.weight");
  if (!pos || pos->dims.size() != 2 || pos->dims[0] != hp.n_embd || pos->dims[1] <= 0)
    return InvalidArgumentError("encoder: missing tensor 'position_embd.weight' of shape [" +
                                std::to_string(hp.n_embd) + ", n_ctx]");
  hp.n_ctx = pos->dims[1];
  if (const auto ctx = PositiveInt(f, a + ".context_length")) hp.n_ctx = std::min(hp.n_ctx, *ctx);
  if (const gguf::TensorInfo* tt = f.FindTensor("token_types.weight"); tt && tt->dims.size() == 2)
    hp.n_token_types = tt->dims[1];
  return hp;
}

EncoderModel::EncoderModel(PrivateTag) : scratch_(std::make_unique<Scratch>()) {}
EncoderModel::~EncoderModel() = default;

namespace {

StatusOr<EncoderModel::Weights::Layer> BindEncoderLayer(const EncoderBinder& b, const EncoderHParams& hp,
                                                        int64_t layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  const int64_t d = hp.n_embd, ff = hp.n_ff;
  EncoderModel::Weights::Layer lw;
  const gguf::TensorInfo* qkv[3];
  const char* names[3] = {"attn_q", "attn_k", "attn_v"};
  for (int i = 0; i < 3; ++i) {
    ASSIGN_OR_RETURN(qkv[i], b.Find(p + names[i] + ".weight", {d, d}, true));
    ASSIGN_OR_RETURN(auto bias, b.Vector(p + names[i] + ".bias", d));
    lw.bqkv.insert(lw.bqkv.end(), bias.begin(), bias.end());
  }
  const auto row_bytes = RowBytes(qkv[0]->type, d);
  if (row_bytes && qkv[1]->type == qkv[0]->type && qkv[2]->type == qkv[0]->type) {
    std::vector<uint8_t> stacked;
    stacked.reserve(3 * d * *row_bytes);
    for (const auto* t : qkv) stacked.insert(stacked.end(), t->data, t->data + d * *row_bytes);
    auto packed = kernels::PackedMatrix::Pack({qkv[0]->type, 3 * d, d, stacked.data()});
    if (!packed.ok()) return packed.status().WithContext("encoder: tensor '" + qkv[0]->name + "'");
    lw.wqkv.emplace(std::move(packed).value());
  } else {
    ASSIGN_OR_RETURN(auto wq, b.Pack(*qkv[0], d, d));
    ASSIGN_OR_RETURN(auto wk, b.Pack(*qkv[1], d, d));
    ASSIGN_OR_RETURN(auto wv, b.Pack(*qkv[2], d, d));
    lw.wq.emplace(std::move(wq));
    lw.wk.emplace(std::move(wk));
    lw.wv.emplace(std::move(wv));
  }
  ASSIGN_OR_RETURN(auto wo, b.Matrix(p + "attn_output.weight", d, d));
  lw.wo.emplace(std::move(wo));
  ASSIGN_OR_RETURN(lw.bo, b.Vector(p + "attn_output.bias", d));
  ASSIGN_OR_RETURN(lw.attn_norm_w, b.Vector(p + "attn_output_norm.weight", d));
  ASSIGN_OR_RETURN(lw.attn_norm_b, b.Vector(p + "attn_output_norm.bias", d));
  ASSIGN_OR_RETURN(auto up, b.Matrix(p + "ffn_up.weight", d, ff));
  lw.w_up.emplace(std::move(up));
  ASSIGN_OR_RETURN(lw.b_up, b.Vector(p + "ffn_up.bias", ff));
  ASSIGN_OR_RETURN(auto down, b.Matrix(p + "ffn_down.weight", ff, d));
  lw.w_down.emplace(std::move(down));
  ASSIGN_OR_RETURN(lw.b_down, b.Vector(p + "ffn_down.bias", d));
  ASSIGN_OR_RETURN(lw.out_norm_w, b.Vector(p + "layer_output_norm.weight", d));
  ASSIGN_OR_RETURN(lw.out_norm_b, b.Vector(p + "layer_output_norm.bias", d));
  return lw;
}

uint64_t EncoderFingerprint(const gguf::GgufFile& file, const EncoderHParams& hp) {
  uint64_t h = Hash64(kArch);
  const int64_t ints[] = {hp.n_vocab, hp.n_embd, hp.n_layer, hp.n_ff, hp.n_head, hp.n_ctx, hp.n_token_types};
  h = HashCombine(h, Hash64(ints, sizeof(ints)));
  h = HashCombine(h, Hash64(&hp.layer_norm_eps, sizeof(hp.layer_norm_eps)));
  return FingerprintTensors(file, h);
}

}  // namespace

StatusOr<std::unique_ptr<EncoderModel>> EncoderModel::Load(const std::string& path,
                                                           const EncoderLoadOptions& options) {
  if (options.max_batch_tokens <= 0) return InvalidArgumentError("encoder: max_batch_tokens must be positive");
  auto m = std::make_unique<EncoderModel>(PrivateTag{});
  ASSIGN_OR_RETURN(m->file_, gguf::GgufFile::Open(path));
  auto hp = ReadEncoderHParams(*m->file_);
  if (!hp.ok()) return hp.status().WithContext(path);
  m->hparams_ = *hp;
  m->max_batch_tokens_ = options.max_batch_tokens;
  if (options.pool) {
    m->pool_ = options.pool;
  } else {
    m->owned_pool_ = std::make_unique<ThreadPool>(options.n_threads);
    m->pool_ = m->owned_pool_.get();
  }
  auto bind = [&]() -> Status {
    const EncoderBinder b(*m->file_);
    const EncoderHParams& h = m->hparams_;
    const int64_t d = h.n_embd;
    auto w = std::make_unique<Weights>();
    ASSIGN_OR_RETURN(w->token_embd, b.Find("token_embd.weight", {d, h.n_vocab}, true));
    if (!kernels::CanDequantize(w->token_embd->type))
      return UnimplementedError("encoder: tensor 'token_embd.weight' has unsupported type " +
                                std::string(DTypeName(w->token_embd->type)));
    const auto row_bytes = RowBytes(w->token_embd->type, d);
    if (!row_bytes) return InvalidArgumentError("encoder: tensor 'token_embd.weight' rows are not whole blocks");
    w->token_embd_row_bytes = *row_bytes;
    ASSIGN_OR_RETURN(const gguf::TensorInfo* pos, b.Find("position_embd.weight",
                                                         {d, m->file_->FindTensor("position_embd.weight")->dims[1]},
                                                         true));
    ASSIGN_OR_RETURN(w->position_embd, b.Table(*pos, d, h.n_ctx));
    if (h.n_token_types > 0) {
      ASSIGN_OR_RETURN(const gguf::TensorInfo* tt, b.Find("token_types.weight", {d, h.n_token_types}, true));
      ASSIGN_OR_RETURN(w->token_type0, b.Table(*tt, d, 1));
    }
    ASSIGN_OR_RETURN(w->embd_norm_w, b.Vector("token_embd_norm.weight", d));
    ASSIGN_OR_RETURN(w->embd_norm_b, b.Vector("token_embd_norm.bias", d));
    // Layers pack independently: spread them over the pool.
    std::vector<std::optional<StatusOr<Weights::Layer>>> layers(static_cast<size_t>(h.n_layer));
    m->pool_->ParallelFor(h.n_layer, [&](int64_t l, int) {
      layers[static_cast<size_t>(l)].emplace(BindEncoderLayer(b, h, l));
    });
    for (auto& l : layers) {
      if (!l->ok()) return l->status();
      w->layers.push_back(std::move(*l).value());
    }
    m->weights_ = std::move(w);
    return Status::Ok();
  };
  if (Status s = bind(); !s.ok()) return s.WithContext(path);
  m->fingerprint_ = EncoderFingerprint(*m->file_, m->hparams_);
  return m;
}

Status EncoderModel::Forward(std::span<const std::span<const int32_t>> seqs, std::vector<float>* hidden,
                             const std::atomic<bool>* cancel) {
  int64_t total = 0;
  for (const auto& s : seqs) total += static_cast<int64_t>(s.size());
  hidden->assign(static_cast<size_t>(total * hparams_.n_embd), 0.0f);
  std::lock_guard<std::mutex> lock(mu_);
  // Validate everything first so no pass runs on a bad batch.
  for (const auto& s : seqs) {
    if (s.empty()) return InvalidArgumentError("encoder: empty sequence");
    if (static_cast<int64_t>(s.size()) > hparams_.n_ctx)
      return OutOfRangeError("encoder: sequence of " + std::to_string(s.size()) + " tokens exceeds the context of " +
                             std::to_string(hparams_.n_ctx));
    for (int32_t id : s)
      if (id < 0 || id >= hparams_.n_vocab)
        return InvalidArgumentError("encoder: token id " + std::to_string(id) + " outside the vocabulary of " +
                                    std::to_string(hparams_.n_vocab));
  }
  // Pack consecutive sequences into passes of at most max_batch_tokens (a
  // single longer sequence, up to n_ctx, runs alone).
  size_t first = 0;
  int64_t row = 0;
  while (first < seqs.size()) {
    size_t end = first;
    int64_t n = 0;
    while (end < seqs.size() && (end == first || n + static_cast<int64_t>(seqs[end].size()) <= max_batch_tokens_)) {
      n += static_cast<int64_t>(seqs[end].size());
      ++end;
    }
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed))
      return CancelledError("encoder: cancelled after " + std::to_string(first) + " of " +
                            std::to_string(seqs.size()) + " sequences");
    RETURN_IF_ERROR(ForwardPass(seqs.subspan(first, end - first), hidden->data() + row * hparams_.n_embd));
    row += n;
    first = end;
  }
  return Status::Ok();
}

Status EncoderModel::ForwardPass(std::span<const std::span<const int32_t>> seqs, float* out) {
  const EncoderHParams& hp = hparams_;
  const Weights& w = *weights_;
  Scratch& s = *scratch_;
  const int64_t d = hp.n_embd, ff = hp.n_ff;
  const float eps = hp.layer_norm_eps;
  int64_t T = 0;
  for (const auto& q : seqs) T += static_cast<int64_t>(q.size());
  const auto sz = [](int64_t n) { return static_cast<size_t>(n); };
  s.x.resize(sz(T * d));
  s.qkv.resize(sz(T * 3 * d));
  s.q.resize(sz(T * d));
  s.k.resize(sz(T * d));
  s.v.resize(sz(T * d));
  s.attn.resize(sz(T * d));
  s.proj.resize(sz(T * d));
  s.up.resize(sz(T * ff));
  s.kv_len.resize(sz(T));

  // Row-parallel helper: fn(row) for every row in [0, T).
  auto rows = [&](const std::function<void(int64_t)>& fn) {
    constexpr int64_t kRowsPerTask = 8;
    const int64_t n_tasks = (T + kRowsPerTask - 1) / kRowsPerTask;
    pool_->ParallelFor(n_tasks, [&](int64_t task, int) {
      for (int64_t r = task * kRowsPerTask; r < std::min(T, (task + 1) * kRowsPerTask); ++r) fn(r);
    });
  };

  // Embeddings: x = LN(tok + pos + type0).
  std::vector<int64_t> tok_row(sz(T)), pos_of(sz(T));
  {
    int64_t t = 0;
    for (const auto& q : seqs)
      for (size_t i = 0; i < q.size(); ++i, ++t) {
        tok_row[sz(t)] = q[i];
        pos_of[sz(t)] = static_cast<int64_t>(i);
      }
  }
  rows([&](int64_t t) {
    float* x = &s.x[sz(t * d)];
    float* tmp = &s.proj[sz(t * d)];
    kernels::DequantizeRow(w.token_embd->type, w.token_embd->data + tok_row[sz(t)] * w.token_embd_row_bytes, tmp, d);
    const float* pe = &w.position_embd[sz(pos_of[sz(t)] * d)];
    for (int64_t i = 0; i < d; ++i) tmp[i] += pe[i];
    if (!w.token_type0.empty())
      for (int64_t i = 0; i < d; ++i) tmp[i] += w.token_type0[sz(i)];
    kernels::LayerNorm(tmp, w.embd_norm_w.data(), w.embd_norm_b.data(), d, eps, x);
  });

  const kernels::AttentionShape shape{.n_heads = static_cast<int>(hp.n_head),
                                      .n_kv_heads = static_cast<int>(hp.n_head),
                                      .head_dim = static_cast<int>(hp.head_dim),
                                      .scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim))};
  // Sequence offsets for attention.
  std::vector<int64_t> offset(seqs.size() + 1, 0);
  for (size_t i = 0; i < seqs.size(); ++i) offset[i + 1] = offset[i] + static_cast<int64_t>(seqs[i].size());
  // Many short sequences: one task per sequence, each attention on its own
  // thread; few long ones: each attention spreads over the pool.
  const kernels::Isa gelu_isa = kernels::ActiveIsa();
  const bool per_sequence_tasks = static_cast<int64_t>(seqs.size()) >= 2 * pool_->size();

  for (const Weights::Layer& l : w.layers) {
    // q | k | v (T, 3d), biases added while splitting into q, k, v.
    if (l.wqkv) {
      kernels::MatMul(*l.wqkv, s.x.data(), T, s.qkv.data(), pool_);
    } else {
      kernels::MatMul(*l.wq, s.x.data(), T, s.q.data(), pool_);
      kernels::MatMul(*l.wk, s.x.data(), T, s.k.data(), pool_);
      kernels::MatMul(*l.wv, s.x.data(), T, s.v.data(), pool_);
    }
    rows([&](int64_t t) {
      float* dst[3] = {&s.q[sz(t * d)], &s.k[sz(t * d)], &s.v[sz(t * d)]};
      for (int j = 0; j < 3; ++j) {
        const float* b = &l.bqkv[sz(j * d)];
        if (l.wqkv) {
          const float* src = &s.qkv[sz(t * 3 * d + j * d)];
          for (int64_t i = 0; i < d; ++i) dst[j][i] = src[i] + b[i];
        } else {
          for (int64_t i = 0; i < d; ++i) dst[j][i] += b[i];
        }
      }
    });
    // Bidirectional attention within each sequence: every query sees all
    // n keys of its sequence (one KV block of n tokens).
    auto attend = [&](size_t i, ThreadPool* pool) {
      const int64_t o = offset[i], n = offset[i + 1] - offset[i];
      for (int64_t t = 0; t < n; ++t) s.kv_len[sz(o + t)] = static_cast<int32_t>(n);
      const void* kb = &s.k[sz(o * d)];
      const void* vb = &s.v[sz(o * d)];
      const kernels::KvBlocksView view{std::span<const void* const>(&kb, 1), std::span<const void* const>(&vb, 1),
                                       n};
      kernels::Attention(&s.q[sz(o * d)], n, &s.kv_len[sz(o)], view, shape, &s.attn[sz(o * d)], pool);
    };
    if (per_sequence_tasks) {
      pool_->ParallelFor(static_cast<int64_t>(seqs.size()), [&](int64_t i, int) { attend(sz(i), nullptr); });
    } else {
      for (size_t i = 0; i < seqs.size(); ++i) attend(i, pool_);
    }
    // x = LN(x + attn Wo^T + bo)
    kernels::MatMul(*l.wo, s.attn.data(), T, s.proj.data(), pool_);
    rows([&](int64_t t) {
      float* x = &s.x[sz(t * d)];
      float* p = &s.proj[sz(t * d)];
      for (int64_t i = 0; i < d; ++i) p[i] += l.bo[sz(i)] + x[i];
      kernels::LayerNorm(p, l.attn_norm_w.data(), l.attn_norm_b.data(), d, eps, x);
    });
    // x = LN(x + gelu(x Wup^T + bup) Wdown^T + bdown)
    kernels::MatMul(*l.w_up, s.x.data(), T, s.up.data(), pool_);
    rows([&](int64_t t) {
      float* u = &s.up[sz(t * ff)];
      kernels::AddInPlace(u, l.b_up.data(), ff);
      kernels::GeluWithIsa(gelu_isa, u, ff);
    });
    kernels::MatMul(*l.w_down, s.up.data(), T, s.proj.data(), pool_);
    rows([&](int64_t t) {
      float* x = &s.x[sz(t * d)];
      float* p = &s.proj[sz(t * d)];
      for (int64_t i = 0; i < d; ++i) p[i] += l.b_down[sz(i)] + x[i];
      kernels::LayerNorm(p, l.out_norm_w.data(), l.out_norm_b.data(), d, eps, x);
    });
  }
  std::memcpy(out, s.x.data(), sz(T * d) * sizeof(float));
  return Status::Ok();
}

Status EncoderModel::Embed(std::span<const std::span<const int32_t>> seqs, Pooling pooling, std::span<float> out,
                           const std::atomic<bool>* cancel) {
  const int64_t d = hparams_.n_embd;
  CHECK(out.size() == seqs.size() * static_cast<size_t>(d));
  if (pooling == Pooling::kNone) return InvalidArgumentError("encoder: Embed needs a pooling (mean, cls or last)");
  std::vector<float> hidden;
  RETURN_IF_ERROR(Forward(seqs, &hidden, cancel));
  int64_t row = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t n = static_cast<int64_t>(seqs[i].size());
    PoolAndNormalize(&hidden[static_cast<size_t>(row * d)], n, d, pooling, &out[i * static_cast<size_t>(d)]);
    row += n;
  }
  return Status::Ok();
}

}  // namespace chunkserve::model
