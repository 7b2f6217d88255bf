// KV policies: which cached tokens a sequence keeps when its KV cache is held
// to a budget (long contexts, issue "long contexts"). The decisions are pure
// functions here; kv_compaction.h moves the rows and the scheduler decides
// when (sched/scheduler.h).
//
//   sinks   StreamingLLM: the first n_sinks tokens (attention sinks) and the
//           most recent ones. Applied whenever the cache outgrows the budget
//           by a block, during prefill too, so every later token sees
//           exactly sinks + window.
//   streaming  sinks with StreamingLLM's positions: positions are slots in
//           the cache (the kept window is re-rotated down when it moves), so
//           positions never pass budget + a block and generation goes on
//           past the model's context length, as long as asked.
//   snapkv  SnapKV: once the prompt is computed, its last `window` tokens
//           (the observation window) vote with their attention, pooled over
//           neighbouring slots, and each layer's KV head keeps the top
//           budget - window prompt tokens of its own plus the window.
//   h2o     H2O: heavy hitters by attention mass accumulated over every
//           query so far (prompt and generated tokens), plus the most recent
//           half of the budget; re-applied whenever the cache outgrows the
//           budget by a block.
//   pages   Quest-style query-aware page selection: nothing is dropped;
//           each decode token reads, per layer and KV head, the pages
//           (4 blocks) whose key bounds promise the highest scores, about
//           `budget` tokens' worth (model/page_selection.h). Prompts attend
//           to everything.
//   headwise  RazorAttention / DuoAttention: nothing is dropped; at decode
//           the retrieval heads (a quarter of the (layer, KV head) pairs,
//           found by a calibration pass, model/head_roles.h) read every
//           token, the streaming heads the first block and the most recent
//           ones, `budget` tokens in all.
//   gemfilter  GemFilter: before the prompt is computed, its first layers
//           run alone and the prompt's last token's attention at an early
//           layer picks `budget` prompt tokens (model/gem_filter.h); they
//           become the prompt (positions 0, 1, ...), so prefill time and
//           the cache shrink together.
//
// Except under streaming, kept tokens keep their RoPE positions
// (kv_compaction.h): a policy changes which keys attention reads, never
// where they are.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kv/kv_compaction.h"

namespace chunkserve::kv {

enum class KvPolicyKind { kFull, kSinks, kSnapKv, kH2O, kStreaming, kPages, kHeadwise, kGemFilter };

struct KvPolicy {
  KvPolicyKind kind = KvPolicyKind::kFull;
  int64_t budget = 0;      // tokens kept per KV head (> 0 unless kFull)
  int64_t n_sinks = 4;     // sinks: leading tokens always kept
  int64_t window = 32;     // snapkv: observation window (always kept)
  int64_t pool_size = 7;   // snapkv: max-pooling width over the votes

  bool active() const { return kind != KvPolicyKind::kFull; }
  // Sinks + recent window kept (sinks, streaming).
  bool keeps_sinks_and_recent() const { return kind == KvPolicyKind::kSinks || kind == KvPolicyKind::kStreaming; }
  // Positions are cache slots (streaming): no context limit on length.
  bool rolling_positions() const { return kind == KvPolicyKind::kStreaming; }
  // Whether the policy needs attention votes from the step that ends the
  // prompt (snapkv, h2o) or from every step (h2o).
  bool votes_at_prompt_end() const { return kind == KvPolicyKind::kSnapKv || kind == KvPolicyKind::kH2O; }
  bool votes_every_step() const { return kind == KvPolicyKind::kH2O; }
  // Keeps everything and chooses what each decode token reads (pages, headwise).
  bool selects_at_decode() const { return kind == KvPolicyKind::kPages || kind == KvPolicyKind::kHeadwise; }
};

// "full" | "sinks" | "snapkv" | "h2o" | "streaming" | "pages" | "headwise" | "gemfilter".
const char* KvPolicyName(KvPolicyKind kind);
std::optional<KvPolicyKind> ParseKvPolicyKind(std::string_view name);
// InvalidArgument naming the field for a budget that cannot hold what the
// policy always keeps (sinks + 1, window + 1, 2).
Status ValidateKvPolicy(const KvPolicy& policy);

// Cache rows a decode step reads per KV head, averaged over the heads, when
// the cache holds n_held: all of them, except under pages (the budget) and
// headwise (a quarter of the heads read all, the rest the budget), for
// bandwidth figures.
double DecodeReadTokens(const KvPolicy& policy, int64_t n_held);

// The n_sinks first and the budget - n_sinks last of n slots (all of them
// when n <= budget).
std::vector<int64_t> SinksAndRecent(int64_t n, int64_t budget, int64_t n_sinks);

// Per layer and KV head, the `budget` slots of [0, n_slots) to keep: the
// last `n_recent` always, the rest by descending score (ties: lower slot),
// ascending in each list. scores: (n_layers, n_kv_heads, n_slots); with
// pool_size > 1 a slot's rank uses the max over its pool_size neighbours
// (SnapKV's clustering, so the tokens around a strong one stay too).
KeepSets TopScoring(const std::vector<float>& scores, int n_layers, int n_kv_heads, int64_t n_slots,
                    int64_t budget, int64_t n_recent, int64_t pool_size);

}  // namespace chunkserve::kv
