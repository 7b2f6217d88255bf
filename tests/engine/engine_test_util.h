// Fixture models and comparison helpers for the engine tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "fixture/fixture_model.h"
#include "model/model.h"
#include "sched/random_tokens.h"

namespace chunkserve::engine::testing {

inline fixture::FixtureSpec SmallSpec(const std::string& arch) {
  fixture::FixtureSpec spec;
  spec.arch = arch;
  spec.type = "f32";
  spec.seed = 11;
  spec.n_embd = 64;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 96;
  spec.n_vocab = 300;
  spec.long_rope = arch == "phi3";  // Phi-3's LongRoPE factor pair
  if (arch == "gemma3") {
    // Local layers on base 10000, the sixth (global) on 1e6 scaled by 8.
    spec.n_layer = 7;
    spec.tied = true;
    spec.rope_theta = 1000000.0f;
    spec.rope_scale_linear = 8.0f;
  }
  return spec;
}

// Writes (once per process and arch) and loads a small fixture model.
// `precision` unset: the model's default (bf16 attention where native).
inline std::unique_ptr<model::Model> LoadSmallModel(
    const std::string& arch, int n_threads = 1,
    std::optional<kernels::AttentionPrecision> precision = std::nullopt) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) /
       ("engine_test_" + arch + "_" + std::to_string(::getpid()) + ".gguf")).string();
  if (!std::filesystem::exists(path)) {
    Status s = fixture::WriteFixtureModel(SmallSpec(arch), path, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  model::LoadOptions lo;
  lo.n_threads = n_threads;
  lo.attention_precision = precision;
  auto m = model::Model::Load(path, lo);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

// Row `slot` of `layer` widened to f32, whatever the cache stores.
inline std::vector<float> KValues(model::KvCache* kv, int layer, int64_t slot) {
  std::vector<float> row(static_cast<size_t>(kv->row_floats()));
  kv->LoadK(layer, slot, row.data());
  return row;
}
inline std::vector<float> VValues(model::KvCache* kv, int layer, int64_t slot) {
  std::vector<float> row(static_cast<size_t>(kv->row_floats()));
  kv->LoadV(layer, slot, row.data());
  return row;
}

// Deterministic pseudo-random token ids in [lo, hi).
inline std::vector<int32_t> Tokens(uint64_t seed, int n, int32_t lo = 3, int32_t hi = 300) {
  return ::chunkserve::sched::testing::RandomTokens(seed, n, lo, hi);
}

inline double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

}  // namespace chunkserve::engine::testing
