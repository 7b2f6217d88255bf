// Helpers shared by the kv tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>

#include "kv/chunk_kv.h"

namespace chunkserve::kv::testing {

inline std::shared_ptr<ChunkKv> MakeChunk(uint64_t fingerprint, int n_tokens, int32_t first_token,
                                          int n_layers = 2, int64_t row_floats = 8) {
  auto kv = std::make_shared<ChunkKv>();
  const std::vector<int32_t> lead_in = {1};
  for (int i = 0; i < n_tokens; ++i) kv->tokens.push_back(first_token + i);
  kv->key = ChunkKey{fingerprint, ChunkContentHash(lead_in, kv->tokens)};
  kv->n_layers = n_layers;
  kv->row_floats = row_floats;
  kv->base_position = 1;
  std::mt19937 rng(static_cast<uint32_t>(first_token));
  std::normal_distribution<float> nd;
  for (int i = 0; i < n_tokens; ++i) kv->scores.push_back(nd(rng));
  const size_t rows = static_cast<size_t>(n_layers) * static_cast<size_t>(n_tokens) * static_cast<size_t>(row_floats);
  std::vector<float> k(rows), v(rows);
  for (float& x : k) x = nd(rng);
  for (float& x : v) x = nd(rng);
  kv->AssignF32(k, v);
  return kv;
}

// A fresh, empty directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() /
            ("cs_kv_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace chunkserve::kv::testing
