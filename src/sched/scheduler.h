// Scheduler: continuous batching with chunked prefill over a paged KV pool
// (SARATHI / Sarathi-Serve token-budget steps, DeepSpeed-FastGen style
// decode piggybacking, BatchLLM prefix-aware admission).
//
// One scheduler thread owns every request's state (token history, block
// table, sampler). Other threads only Submit() and Cancel(), which go through
// an inbox guarded by a mutex; results come back through the request's
// callbacks, which run ON THE SCHEDULER THREAD and must be quick (push into a
// queue, never block on a client).
//
// A step (RunStep): the inbox is drained, a snapshot of the state becomes a
// plan (PlanStep, step_plan.h: a pure function holding every batching
// policy), the plan is carried out (KV blocks claimed, entries batched), one
// forward runs, its outputs are applied. In order:
//   1. drain the inbox: new requests join the waiting queue, cancellations
//      remove their request and free its blocks (so a cancel takes effect
//      within one step);
//   2. decodes first: every running sequence that is generating contributes
//      its one new token. A decode that needs a new block and finds none
//      evicts prefix-cache blocks, then preempts the most recently admitted
//      running sequence (its blocks are freed, it goes back to the FRONT of
//      the queue with its generated tokens and is later resumed by
//      recomputation: prompt + generated tokens prefilled again, sampler
//      state kept, so its output is unchanged);
//   3. prefill slices of admitted sequences fill the rest of the token
//      budget (a long prompt is cut into slices and never stalls decodes);
//   4. (with a planner) chunk-cache fill jobs in what budget is left, see
//      below; then admission: waiting requests, in order, while the budget, the running
//      limit and the free KV blocks allow (a request is admitted only when
//      blocks for its whole prompt can be reserved, counting prefix-cache
//      hits, so a prefill never fails half way). A waiting request that
//      shares at least one full block of prompt with a sequence still
//      prefilling that part waits until it is computed and then takes it
//      from the prefix cache (shared prefixes are computed once and held in
//      KV once); requests sharing a prefix are queued next to each other.
//   5. one StepExecutor::Run over the whole batch; every sequence whose
//      prompt is fully computed samples one token (on_token), ends on an
//      end-of-generation token or max_new_tokens (on_done).
// Full blocks of computed prompts (and, at the end, of generated tokens) go
// into the prefix cache so later requests share them.
//
// Exact twin: with greedy sampling, every request's tokens equal those of the
// same request run alone (tests/sched/scheduler_model_test).
//
// Segmented prompts (options.planner, see prompt_planner.h): a request with
// chunk spans is planned at admission; reused KV (e.g. the chunk cache) fills
// some of its slots and only the rest is prefilled, in ascending slot order
// (scattered slots: several StepSequences of one request may share a step).
// Rows that are not what a full prefill computes never enter the prefix
// cache. Chunk-cache entries for chunks that missed are computed afterwards
// by internal fill jobs in step budget and KV blocks no request needs (so
// they never delay a decode more than a prefill slice would). A request
// whose chunks' fill jobs are still pending when it ends has its end
// (on_done) held until they are done (or dropped, or max_done_hold_ms), so
// the entries it caused are stored (on disk, published to a shared tier)
// before its response completes; its tokens are not held, nor its first
// token. Before admission the planner fetches what it will reuse (disk-tier
// chunk reads on its own thread): such a request waits while the others run.
//
// Queue bound: Submit() fails with ResourceExhausted when max_waiting
// requests are already queued (the server answers 503 + Retry-After).
//
// Thread safety: Submit, Cancel, Stats, Start, Shutdown are thread-safe.
// RunStep() is for tests that drive the scheduler by hand (never together
// with Start()).
// REQUIRES: executor, pool (and prefix cache) outlive the scheduler.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "kv/block_pool.h"
#include "kv/kv_policy.h"
#include "kv/prefix_cache.h"
#include "sampling/sampling_params.h"
#include "sampling/token_constraint.h"
#include "sched/drafter.h"
#include "sched/prompt_lookup.h"
#include "sched/prompt_planner.h"
#include "sched/request_stats.h"
#include "sched/step_cost_model.h"
#include "sched/step_executor.h"
#include "sched/step_plan.h"

namespace chunkserve::sched {

struct SchedulerOptions {
  int64_t max_step_tokens = 256;  // token budget of one step (decodes + prefill slices)
  int64_t max_running = 64;       // sequences admitted at once
  int64_t max_waiting = 256;      // queued requests before Submit refuses
  int64_t max_context_tokens = 4096;  // prompt + generated, per sequence
  uint64_t prefix_namespace = 0;  // prefix-cache namespace (model fingerprint)
  // Decode latency limit (0: off). While sequences are decoding, a step's
  // prefill slices are cut so that the step's predicted time (StepCostModel,
  // learned from the steps so far) stays within this factor of a
  // decode-only step of the same batch; at least one prefill token still
  // runs per step, so prompts always progress. Trades time to first token
  // for steady inter-token latency. Also settable at run time.
  double max_decode_slowdown = 0;
  // Monotonic clock in ns for step timing; null: the steady clock. Tests
  // inject a fake one.
  std::function<int64_t()> clock;
  // Admission hook for segmented prompts (null: every slot is computed).
  // Borrowed; must outlive the scheduler.
  PromptPlanner* planner = nullptr;
  // Fill jobs holding blocks at once (each holds its own blocks and, when
  // the planner wants the source KV, references on the request's).
  int64_t max_fill_jobs = 4;
  // Drafts of requests whose lookup_draft.source is kModel (a draft model
  // or self-drafting; borrowed, must outlive the scheduler; its vocabulary
  // is the executor's). Null: such requests are refused.
  Drafter* drafter = nullptr;
  // A request that ends while fill jobs of its missed chunks are pending has
  // its end (on_done) held until they are done (CompleteFill returned: e.g.
  // the entry is on disk and published to a shared tier), or dropped, or
  // this long has passed (0: not held). Its tokens are emitted as they come;
  // only the end waits, so a client that reads the answer and asks another
  // replica finds the chunk there.
  int64_t max_done_hold_ms = 10000;
};

struct RequestOutcome {
  FinishReason finish = FinishReason::kLength;
  Status status;  // the error when finish == kError
  int32_t end_token = -1;  // with kEndOfGeneration: the token that ended it (not emitted)
  RequestStats stats;
  // With capture_logits_from >= 0: one row per captured slot, in slot order.
  int64_t n_captured_rows = 0;
  std::vector<float> captured_logits;  // (n_captured_rows, n_vocab)
  // With embed: the hidden state of every prompt token, in slot order.
  int64_t n_hidden_rows = 0;
  int64_t n_embd = 0;
  std::vector<float> hidden;  // (n_hidden_rows, n_embd)
};

struct SchedRequest {
  std::vector<int32_t> prompt;
  sampling::SamplingParams sampling;
  int64_t max_new_tokens = 256;
  std::vector<int32_t> end_of_generation;  // ids that end generation
  // Chunk segments of the prompt (ascending, non-overlapping); only used
  // with options.planner. Empty: a plain prompt.
  std::vector<ChunkSpan> chunks;
  std::optional<double> recompute_fraction;  // nullopt: the planner's default
  bool use_prefix_cache = true;  // false: nothing shared from (or given to) the prefix cache
  // Evaluation: emit these tokens instead of sampling (teacher forcing), so
  // two runs are compared on one continuation; generation ends after
  // min(max_new_tokens, forced_tokens.size()) tokens, never on an
  // end-of-generation token.
  std::vector<int32_t> forced_tokens;
  // Evaluation: keep the logits of every computed slot >= this (e.g. a
  // final tail segment's tokens, then each fed-back token) in the outcome;
  // -1: none. Prompt slots at or past it are never taken from the prefix cache.
  int64_t capture_logits_from = -1;
  // Pooling request (embeddings): the prompt is computed with the hidden
  // state of every token kept in the outcome and nothing is generated
  // (max_new_tokens, sampling and chunks are ignored; no prefix sharing).
  bool embed = false;
  // Speculative decoding with prompt-lookup drafts (prompt_lookup.h): each
  // decode step feeds the sequence's last token plus a guessed continuation
  // found in its own prompt and output, and one forward pass verifies the
  // guess (Sampler::SampleAgainstDraft): every matching guess is a token for
  // free, the first mismatch is replaced by the model's own pick. The output
  // is plain decoding's: greedy token for token, sampled in distribution
  // (other draws). Drafts never evict or preempt (no free block: no draft);
  // their length adapts to how often they are accepted, and a request whose
  // drafts keep failing stops drafting. nullopt: off. Ignored with
  // forced_tokens. With source kModel the drafts come from the scheduler's
  // drafter instead (options.drafter; sampled drafts are verified with the
  // speculative-sampling rule, Sampler::SampleAgainstDraftDistribution); its
  // KV lives in its own pool and is rolled back and freed with the request's.
  std::optional<LookupDraftOptions> lookup_draft;
  // Structured outputs: every sampled token obeys it (Sampler::
  // SetConstraint; forced_tokens bypass it). Drafts are verified against
  // it (a refused draft token is never kept). Null: unconstrained. Stateful:
  // one per request (shared_ptr only so that SchedRequest stays copyable).
  std::shared_ptr<sampling::TokenConstraint> constraint;
  // Scheduler thread: the logits row each sampled token is picked from,
  // just before the pick (for logprobs); null: not called.
  std::function<void(std::span<const float> logits)> on_logits;
  // A KV budget (kv/kv_policy.h): the sequence's cache is compacted to the
  // tokens the policy keeps, when it outgrows the budget by a block (sinks,
  // h2o) or once its prompt is computed (snapkv). Kept tokens keep their
  // positions; compacted rows never enter the prefix cache; a preempted
  // request starts over with its full history. Full: every token kept.
  kv::KvPolicy kv_policy;
  // Scheduler thread. Returning false cancels the request (e.g. a stop string
  // matched or the client went away): it ends with kCancelled.
  std::function<bool(int32_t token)> on_token;
  // Scheduler thread (or the Submit/Shutdown caller), exactly once per
  // accepted request.
  std::function<void(const RequestOutcome&)> on_done;
};

struct SchedulerStats {
  int64_t n_waiting = 0;
  int64_t n_running = 0;
  int64_t n_steps = 0;
  int64_t n_prefill_tokens = 0;   // computed prompt (and recomputed) tokens
  int64_t n_decode_tokens = 0;    // tokens computed by decode steps
  int64_t n_preemptions = 0;
  int64_t n_finished = 0;
  int64_t n_cancelled = 0;
  int64_t n_prefix_hit_tokens = 0;
  int64_t n_blocks_total = 0;
  int64_t n_blocks_free = 0;
  int64_t n_blocks_cached = 0;    // held by the prefix cache
  int64_t max_batch_sequences = 0;  // largest batch so far
  int64_t n_latency_limited_steps = 0;  // steps whose prefill the slowdown limit cut
  int64_t n_chunk_reused_tokens = 0;
  int64_t n_chunk_recomputed_tokens = 0;
  int64_t n_chunk_hits = 0;
  int64_t n_chunk_misses = 0;
  int64_t n_fill_jobs_pending = 0;   // queued, running, or their entries being stored
  int64_t n_fill_jobs_done = 0;
  int64_t n_fill_jobs_dropped = 0;   // gave their blocks to requests
  int64_t n_fill_tokens = 0;         // tokens computed by fill jobs
  int64_t n_done_held = 0;           // request ends held for their chunks' fill jobs
  int64_t n_done_held_unfilled = 0;  // of those, released with a job dropped or after max_done_hold_ms
  int64_t n_preparing = 0;           // waiting while the planner fetches their KV (disk reads)
  int64_t n_verifications = 0;       // decode steps of a sequence that carried a draft
  int64_t n_draft_tokens = 0;        // drafted tokens verified
  int64_t n_draft_accepted = 0;      // of those, kept
};

class Scheduler {
 public:
  // InvalidArgument for non-positive budgets. `prefix_cache` may be null.
  static StatusOr<std::unique_ptr<Scheduler>> Create(StepExecutor* executor, kv::BlockPool* pool,
                                                     kv::PrefixCache* prefix_cache,
                                                     const SchedulerOptions& options);
  ~Scheduler();  // Shutdown(cancel) if still running
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; returns its id. InvalidArgument: empty prompt, token
  // outside the vocabulary, more positions (prompt + max_new_tokens - 1: the
  // last token is never fed back) than max_context_tokens or the whole KV
  // pool. ResourceExhausted: the
  // queue is full. Unavailable: shutting down.
  StatusOr<uint64_t> Submit(SchedRequest request);
  // Ends the request within one step (no-op for an unknown or finished id).
  void Cancel(uint64_t id);

  // Runs the scheduler loop on its own thread.
  void Start();
  // Stops accepting, lets in-flight requests finish for up to grace_ms, then
  // cancels the rest and joins the thread. Idempotent.
  void Shutdown(int64_t grace_ms);
  bool accepting() const { return !stopping_.load(); }

  // One step on the calling thread (tests). Returns false when there was
  // nothing to do.
  bool RunStep();

  SchedulerStats Stats() const;
  // Blocks until nothing is queued, running or filling (the chunk-cache fill
  // jobs of finished requests included), or the scheduler stopped. For the
  // synchronous facade: a later request then sees every entry this one made.
  void WaitIdle();
  // Drops every unpinned prefix-cache block, on the scheduler thread (the
  // calling thread when no loop runs); returns once done.
  void ClearPrefixCache();
  void SetMaxDecodeSlowdown(double factor) { max_decode_slowdown_.store(factor); }
  int64_t n_in_flight() const { return n_in_flight_.load(); }

 private:
  struct Seq;
  struct FillJob;
  struct PrivateTag {};

 public:
  Scheduler(PrivateTag, StepExecutor* executor, kv::BlockPool* pool, kv::PrefixCache* prefix_cache,
            const SchedulerOptions& options);

 private:
  void Loop() EXCLUDES(mu_);
  void DrainInbox() EXCLUDES(mu_);
  // Ends a request: blocks freed, outcome filled in; on_done now, or once
  // its awaited fill jobs are done (held_).
  void Finish(std::unique_ptr<Seq> seq, FinishReason reason, Status status = Status::Ok());
  // Calls on_done (the request leaves the scheduler).
  void Deliver(std::unique_ptr<Seq> seq);
  // Delivers held requests whose fill jobs are gone (or that waited too long);
  // `all`: every one (shutdown).
  void ReleaseHeld(bool all);
  bool RemoveById(uint64_t id, FinishReason reason);
  // Frees `seq`'s blocks and queues it for recomputation.
  void Preempt(std::unique_ptr<Seq> seq);
  bool ReserveWithEviction(Seq& seq, int64_t n_tokens);
  bool TryAdmit(std::unique_ptr<Seq>& seq);
  // GemFilter: replaces a prompt longer than the budget by the tokens the
  // executor's filter keeps (scheduler_kv_policy.cpp).
  void FilterPrompt(Seq& s);
  int64_t SharedWithPrefilling(const Seq& seq) const;
  // Runs the planner on a just-reserved sequence.
  void PlanAdmitted(Seq& seq, int64_t matched);
  // True when one of seq's chunks has a pending fill job (it waits for it).
  bool WaitsForFill(Seq& seq);
  void InsertIntoPrefixCache(Seq& seq, int64_t n_tokens);
  // Fill jobs: queued when a request's prompt is computed, started in free
  // blocks, dropped (newest first) when a request needs the blocks.
  void QueueFills(Seq& seq);
  bool DropOneFillJob();
  // Hands the job's KV to the planner (CompleteFillAsync); its key stays
  // in storing_keys_ until the planner says it is stored.
  void CompleteFillJob(FillJob& job);
  // Applies the planner's "stored" reports (stored_inbox_).
  void TakeStoredReports() EXCLUDES(mu_);
  // Whether a fill job of `key` is pending or its entry is being stored.
  bool FillPending(uint64_t key) const;
  // Held requests awaiting `key` end without its entry (dropped, failed).
  void MarkFillLost(uint64_t key);
  // The phases of RunStep. The state the plan is made from (step_plan.h);
  // also starts the planner's reads for requests near the queue's head and
  // proposes each decoding sequence's draft (into Seq::feed).
  StepView Snapshot();
  // The longest draft `s` may carry this step (0: none).
  int64_t DraftBudget(const Seq& s) const;
  std::vector<int32_t> DraftFor(Seq& s);
  // Model drafts of the decoding sequences queued by Snapshot (one batched
  // drafter call); sets their feeds and the view's n_draft.
  void ProposeModelDrafts(const std::vector<std::pair<Seq*, size_t>>& queued, StepView& view);
  // Carrying the plan out. Room for every planned decode's next token,
  // preempting from the back; true when a sequence had to be preempted.
  bool ClaimDecodeRoom(const StepPlan& plan);
  // Each planned decode's entry: its last token, with its draft when the
  // draft's blocks are free.
  void AddDecodes(const StepPlan& plan);
  // Entries of the planned fill jobs, (id, tokens), that still exist (a job
  // that cannot start ends the phase).
  void AddFills(const std::vector<std::pair<uint64_t, int64_t>>& planned);
  // Admits candidates in order while the budget lasts; stops at the first
  // that finds no room.
  void Admit(const std::vector<Seq*>& candidates, int64_t budget);
  // AddRun: n tokens of a request from first_token on; AddPending: its next
  // n pending tokens in order.
  void AddRun(Seq& s, int64_t first_token, int64_t n);
  void AddPending(Seq& s, int64_t n);
  // Samples from a verification's rows, keeps the accepted prefix (the rest
  // of the fed slots are left to be overwritten).
  void ApplyVerification(Seq& s, const StepSequence& step, int64_t first_token, int64_t first_row);
  // A sampled (or forced) token joins the sequence, or ends it.
  void EmitToken(Seq& s, int32_t token, bool forced);
  // The request's KV policy after an entry of the step computed its slots
  // (with the entry's attention votes, if it asked): accumulates votes, and
  // compacts when due and `may_compact` (its last entry of the step).
  void ApplyKvPolicy(Seq& s, bool prompt_ended, const StepVotes* votes, bool may_compact);
  // Votes an entry of `s` asks for (0: none).
  int64_t VoteRows(const Seq& s, int64_t first_token, int64_t n) const;
  // Nothing to run: drops stuck fill jobs or fails requests that can never
  // fit; returns whether work remains.
  bool HandleEmptyStep(bool preempted);
  // One forward over batch_ (the step's cost observed for the latency limit).
  Status ExecuteStep();
  // Samples, captures, advances; then ends finished requests and fill jobs.
  void ApplyStepOutput(const Status& st);
  void RetireFinished(const Status& st);
  // Keep an evaluation request's captured logits / embedding request's
  // hidden rows of one step entry (rows from first_row of logits_).
  void CaptureRows(Seq& s, int64_t first_token, int64_t n, int64_t first_row);
  void KeepHiddenRows(Seq& s, int64_t first_token, int64_t n, int64_t first_row);
  void PublishStats() EXCLUDES(mu_);
  void LeaveQueue() EXCLUDES(mu_);  // a request left inbox/waiting
  // The planner's fetch for a waiting request is done (any thread).
  void Wake() EXCLUDES(mu_);
  // Whether `seq` may be admitted as far as the planner is concerned
  // (PromptPlanner::Prepare, asked until it says yes).
  bool Prepared(Seq& seq);

  StepExecutor* executor_;
  kv::BlockPool* pool_;
  kv::PrefixCache* prefix_cache_;
  const SchedulerOptions options_;

  // The inbox, shared with other threads.
  mutable Mutex mu_;
  CondVar cv_;       // wakes the loop: inbox, cancels, clears, exit
  CondVar idle_cv_;  // notified when published_ changes
  std::vector<std::unique_ptr<Seq>> inbox_ GUARDED_BY(mu_);
  std::vector<uint64_t> cancel_inbox_ GUARDED_BY(mu_);
  SchedulerStats published_ GUARDED_BY(mu_);  // snapshot after each step
  bool exit_ GUARDED_BY(mu_) = false;         // the loop ends
  int64_t n_queued_ GUARDED_BY(mu_) = 0;      // inbox + waiting
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  int64_t n_clear_requests_ GUARDED_BY(mu_) = 0;  // ClearPrefixCache calls
  int64_t n_clears_done_ GUARDED_BY(mu_) = 0;     // of those, done
  bool woken_ GUARDED_BY(mu_) = false;            // Wake() since the last drain
  // Fill entries being stored (CompleteFillAsync called, `stored` not yet
  // run), and the reports of those stored since the last drain (key, ok).
  int64_t n_storing_ GUARDED_BY(mu_) = 0;
  std::vector<std::pair<uint64_t, bool>> stored_inbox_ GUARDED_BY(mu_);

  std::atomic<bool> stopping_{false};
  std::atomic<double> max_decode_slowdown_{0};
  std::atomic<int64_t> n_in_flight_{0};
  std::thread thread_;
  std::once_flag shutdown_once_;

  // Scheduler-thread state (no lock: only the step thread touches it).
  std::deque<std::unique_ptr<Seq>> waiting_;
  std::vector<std::unique_ptr<Seq>> running_;  // admission order
  uint64_t admit_counter_ = 0;
  SchedulerStats stats_;
  std::deque<std::unique_ptr<FillJob>> fills_;  // started ones first
  std::unordered_set<uint64_t> fill_keys_;       // keys of fills_
  std::vector<std::unique_ptr<Seq>> held_;       // finished, end held for their fill jobs
  std::unordered_multiset<uint64_t> storing_keys_;  // fill entries being stored
  uint64_t next_fill_id_ = uint64_t{1} << 63;    // executor ids of fill jobs
  bool admission_lacked_blocks_ = false;         // the last admission attempt failed for KV
  int64_t n_preparing_ = 0;                      // waiting requests whose KV the planner is fetching
  std::vector<StepSequence> batch_;
  std::vector<Seq*> batch_seqs_;                 // null for a fill job's entry
  std::vector<FillJob*> batch_fills_;            // null for a request's entry
  std::vector<int64_t> batch_first_token_;       // token index (fill: slot) of each entry's first token
  StepLogits logits_;
  StepCostModel cost_;
};

}  // namespace chunkserve::sched
