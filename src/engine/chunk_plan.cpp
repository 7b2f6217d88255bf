#include "engine/chunk_plan.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "base/logging.h"

namespace chunkserve::engine {
namespace {

// fn(i) for i in [0, n): on the pool when there is one.
void ForEachIndex(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn) {
  if (pool != nullptr && n > 1) {
    pool->ParallelFor(n, [&](int64_t i, int) { fn(i); });
  } else {
    for (int64_t i = 0; i < n; ++i) fn(i);
  }
}

}  // namespace

std::vector<int32_t> DefaultChunkLeadIn(const model::Model& model) {
  std::vector<int32_t> lead_in;
  const gguf::GgufFile& f = model.file();
  const std::optional<int64_t> bos = f.GetInt("tokenizer.ggml.bos_token_id");
  const bool add_bos = f.GetBool("tokenizer.ggml.add_bos_token").value_or(true);
  if (bos && add_bos && *bos >= 0 && *bos < model.hparams().n_vocab) lead_in.push_back(static_cast<int32_t>(*bos));
  return lead_in;
}

int64_t TrimPrefixMatchToChunks(std::span<const ChunkSpan> chunks, int64_t matched, int64_t block_tokens) {
  for (const ChunkSpan& c : chunks)
    if (c.begin < matched && matched < c.end) return c.begin / block_tokens * block_tokens;
  return matched;
}

ChunkPlan PlanChunkReuse(kv::ChunkCache* cache, std::span<const int32_t> tokens, int64_t n_prompt,
                         std::span<const ChunkSpan> chunks, int64_t n_matched, model::KvCache* kv,
                         const ChunkPlanParams& params) {
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  CHECK(n_matched < n_tokens && n_prompt <= n_tokens && kv->capacity_tokens() >= n_tokens);
  ChunkPlan plan;
  plan.first_inexact_slot = n_tokens;
  plan.compute_slots.reserve(static_cast<size_t>(n_tokens - n_matched));

  struct Placed {
    int64_t first_slot;
    bool exact;
    std::shared_ptr<const kv::ChunkKv> kv;
  };
  std::vector<Placed> placed;
  const auto L = static_cast<int64_t>(params.lead_in.size());
  int64_t next = n_matched;  // first slot not yet planned
  auto compute_to = [&](int64_t end) {
    for (; next < end; ++next) plan.compute_slots.push_back(next);
  };
  // Look the chunks up, all at once: disk hits are read and verified in
  // parallel (ChunkCache decodes outside its lock).
  struct Candidate {
    ChunkSpan span;
    std::optional<kv::ChunkHit> hit;
  };
  std::vector<Candidate> candidates;  // chunks past the shared prefix (a cut one is computed)
  for (const ChunkSpan& c : chunks)
    if (cache != nullptr && c.begin >= n_matched) candidates.push_back(Candidate{c, std::nullopt});
  ForEachIndex(params.pool, static_cast<int64_t>(candidates.size()), [&](int64_t i) {
    Candidate& cand = candidates[static_cast<size_t>(i)];
    const std::span<const int32_t> chunk =
        tokens.subspan(static_cast<size_t>(cand.span.begin), static_cast<size_t>(cand.span.end - cand.span.begin));
    const kv::ChunkKey key{params.model_fingerprint, kv::ChunkContentHash(params.lead_in, chunk)};
    cand.hit = params.lookup ? params.lookup(key, chunk) : cache->Lookup(key, chunk);
  });
  for (Candidate& cand : candidates) {
    const ChunkSpan& c = cand.span;
    std::optional<kv::ChunkHit>& hit = cand.hit;
    if (hit && hit->kv->n_layers == kv->n_layers() && hit->kv->row_floats == kv->row_floats()) {
      compute_to(c.begin);
      (hit->tier == kv::ChunkTier::kRam    ? plan.n_chunk_ram_hits
       : hit->tier == kv::ChunkTier::kDisk ? plan.n_chunk_disk_hits
                                           : plan.n_chunk_remote_hits) += 1;
      // Right after a copy of the lead-in, the chunk sits exactly where and
      // after what it was cached: its KV is exact as stored.
      const bool exact = c.begin == L && std::equal(params.lead_in.begin(), params.lead_in.end(), tokens.begin());
      placed.push_back(Placed{c.begin, exact, std::move(hit->kv)});
      next = c.end;
      continue;
    }
    plan.missed.push_back(c);
  }
  compute_to(n_tokens);
  // Each hit goes into its own slots: placements run in parallel too.
  ForEachIndex(params.pool, static_cast<int64_t>(placed.size()), [&](int64_t i) {
    const Placed& pc = placed[static_cast<size_t>(i)];
    PlaceChunk(*pc.kv, kv, pc.first_slot, pc.first_slot, *params.rope);
  });

  // Selective recomputation over the placed chunks (chunk_reuse.h).
  std::vector<ReusedChunk> reused;
  int64_t n_reused_total = 0;
  for (const Placed& pc : placed) {
    n_reused_total += pc.kv->n_tokens();
    if (!pc.exact) reused.push_back(ReusedChunk{pc.first_slot, pc.kv->scores});
  }
  std::vector<int64_t> redo = PlanRecompute(reused, params.recompute_fraction, params.signal);
  // The prompt's last token is always run: its logits start decoding.
  if (!placed.empty() && placed.back().first_slot + placed.back().kv->n_tokens() == n_prompt &&
      (redo.empty() || redo.back() != n_prompt - 1))
    redo.push_back(n_prompt - 1);
  plan.n_chunk_recomputed_tokens = static_cast<int64_t>(redo.size());
  plan.n_chunk_reused_tokens = n_reused_total - plan.n_chunk_recomputed_tokens;
  // The first reused (not recomputed) row of an inexact chunk makes every
  // later row inexact.
  for (const Placed& pc : placed) {
    if (pc.exact) continue;
    for (int64_t s = pc.first_slot; s < pc.first_slot + pc.kv->n_tokens(); ++s) {
      if (!std::binary_search(redo.begin(), redo.end(), s)) {
        plan.first_inexact_slot = std::min(plan.first_inexact_slot, s);
        break;
      }
    }
    if (plan.first_inexact_slot < n_tokens) break;
  }
  plan.compute_slots.insert(plan.compute_slots.end(), redo.begin(), redo.end());
  std::sort(plan.compute_slots.begin(), plan.compute_slots.end());
  return plan;
}

std::shared_ptr<kv::ChunkKv> BuildChunkKv(const kv::ChunkKey& key, std::span<const int32_t> chunk_tokens,
                                          int64_t lead_in_length, model::KvCache* lead_kv, model::KvCache* seq_kv,
                                          int64_t seq_first_slot, int64_t seq_position, const RopeSetup& rope) {
  const auto n = static_cast<int64_t>(chunk_tokens.size());
  const int64_t rf = lead_kv->row_floats();
  auto entry = std::make_shared<kv::ChunkKv>();
  entry->key = key;
  entry->n_layers = lead_kv->n_layers();
  entry->row_floats = rf;
  entry->base_position = lead_in_length;
  entry->tokens.assign(chunk_tokens.begin(), chunk_tokens.end());
  // The rows as the cache holds them (bf16 caches give bf16 entries).
  entry->type = lead_kv->type();
  const size_t row_bytes = entry->row_bytes();
  entry->k.resize(static_cast<size_t>(entry->n_layers * n) * row_bytes);
  entry->v.resize(entry->k.size());
  for (int l = 0; l < entry->n_layers; ++l) {
    for (int64_t t = 0; t < n; ++t) {
      const size_t at = static_cast<size_t>(l * n + t) * row_bytes;
      std::memcpy(entry->k.data() + at, lead_kv->KRow(l, lead_in_length + t), row_bytes);
      std::memcpy(entry->v.data() + at, lead_kv->VRow(l, lead_in_length + t), row_bytes);
    }
  }
  if (seq_kv != nullptr) {
    entry->scores = DeviationScores(*entry, seq_kv, seq_first_slot, seq_position, rope);
  } else {
    entry->scores.assign(static_cast<size_t>(n), 0.0f);
  }
  return entry;
}

}  // namespace chunkserve::engine
