#include "sched/scheduler.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/logging.h"
#include "kv/block_table.h"
#include "sampling/sampler.h"
#include "sched/scheduler_state.h"

namespace chunkserve::sched {

Scheduler::Scheduler(PrivateTag, StepExecutor* executor, kv::BlockPool* pool, kv::PrefixCache* prefix_cache,
                     const SchedulerOptions& options)
    : executor_(executor), pool_(pool), prefix_cache_(prefix_cache), options_(options) {
  max_decode_slowdown_.store(options.max_decode_slowdown);
}

StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(StepExecutor* executor, kv::BlockPool* pool,
                                                       kv::PrefixCache* prefix_cache,
                                                       const SchedulerOptions& options) {
  if (executor == nullptr || pool == nullptr) return InvalidArgumentError("scheduler: executor and pool are required");
  if (options.max_step_tokens < 1 || options.max_running < 1 || options.max_waiting < 0 ||
      options.max_context_tokens < 2 || options.max_decode_slowdown < 0)
    return InvalidArgumentError(
        "scheduler: max_step_tokens, max_running must be >= 1, max_context_tokens >= 2, max_decode_slowdown >= 0");
  if (options.drafter != nullptr && options.drafter->n_vocab() != executor->n_vocab())
    return InvalidArgumentError("scheduler: the drafter's vocabulary has " + std::to_string(options.drafter->n_vocab()) +
                                " tokens, the model's " + std::to_string(executor->n_vocab()));
  auto s = std::make_unique<Scheduler>(PrivateTag{}, executor, pool, prefix_cache, options);
  s->PublishStats();
  return s;
}

Scheduler::~Scheduler() { Shutdown(0); }

StatusOr<uint64_t> Scheduler::Submit(SchedRequest request) {
  if (stopping_.load()) return UnavailableError("scheduler: shutting down");
  const int64_t n_prompt = static_cast<int64_t>(request.prompt.size());
  if (n_prompt == 0) return InvalidArgumentError("empty prompt");
  const int64_t n_vocab = executor_->n_vocab();
  for (int32_t t : request.prompt)
    if (t < 0 || t >= n_vocab)
      return InvalidArgumentError("token id " + std::to_string(t) + " outside the vocabulary [0, " +
                                  std::to_string(n_vocab) + ")");
  RETURN_IF_ERROR(kv::ValidateKvPolicy(request.kv_policy));
  // Drafts are verified as multi-token entries, which read everything: under
  // a decode-time selection they would not answer as plain decoding does.
  if (request.kv_policy.selects_at_decode()) request.lookup_draft.reset();
  if (request.lookup_draft && request.lookup_draft->source == DraftSource::kModel && options_.drafter == nullptr)
    return InvalidArgumentError("speculate draft: no draft model is loaded (start with --draft-model D.gguf or "
                                "--self-draft-layers N)");
  if (request.embed) {
    request.max_new_tokens = 0;
    request.chunks.clear();
    request.forced_tokens.clear();
    request.capture_logits_from = -1;
    request.kv_policy = {};
  } else {
    if (request.max_new_tokens < 1) return InvalidArgumentError("max_tokens must be at least 1");
    for (int32_t t : request.forced_tokens)
      if (t < 0 || t >= n_vocab) return InvalidArgumentError("forced token id " + std::to_string(t) + " outside the vocabulary");
    if (!request.forced_tokens.empty())
      request.max_new_tokens = std::min<int64_t>(request.max_new_tokens, static_cast<int64_t>(request.forced_tokens.size()));
  }
  // Positions that hold KV: the last generated token is never fed back.
  // Under rolling positions (streaming) they stay below budget + a block,
  // whatever the length.
  int64_t n_total = n_prompt + std::max<int64_t>(0, request.max_new_tokens - 1);
  if (request.kv_policy.rolling_positions()) {
    n_total = std::min(n_total, request.kv_policy.budget + pool_->block_tokens());
    if (n_total > options_.max_context_tokens)
      return InvalidArgumentError("kv policy streaming: budget " + std::to_string(request.kv_policy.budget) +
                                  " plus a block of " + std::to_string(pool_->block_tokens()) +
                                  " tokens exceeds the context of " + std::to_string(options_.max_context_tokens) +
                                  " tokens");
  }
  if (n_total > options_.max_context_tokens)
    return InvalidArgumentError("the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                                std::to_string(request.max_new_tokens) + ") exceeds the context of " +
                                std::to_string(options_.max_context_tokens) + " tokens");
  const int64_t pool_tokens = pool_->n_blocks() * pool_->block_tokens();
  if (n_total > pool_tokens)
    return InvalidArgumentError("the prompt plus max_tokens (" + std::to_string(n_total) +
                                " tokens) exceeds the KV pool (" + std::to_string(pool_tokens) + " tokens)");

  auto seq = std::make_unique<Seq>(pool_, std::move(request), static_cast<int>(n_vocab));
  seq->tokens = seq->req.prompt;
  seq->n_prompt = n_prompt;
  seq->sampler.SetEndOfGenerationTokens(seq->req.end_of_generation);
  if (seq->req.lookup_draft) seq->draft_limit = seq->req.lookup_draft->max_draft;
  // The drafter's draws are the request's own (seeded apart from the sampler's).
  seq->draft_rng.Seed(seq->req.sampling.seed ^ 0x9e3779b97f4a7c15ULL);
  // Penalties see the prompt too (llama.cpp's rule, the same on every path).
  for (int32_t t : seq->tokens) seq->sampler.Accept(t);
  // The constraint sees generated tokens only.
  seq->sampler.SetConstraint(std::move(seq->req.constraint));
  seq->submit_ns = NowNanos();
  seq->submit_cpu_ms = ProcessCpuMillis();
  seq->outcome.stats.n_prompt_tokens = n_prompt;
  uint64_t id = 0;
  {
    MutexLock lock(&mu_);
    if (stopping_.load()) return UnavailableError("scheduler: shutting down");
    if (n_queued_ >= options_.max_waiting)
      return ResourceExhaustedError("scheduler: " + std::to_string(n_queued_) + " requests already queued");
    id = next_id_++;
    seq->id = id;
    ++n_queued_;
    n_in_flight_.fetch_add(1);
    inbox_.push_back(std::move(seq));
  }
  cv_.NotifyOne();
  return id;
}

void Scheduler::Cancel(uint64_t id) {
  {
    MutexLock lock(&mu_);
    cancel_inbox_.push_back(id);
  }
  cv_.NotifyOne();
}

void Scheduler::Start() {
  CHECK(!thread_.joinable());
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Shutdown(int64_t grace_ms) {
  std::call_once(shutdown_once_, [&] {
    stopping_.store(true);
    if (thread_.joinable()) {
      const Stopwatch clock;
      while (n_in_flight_.load() > 0 && clock.ElapsedMillis() < static_cast<double>(grace_ms))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      {
        MutexLock lock(&mu_);
        exit_ = true;
      }
      cv_.NotifyOne();
      thread_.join();
    }
    {
      // Entries still being stored report back (bounded by the tiers'
      // timeouts): their callbacks must not outlive the scheduler.
      MutexLock lock(&mu_);
      while (n_storing_ > 0) idle_cv_.Wait(lock);
    }
    // Whatever is left (not started, or cut off by the grace period) ends
    // cancelled; the loop has exited so this thread owns the state now.
    DrainInbox();
    while (!running_.empty()) {
      std::unique_ptr<Seq> s = std::move(running_.back());
      running_.pop_back();
      Finish(std::move(s), FinishReason::kCancelled);
    }
    while (!waiting_.empty()) {
      std::unique_ptr<Seq> s = std::move(waiting_.front());
      waiting_.pop_front();
      LeaveQueue();
      Finish(std::move(s), FinishReason::kCancelled);
    }
    stats_.n_fill_jobs_dropped += static_cast<int64_t>(fills_.size());
    fills_.clear();
    fill_keys_.clear();
    ReleaseHeld(true);
    PublishStats();
  });
}

void Scheduler::Loop() {
  for (;;) {
    {
      MutexLock lock(&mu_);
      if (exit_) return;
    }
    if (RunStep()) continue;
    MutexLock lock(&mu_);
    while (!exit_ && inbox_.empty() && cancel_inbox_.empty() && n_clear_requests_ <= n_clears_done_ && !woken_)
      cv_.Wait(lock);
  }
}

void Scheduler::DrainInbox() {
  std::vector<std::unique_ptr<Seq>> fresh;
  std::vector<uint64_t> cancels;
  int64_t clear_ticket = 0;  // > 0: ClearPrefixCache calls up to this one wait
  {
    MutexLock lock(&mu_);
    fresh.swap(inbox_);
    cancels.swap(cancel_inbox_);
    woken_ = false;
    if (n_clear_requests_ > n_clears_done_) clear_ticket = n_clear_requests_;
  }
  if (clear_ticket > 0) {
    if (prefix_cache_ != nullptr) prefix_cache_->EvictAll();
    {
      MutexLock lock(&mu_);
      n_clears_done_ = clear_ticket;
    }
    PublishStats();
  }
  const int64_t B = pool_->block_tokens();
  for (std::unique_ptr<Seq>& s : fresh) {
    // BatchLLM-style grouping: queue a request right behind the last waiting
    // one that shares its first block, so they are admitted together.
    size_t at = waiting_.size();
    if (s->n_prompt >= B) {
      for (size_t j = waiting_.size(); j-- > 0;) {
        const Seq& w = *waiting_[j];
        if (w.n_prompt >= B && std::equal(s->tokens.begin(), s->tokens.begin() + B, w.tokens.begin())) {
          at = j + 1;
          break;
        }
      }
    }
    waiting_.insert(waiting_.begin() + static_cast<std::ptrdiff_t>(at), std::move(s));
  }
  for (uint64_t id : cancels) RemoveById(id, FinishReason::kCancelled);
  TakeStoredReports();
  ReleaseHeld(false);
}

bool Scheduler::RemoveById(uint64_t id, FinishReason reason) {
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if ((*it)->id == id) {
      std::unique_ptr<Seq> s = std::move(*it);
      running_.erase(it);
      Finish(std::move(s), reason);
      return true;
    }
  }
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->id == id) {
      std::unique_ptr<Seq> s = std::move(*it);
      waiting_.erase(it);
      LeaveQueue();
      Finish(std::move(s), reason);
      return true;
    }
  }
  return false;
}

void Scheduler::Finish(std::unique_ptr<Seq> seq, FinishReason reason, Status status) {
  executor_->Forget(seq->id);
  if (options_.drafter != nullptr) options_.drafter->Forget(seq->id);
  if (options_.planner != nullptr) options_.planner->Release(seq->id);
  // Keep what was computed exactly for later requests (multi-turn chats).
  if (reason != FinishReason::kError) InsertIntoPrefixCache(*seq, seq->n_exact());
  seq->table.Clear();
  RequestOutcome& out = seq->outcome;
  out.finish = reason;
  out.status = std::move(status);
  RequestStats& st = out.stats;
  st.n_generated_tokens = seq->n_generated;
  st.n_computed_tokens = st.n_prompt_tokens - st.n_prefix_reused_tokens - st.n_chunk_reused_tokens;
  const int64_t now = NowNanos();
  st.total_ms = static_cast<double>(now - seq->submit_ns) * 1e-6;
  if (seq->first_token_ns > 0) {
    st.ttft_ms = static_cast<double>(seq->first_token_ns - seq->submit_ns) * 1e-6;
  } else {
    st.ttft_ms = st.total_ms;
    st.ttft_cpu_ms = ProcessCpuMillis() - seq->submit_cpu_ms;
  }
  if (seq->n_generated > 1 && seq->last_token_ns > seq->first_token_ns)
    st.decode_tokens_per_s = static_cast<double>(seq->n_generated - 1) /
                             (static_cast<double>(seq->last_token_ns - seq->first_token_ns) * 1e-9);
  ++stats_.n_finished;
  if (reason == FinishReason::kCancelled) ++stats_.n_cancelled;
  // Publish before completing: a request whose missed chunks are still
  // being computed (and stored, published) by fill jobs ends once they are.
  const bool awaits_fill = std::any_of(seq->awaited_fill_keys.begin(), seq->awaited_fill_keys.end(),
                                       [this](uint64_t k) { return FillPending(k); });
  if (awaits_fill && options_.max_done_hold_ms > 0 &&
      (reason == FinishReason::kLength || reason == FinishReason::kEndOfGeneration)) {
    seq->held_since_ns = now;
    ++stats_.n_done_held;
    held_.push_back(std::move(seq));
    return;
  }
  Deliver(std::move(seq));
}

void Scheduler::Deliver(std::unique_ptr<Seq> seq) {
  RequestOutcome& out = seq->outcome;
  if (seq->held_since_ns > 0) out.stats.total_ms = static_cast<double>(NowNanos() - seq->submit_ns) * 1e-6;
  n_in_flight_.fetch_sub(1);
  if (seq->req.on_done) seq->req.on_done(out);
}

void Scheduler::ReleaseHeld(bool all) {
  if (held_.empty()) return;
  const int64_t now = NowNanos();
  std::vector<std::unique_ptr<Seq>> keep;
  for (std::unique_ptr<Seq>& s : held_) {
    const bool pending = std::any_of(s->awaited_fill_keys.begin(), s->awaited_fill_keys.end(),
                                     [this](uint64_t k) { return FillPending(k); });
    const bool too_long = now - s->held_since_ns >= options_.max_done_hold_ms * 1000000;
    if (pending && !too_long && !all) {
      keep.push_back(std::move(s));
      continue;
    }
    if (pending || s->awaited_fill_lost) {
      ++stats_.n_done_held_unfilled;
      CS_LOG(Warning) << "scheduler: request " << s->id << " ends before its chunk-cache entries were stored ("
                      << (pending ? "held " + std::to_string((now - s->held_since_ns) / 1000000) + " ms" : "fill dropped")
                      << ")";
    }
    Deliver(std::move(s));
  }
  held_.swap(keep);
}

void Scheduler::Preempt(std::unique_ptr<Seq> seq) {
  executor_->Forget(seq->id);
  if (options_.drafter != nullptr) options_.drafter->Forget(seq->id);
  // The computed blocks go to the prefix cache: if nobody needs the room
  // before the request resumes, it skips recomputing them.
  InsertIntoPrefixCache(*seq, seq->n_exact());
  seq->table.Clear();
  seq->n_computed = 0;
  seq->todo.clear();
  seq->first_inexact_slot = INT64_MAX;
  seq->fills.clear();
  seq->prepared = false;
  seq->n_evicted = 0;
  seq->attention_mass.clear();
  ++seq->outcome.stats.n_preemptions;
  ++stats_.n_preemptions;
  {
    MutexLock lock(&mu_);
    ++n_queued_;
  }
  waiting_.push_front(std::move(seq));
}

bool Scheduler::ReserveWithEviction(Seq& seq, int64_t n_tokens) {
  while (!seq.table.Reserve(n_tokens)) {
    const int64_t B = pool_->block_tokens();
    const int64_t missing = (n_tokens - seq.table.capacity_tokens() + B - 1) / B;
    // Cached prefixes first, then the low-priority fill jobs.
    if (prefix_cache_ != nullptr && prefix_cache_->Evict(missing) > 0) continue;
    if (!DropOneFillJob()) return false;
  }
  return true;
}

void Scheduler::InsertIntoPrefixCache(Seq& seq, int64_t n_tokens) {
  if (prefix_cache_ == nullptr || !seq.req.use_prefix_cache || n_tokens < pool_->block_tokens()) return;
  n_tokens = std::min<int64_t>(n_tokens, seq.table.capacity_tokens());
  prefix_cache_->Insert(options_.prefix_namespace,
                        std::span<const int32_t>(seq.tokens.data(), static_cast<size_t>(n_tokens)),
                        seq.table.blocks());
}

// Tokens of `seq`'s prompt that a running sequence shares in whole blocks but
// has not computed yet (0: nothing to wait for).
int64_t Scheduler::SharedWithPrefilling(const Seq& seq) const {
  if (prefix_cache_ == nullptr || !seq.uses_prefix_cache()) return 0;
  const int64_t B = pool_->block_tokens();
  // With a planner, a match is cut at the first chunk: nothing past it is
  // worth waiting for.
  int64_t own_limit = seq.n_prompt - 1;
  if (options_.planner != nullptr && !seq.req.chunks.empty())
    own_limit = std::min(own_limit, seq.req.chunks.front().begin);
  if (seq.req.capture_logits_from >= 0) own_limit = std::min(own_limit, seq.req.capture_logits_from);
  for (const std::unique_ptr<Seq>& r : running_) {
    if (r->prompt_computed() || !r->req.use_prefix_cache) continue;
    // Only exact rows are ever published to the prefix cache.
    const int64_t limit = std::min({r->n_prompt, own_limit, r->first_inexact_slot});
    int64_t common = 0;
    while (common < limit && r->tokens[static_cast<size_t>(common)] == seq.tokens[static_cast<size_t>(common)]) ++common;
    const int64_t shared_blocks_tokens = common / B * B;
    if (shared_blocks_tokens > 0 && r->n_valid() < shared_blocks_tokens) return shared_blocks_tokens;
  }
  return 0;
}

bool Scheduler::TryAdmit(std::unique_ptr<Seq>& seq) {
  if (seq->req.kv_policy.kind == kv::KvPolicyKind::kGemFilter && !seq->prompt_filtered) FilterPrompt(*seq);
  int64_t matched = 0;
  const bool planned = options_.planner != nullptr && !seq->req.chunks.empty();
  if (prefix_cache_ != nullptr && seq->uses_prefix_cache()) {
    // Never the whole sequence: its last token must run to give logits (nor
    // slots whose logits are to be captured).
    auto n_lookup = static_cast<int64_t>(seq->tokens.size()) - 1;
    if (seq->req.capture_logits_from >= 0) n_lookup = std::min(n_lookup, seq->req.capture_logits_from);
    kv::PrefixMatch m = prefix_cache_->Lookup(
        options_.prefix_namespace, std::span<const int32_t>(seq->tokens.data(), static_cast<size_t>(n_lookup)));
    if (planned && m.n_tokens > 0) {
      PlanInput in;
      in.seq_id = seq->id;
      in.tokens = seq->tokens;
      in.n_prompt = seq->n_prompt;
      in.chunks = seq->req.chunks;
      const int64_t B = pool_->block_tokens();
      const int64_t keep = std::clamp<int64_t>(options_.planner->TrimPrefixMatch(in, m.n_tokens, B), 0, m.n_tokens) / B;
      for (size_t j = static_cast<size_t>(keep); j < m.blocks.size(); ++j) pool_->Release(m.blocks[j]);
      m.blocks.resize(static_cast<size_t>(keep));
      m.n_tokens = keep * B;
    }
    for (kv::BlockId b : m.blocks) seq->table.AdoptShared(b);
    matched = m.n_tokens;
  }
  if (!ReserveWithEviction(*seq, static_cast<int64_t>(seq->tokens.size()))) {
    seq->table.Clear();
    return false;
  }
  seq->n_computed = matched;
  seq->todo.clear();
  seq->first_inexact_slot = INT64_MAX;
  seq->fills.clear();
  if (planned) {
    PlanAdmitted(*seq, matched);
    options_.planner->Release(seq->id);  // what Prepare read ahead is placed now
  }
  stats_.n_prefix_hit_tokens += matched;
  const int64_t now = NowNanos();
  if (!seq->admitted_once) {
    seq->outcome.stats.n_prefix_reused_tokens = std::min(matched, seq->n_prompt);
    seq->outcome.stats.queue_ms = static_cast<double>(now - seq->submit_ns) * 1e-6;
    seq->admitted_once = true;
  }
  LeaveQueue();
  return true;
}

void Scheduler::PlanAdmitted(Seq& seq, int64_t matched) {
  PlanInput in;
  in.seq_id = seq.id;
  in.tokens = seq.tokens;
  in.n_prompt = seq.n_prompt;
  in.chunks = seq.req.chunks;
  in.n_prefix_tokens = matched;
  in.recompute_fraction = seq.req.recompute_fraction;
  StatusOr<AdmissionPlan> plan = options_.planner->Plan(in, &seq.table);
  if (!plan.ok()) {
    // Compute everything past the prefix: whatever the planner wrote is
    // overwritten.
    CS_LOG(Warning) << "scheduler: planning request " << seq.id << " failed, computing it whole: "
                    << plan.status().ToString();
    return;
  }
  const auto n_tokens = static_cast<int64_t>(seq.tokens.size());
  const std::vector<int64_t>& slots = plan->compute_slots;
  CHECK(!slots.empty() && slots.back() == n_tokens - 1 && slots.front() >= matched);
  // Runs of consecutive slots; the last one (ending at the last token)
  // becomes the contiguous tail [n_computed, n_tokens).
  std::vector<ChunkSpan> runs;
  for (size_t i = 0; i < slots.size(); ++i) {
    CHECK(i == 0 || slots[i] > slots[i - 1]);
    if (runs.empty() || runs.back().end != slots[i]) runs.push_back(ChunkSpan{slots[i], slots[i] + 1});
    else ++runs.back().end;
  }
  seq.n_computed = runs.back().begin;
  runs.pop_back();
  seq.todo.assign(runs.begin(), runs.end());
  seq.first_inexact_slot = plan->first_inexact_slot;
  seq.fills = std::move(plan->fills);
  // Without the request's KV to score against, fills need not wait for its
  // prompt: queued now, requests arriving meanwhile wait for them instead
  // of computing the same chunks in their own contexts.
  if (!options_.planner->WantsSourceKv()) QueueFills(seq);
  if (!seq.admitted_once) {
    RequestStats& o = seq.outcome.stats;
    o.n_chunk_reused_tokens = plan->n_chunk_reused_tokens;
    o.n_chunk_recomputed_tokens = plan->n_chunk_recomputed_tokens;
    o.n_chunk_ram_hits = plan->n_chunk_ram_hits;
    o.n_chunk_disk_hits = plan->n_chunk_disk_hits;
    o.n_chunk_remote_hits = plan->n_chunk_remote_hits;
    o.n_chunk_misses = plan->n_chunk_misses;
    stats_.n_chunk_reused_tokens += plan->n_chunk_reused_tokens;
    stats_.n_chunk_recomputed_tokens += plan->n_chunk_recomputed_tokens;
    stats_.n_chunk_hits += plan->n_chunk_ram_hits + plan->n_chunk_disk_hits + plan->n_chunk_remote_hits;
    stats_.n_chunk_misses += plan->n_chunk_misses;
  }
}

bool Scheduler::WaitsForFill(Seq& seq) {
  if (options_.planner == nullptr || seq.req.chunks.empty() || fill_keys_.empty()) return false;
  if (seq.chunk_keys.empty()) {
    for (const ChunkSpan& c : seq.req.chunks)
      seq.chunk_keys.push_back(options_.planner->FillKey(std::span<const int32_t>(seq.tokens).subspan(
          static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin))));
  }
  for (uint64_t k : seq.chunk_keys)
    if (fill_keys_.count(k) > 0) return true;
  return false;
}

void Scheduler::Wake() {
  {
    MutexLock lock(&mu_);
    woken_ = true;
  }
  cv_.NotifyOne();
}

bool Scheduler::Prepared(Seq& seq) {
  if (seq.prepared || options_.planner == nullptr || seq.req.chunks.empty()) return true;
  PlanInput in;
  in.seq_id = seq.id;
  in.tokens = seq.tokens;
  in.n_prompt = seq.n_prompt;
  in.chunks = seq.req.chunks;
  in.recompute_fraction = seq.req.recompute_fraction;
  seq.prepared = options_.planner->Prepare(in, [this] { Wake(); });
  return seq.prepared;
}

void Scheduler::LeaveQueue() {
  MutexLock lock(&mu_);
  --n_queued_;
}

// A step: a snapshot of the state, the plan made from it (step_plan.h), the
// plan carried out (KV claimed, StepSequences added to batch_), one forward
// over the batch, then its outputs applied and finished work retired.
bool Scheduler::RunStep() {
  DrainInbox();
  if (running_.empty() && waiting_.empty() && fills_.empty()) {
    ReleaseHeld(false);
    PublishStats();
    return false;
  }
  if (waiting_.empty()) admission_lacked_blocks_ = false;
  const StepPlan plan = PlanStep(Snapshot(), cost_);
  if (plan.latency_limited) ++stats_.n_latency_limited_steps;
  batch_.clear();
  batch_seqs_.clear();
  batch_fills_.clear();
  batch_first_token_.clear();
  // Admission candidates and fill jobs by identity: claiming decode room may
  // drop fill jobs, admitting moves requests out of waiting_.
  std::vector<Seq*> candidates;
  for (size_t j : plan.admissions) candidates.push_back(waiting_[j].get());
  std::vector<std::pair<uint64_t, int64_t>> fills;  // (job id, tokens)
  for (const SliceEntry& f : plan.fills) fills.emplace_back(fills_[f.index]->id, f.n_tokens);
  const bool preempted = ClaimDecodeRoom(plan);
  AddDecodes(plan);
  for (const SliceEntry& p : plan.prefills) {
    if (p.index >= running_.size()) break;
    Seq& s = *running_[p.index];
    // A compacted cache (KV policy) holds only what it kept: room for the
    // slice is claimed now (none free: the slice waits).
    if (s.n_evicted > 0 && !ReserveWithEviction(s, s.n_computed - s.n_evicted + p.n_tokens)) continue;
    AddPending(s, p.n_tokens);
  }
  if (!preempted) {
    AddFills(fills);
    Admit(candidates, plan.admission_budget);
  }
  if (batch_.empty()) return HandleEmptyStep(preempted);
  const Status st = ExecuteStep();
  ApplyStepOutput(st);
  RetireFinished(st);
  PublishStats();
  return true;
}

StepView Scheduler::Snapshot() {
  StepView view;
  view.max_step_tokens = options_.max_step_tokens;
  view.max_running = options_.max_running;
  view.max_fill_jobs = options_.max_fill_jobs;
  view.admission_lacked_blocks = admission_lacked_blocks_;
  view.max_decode_slowdown = max_decode_slowdown_.load();
  std::vector<std::pair<Seq*, size_t>> model_drafts;  // (sequence, index in view.running)
  for (const std::unique_ptr<Seq>& sp : running_) {
    Seq& s = *sp;
    RunningView r;
    r.decoding = s.decoding();
    r.n_pending = s.n_pending();
    // Rolling positions never pass budget + a block: a prefill slice takes
    // at most the room left before the next compaction.
    if (const kv::KvPolicy& p = s.req.kv_policy; p.rolling_positions())
      r.n_pending = std::min(r.n_pending, std::max<int64_t>(1, p.budget + pool_->block_tokens() - (s.n_computed - s.n_evicted)));
    if (r.decoding) {
      s.feed.assign(1, s.tokens.back());
      s.draft_q.clear();
      if (s.req.lookup_draft && s.req.lookup_draft->source == DraftSource::kModel && DraftBudget(s) > 0)
        model_drafts.emplace_back(&s, view.running.size());
      const std::vector<int32_t> draft = DraftFor(s);
      s.feed.insert(s.feed.end(), draft.begin(), draft.end());
      r.n_draft = static_cast<int64_t>(draft.size());
    }
    view.running.push_back(r);
  }
  if (!model_drafts.empty()) ProposeModelDrafts(model_drafts, view);
  for (const std::unique_ptr<FillJob>& f : fills_)
    view.fills.push_back({f->started, static_cast<int64_t>(f->fill.tokens.size()) - f->n_computed});
  // Requests that may be admitted soon get their reused KV fetched ahead
  // (disk reads off this thread); one still fetching is held back.
  n_preparing_ = 0;
  const size_t n_ahead = std::min(waiting_.size(), static_cast<size_t>(options_.max_running));
  for (size_t j = 0; j < n_ahead; ++j)
    if (!Prepared(*waiting_[j])) ++n_preparing_;
  // The head of the queue, as far as admission can reach this step.
  auto slots = static_cast<int64_t>(options_.max_running) - static_cast<int64_t>(running_.size());
  for (size_t j = 0; j < waiting_.size() && slots > 0; ++j) {
    Seq& w = *waiting_[j];
    const bool ready = SharedWithPrefilling(w) == 0 && !WaitsForFill(w) && Prepared(w);
    view.waiting.push_back({ready});
    if (ready) --slots;
  }
  return view;
}

bool Scheduler::ClaimDecodeRoom(const StepPlan& plan) {
  // Preempt from the back when the pool runs dry: the latest admitted lose
  // their place first (entries of theirs later in the plan are dropped).
  bool preempted = false;
  for (const DecodeEntry& d : plan.decodes) {
    if (d.running >= running_.size()) break;
    Seq& s = *running_[d.running];
    const int64_t need = s.n_slots();
    bool ok = ReserveWithEviction(s, need);
    while (!ok) {
      std::unique_ptr<Seq> victim = std::move(running_.back());
      running_.pop_back();
      const bool self = victim.get() == &s;
      Preempt(std::move(victim));
      preempted = true;
      if (self) break;
      ok = ReserveWithEviction(s, need);
    }
    if (!ok) break;  // `s` itself was preempted: it was the last one
  }
  return preempted;
}

void Scheduler::Admit(const std::vector<Seq*>& candidates, int64_t budget) {
  // A step that tries no one (all held back) clears the lack of blocks, so
  // paused fill jobs resume and the requests waiting for them get admitted.
  bool tried = false;
  for (Seq* c : candidates) {
    if (budget <= 0 || static_cast<int64_t>(running_.size()) >= options_.max_running) break;
    // Admitting an earlier candidate may have started computing a prefix
    // this one shares: it waits for it then.
    if (SharedWithPrefilling(*c) > 0) continue;
    const auto it = std::find_if(waiting_.begin(), waiting_.end(),
                                 [c](const std::unique_ptr<Seq>& w) { return w.get() == c; });
    tried = true;
    admission_lacked_blocks_ = !TryAdmit(*it);
    if (admission_lacked_blocks_) return;  // no room: keep the queue order
    running_.push_back(std::move(*it));
    waiting_.erase(it);
    Seq& a = *running_.back();
    const int64_t n = std::min(a.n_pending(), budget);
    AddPending(a, n);
    budget -= n;
  }
  if (!tried) admission_lacked_blocks_ = false;
}

void Scheduler::AddRun(Seq& s, int64_t first_token, int64_t n) {
  StepSequence step;
  step.seq_id = s.id;
  step.table = &s.table;
  step.tokens = std::span<const int32_t>(s.tokens.data() + first_token, static_cast<size_t>(n));
  step.first_slot = first_token - s.n_evicted;
  step.first_position = s.req.kv_policy.rolling_positions() ? -1 : first_token;  // -1: the slot
  step.vote_rows = VoteRows(s, first_token, n);
  if (n == 1 && first_token >= s.n_prompt && s.req.kv_policy.selects_at_decode()) {
    step.page_budget = s.req.kv_policy.budget;
    step.headwise = s.req.kv_policy.kind == kv::KvPolicyKind::kHeadwise;
  }
  const bool last = first_token + n == static_cast<int64_t>(s.tokens.size());
  if (s.req.embed) step.output = StepOutput::kHidden;
  else if (s.req.capture_logits_from >= 0 && first_token + n > s.req.capture_logits_from) step.output = StepOutput::kAllLogits;
  else step.output = last ? StepOutput::kLastLogits : StepOutput::kNone;
  batch_.push_back(step);
  batch_seqs_.push_back(&s);
  batch_fills_.push_back(nullptr);
  batch_first_token_.push_back(first_token);
}

// The next n pending slots of `s`, in slot order: the scattered runs, then
// the contiguous tail. Each run is its own StepSequence.
void Scheduler::AddPending(Seq& s, int64_t n) {
  for (const ChunkSpan& r : s.todo) {
    if (n <= 0) return;
    const int64_t take = std::min(n, r.end - r.begin);
    AddRun(s, r.begin, take);
    n -= take;
  }
  if (n > 0) AddRun(s, s.n_computed, n);
}

bool Scheduler::HandleEmptyStep(bool preempted) {
  // Nothing runs and no fill job can start (no blocks): give the jobs up
  // (this also frees requests held back for them) and try again.
  if (running_.empty() && !preempted && !fills_.empty()) {
    stats_.n_fill_jobs_dropped += static_cast<int64_t>(fills_.size());
    for (const std::unique_ptr<FillJob>& f : fills_) executor_->Forget(f->id);
    for (const std::unique_ptr<Seq>& h : held_) h->awaited_fill_lost = true;
    fills_.clear();
    fill_keys_.clear();
    admission_lacked_blocks_ = false;
    ReleaseHeld(false);
    PublishStats();
    return true;
  }
  // Waiting requests that fit nowhere while nothing runs: the pool is held
  // by the prefix cache alone, which admission already tried to evict, so
  // they can never run. (Not while some are still fetching: the loop waits
  // for their wake instead.)
  if (running_.empty() && !preempted && n_preparing_ > 0) {
    PublishStats();
    return false;
  }
  if (running_.empty() && !preempted) {
    while (!waiting_.empty()) {
      std::unique_ptr<Seq> s = std::move(waiting_.front());
      waiting_.pop_front();
      LeaveQueue();
      Finish(std::move(s), FinishReason::kError, ResourceExhaustedError("scheduler: KV pool cannot hold the request"));
    }
  }
  PublishStats();
  return !running_.empty() || !waiting_.empty() || !fills_.empty();
}

Status Scheduler::ExecuteStep() {
  stats_.max_batch_sequences = std::max<int64_t>(stats_.max_batch_sequences, static_cast<int64_t>(batch_.size()));
  ++stats_.n_steps;
  auto now_ns = [this] { return options_.clock ? options_.clock() : NowNanos(); };
  const int64_t step_start_ns = now_ns();
  const Status st = executor_->Run(batch_, &logits_);
  if (st.ok()) {
    int64_t n_step_tokens = 0;
    for (const StepSequence& b : batch_) n_step_tokens += static_cast<int64_t>(b.tokens.size());
    cost_.Observe(n_step_tokens, static_cast<double>(now_ns() - step_start_ns) * 1e-6);
  }
  return st;
}

void Scheduler::ApplyStepOutput(const Status& st) {
  if (!st.ok()) {
    CS_LOG(Error) << "scheduler: step failed: " << st.ToString();
    for (Seq* s : batch_seqs_) {
      if (s == nullptr) continue;
      s->done = true;
      s->done_reason = FinishReason::kError;
    }
    // Fill jobs of a failed step are dropped (their entries may be garbage).
    for (FillJob* f : batch_fills_)
      if (f != nullptr) f->n_computed = -1;
  } else {
    int64_t row = 0;
    int64_t hidden_row = 0;
    size_t next_votes = 0;
    // A KV policy compacts a sequence at its last entry of the step (after
    // every run of its slots in this step was applied).
    std::vector<bool> last_of_seq(batch_.size(), false);
    {
      std::vector<const Seq*> seen;
      for (size_t k = batch_.size(); k-- > 0;)
        if (const Seq* s = batch_seqs_[k]; s != nullptr && std::find(seen.begin(), seen.end(), s) == seen.end()) {
          seen.push_back(s);
          last_of_seq[k] = true;
        }
    }
    for (size_t k = 0; k < batch_.size(); ++k) {
      const StepSequence& step = batch_[k];
      const auto n = static_cast<int64_t>(step.tokens.size());
      const StepVotes* votes = nullptr;
      if (next_votes < logits_.votes.size() && logits_.votes[next_votes].entry == k) votes = &logits_.votes[next_votes++];
      if (FillJob* f = batch_fills_[k]) {
        f->n_computed += n;
        stats_.n_fill_tokens += n;
        continue;
      }
      Seq& s = *batch_seqs_[k];
      if (s.decoding() && n > 1) {  // a draft to verify
        stats_.n_decode_tokens += n;
        ApplyVerification(s, step, batch_first_token_[k], row);
        ApplyKvPolicy(s, false, votes, last_of_seq[k]);
        row += n;
        continue;
      }
      (s.decoding() ? stats_.n_decode_tokens : stats_.n_prefill_tokens) += n;
      const bool had_prompt = s.prompt_computed();
      const int64_t first_token = batch_first_token_[k];
      s.Advance(first_token, n);
      // Fill jobs take the request's in-context KV before a policy compacts
      // it (the blocks they hold are then copied, not written).
      if (!had_prompt && s.prompt_computed() && !s.fills.empty()) QueueFills(s);
      ApplyKvPolicy(s, !had_prompt && s.prompt_computed(), votes, last_of_seq[k]);
      // Publish computed prompt blocks at once so that requests waiting on
      // this shared prefix can be admitted in the next step.
      if (s.n_valid() <= s.n_prompt) InsertIntoPrefixCache(s, s.n_exact());
      std::span<const float> sample_row;
      switch (step.output) {
        case StepOutput::kNone: break;
        case StepOutput::kLastLogits: sample_row = logits_.Row(row++); break;
        case StepOutput::kAllLogits: CaptureRows(s, first_token, n, row); row += n; sample_row = logits_.Row(row - 1); break;
        case StepOutput::kHidden: KeepHiddenRows(s, first_token, n, hidden_row); hidden_row += n; break;
      }
      if (s.req.embed) {
        if (s.prompt_computed()) {
          s.done = true;
          s.done_reason = FinishReason::kLength;
        }
        continue;
      }
      if (first_token + n != static_cast<int64_t>(s.tokens.size())) continue;  // not the last token
      const bool forced = !s.req.forced_tokens.empty();
      if (!forced && s.req.on_logits) s.req.on_logits(sample_row);
      const int32_t token = forced ? s.req.forced_tokens[static_cast<size_t>(s.n_generated)] : s.sampler.Sample(sample_row);
      EmitToken(s, token, forced);
    }
  }
}

void Scheduler::EmitToken(Seq& s, int32_t token, bool forced) {
  const int64_t now = NowNanos();
  if (s.first_token_ns == 0) {
    s.first_token_ns = now;
    s.outcome.stats.ttft_cpu_ms = ProcessCpuMillis() - s.submit_cpu_ms;
  }
  s.last_token_ns = now;
  if (!forced && s.sampler.IsEndOfGeneration(token)) {
    s.done = true;
    s.done_reason = FinishReason::kEndOfGeneration;
    s.outcome.end_token = token;
    return;
  }
  s.sampler.Accept(token);
  s.tokens.push_back(token);
  ++s.n_generated;
  if (s.req.on_token && !s.req.on_token(token)) {
    s.done = true;
    s.done_reason = FinishReason::kCancelled;
  } else if (s.n_generated >= s.req.max_new_tokens) {
    s.done = true;
    s.done_reason = FinishReason::kLength;
  }
}

void Scheduler::RetireFinished(const Status& st) {
  // Retire finished sequences (their blocks return to the pool now).
  std::vector<std::unique_ptr<Seq>> keep;
  keep.reserve(running_.size());
  for (std::unique_ptr<Seq>& s : running_) {
    if (s->done) {
      const FinishReason r = s->done_reason;
      Finish(std::move(s), r, r == FinishReason::kError ? st : Status::Ok());
    } else {
      keep.push_back(std::move(s));
    }
  }
  running_.swap(keep);
  // Retire finished (or failed) fill jobs.
  for (size_t j = 0; j < fills_.size();) {
    FillJob& f = *fills_[j];
    f.in_step = false;
    const bool failed = f.n_computed < 0;
    const bool complete = !failed && f.started && f.n_computed == static_cast<int64_t>(f.fill.tokens.size());
    if (!failed && !complete) {
      ++j;
      continue;
    }
    if (complete) CompleteFillJob(f);
    else MarkFillLost(f.fill.key);
    executor_->Forget(f.id);
    fill_keys_.erase(f.fill.key);
    fills_.erase(fills_.begin() + static_cast<std::ptrdiff_t>(j));
  }
  TakeStoredReports();
  ReleaseHeld(false);
}

void Scheduler::CaptureRows(Seq& s, int64_t first_token, int64_t n, int64_t first_row) {
  RequestOutcome& out = s.outcome;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slot = first_token + i;
    if (slot < s.req.capture_logits_from || slot < s.next_capture_slot) continue;
    const std::span<const float> r = logits_.Row(first_row + i);
    out.captured_logits.insert(out.captured_logits.end(), r.begin(), r.end());
    ++out.n_captured_rows;
    s.next_capture_slot = slot + 1;
  }
}

void Scheduler::KeepHiddenRows(Seq& s, int64_t first_token, int64_t n, int64_t first_row) {
  RequestOutcome& out = s.outcome;
  out.n_embd = logits_.n_embd;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slot = first_token + i;
    if (slot < s.next_hidden_slot) continue;
    const float* r = logits_.hidden.data() + (first_row + i) * logits_.n_embd;
    out.hidden.insert(out.hidden.end(), r, r + logits_.n_embd);
    ++out.n_hidden_rows;
    s.next_hidden_slot = slot + 1;
  }
}

void Scheduler::PublishStats() {
  stats_.n_waiting = static_cast<int64_t>(waiting_.size());
  stats_.n_running = static_cast<int64_t>(running_.size());
  stats_.n_blocks_total = pool_->n_blocks();
  stats_.n_blocks_free = pool_->n_free();
  stats_.n_blocks_cached = prefix_cache_ ? prefix_cache_->n_cached_blocks() : 0;
  stats_.n_fill_jobs_pending = static_cast<int64_t>(fills_.size() + storing_keys_.size());
  stats_.n_preparing = n_preparing_;
  {
    MutexLock lock(&mu_);
    published_ = stats_;
  }
  idle_cv_.NotifyAll();
}

void Scheduler::ClearPrefixCache() {
  int64_t ticket = 0;
  {
    MutexLock lock(&mu_);
    ticket = ++n_clear_requests_;
  }
  if (!thread_.joinable()) {
    DrainInbox();  // the caller drives the scheduler (tests): do it here
    return;
  }
  cv_.NotifyOne();
  MutexLock lock(&mu_);
  while (!exit_ && n_clears_done_ < ticket) idle_cv_.Wait(lock);
}

void Scheduler::WaitIdle() {
  MutexLock lock(&mu_);
  while (!exit_ && !(inbox_.empty() && n_in_flight_.load() == 0 && published_.n_waiting == 0 &&
                     published_.n_running == 0 && published_.n_fill_jobs_pending == 0))
    idle_cv_.Wait(lock);
}

SchedulerStats Scheduler::Stats() const {
  MutexLock lock(&mu_);
  return published_;
}

}  // namespace chunkserve::sched
