// UseEmbedder::EmbedReference: the plain f32 statement of the encoder
// (use_embedder.h), one text at a time, products accumulated in input order.
// The fast path (use_embedder.cpp) is tested against it.
#include <algorithm>
#include <cmath>

#include "base/logging.h"
#include "rag/embed/use_embedder.h"

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

Status UseEmbedder::EmbedReference(std::string_view text, std::span<float> out) const {
  CHECK(out.size() == 512);
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
