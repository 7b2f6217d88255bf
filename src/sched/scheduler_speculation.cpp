// Scheduler, speculative decoding: which draft a decoding sequence carries
// (prompt lookup, or the drafter's model drafts) and how a verifying pass's
// rows are applied (scheduler.h, SchedRequest::lookup_draft).
#include <algorithm>

#include "sched/prompt_lookup.h"
#include "sched/scheduler.h"
#include "sched/scheduler_state.h"

namespace chunkserve::sched {

// Below this acceptance over at least kDraftProbation drafted tokens, a
// request stops drafting: each rejected token costs a slice of a forward
// pass, and a text that does not copy its prompt will not start to.
constexpr int64_t kDraftProbation = 64;
constexpr double kMinDraftAcceptance = 0.1;

int64_t Scheduler::DraftBudget(const Seq& s) const {
  if (!s.req.lookup_draft || s.drafting_stopped || !s.req.forced_tokens.empty() || s.req.capture_logits_from >= 0)
    return 0;
  // Never past max_new_tokens (the last token is not fed back) nor a step
  // (the plan cuts it to what the step has left).
  return std::max<int64_t>(0, std::min<int64_t>({s.draft_limit, s.req.max_new_tokens - s.n_generated - 1,
                                                 options_.max_step_tokens - 1}));
}

std::vector<int32_t> Scheduler::DraftFor(Seq& s) {
  if (!s.req.lookup_draft || s.req.lookup_draft->source != DraftSource::kPromptLookup) return {};
  LookupDraftOptions o = *s.req.lookup_draft;
  o.max_draft = static_cast<int>(DraftBudget(s));
  if (o.max_draft < 1) return {};
  return ProposeLookupDraft(s.tokens, o);
}

void Scheduler::ProposeModelDrafts(const std::vector<std::pair<Seq*, size_t>>& queued, StepView& view) {
  std::vector<DraftQuery> queries(queued.size());
  for (size_t i = 0; i < queued.size(); ++i) {
    Seq& s = *queued[i].first;
    DraftQuery& q = queries[i];
    q.seq_id = s.id;
    q.tokens = s.tokens;
    q.max_draft = DraftBudget(s);
    q.temperature = s.req.sampling.temperature;
    q.rng = &s.draft_rng;
  }
  // A drafter that fails costs the step its drafts, nothing else: the
  // sequences decode one token as without speculation.
  if (!options_.drafter->Propose(queries).ok()) return;
  for (size_t i = 0; i < queued.size(); ++i) {
    Seq& s = *queued[i].first;
    DraftQuery& q = queries[i];
    s.feed.insert(s.feed.end(), q.draft.begin(), q.draft.end());
    s.draft_q = std::move(q.q);
    view.running[queued[i].second].n_draft = static_cast<int64_t>(q.draft.size());
  }
}

void Scheduler::AddDecodes(const StepPlan& plan) {
  // Drafts take only free blocks, after every decode has its room: a draft
  // never evicts, preempts, or takes a block a plain decode needs.
  for (const DecodeEntry& d : plan.decodes) {
    if (d.running >= running_.size()) return;  // preempted, with the rest
    Seq& s = *running_[d.running];
    const auto n_tokens = static_cast<int64_t>(s.tokens.size());
    if (d.n_draft == 0 || !s.table.Reserve(s.n_slots() + d.n_draft)) {
      AddPending(s, 1);
      continue;
    }
    s.feed.resize(static_cast<size_t>(1 + d.n_draft));
    StepSequence step;
    step.seq_id = s.id;
    step.table = &s.table;
    step.tokens = s.feed;
    step.first_slot = n_tokens - 1 - s.n_evicted;
    step.first_position = s.req.kv_policy.rolling_positions() ? -1 : n_tokens - 1;
    step.output = StepOutput::kAllLogits;
    step.vote_rows = VoteRows(s, n_tokens - 1, 1 + d.n_draft);
    batch_.push_back(step);
    batch_seqs_.push_back(&s);
    batch_fills_.push_back(nullptr);
    batch_first_token_.push_back(n_tokens - 1);
  }
}

// Row i predicts the token after fed token i. Fed token i's KV is valid once
// every draft before it was kept, so the sequence advances one slot per
// token emitted; the first mismatch's pick is emitted and the rest of the
// draft (and its KV rows, overwritten later) is dropped.
void Scheduler::ApplyVerification(Seq& s, const StepSequence& step, int64_t first_token, int64_t first_row) {
  const auto n_draft = static_cast<int64_t>(step.tokens.size()) - 1;
  int64_t n_kept = 0;
  for (int64_t i = 0; i <= n_draft && !s.done; ++i) {
    const std::span<const float> row = logits_.Row(first_row + i);
    const bool has_draft = i < n_draft;
    const int32_t draft = has_draft ? step.tokens[static_cast<size_t>(i + 1)] : -1;
    if (s.req.on_logits) s.req.on_logits(row);
    const bool has_law = has_draft && !s.draft_q.empty();
    const auto n_vocab = static_cast<size_t>(row.size());
    const int32_t token =
        !has_draft ? s.sampler.Sample(row)
        : has_law  ? s.sampler.SampleAgainstDraftDistribution(
                        row, draft, std::span<const float>(s.draft_q).subspan(static_cast<size_t>(i) * n_vocab, n_vocab))
                   : s.sampler.SampleAgainstDraft(row, draft);
    s.Advance(first_token + i, 1);
    EmitToken(s, token, /*forced=*/false);
    if (!has_draft || token != draft) break;
    ++n_kept;
  }
  RequestStats& st = s.outcome.stats;
  ++st.n_verifications;
  st.n_draft_tokens += n_draft;
  st.n_draft_accepted += n_kept;
  ++stats_.n_verifications;
  stats_.n_draft_tokens += n_draft;
  stats_.n_draft_accepted += n_kept;
  const int64_t max_draft = s.req.lookup_draft->max_draft;
  s.draft_limit = n_kept == n_draft ? std::min<int64_t>(max_draft, 2 * s.draft_limit)
                  : n_kept == 0     ? std::max<int64_t>(1, s.draft_limit / 2)
                                    : s.draft_limit;
  if (st.n_draft_tokens >= kDraftProbation &&
      static_cast<double>(st.n_draft_accepted) < kMinDraftAcceptance * static_cast<double>(st.n_draft_tokens))
    s.drafting_stopped = true;
}

}  // namespace chunkserve::sched
