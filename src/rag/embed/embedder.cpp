#include "rag/embed/embedder.h"

#include <cmath>

#include "base/logging.h"

namespace chunkserve::rag {

Status EmbedControl::Check() const {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed))
    return CancelledError("the embedding was cancelled (its caller left)");
  if (deadline != Clock::time_point::max() && Clock::now() >= deadline)
    return UnavailableError("the embedding's deadline passed before it ran (the server is busy)");
  return Status::Ok();
}

Status Embedder::EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                            const EmbedControl& control) const {
  const size_t d = static_cast<size_t>(dim());
  CHECK(out.size() == texts.size() * d);
  for (size_t i = 0; i < texts.size(); ++i) RETURN_IF_ERROR(Embed(texts[i], out.subspan(i * d, d), control));
  return Status::Ok();
}

Status Embedder::EmbedTokens(std::span<const int32_t>, std::span<float>, const EmbedControl&) const {
  return UnimplementedError("the embedding model '" + id() + "' takes text, not token ids");
}

void CollectionTransform::Apply(std::span<float> v) const {
  if (common_component.size() == v.size()) {
    double p = 0;
    for (size_t i = 0; i < v.size(); ++i) p += static_cast<double>(v[i]) * common_component[i];
    for (size_t i = 0; i < v.size(); ++i) v[i] -= static_cast<float>(p) * common_component[i];
  }
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm <= 1e-30) {
    for (float& x : v) x = 0;
    return;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= inv;
}

std::vector<float> FirstPrincipalDirection(std::span<const float> rows, size_t n, int dim) {
  if (n < kMinRowsForCommonComponent || dim <= 0) return {};
  const size_t d = static_cast<size_t>(dim);
  // Second-moment matrix (d x d, small for word vectors), then power iteration.
  std::vector<double> m(d * d, 0.0);
  for (size_t r = 0; r < n; ++r) {
    const float* x = &rows[r * d];
    for (size_t i = 0; i < d; ++i) {
      const double xi = x[i];
      if (xi == 0) continue;
      for (size_t j = 0; j < d; ++j) m[i * d + j] += xi * x[j];
    }
  }
  std::vector<double> u(d, 1.0 / std::sqrt(static_cast<double>(d))), next(d);
  for (int it = 0; it < 100; ++it) {
    double norm = 0;
    for (size_t i = 0; i < d; ++i) {
      double s = 0;
      for (size_t j = 0; j < d; ++j) s += m[i * d + j] * u[j];
      next[i] = s;
      norm += s * s;
    }
    norm = std::sqrt(norm);
    if (norm <= 1e-30) return {};
    double change = 0;
    for (size_t i = 0; i < d; ++i) {
      next[i] /= norm;
      change += std::fabs(next[i] - u[i]);
    }
    u.swap(next);
    if (change < 1e-9) break;
  }
  return std::vector<float>(u.begin(), u.end());
}

}  // namespace chunkserve::rag
