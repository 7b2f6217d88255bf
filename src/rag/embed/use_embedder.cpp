#include "rag/embed/use_embedder.h"

#include <algorithm>
#include <cmath>

#include "base/hash.h"
#include "base/logging.h"

namespace chunkserve::rag {
namespace {

// y (n, out) = x (n, in) @ W (in, out) + b
void Affine(const float* x, int64_t n, const float* w, const float* b, int64_t in, int64_t out, float* y) {
  for (int64_t t = 0; t < n; ++t) {
    float* yt = y + t * out;
    for (int64_t j = 0; j < out; ++j) yt[j] = 0.0f;
    const float* xt = x + t * in;
    for (int64_t i = 0; i < in; ++i) {
      const float xi = xt[i];
      const float* wi = w + i * out;
      for (int64_t j = 0; j < out; ++j) yt[j] += xi * wi[j];
    }
    if (b != nullptr)
      for (int64_t j = 0; j < out; ++j) yt[j] += b[j];
  }
}

// LayerNorm over rows of width d (population variance, as the graph).
void LayerNorm(const float* x, int64_t n, int64_t d, const float* w, const float* b, float eps, float* y) {
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * d;
    float mean = 0;
    for (int64_t i = 0; i < d; ++i) mean += xt[i];
    mean /= static_cast<float>(d);
    float var = 0;
    for (int64_t i = 0; i < d; ++i) var += (xt[i] - mean) * (xt[i] - mean);
    var /= static_cast<float>(d);
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int64_t i = 0; i < d; ++i) y[t * d + i] = (xt[i] - mean) * (w[i] * inv) + b[i];
  }
}

}  // namespace

StatusOr<std::unique_ptr<UseEmbedder>> UseEmbedder::Load(const std::string& gguf_path) {
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
  return e;
}

std::vector<int32_t> UseEmbedder::Tokenize(std::string_view text) const {
  std::vector<int32_t> ids = tokenizer_->Encode(text);
  if (static_cast<int64_t>(ids.size()) > max_tokens_) ids.resize(static_cast<size_t>(max_tokens_));
  return ids;
}

Status UseEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  CHECK(out.size() == 512);
  RETURN_IF_ERROR(control.Check());
  const std::vector<int32_t> ids = Tokenize(text);
  const int64_t n = static_cast<int64_t>(ids.size());
  std::vector<float> pooled(512, 0.0f);
  if (n > 0) {
    // The graph adds the embeddings to (embeddings + timing signal):
    // x = 2 e + [sin, cos] (TransformerStack/Layer_0/add), positions 0..n-1.
    std::vector<float> x(static_cast<size_t>(n * 256));
    for (int64_t t = 0; t < n; ++t) {
      const float* row = token_embd_ + static_cast<int64_t>(ids[static_cast<size_t>(t)]) * 256;
      for (int64_t k = 0; k < 128; ++k) {
        const float angle = static_cast<float>(t) * inv_timescales_[k];
        x[t * 256 + k] = row[k] + (row[k] + std::sin(angle));
        x[t * 256 + 128 + k] = row[128 + k] + (row[128 + k] + std::cos(angle));
      }
    }
    for (const Layer& L : layers_) {
      const int64_t d = L.width_in, hd = d / n_heads_;
      std::vector<float> h(static_cast<size_t>(n * d)), qkv(static_cast<size_t>(n * 3 * d));
      LayerNorm(x.data(), n, d, L.attn_norm_w, L.attn_norm_b, eps_, h.data());
      Affine(h.data(), n, L.qkv.w, L.qkv.b, d, 3 * d, qkv.data());
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      std::vector<float> att(static_cast<size_t>(n * d)), scores(static_cast<size_t>(n));
      for (int head = 0; head < n_heads_; ++head) {
        for (int64_t i = 0; i < n; ++i) {
          const float* q = &qkv[static_cast<size_t>(i * 3 * d + head * hd)];
          float mx = -INFINITY;
          for (int64_t j = 0; j < n; ++j) {
            const float* k = &qkv[static_cast<size_t>(j * 3 * d + d + head * hd)];
            float s = 0;
            for (int64_t c = 0; c < hd; ++c) s += (q[c] * scale) * k[c];
            scores[static_cast<size_t>(j)] = s;
            mx = std::max(mx, s);
          }
          float sum = 0;
          for (float& s : scores) sum += (s = std::exp(s - mx));
          float* o = &att[static_cast<size_t>(i * d + head * hd)];
          for (int64_t c = 0; c < hd; ++c) o[c] = 0;
          for (int64_t j = 0; j < n; ++j) {
            const float wgt = scores[static_cast<size_t>(j)] / sum;
            const float* v = &qkv[static_cast<size_t>(j * 3 * d + 2 * d + head * hd)];
            for (int64_t c = 0; c < hd; ++c) o[c] += wgt * v[c];
          }
        }
      }
      std::vector<float> y(static_cast<size_t>(n * 512));
      Affine(att.data(), n, L.attn_out.w, L.attn_out.b, d, 512, y.data());
      if (L.res.w != nullptr) {
        std::vector<float> r(static_cast<size_t>(n * 512));
        Affine(x.data(), n, L.res.w, L.res.b, d, 512, r.data());
        for (size_t i = 0; i < y.size(); ++i) y[i] += r[i];
      } else {
        for (size_t i = 0; i < y.size(); ++i) y[i] += x[i];
      }
      std::vector<float> f(static_cast<size_t>(n * 512)), u(static_cast<size_t>(n * 1536)),
          z(static_cast<size_t>(n * 512));
      LayerNorm(y.data(), n, 512, L.ffn_norm_w, L.ffn_norm_b, eps_, f.data());
      Affine(f.data(), n, L.ffn_up.w, L.ffn_up.b, 512, 1536, u.data());
      for (float& v : u) v = std::max(v, 0.0f);
      Affine(u.data(), n, L.ffn_down.w, L.ffn_down.b, 1536, 512, z.data());
      for (size_t i = 0; i < y.size(); ++i) y[i] += z[i];
      x = std::move(y);
    }
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < 512; ++j) pooled[static_cast<size_t>(j)] += x[static_cast<size_t>(t * 512 + j)];
    for (float& p : pooled) p /= static_cast<float>(n);
  }
  Affine(pooled.data(), 1, head_.w, head_.b, 512, 512, out.data());
  float norm2 = 0;
  for (float& v : out) {
    v = std::tanh(v);
    norm2 += v * v;
  }
  const float inv = 1.0f / std::sqrt(std::max(norm2, 1e-12f));
  for (float& v : out) v *= inv;
  return Status::Ok();
}

}  // namespace chunkserve::rag
