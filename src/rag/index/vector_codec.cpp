#include "rag/index/vector_codec.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "base/logging.h"

namespace chunkserve::rag {

std::string_view VectorEncodingName(VectorEncoding e) {
  return e == VectorEncoding::kInt8 ? "int8" : "f32";
}

StatusOr<VectorEncoding> ParseVectorEncoding(std::string_view name) {
  if (name == "f32" || name == "float32") return VectorEncoding::kFloat32;
  if (name == "int8" || name == "sq8") return VectorEncoding::kInt8;
  return InvalidArgumentError("unknown vector encoding '" + std::string(name) + "' (f32 or int8)");
}

VectorCodec::VectorCodec(Metric metric, int dim, VectorEncoding encoding, int reduced_dim)
    : metric_(metric), dim_(dim), encoding_(encoding) {
  work_dim_ = (reduced_dim > 0 && reduced_dim < dim) ? reduced_dim : dim;
  const size_t raw = encoding_ == VectorEncoding::kFloat32 ? static_cast<size_t>(work_dim_) * 4
                                                           : static_cast<size_t>(work_dim_);
  code_bytes_ = (raw + 3) / 4 * 4;
  // Without reduction or quantization there is nothing to learn.
  trained_ = !lossy();
}

std::vector<float> PrincipalSubspace(std::span<const float> rows, size_t n, int dim, int out_dim,
                                     std::span<const float> mean) {
  const DistanceKernels& k = ActiveDistanceKernels();
  const size_t d = static_cast<size_t>(dim);
  // Columns of the (centred) data, so each entry of the d x d second-moment
  // matrix is one long SIMD dot product.
  std::vector<float> cols(d * n);
  for (size_t r = 0; r < n; ++r)
    for (size_t i = 0; i < d; ++i) cols[i * n + r] = rows[r * d + i] - (mean.empty() ? 0.0f : mean[i]);
  std::vector<float> cov(d * d);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = i; j < d; ++j) {
      const float v = k.dot_f32(&cols[i * n], &cols[j * n], n) / static_cast<float>(n);
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
  cols.clear();
  cols.shrink_to_fit();
  // Subspace iteration: V <- orth(C V). Projection distances depend only on
  // the span, so no Rayleigh-Ritz step is needed.
  const size_t m = static_cast<size_t>(out_dim);
  std::vector<float> v(m * d), z(m * d);
  std::mt19937_64 rng(0x5eed);
  std::normal_distribution<float> normal;
  for (float& x : v) x = normal(rng);
  auto orthonormalize = [&](std::vector<float>& basis) {
    for (size_t a = 0; a < m; ++a) {
      float* va = &basis[a * d];
      for (int pass = 0; pass < 2; ++pass)  // twice is enough (Kahan)
        for (size_t b = 0; b < a; ++b) {
          const float* vb = &basis[b * d];
          const float p = k.dot_f32(va, vb, d);
          for (size_t i = 0; i < d; ++i) va[i] -= p * vb[i];
        }
      float norm = std::sqrt(k.dot_f32(va, va, d));
      if (norm < 1e-20f) {  // rank deficient: any unit vector orthogonal later
        std::fill(va, va + d, 0.0f);
        va[a % d] = 1.0f;
        norm = 1.0f;
      }
      for (size_t i = 0; i < d; ++i) va[i] /= norm;
    }
  };
  orthonormalize(v);
  for (int it = 0; it < 12; ++it) {
    for (size_t a = 0; a < m; ++a)
      for (size_t i = 0; i < d; ++i) z[a * d + i] = k.dot_f32(&cov[i * d], &v[a * d], d);
    std::swap(v, z);
    orthonormalize(v);
  }
  return v;
}

void VectorCodec::Train(std::span<const float> rows, size_t n, size_t max_train) {
  if (trained_) return;
  const size_t d = static_cast<size_t>(dim_);
  // An evenly strided sample keeps training deterministic and cheap.
  const size_t n_train = std::min(n, max_train);
  std::vector<float> sample(n_train * d);
  for (size_t s = 0; s < n_train; ++s) {
    const size_t r = n_train == n ? s : s * n / n_train;
    std::copy_n(&rows[r * d], d, &sample[s * d]);
  }
  if (reduces()) {
    if (n_train < static_cast<size_t>(work_dim_)) {
      // Too few rows to learn a work_dim-dimensional subspace: keep all
      // dimensions (documented in HnswParams).
      work_dim_ = dim_;
      const size_t raw = encoding_ == VectorEncoding::kFloat32 ? d * 4 : d;
      code_bytes_ = (raw + 3) / 4 * 4;
    } else {
      if (metric_ == Metric::kL2) {
        mean_.assign(d, 0.0f);
        for (size_t s = 0; s < n_train; ++s)
          for (size_t i = 0; i < d; ++i) mean_[i] += sample[s * d + i];
        for (float& x : mean_) x /= static_cast<float>(n_train);
      }
      projection_ = PrincipalSubspace(sample, n_train, dim_, work_dim_, mean_);
    }
  }
  if (encoding_ == VectorEncoding::kInt8) {
    const size_t wd = static_cast<size_t>(work_dim_);
    std::vector<float> lo(wd, INFINITY), hi(wd, -INFINITY), w(wd);
    for (size_t s = 0; s < n_train; ++s) {
      Project(&sample[s * d], w.data());
      for (size_t i = 0; i < wd; ++i) {
        lo[i] = std::min(lo[i], w[i]);
        hi[i] = std::max(hi[i], w[i]);
      }
    }
    lo_.resize(wd);
    scale_.resize(wd);
    for (size_t i = 0; i < wd; ++i) {
      if (!(lo[i] <= hi[i])) lo[i] = hi[i] = 0;  // no rows
      lo_[i] = lo[i];
      scale_[i] = hi[i] > lo[i] ? (hi[i] - lo[i]) / 255.0f : 1.0f;
    }
  }
  trained_ = true;
}

void VectorCodec::Project(const float* x, float* w) const {
  if (!reduces()) {
    std::copy_n(x, dim_, w);
    return;
  }
  const size_t d = static_cast<size_t>(dim_);
  if (mean_.empty()) {
    for (int a = 0; a < work_dim_; ++a) w[a] = k_->dot_f32(&projection_[static_cast<size_t>(a) * d], x, d);
    return;
  }
  thread_local std::vector<float> centred;
  centred.resize(d);
  for (size_t i = 0; i < d; ++i) centred[i] = x[i] - mean_[i];
  for (int a = 0; a < work_dim_; ++a)
    w[a] = k_->dot_f32(&projection_[static_cast<size_t>(a) * d], centred.data(), d);
}

float VectorCodec::Encode(const float* w, uint8_t* code) const {
  std::fill(code, code + code_bytes_, 0);
  const size_t wd = static_cast<size_t>(work_dim_);
  if (encoding_ == VectorEncoding::kFloat32) {
    std::copy_n(w, wd, reinterpret_cast<float*>(code));
    return metric_ == Metric::kL2 ? k_->dot_f32(w, w, wd) : 0.0f;
  }
  float norm = 0;
  for (size_t i = 0; i < wd; ++i) {
    const float c = std::nearbyint((w[i] - lo_[i]) / scale_[i]);
    const uint8_t b = static_cast<uint8_t>(std::clamp(c, 0.0f, 255.0f));
    code[i] = b;
    const float back = lo_[i] + scale_[i] * static_cast<float>(b);
    norm += back * back;
  }
  return metric_ == Metric::kL2 ? norm : 0.0f;
}

void VectorCodec::Decode(const uint8_t* code, float* w) const {
  const size_t wd = static_cast<size_t>(work_dim_);
  if (encoding_ == VectorEncoding::kFloat32) {
    std::copy_n(reinterpret_cast<const float*>(code), wd, w);
    return;
  }
  for (size_t i = 0; i < wd; ++i) w[i] = lo_[i] + scale_[i] * static_cast<float>(code[i]);
}

void VectorCodec::Prepare(const float* w, CodecQuery* q) const {
  const size_t wd = static_cast<size_t>(work_dim_);
  q->w.resize(wd);
  if (encoding_ == VectorEncoding::kFloat32) {
    std::copy_n(w, wd, q->w.data());
    q->offset = 0;
  } else {
    q->offset = k_->dot_f32(w, lo_.data(), wd);
    for (size_t i = 0; i < wd; ++i) q->w[i] = w[i] * scale_[i];
  }
  q->norm_sqr = k_->dot_f32(w, w, wd);
}

void VectorCodec::Save(BinaryWriter& w) const {
  w.PutBytes("CODEC1");
  w.Put(static_cast<uint32_t>(metric_));
  w.Put(static_cast<int32_t>(dim_));
  w.Put(static_cast<int32_t>(work_dim_));
  w.Put(static_cast<uint32_t>(encoding_));
  w.Put(static_cast<uint8_t>(trained_));
  w.Put(static_cast<uint64_t>(mean_.size()));
  w.PutArray<float>(mean_);
  w.Put(static_cast<uint64_t>(projection_.size()));
  w.PutArray<float>(projection_);
  w.Put(static_cast<uint64_t>(lo_.size()));
  w.PutArray<float>(lo_);
  w.PutArray<float>(scale_);
}

Status VectorCodec::Load(BinaryReader& r) {
  r.Expect("CODEC1");
  const uint32_t metric = r.Get<uint32_t>();
  const int32_t dim = r.Get<int32_t>();
  const int32_t work_dim = r.Get<int32_t>();
  const uint32_t encoding = r.Get<uint32_t>();
  const uint8_t trained = r.Get<uint8_t>();
  RETURN_IF_ERROR(r.status());
  if (metric > 2 || encoding > 1 || dim <= 0 || dim > (1 << 16) || work_dim <= 0 || work_dim > dim || trained > 1)
    return DataLossError("vector codec header is invalid");
  *this = VectorCodec(static_cast<Metric>(metric), dim, static_cast<VectorEncoding>(encoding),
                      work_dim == dim ? 0 : work_dim);
  work_dim_ = work_dim;
  const size_t raw = encoding_ == VectorEncoding::kFloat32 ? static_cast<size_t>(work_dim_) * 4
                                                           : static_cast<size_t>(work_dim_);
  code_bytes_ = (raw + 3) / 4 * 4;
  trained_ = trained != 0;
  mean_ = r.GetArray<float>(r.Get<uint64_t>());
  projection_ = r.GetArray<float>(r.Get<uint64_t>());
  const uint64_t n_lo = r.Get<uint64_t>();
  lo_ = r.GetArray<float>(n_lo);
  scale_ = r.GetArray<float>(n_lo);
  RETURN_IF_ERROR(r.status());
  const size_t d = static_cast<size_t>(dim_), wd = static_cast<size_t>(work_dim_);
  if (!mean_.empty() && mean_.size() != d) return DataLossError("vector codec mean has the wrong size");
  if (reduces() && trained_ && projection_.size() != wd * d)
    return DataLossError("vector codec projection has the wrong size");
  if (!reduces() && !projection_.empty()) return DataLossError("vector codec has a projection but no reduction");
  if (encoding_ == VectorEncoding::kInt8 && trained_ && lo_.size() != wd)
    return DataLossError("vector codec quantizer has the wrong size");
  for (float s : scale_)
    if (!(s > 0) || !std::isfinite(s)) return DataLossError("vector codec quantizer scale is invalid");
  return Status::Ok();
}

}  // namespace chunkserve::rag
