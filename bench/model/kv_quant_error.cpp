// kv_quant_error: what q8_0 KV rows lose on a model's real K and V, with and
// without a Hadamard rotation (the measurement behind keeping or dropping a
// rotation for the q8_0 cache, issue 13).
//
//   kv_quant_error MODEL.gguf [--tokens 256] [--threads 2]
//
// Runs --tokens tokens (a fixed spread over the vocabulary, as `bench` uses)
// through an f32 KV cache, then quantizes every K and V row of every layer
// to q8_0 (tensor/kv_row.h, blocks of 32) either as it is or after an
// orthonormal Walsh-Hadamard transform of each 32-value block (QuaRot /
// KIVI-style: outlier channels spread over the block, so its scale shrinks;
// orthonormal, so a query rotated alike sees the same dot products). Prints
// one JSON line per (K | V, none | hadamard): the mean and max relative L2
// error ||x - dequant(quant(x))|| / ||x|| of a head's row (errors of the
// rotated rows are measured back in the rotated basis: the transform is
// orthonormal, so the norm is the same), and the mean ratio max|x| / rms(x)
// per block (what the rotation flattens).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/model.h"
#include "tensor/kv_row.h"

using namespace chunkserve;

namespace {

// x (32 values) = H x / sqrt(32): the orthonormal Walsh-Hadamard transform.
void Hadamard32(float* x) {
  for (int len = 1; len < 32; len *= 2)
    for (int i = 0; i < 32; i += 2 * len)
      for (int j = i; j < i + len; ++j) {
        const float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
  const float s = 1.0f / std::sqrt(32.0f);
  for (int i = 0; i < 32; ++i) x[i] *= s;
}

struct Stats {
  double sum_rel = 0, max_rel = 0, sum_peak = 0;
  int64_t n_rows = 0, n_blocks = 0;
};

// Errors of one head's values (a multiple of 32) quantized as q8_0.
void Measure(std::vector<float> x, bool rotate, Stats* st) {
  const auto n = static_cast<int64_t>(x.size());
  if (rotate)
    for (int64_t b = 0; b < n; b += 32) Hadamard32(&x[static_cast<size_t>(b)]);
  std::vector<uint8_t> q(KvRowBytes(DType::kQ8_0, n));
  std::vector<float> back(x.size());
  QuantizeQ8_0KvRow(x.data(), n, q.data());
  DequantizeQ8_0KvRow(q.data(), n, back.data());
  double err = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    err += std::pow(double{x[static_cast<size_t>(i)]} - back[static_cast<size_t>(i)], 2);
    norm += std::pow(double{x[static_cast<size_t>(i)]}, 2);
  }
  if (norm == 0) return;
  const double rel = std::sqrt(err / norm);
  st->sum_rel += rel;
  st->max_rel = std::max(st->max_rel, rel);
  ++st->n_rows;
  for (int64_t b = 0; b < n; b += 32) {
    double peak = 0, ss = 0;
    for (int64_t i = b; i < b + 32; ++i) {
      peak = std::max(peak, double{std::abs(x[static_cast<size_t>(i)])});
      ss += std::pow(double{x[static_cast<size_t>(i)]}, 2);
    }
    if (ss > 0) {
      st->sum_peak += peak / std::sqrt(ss / 32);
      ++st->n_blocks;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: kv_quant_error MODEL.gguf [--tokens 256] [--threads 2]\n");
    return 2;
  }
  const std::string path = argv[1];
  int64_t n_tokens = 256;
  int threads = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tokens") n_tokens = std::atoll(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "kv_quant_error: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  auto loaded = model::Model::Load(path, {.n_threads = threads, .attention_precision = kernels::AttentionPrecision::kF32,
                                          .kv_type = DType::kF32});
  if (!loaded.ok()) {
    std::fprintf(stderr, "kv_quant_error: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  model::Model& m = **loaded;
  const model::HParams& hp = m.hparams();
  std::vector<int32_t> tokens(static_cast<size_t>(n_tokens));
  for (size_t i = 0; i < tokens.size(); ++i)
    tokens[i] = static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % hp.n_vocab);
  auto kv = m.NewKvCache(n_tokens, DType::kF32);
  for (int64_t t = 0; t < n_tokens; t += 256) {
    const int64_t n = std::min<int64_t>(256, n_tokens - t);
    auto r = m.ForwardAll(kv.get(), std::span<const int32_t>(tokens).subspan(static_cast<size_t>(t), static_cast<size_t>(n)), t);
    if (!r.ok()) {
      std::fprintf(stderr, "kv_quant_error: %s\n", r.status().ToString().c_str());
      return 1;
    }
  }
  // A head's values where head_dim is a multiple of 32; else the whole row
  // (heads mixed: a proxy for the value distribution only).
  const int64_t rf = kv->row_floats();
  const int64_t unit = hp.head_dim % 32 == 0 ? hp.head_dim : rf;
  if (unit % 32 != 0) {
    std::fprintf(stderr, "kv_quant_error: rows of %lld values are not whole q8_0 blocks\n", static_cast<long long>(rf));
    return 1;
  }
  std::vector<float> row(static_cast<size_t>(rf));
  for (int tensor = 0; tensor < 2; ++tensor) {
    for (bool rotate : {false, true}) {
      Stats st;
      for (int l = 0; l < hp.n_layer; ++l)
        for (int64_t s = 0; s < n_tokens; ++s) {
          if (tensor == 0) kv->LoadK(l, s, row.data());
          else kv->LoadV(l, s, row.data());
          for (int64_t h = 0; h < rf; h += unit)
            Measure(std::vector<float>(row.begin() + h, row.begin() + h + unit), rotate, &st);
        }
      std::printf("{\"model\":\"%s\",\"tensor\":\"%s\",\"rotation\":\"%s\",\"tokens\":%lld,\"unit_values\":%lld,"
                  "\"rows\":%lld,\"mean_rel_l2\":%.6f,\"max_rel_l2\":%.6f,\"mean_block_peak_over_rms\":%.3f}\n",
                  path.c_str(), tensor == 0 ? "K" : "V", rotate ? "hadamard" : "none",
                  static_cast<long long>(n_tokens), static_cast<long long>(unit), static_cast<long long>(st.n_rows),
                  st.sum_rel / std::max<int64_t>(1, st.n_rows), st.max_rel,
                  st.sum_peak / static_cast<double>(std::max<int64_t>(1, st.n_blocks)));
    }
  }
  return 0;
}
