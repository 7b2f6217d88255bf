// VectorCodec: how the HNSW graph stores the vectors it walks over.
//
// Two stages, both learned from the data once (Train) and frozen afterwards:
//   1. an optional linear reduction (LeanVec-style, in-distribution variant):
//      PCA to `reduced_dim` dimensions. For L2 the data are centred first
//      (w = P (x - mean)); for inner product / cosine the projection is learned
//      from the uncentred second moment and applied without centring
//      (w = P x), so q . x ~ w(q) . w(x) and query and data share one map;
//   2. the encoding of the working vector w: float32, or int8 scalar
//      quantization per dimension (w_d ~ lo_d + scale_d * code_d, code in
//      0..255; values outside the trained range are clamped).
// Distances between a prepared query and a stored code are asymmetric (the
// query stays float): for int8, q . w ~ q . lo + (q * scale) . code, one
// DotF32U8 per candidate. The caller re-ranks the final candidates with the
// exact float vectors (it keeps them), so compression only costs recall that
// re-ranking cannot recover.
//
// Invariants after Train: work_dim() == reduced_dim or dim; code_bytes() is
// the size of one stored code, a multiple of 4 (padding is zero).
//
// Thread safety: immutable after Train / Load; Encode and Prepare are const.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "rag/index/binary_io.h"
#include "rag/index/distance.h"
#include "rag/index/vector_index.h"

namespace chunkserve::rag {

enum class VectorEncoding : uint32_t { kFloat32 = 0, kInt8 = 1 };

std::string_view VectorEncodingName(VectorEncoding e);
StatusOr<VectorEncoding> ParseVectorEncoding(std::string_view name);

// A prepared query in the working space.
struct CodecQuery {
  std::vector<float> w;      // working vector (int8: premultiplied by scale)
  float offset = 0;          // int8: w . lo
  float norm_sqr = 0;        // |w|^2 (L2)
};

class VectorCodec {
 public:
  VectorCodec() = default;
  VectorCodec(Metric metric, int dim, VectorEncoding encoding, int reduced_dim);

  bool trained() const { return trained_; }
  // Learns the projection and/or the quantizer ranges from n rows of dim()
  // floats (a sample is enough; at most max_train rows are used).
  void Train(std::span<const float> rows, size_t n, size_t max_train = 20000);

  int dim() const { return dim_; }
  int work_dim() const { return work_dim_; }
  bool reduces() const { return work_dim_ != dim_; }
  VectorEncoding encoding() const { return encoding_; }
  Metric metric() const { return metric_; }
  size_t code_bytes() const { return code_bytes_; }
  // Whether the graph's codes differ from the exact vectors (then the index
  // keeps full vectors for re-ranking).
  bool lossy() const { return reduces() || encoding_ != VectorEncoding::kFloat32; }

  // x (dim floats) -> working vector (work_dim floats).
  void Project(const float* x, float* w) const;
  // Working vector -> code (code_bytes bytes); returns the extra per-code
  // scalar the distance needs (|decoded w|^2 for L2, else 0).
  float Encode(const float* w, uint8_t* code) const;
  // Code -> working vector (approximation for int8).
  void Decode(const uint8_t* code, float* w) const;
  // Prepares a working vector for Distance.
  void Prepare(const float* w, CodecQuery* q) const;
  // Smaller is closer; same scale as the index metric's distance.
  float Distance(const CodecQuery& q, const uint8_t* code, float code_extra) const {
    if (encoding_ == VectorEncoding::kFloat32) {
      const auto* x = reinterpret_cast<const float*>(code);
      if (metric_ == Metric::kL2) return k_->l2sqr_f32(q.w.data(), x, static_cast<size_t>(work_dim_));
      return 1.0f - k_->dot_f32(q.w.data(), x, static_cast<size_t>(work_dim_));
    }
    const float dot = q.offset + k_->dot_f32_u8(q.w.data(), code, static_cast<size_t>(work_dim_));
    if (metric_ == Metric::kL2) return q.norm_sqr + code_extra - 2.0f * dot;
    return 1.0f - dot;
  }

  void Save(BinaryWriter& w) const;
  Status Load(BinaryReader& r);

 private:
  Metric metric_ = Metric::kCosine;
  int dim_ = 0;
  int work_dim_ = 0;
  VectorEncoding encoding_ = VectorEncoding::kFloat32;
  size_t code_bytes_ = 0;
  bool trained_ = false;
  std::vector<float> mean_;        // dim (L2 with reduction), else empty
  std::vector<float> projection_;  // work_dim rows of dim, orthonormal rows
  std::vector<float> lo_, scale_;  // work_dim each (int8)
  const DistanceKernels* k_ = &ActiveDistanceKernels();
};

// Top-`out_dim` principal subspace of the rows (n x dim): orthonormal rows
// (out_dim x dim) spanning it, by subspace iteration on the (centred when
// `mean` is non-empty) second-moment matrix. Deterministic.
std::vector<float> PrincipalSubspace(std::span<const float> rows, size_t n, int dim, int out_dim,
                                     std::span<const float> mean);

}  // namespace chunkserve::rag
