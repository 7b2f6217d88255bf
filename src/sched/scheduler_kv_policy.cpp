// Scheduler, KV policies (kv/kv_policy.h): which entries ask for attention
// votes, and the compaction of a sequence's cache when its policy says so.
#include <algorithm>

#include "base/logging.h"
#include "kv/kv_compaction.h"
#include "sched/scheduler.h"
#include "sched/scheduler_state.h"

namespace chunkserve::sched {

int64_t Scheduler::VoteRows(const Seq& s, int64_t first_token, int64_t n) const {
  const kv::KvPolicy& p = s.req.kv_policy;
  if (p.votes_every_step()) return n;
  // SnapKV: the observation window, from the entry that ends the prompt.
  if (p.kind == kv::KvPolicyKind::kSnapKv && s.n_prompt > p.budget && first_token < s.n_prompt &&
      first_token + n >= s.n_prompt && s.n_generated == 0)
    return std::min(p.window, n);
  return 0;
}

void Scheduler::FilterPrompt(Seq& s) {
  s.prompt_filtered = true;
  const kv::KvPolicy& p = s.req.kv_policy;
  // Captured logits are per prompt slot: a filtered prompt has other slots.
  if (s.n_prompt <= p.budget || s.n_generated > 0 || s.req.capture_logits_from >= 0) return;
  StatusOr<std::vector<int64_t>> keep =
      executor_->FilterPrompt(std::span<const int32_t>(s.tokens.data(), static_cast<size_t>(s.n_prompt)), p.budget);
  if (!keep.ok()) {
    // A policy is a budget, never a failure: the whole prompt runs.
    CS_LOG(Warning) << "scheduler: request " << s.id << " keeps its whole prompt: " << keep.status().ToString();
    return;
  }
  std::vector<int32_t> tokens;
  tokens.reserve(keep->size());
  for (int64_t i : *keep) tokens.push_back(s.tokens[static_cast<size_t>(i)]);
  const int64_t dropped = s.n_prompt - static_cast<int64_t>(tokens.size());
  s.tokens = std::move(tokens);
  s.n_prompt = static_cast<int64_t>(s.tokens.size());
  s.req.chunks.clear();  // chunk reuse would place the unfiltered prompt's chunks
  ++s.outcome.stats.n_kv_compactions;
  s.outcome.stats.n_kv_evicted_tokens += dropped;
}

void Scheduler::ApplyKvPolicy(Seq& s, bool prompt_ended, const StepVotes* votes, bool may_compact) {
  const kv::KvPolicy& p = s.req.kv_policy;
  if (!p.active() || !s.todo.empty()) return;
  const int64_t n_slots = s.n_computed - s.n_evicted;  // slots holding KV
  const int64_t B = pool_->block_tokens();
  const int n_layers = pool_->n_layers();

  // H2O: accumulated attention per (slot, layer, head), slot-major so that
  // new slots append.
  if (p.kind == kv::KvPolicyKind::kH2O && votes != nullptr) {
    const int64_t lh = static_cast<int64_t>(votes->n_layers) * votes->n_kv_heads;
    s.attention_mass.resize(static_cast<size_t>(n_slots * lh), 0.0f);
    const int64_t n = std::min(votes->n_slots, n_slots);
    for (int64_t j = 0; j < lh; ++j)
      for (int64_t slot = 0; slot < n; ++slot)
        s.attention_mass[static_cast<size_t>(slot * lh + j)] += votes->mass[static_cast<size_t>(j * votes->n_slots + slot)];
  }

  if (!may_compact) return;
  kv::KeepSets keep;
  switch (p.kind) {
    case kv::KvPolicyKind::kFull:
    case kv::KvPolicyKind::kPages:
    case kv::KvPolicyKind::kHeadwise: return;  // nothing dropped: chosen per decode step
    case kv::KvPolicyKind::kGemFilter: return;  // the prompt was filtered at admission
    case kv::KvPolicyKind::kSinks:
    case kv::KvPolicyKind::kStreaming:
      if (n_slots < p.budget + B) return;
      keep = kv::SameForAllHeads(n_layers, 1, kv::SinksAndRecent(n_slots, p.budget, p.n_sinks));
      break;
    case kv::KvPolicyKind::kSnapKv:
      if (!prompt_ended || votes == nullptr || n_slots <= p.budget || votes->n_slots != n_slots) return;
      keep = kv::TopScoring(votes->mass, votes->n_layers, votes->n_kv_heads, n_slots, p.budget, p.window,
                            p.pool_size);
      break;
    case kv::KvPolicyKind::kH2O: {
      if (votes == nullptr || !(n_slots >= p.budget + B || (prompt_ended && n_slots > p.budget))) return;
      const int lh = votes->n_layers * votes->n_kv_heads;
      std::vector<float> scores(static_cast<size_t>(lh * n_slots));
      for (int j = 0; j < lh; ++j)
        for (int64_t slot = 0; slot < n_slots; ++slot)
          scores[static_cast<size_t>(j * n_slots + slot)] = s.attention_mass[static_cast<size_t>(slot * lh + j)];
      keep = kv::TopScoring(scores, votes->n_layers, votes->n_kv_heads, n_slots, p.budget, p.budget / 2, 1);
      break;
    }
  }
  Status st = kv::Compact(keep, &s.table);
  // Copies of shared blocks may take room only the prefix cache holds.
  if (st.code() == StatusCode::kResourceExhausted && prefix_cache_ != nullptr &&
      prefix_cache_->Evict((keep.n_keep + B - 1) / B) > 0)
    st = kv::Compact(keep, &s.table);
  if (!st.ok()) {
    // The cache stays whole: a policy is a budget, never a failure.
    CS_LOG(Warning) << "scheduler: request " << s.id << " keeps its whole KV cache: " << st.ToString();
    return;
  }
  if (p.kind == kv::KvPolicyKind::kH2O) {
    const int lh = keep.n_layers * keep.n_kv_heads;
    std::vector<float> kept(static_cast<size_t>(keep.n_keep * lh));
    for (int l = 0; l < keep.n_layers; ++l)
      for (int h = 0; h < keep.n_kv_heads; ++h) {
        const int64_t* list = keep.List(l, h);
        const int j = l * keep.n_kv_heads + h;
        for (int64_t i = 0; i < keep.n_keep; ++i)
          kept[static_cast<size_t>(i * lh + j)] = s.attention_mass[static_cast<size_t>(list[i] * lh + j)];
      }
    s.attention_mass.swap(kept);
  }
  // Streaming: positions are slots, so the window that moved down is
  // re-rotated by as many positions.
  if (p.rolling_positions()) {
    const int64_t n_sinks = std::min(p.n_sinks, keep.n_keep);
    if (const Status shift = executor_->ShiftKeys(&s.table, n_sinks, keep.n_keep - n_sinks, keep.n_keep - n_slots);
        !shift.ok()) {
      CS_LOG(Error) << "scheduler: request " << s.id << ": " << shift.ToString();
      s.done = true;
      s.done_reason = FinishReason::kError;
    }
  }
  // Slots kept in place still hold exactly their tokens; the rest does not.
  s.first_inexact_slot = std::min(s.first_inexact_slot, kv::KeptInPlace(keep));
  const int64_t dropped = n_slots - keep.n_keep;
  s.n_evicted += dropped;
  ++s.outcome.stats.n_kv_compactions;
  s.outcome.stats.n_kv_evicted_tokens += dropped;
}

}  // namespace chunkserve::sched
