#include "rag/embed/use_embedder.h"

#include <algorithm>
#include <cmath>

#include "base/hash.h"
#include "base/logging.h"
#include "kernels/attention.h"
#include "kernels/ops.h"

namespace chunkserve::rag {

StatusOr<std::unique_ptr<UseEmbedder>> UseEmbedder::Load(const std::string& gguf_path, const UseLoadOptions& options) {
  std::unique_ptr<UseEmbedder> e(new UseEmbedder());
  ASSIGN_OR_RETURN(e->file_, gguf::GgufFile::Open(gguf_path));
  const gguf::GgufFile& f = *e->file_;
  if (f.GetString("general.architecture").value_or("") != "use-lite")
    return InvalidArgumentError(gguf_path + ": not a use-lite model");
  const std::optional<std::string> vocab = f.GetString("use-lite.vocab_json");
  if (!vocab) return InvalidArgumentError(gguf_path + ": missing use-lite.vocab_json");
  ASSIGN_OR_RETURN(UnigramTokenizer tok, UnigramTokenizer::FromVocabJson(*vocab));
  e->tokenizer_ = std::make_unique<UnigramTokenizer>(std::move(tok));
  e->max_tokens_ = f.GetInt("use-lite.max_tokens").value_or(128);
  e->n_heads_ = static_cast<int>(f.GetInt("use-lite.head_count").value_or(4));

  // A tensor of exactly `dims` (ggml order), f32.
  auto get = [&](const std::string& name, std::vector<int64_t> dims) -> StatusOr<const float*> {
    const gguf::TensorInfo* t = f.FindTensor(name);
    if (t == nullptr) return InvalidArgumentError(gguf_path + ": missing tensor " + name);
    if (t->type != DType::kF32 || t->dims != dims)
      return InvalidArgumentError(gguf_path + ": tensor " + name + " has the wrong type or shape");
    return reinterpret_cast<const float*>(t->data);
  };
  const gguf::TensorInfo* emb = f.FindTensor("token_embd");
  if (emb == nullptr || emb->dims.size() != 2 || emb->dims[0] != 256)
    return InvalidArgumentError(gguf_path + ": missing or misshapen token_embd");
  e->n_embd_rows_ = emb->dims[1];
  if (e->tokenizer_->n_pieces() > e->n_embd_rows_)
    return InvalidArgumentError(gguf_path + ": more vocabulary pieces than embedding rows");
  ASSIGN_OR_RETURN(e->token_embd_, get("token_embd", {256, e->n_embd_rows_}));
  ASSIGN_OR_RETURN(e->inv_timescales_, get("timing.inv_timescales", {128}));
  auto matrix = [&](const std::string& name, int64_t in, int64_t out, Matrix* m) -> Status {
    ASSIGN_OR_RETURN(m->w, get(name + ".weight", {out, in}));
    ASSIGN_OR_RETURN(m->b, get(name + ".bias", {out}));
    m->in = in;
    m->out = out;
    return Status::Ok();
  };
  const int64_t widths[2] = {256, 512};
  for (int l = 0; l < 2; ++l) {
    Layer& L = e->layers_[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    const int64_t d = widths[l];
    L.width_in = d;
    ASSIGN_OR_RETURN(L.attn_norm_w, get(p + "attn_norm.weight", {d}));
    ASSIGN_OR_RETURN(L.attn_norm_b, get(p + "attn_norm.bias", {d}));
    ASSIGN_OR_RETURN(L.ffn_norm_w, get(p + "ffn_norm.weight", {512}));
    ASSIGN_OR_RETURN(L.ffn_norm_b, get(p + "ffn_norm.bias", {512}));
    RETURN_IF_ERROR(matrix(p + "attn_qkv", d, 3 * d, &L.qkv));
    RETURN_IF_ERROR(matrix(p + "attn_output", d, 512, &L.attn_out));
    RETURN_IF_ERROR(matrix(p + "ffn_up", 512, 1536, &L.ffn_up));
    RETURN_IF_ERROR(matrix(p + "ffn_down", 1536, 512, &L.ffn_down));
    if (d != 512) RETURN_IF_ERROR(matrix(p + "res_proj", d, 512, &L.res));
  }
  RETURN_IF_ERROR(matrix("head", 512, 512, &e->head_));
  uint64_t h = Hash64(*vocab);
  for (const gguf::TensorInfo& t : f.tensors()) h = HashCombine(h, Hash64(std::string_view(reinterpret_cast<const char*>(t.data), std::min<uint64_t>(t.n_bytes, 4096))));
  e->id_ = "use-lite/" + HashToHex(h) + "/max=" + std::to_string(e->max_tokens_);

  e->isa_ = options.isa.value_or(kernels::ActiveIsa());
  if (!kernels::IsaSupported(e->isa_))
    return FailedPreconditionError("this CPU cannot run the " + std::string(kernels::IsaName(e->isa_)) + " kernels");
  RETURN_IF_ERROR(e->PackWeights());
  e->batch_tokens_ = std::max<int64_t>(options.batch_tokens, 1);
  if (options.pool != nullptr) {
    e->pool_ = options.pool;
  } else {
    e->own_pool_ = std::make_unique<ThreadPool>(options.n_threads);
    e->pool_ = e->own_pool_.get();
  }
  return e;
}

std::vector<int32_t> UseEmbedder::Tokenize(std::string_view text) const {
  std::vector<int32_t> ids = tokenizer_->Encode(text);
  if (static_cast<int64_t>(ids.size()) > max_tokens_) ids.resize(static_cast<size_t>(max_tokens_));
  return ids;
}

UseEmbedder::~UseEmbedder() = default;

Status UseEmbedder::PackWeights() {
  // The graph stores W as [in, out]; MatMul wants W^T rows (one per output).
  auto pack = [&](const Matrix& m, std::optional<kernels::PackedMatrix>* dst) -> Status {
    std::vector<float> wt(static_cast<size_t>(m.in * m.out));
    for (int64_t i = 0; i < m.in; ++i)
      for (int64_t o = 0; o < m.out; ++o) wt[static_cast<size_t>(o * m.in + i)] = m.w[i * m.out + o];
    const kernels::WeightView view{DType::kF32, m.out, m.in, reinterpret_cast<const uint8_t*>(wt.data())};
    ASSIGN_OR_RETURN(kernels::PackedMatrix packed, kernels::PackedMatrix::Pack(view, isa_));
    dst->emplace(std::move(packed));
    return Status::Ok();
  };
  for (int l = 0; l < 2; ++l) {
    const Layer& L = layers_[l];
    PackedLayer& P = packed_[l];
    RETURN_IF_ERROR(pack(L.qkv, &P.qkv));
    RETURN_IF_ERROR(pack(L.attn_out, &P.attn_out));
    RETURN_IF_ERROR(pack(L.ffn_up, &P.ffn_up));
    RETURN_IF_ERROR(pack(L.ffn_down, &P.ffn_down));
    if (L.res.w != nullptr) RETURN_IF_ERROR(pack(L.res, &P.res));
  }
  return pack(head_, &packed_head_);
}

namespace {

// y (n, m.rows) = x (n, m.cols) @ W^T + b, row by row.
void Project(const kernels::PackedMatrix& m, const float* b, const float* x, int64_t n, float* y, ThreadPool* pool) {
  kernels::MatMul(m, x, n, y, pool);
  for (int64_t t = 0; t < n; ++t) kernels::AddInPlace(y + t * m.rows(), b, m.rows());
}

void LayerNormRows(const float* x, int64_t n, int64_t d, const float* w, const float* b, float eps, float* y) {
  for (int64_t t = 0; t < n; ++t) kernels::LayerNorm(x + t * d, w, b, d, eps, y + t * d);
}

}  // namespace

void UseEmbedder::EncodePass(std::span<const std::vector<int32_t>> ids, float* pooled) const {
  const size_t n_texts = ids.size();
  std::vector<int64_t> first(n_texts + 1, 0);  // the texts' first rows
  for (size_t i = 0; i < n_texts; ++i) first[i + 1] = first[i] + static_cast<int64_t>(ids[i].size());
  const int64_t n = first.back();
  std::fill(pooled, pooled + n_texts * 512, 0.0f);
  if (n == 0) return;

  // x = 2 e + [sin, cos] per text, positions from 0 (as EmbedReference).
  std::vector<float> x(static_cast<size_t>(n * 256));
  for (size_t i = 0; i < n_texts; ++i)
    for (size_t p = 0; p < ids[i].size(); ++p) {
      const float* row = token_embd_ + static_cast<int64_t>(ids[i][p]) * 256;
      float* xt = &x[static_cast<size_t>((first[i] + static_cast<int64_t>(p)) * 256)];
      for (int64_t k = 0; k < 128; ++k) {
        const float angle = static_cast<float>(p) * inv_timescales_[k];
        xt[k] = row[k] + (row[k] + std::sin(angle));
        xt[128 + k] = row[128 + k] + (row[128 + k] + std::cos(angle));
      }
    }

  for (int l = 0; l < 2; ++l) {
    const Layer& L = layers_[l];
    const PackedLayer& P = packed_[l];
    const int64_t d = L.width_in, hd = d / n_heads_;
    std::vector<float> h(static_cast<size_t>(n * d)), qkv(static_cast<size_t>(n * 3 * d));
    LayerNormRows(x.data(), n, d, L.attn_norm_w, L.attn_norm_b, eps_, h.data());
    Project(*P.qkv, L.qkv.b, h.data(), n, qkv.data(), pool_);
    // Attention reads q, k and v as contiguous (n, heads, head_dim) rows.
    std::vector<float> q(static_cast<size_t>(n * d)), k(q.size()), v(q.size()), att(q.size());
    for (int64_t t = 0; t < n; ++t) {
      const float* row = &qkv[static_cast<size_t>(t * 3 * d)];
      std::copy(row, row + d, &q[static_cast<size_t>(t * d)]);
      std::copy(row + d, row + 2 * d, &k[static_cast<size_t>(t * d)]);
      std::copy(row + 2 * d, row + 3 * d, &v[static_cast<size_t>(t * d)]);
    }
    kernels::AttentionShape shape;
    shape.n_heads = n_heads_;
    shape.n_kv_heads = n_heads_;
    shape.head_dim = static_cast<int>(hd);
    shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (size_t i = 0; i < n_texts; ++i) {
      const int64_t len = first[i + 1] - first[i];
      if (len == 0) continue;
      const std::vector<int32_t> kv_len(static_cast<size_t>(len), static_cast<int32_t>(len));  // every key visible
      const void* k_block = &k[static_cast<size_t>(first[i] * d)];
      const void* v_block = &v[static_cast<size_t>(first[i] * d)];
      const kernels::KvBlocksView view{std::span<const void* const>(&k_block, 1),
                                       std::span<const void* const>(&v_block, 1), len, DType::kF32};
      kernels::AttentionWithIsa(isa_, &q[static_cast<size_t>(first[i] * d)], len, kv_len.data(), view, shape,
                                &att[static_cast<size_t>(first[i] * d)], pool_);
    }
    std::vector<float> y(static_cast<size_t>(n * 512));
    Project(*P.attn_out, L.attn_out.b, att.data(), n, y.data(), pool_);
    if (P.res) {
      std::vector<float> r(y.size());
      Project(*P.res, L.res.b, x.data(), n, r.data(), pool_);
      for (size_t i = 0; i < y.size(); ++i) y[i] += r[i];
    } else {
      for (size_t i = 0; i < y.size(); ++i) y[i] += x[i];
    }
    std::vector<float> f(y.size()), u(static_cast<size_t>(n * 1536)), z(y.size());
    LayerNormRows(y.data(), n, 512, L.ffn_norm_w, L.ffn_norm_b, eps_, f.data());
    Project(*P.ffn_up, L.ffn_up.b, f.data(), n, u.data(), pool_);
    for (float& e : u) e = std::max(e, 0.0f);
    Project(*P.ffn_down, L.ffn_down.b, u.data(), n, z.data(), pool_);
    for (size_t i = 0; i < y.size(); ++i) y[i] += z[i];
    x = std::move(y);
  }
  for (size_t i = 0; i < n_texts; ++i) {
    float* p = pooled + i * 512;
    for (int64_t t = first[i]; t < first[i + 1]; ++t)
      for (int64_t j = 0; j < 512; ++j) p[j] += x[static_cast<size_t>(t * 512 + j)];
    if (first[i + 1] > first[i])
      for (int64_t j = 0; j < 512; ++j) p[j] /= static_cast<float>(first[i + 1] - first[i]);
  }
}

Status UseEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  return EmbedBatch(std::span<const std::string_view>(&text, 1), out, control);
}

Status UseEmbedder::EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                               const EmbedControl& control) const {
  CHECK(out.size() == texts.size() * 512);
  RETURN_IF_ERROR(control.Check());
  std::vector<std::vector<int32_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = Tokenize(texts[i]);
  std::vector<float> pooled(texts.size() * 512);
  std::lock_guard<std::mutex> lock(pool_mu_);
  for (size_t i = 0; i < ids.size();) {
    RETURN_IF_ERROR(control.Check());
    size_t j = i;
    int64_t tokens = 0;
    while (j < ids.size() && (j == i || tokens + static_cast<int64_t>(ids[j].size()) <= batch_tokens_))
      tokens += static_cast<int64_t>(ids[j++].size());
    EncodePass(std::span<const std::vector<int32_t>>(ids.data() + i, j - i), pooled.data() + i * 512);
    i = j;
  }
  if (texts.empty()) return Status::Ok();
  Project(*packed_head_, head_.b, pooled.data(), static_cast<int64_t>(texts.size()), out.data(), pool_);
  for (size_t i = 0; i < texts.size(); ++i) {
    std::span<float> o = out.subspan(i * 512, 512);
    float norm2 = 0;
    for (float& v : o) {
      v = std::tanh(v);
      norm2 += v * v;
    }
    const float inv = 1.0f / std::sqrt(std::max(norm2, 1e-12f));
    for (float& v : o) v *= inv;
  }
  return Status::Ok();
}
}  // namespace chunkserve::rag
