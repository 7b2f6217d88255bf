#include "engine/chunk_planner.h"

#include "model/paged_kv_cache.h"

namespace chunkserve::engine {

StatusOr<std::unique_ptr<ChunkPlanner>> ChunkPlanner::Create(model::Model* model, kv::ChunkCache* cache,
                                                             const ChunkPlannerOptions& options) {
  if (model == nullptr || cache == nullptr) return InvalidArgumentError("chunk planner: model and cache are required");
  if (!(options.recompute_fraction >= 0 && options.recompute_fraction <= 1))
    return InvalidArgumentError("chunk planner: recompute_fraction must lie in [0, 1]");
  auto p = std::make_unique<ChunkPlanner>(PrivateTag{}, model, cache, options);
  ASSIGN_OR_RETURN(p->rope_, RopeSetupFor(*model));
  p->lead_in_ = options.chunk_lead_in ? *options.chunk_lead_in : DefaultChunkLeadIn(*model);
  for (int32_t t : p->lead_in_)
    if (t < 0 || t >= model->hparams().n_vocab)
      return InvalidArgumentError("chunk planner: lead-in token outside the vocabulary");
  return p;
}

bool ChunkPlanner::Prepare(const sched::PlanInput& in, const std::function<void()>& wake) {
  std::vector<WantedChunk> wanted;
  wanted.reserve(in.chunks.size());
  for (const sched::ChunkSpan& c : in.chunks) {
    if (c.begin < 0 || c.end <= c.begin || c.end > static_cast<int64_t>(in.tokens.size())) continue;  // Plan refuses it
    const std::span<const int32_t> chunk =
        in.tokens.subspan(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin));
    wanted.push_back(WantedChunk{kv::ChunkKey{model_->fingerprint(), kv::ChunkContentHash(lead_in_, chunk)}, chunk});
  }
  return prefetcher_->Prepare(in.seq_id, wanted, wake);
}

int64_t ChunkPlanner::TrimPrefixMatch(const sched::PlanInput& in, int64_t matched, int64_t block_tokens) {
  return TrimPrefixMatchToChunks(in.chunks, matched, block_tokens);
}

StatusOr<sched::AdmissionPlan> ChunkPlanner::Plan(const sched::PlanInput& in, kv::BlockTable* table) {
  const double fraction = in.recompute_fraction.value_or(options_.recompute_fraction);
  if (!(fraction >= 0 && fraction <= 1)) return InvalidArgumentError("chunk planner: recompute_fraction must lie in [0, 1]");
  const auto n_tokens = static_cast<int64_t>(in.tokens.size());
  if (in.n_prefix_tokens >= n_tokens || in.n_prompt > n_tokens)
    return InvalidArgumentError("chunk planner: nothing left to compute");
  for (size_t i = 0; i < in.chunks.size(); ++i) {
    const sched::ChunkSpan& c = in.chunks[i];
    if (c.begin < 0 || c.end <= c.begin || c.end > in.n_prompt || (i > 0 && c.begin < in.chunks[i - 1].end))
      return InvalidArgumentError("chunk planner: chunk spans must be ascending, non-empty and inside the prompt");
  }
  model::PagedKvCache kv(table);
  if (kv.capacity_tokens() < n_tokens) return InvalidArgumentError("chunk planner: the table is not reserved");
  ChunkPlanParams cp;
  cp.model_fingerprint = model_->fingerprint();
  cp.lead_in = lead_in_;
  cp.recompute_fraction = fraction;
  cp.signal = options_.recompute_signal;
  cp.rope = &rope_;
  cp.pool = model_->pool();
  cp.lookup = [&](const kv::ChunkKey& key, std::span<const int32_t> chunk) {
    if (std::optional<kv::ChunkHit> staged = prefetcher_->Staged(in.seq_id, key)) return staged;
    return cache_->Lookup(key, chunk);
  };
  ChunkPlan plan = PlanChunkReuse(cache_, in.tokens, in.n_prompt, in.chunks, in.n_prefix_tokens, &kv, cp);

  sched::AdmissionPlan out;
  out.compute_slots = std::move(plan.compute_slots);
  out.first_inexact_slot = plan.first_inexact_slot;
  out.n_chunk_reused_tokens = plan.n_chunk_reused_tokens;
  out.n_chunk_recomputed_tokens = plan.n_chunk_recomputed_tokens;
  out.n_chunk_ram_hits = plan.n_chunk_ram_hits;
  out.n_chunk_disk_hits = plan.n_chunk_disk_hits;
  out.n_chunk_remote_hits = plan.n_chunk_remote_hits;
  out.n_chunk_misses = static_cast<int64_t>(plan.missed.size());
  for (const sched::ChunkSpan& c : plan.missed) {
    const std::span<const int32_t> chunk =
        in.tokens.subspan(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin));
    sched::ChunkFill f;
    f.key = kv::ChunkContentHash(lead_in_, chunk);
    f.tokens = lead_in_;
    f.tokens.insert(f.tokens.end(), chunk.begin(), chunk.end());
    f.source = c;
    out.fills.push_back(std::move(f));
  }
  return out;
}

bool ChunkPlanner::NeedsFill(const sched::ChunkFill& fill) {
  return !cache_->Contains(kv::ChunkKey{model_->fingerprint(), fill.key});
}

Status ChunkPlanner::CompleteFill(const sched::ChunkFill& fill, const kv::BlockTable& fill_table,
                                  const kv::BlockTable* source, int64_t source_first_slot) {
  ASSIGN_OR_RETURN(std::shared_ptr<const kv::ChunkKv> kv, BuildFillEntry(fill, fill_table, source, source_first_slot));
  return cache_->Insert(std::move(kv));
}

void ChunkPlanner::CompleteFillAsync(const sched::ChunkFill& fill, const kv::BlockTable& fill_table,
                                     const kv::BlockTable* source, int64_t source_first_slot,
                                     std::function<void(Status)> stored) {
  StatusOr<std::shared_ptr<const kv::ChunkKv>> kv = BuildFillEntry(fill, fill_table, source, source_first_slot);
  if (!kv.ok()) {
    stored(kv.status());
    return;
  }
  cache_->InsertInRam(*kv);  // requests admitted from now on reuse it
  publisher_->Post(std::move(kv).value(), std::move(stored));
}

StatusOr<std::shared_ptr<const kv::ChunkKv>> ChunkPlanner::BuildFillEntry(const sched::ChunkFill& fill,
                                                                          const kv::BlockTable& fill_table,
                                                                          const kv::BlockTable* source,
                                                                          int64_t source_first_slot) {
  const auto L = static_cast<int64_t>(lead_in_.size());
  const auto n_fill = static_cast<int64_t>(fill.tokens.size());
  if (n_fill <= L) return InvalidArgumentError("chunk planner: fill without chunk tokens");
  model::PagedKvCache lead_kv(&fill_table);
  if (lead_kv.capacity_tokens() < n_fill) return InvalidArgumentError("chunk planner: fill table too small");
  const std::span<const int32_t> chunk = std::span<const int32_t>(fill.tokens).subspan(static_cast<size_t>(L));
  const kv::ChunkKey key{model_->fingerprint(), kv::ChunkContentHash(lead_in_, chunk)};
  std::unique_ptr<model::PagedKvCache> seq_kv;
  if (source != nullptr) {
    seq_kv = std::make_unique<model::PagedKvCache>(source);
    if (seq_kv->capacity_tokens() < source_first_slot + (n_fill - L))
      return InvalidArgumentError("chunk planner: source table too small");
  }
  return std::shared_ptr<const kv::ChunkKv>(
      BuildChunkKv(key, chunk, L, &lead_kv, seq_kv.get(), source_first_slot, fill.source.begin, rope_));
}

}  // namespace chunkserve::engine
