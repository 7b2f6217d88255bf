// kv_bench: costs of the KV subsystem that sit on the time-to-first-token
// path of a chunk-cache hit, at Qwen2.5-0.5B shapes (24 layers, 2 KV heads of
// 64, NeoX RoPE), without a model:
//   prefix_cache  - Lookup + Insert of 2k-token prompts in a simulated pool;
//   chunk_encode / chunk_decode - disk-tier file of one 256-token chunk
//                   (checksums included);
//   place_chunk   - copy + RoPE re-rotation of one chunk into a cache.
// One JSON line per measurement; medians over --reps.
//
// Usage: kv_bench [--reps 5]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "engine/chunk_reuse.h"
#include "kv/block_pool.h"
#include "kv/block_table.h"
#include "kv/chunk_file.h"
#include "kv/prefix_cache.h"
#include "model/kv_cache.h"

namespace chunkserve {
namespace {

constexpr int kLayers = 24;
constexpr int64_t kRowFloats = 2 * 64;
constexpr int64_t kChunkTokens = 256;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::shared_ptr<kv::ChunkKv> RandomChunk() {
  auto c = std::make_shared<kv::ChunkKv>();
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  c->n_layers = kLayers;
  c->row_floats = kRowFloats;
  c->base_position = 1;
  for (int64_t i = 0; i < kChunkTokens; ++i) c->tokens.push_back(static_cast<int32_t>(rng() % 150000));
  c->key = kv::ChunkKey{42, kv::ChunkContentHash(std::vector<int32_t>{1}, c->tokens)};
  c->scores.resize(kChunkTokens);
  std::vector<float> k(static_cast<size_t>(kLayers * kChunkTokens * kRowFloats)), v(k.size());
  for (float& x : k) x = nd(rng);
  for (float& x : v) x = nd(rng);
  c->AssignF32(k, v);
  return c;
}

void BenchPrefixCache(int reps) {
  kv::BlockPoolOptions o{.block_tokens = 16, .n_layers = kLayers, .row_floats = kRowFloats,
                         .budget_bytes = size_t{64} << 30, .simulated = true};
  auto pool = std::move(kv::BlockPool::Create(o)).value();
  kv::PrefixCache cache(pool.get(), 1 << 20);
  std::mt19937 rng(2);
  constexpr int kPrompts = 200;
  constexpr int kTokens = 2112;
  // Prompts share a 512-token system prefix, then diverge.
  std::vector<int32_t> shared(512);
  for (int32_t& t : shared) t = static_cast<int32_t>(rng() % 150000);
  std::vector<std::vector<int32_t>> prompts(kPrompts);
  for (auto& p : prompts) {
    p = shared;
    while (p.size() < kTokens) p.push_back(static_cast<int32_t>(rng() % 150000));
  }
  std::vector<double> us;
  for (int r = 0; r < reps; ++r) {
    cache.EvictAll();
    Stopwatch sw;
    for (const auto& p : prompts) {
      kv::BlockTable t(pool.get());
      kv::PrefixMatch m = cache.Lookup(7, p);
      for (kv::BlockId b : m.blocks) t.AdoptShared(b);
      t.Reserve(kTokens);
      cache.Insert(7, p, t.blocks());
    }
    us.push_back(sw.ElapsedMillis() * 1e3 / kPrompts);
  }
  std::printf("{\"bench\":\"kv\",\"op\":\"prefix_cache_lookup_insert\",\"prompt_tokens\":%d,\"block_tokens\":16,"
              "\"us_per_prompt\":%.2f,\"cached_blocks\":%lld}\n",
              kTokens, Median(us), static_cast<long long>(cache.n_cached_blocks()));
}

void BenchChunkFile(int reps) {
  auto c = RandomChunk();
  std::vector<double> enc_ms, dec_ms;
  std::vector<uint8_t> bytes;
  for (int r = 0; r < reps; ++r) {
    Stopwatch sw;
    bytes = kv::EncodeChunkFile(*c);
    enc_ms.push_back(sw.ElapsedMillis());
    sw.Reset();
    auto back = kv::DecodeChunkFile(bytes, c->key);
    dec_ms.push_back(sw.ElapsedMillis());
    if (!back.ok()) std::fprintf(stderr, "decode failed\n");
  }
  const double mb = static_cast<double>(bytes.size()) / 1e6;
  std::printf("{\"bench\":\"kv\",\"op\":\"chunk_encode\",\"chunk_tokens\":%lld,\"file_mb\":%.2f,\"ms\":%.3f,\"mb_per_s\":%.0f}\n",
              static_cast<long long>(kChunkTokens), mb, Median(enc_ms), mb / (Median(enc_ms) / 1e3));
  std::printf("{\"bench\":\"kv\",\"op\":\"chunk_decode\",\"chunk_tokens\":%lld,\"file_mb\":%.2f,\"ms\":%.3f,\"mb_per_s\":%.0f}\n",
              static_cast<long long>(kChunkTokens), mb, Median(dec_ms), mb / (Median(dec_ms) / 1e3));
}

void BenchPlaceChunk(int reps) {
  auto c = RandomChunk();
  model::ContiguousKvCache cache(kLayers, kRowFloats, 4096);
  engine::RopeSetup rope;
  rope.n_kv_heads = 2;
  rope.params.head_dim = 64;
  rope.params.n_rot = 64;
  rope.params.theta = 1000000.0f;
  rope.params.style = kernels::RopeStyle::kNeox;
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    Stopwatch sw;
    engine::PlaceChunk(*c, &cache, 1000, 1000, rope);
    ms.push_back(sw.ElapsedMillis());
  }
  std::printf("{\"bench\":\"kv\",\"op\":\"place_chunk\",\"chunk_tokens\":%lld,\"layers\":%d,\"ms\":%.3f,"
              "\"tokens_per_s\":%.0f}\n",
              static_cast<long long>(kChunkTokens), kLayers, Median(ms), kChunkTokens / (Median(ms) / 1e3));
}

}  // namespace
}  // namespace chunkserve

int main(int argc, char** argv) {
  int reps = 5;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
  chunkserve::BenchPrefixCache(reps);
  chunkserve::BenchChunkFile(reps);
  chunkserve::BenchPlaceChunk(reps);
  return 0;
}
