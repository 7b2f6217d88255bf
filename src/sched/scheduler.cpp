#include "sched/scheduler.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/logging.h"
#include "kv/block_table.h"
#include "sampling/sampler.h"

namespace chunkserve::sched {

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEndOfGeneration: return "stop";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "?";
}

// One request's state; only the scheduler thread touches it after Submit.
struct Scheduler::Seq {
  Seq(kv::BlockPool* pool, SchedRequest r, int n_vocab)
      : req(std::move(r)), table(pool), sampler(req.sampling, n_vocab) {}

  uint64_t id = 0;
  SchedRequest req;
  std::vector<int32_t> tokens;  // prompt, then every generated token
  int64_t n_prompt = 0;
  int64_t n_computed = 0;       // slots [0, n_computed) hold valid KV
  int64_t n_generated = 0;
  kv::BlockTable table;
  sampling::Sampler sampler;
  bool admitted_once = false;
  int64_t submit_ns = 0;
  int64_t first_token_ns = 0;
  RequestOutcome outcome;
  // Set during a step when the request ends; removed after the step.
  bool done = false;
  FinishReason done_reason = FinishReason::kLength;

  int64_t n_pending() const { return static_cast<int64_t>(tokens.size()) - n_computed; }
  // Generating: exactly the last sampled token is still to be fed back.
  bool decoding() const { return n_generated > 0 && n_pending() == 1; }
};

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
  if (request.max_new_tokens < 1) return InvalidArgumentError("max_tokens must be at least 1");
  const int64_t n_total = n_prompt + request.max_new_tokens;
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
  seq->submit_ns = NowNanos();
  seq->outcome.n_prompt_tokens = n_prompt;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load()) return UnavailableError("scheduler: shutting down");
    if (n_queued_ >= options_.max_waiting)
      return ResourceExhaustedError("scheduler: " + std::to_string(n_queued_) + " requests already queued");
    id = next_id_++;
    seq->id = id;
    ++n_queued_;
    n_in_flight_.fetch_add(1);
    inbox_.push_back(std::move(seq));
  }
  cv_.notify_one();
  return id;
}

void Scheduler::Cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_inbox_.push_back(id);
  }
  cv_.notify_one();
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
        std::lock_guard<std::mutex> lock(mu_);
        exit_ = true;
      }
      cv_.notify_one();
      thread_.join();
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
    PublishStats();
  });
}

void Scheduler::Loop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (exit_) return;
    }
    if (RunStep()) continue;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return exit_ || !inbox_.empty() || !cancel_inbox_.empty(); });
  }
}

void Scheduler::DrainInbox() {
  std::vector<std::unique_ptr<Seq>> fresh;
  std::vector<uint64_t> cancels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fresh.swap(inbox_);
    cancels.swap(cancel_inbox_);
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
  // Keep what was computed exactly for later requests (multi-turn chats).
  if (reason != FinishReason::kError) InsertIntoPrefixCache(*seq, seq->n_computed);
  seq->table.Clear();
  RequestOutcome& out = seq->outcome;
  out.finish = reason;
  out.status = std::move(status);
  out.n_generated_tokens = seq->n_generated;
  if (seq->first_token_ns > 0) out.ttft_ms = static_cast<double>(seq->first_token_ns - seq->submit_ns) * 1e-6;
  ++stats_.n_finished;
  if (reason == FinishReason::kCancelled) ++stats_.n_cancelled;
  n_in_flight_.fetch_sub(1);
  if (seq->req.on_done) seq->req.on_done(out);
}

void Scheduler::Preempt(std::unique_ptr<Seq> seq) {
  executor_->Forget(seq->id);
  // The computed blocks go to the prefix cache: if nobody needs the room
  // before the request resumes, it skips recomputing them.
  InsertIntoPrefixCache(*seq, seq->n_computed);
  seq->table.Clear();
  seq->n_computed = 0;
  ++seq->outcome.n_preemptions;
  ++stats_.n_preemptions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++n_queued_;
  }
  waiting_.push_front(std::move(seq));
}

bool Scheduler::ReserveWithEviction(Seq& seq, int64_t n_tokens) {
  while (!seq.table.Reserve(n_tokens)) {
    const int64_t B = pool_->block_tokens();
    const int64_t missing = (n_tokens - seq.table.capacity_tokens() + B - 1) / B;
    if (prefix_cache_ == nullptr || prefix_cache_->Evict(missing) == 0) return false;
  }
  return true;
}

void Scheduler::InsertIntoPrefixCache(Seq& seq, int64_t n_tokens) {
  if (prefix_cache_ == nullptr || n_tokens < pool_->block_tokens()) return;
  n_tokens = std::min<int64_t>(n_tokens, seq.table.capacity_tokens());
  prefix_cache_->Insert(options_.prefix_namespace,
                        std::span<const int32_t>(seq.tokens.data(), static_cast<size_t>(n_tokens)),
                        seq.table.blocks());
}

// Tokens of `seq`'s prompt that a running sequence shares in whole blocks but
// has not computed yet (0: nothing to wait for).
int64_t Scheduler::SharedWithPrefilling(const Seq& seq) const {
  if (prefix_cache_ == nullptr) return 0;
  const int64_t B = pool_->block_tokens();
  for (const std::unique_ptr<Seq>& r : running_) {
    if (r->n_computed >= r->n_prompt) continue;
    const int64_t limit = std::min(r->n_prompt, seq.n_prompt - 1);
    int64_t common = 0;
    while (common < limit && r->tokens[static_cast<size_t>(common)] == seq.tokens[static_cast<size_t>(common)]) ++common;
    const int64_t shared_blocks_tokens = common / B * B;
    if (shared_blocks_tokens > 0 && r->n_computed < shared_blocks_tokens) return shared_blocks_tokens;
  }
  return 0;
}

bool Scheduler::TryAdmit(std::unique_ptr<Seq>& seq) {
  int64_t matched = 0;
  if (prefix_cache_ != nullptr) {
    // Never the whole sequence: its last token must run to give logits.
    kv::PrefixMatch m = prefix_cache_->Lookup(
        options_.prefix_namespace,
        std::span<const int32_t>(seq->tokens.data(), seq->tokens.size() - 1));
    for (kv::BlockId b : m.blocks) seq->table.AdoptShared(b);
    matched = m.n_tokens;
  }
  if (!ReserveWithEviction(*seq, static_cast<int64_t>(seq->tokens.size()))) {
    seq->table.Clear();
    return false;
  }
  seq->n_computed = matched;
  stats_.n_prefix_hit_tokens += matched;
  const int64_t now = NowNanos();
  if (!seq->admitted_once) {
    seq->outcome.n_cached_prompt_tokens = std::min(matched, seq->n_prompt);
    seq->outcome.queue_ms = static_cast<double>(now - seq->submit_ns) * 1e-6;
    seq->admitted_once = true;
  }
  LeaveQueue();
  return true;
}

void Scheduler::LeaveQueue() {
  std::lock_guard<std::mutex> lock(mu_);
  --n_queued_;
}

bool Scheduler::RunStep() {
  DrainInbox();
  if (running_.empty() && waiting_.empty()) {
    PublishStats();
    return false;
  }
  batch_.clear();
  batch_seqs_.clear();
  int64_t budget = options_.max_step_tokens;
  auto plan = [&](Seq& s, int64_t n) {
    StepSequence step;
    step.seq_id = s.id;
    step.table = &s.table;
    step.tokens = std::span<const int32_t>(s.tokens.data() + s.n_computed, static_cast<size_t>(n));
    step.first_slot = s.n_computed;
    step.want_logits = s.n_computed + n == static_cast<int64_t>(s.tokens.size());
    batch_.push_back(step);
    batch_seqs_.push_back(&s);
    budget -= n;
  };

  // 1. Decodes first, in admission order; preempt from the back when the
  // pool runs dry.
  bool preempted = false;
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Seq& s = *running_[i];
    if (!s.decoding()) continue;
    const auto need = static_cast<int64_t>(s.tokens.size());
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
    plan(s, 1);
  }
  // Decode latency limit: shrink what is left for prefill so the step stays
  // within the allowed slowdown of a decode-only step.
  const int64_t n_decode_tokens = options_.max_step_tokens - budget;
  if (const double slowdown = max_decode_slowdown_.load(); slowdown > 0 && n_decode_tokens > 0 && budget > 0) {
    if (const std::optional<double> base = cost_.Predict(n_decode_tokens)) {
      const int64_t total = cost_.MaxTokensWithin(slowdown * *base, n_decode_tokens + 1, n_decode_tokens + budget);
      if (total - n_decode_tokens < budget) {
        budget = total - n_decode_tokens;
        ++stats_.n_latency_limited_steps;
      }
    }
  }
  // 2. Prefill slices of admitted sequences.
  for (std::unique_ptr<Seq>& sp : running_) {
    if (budget <= 0) break;
    Seq& s = *sp;
    if (s.decoding() || s.n_pending() <= 0) continue;
    plan(s, std::min(s.n_pending(), budget));
  }
  // 3. Admission (not in a step that had to preempt: the pool is full).
  while (!preempted && budget > 0 && static_cast<int64_t>(running_.size()) < options_.max_running && !waiting_.empty()) {
    // The first waiting request not held back behind a sequence that is
    // still computing a prefix it shares.
    size_t pick = waiting_.size();
    for (size_t j = 0; j < waiting_.size(); ++j) {
      if (SharedWithPrefilling(*waiting_[j]) == 0) {
        pick = j;
        break;
      }
    }
    if (pick == waiting_.size()) break;
    if (!TryAdmit(waiting_[pick])) break;  // no room: keep the queue order
    std::unique_ptr<Seq> s = std::move(waiting_[pick]);
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(pick));
    running_.push_back(std::move(s));
    Seq& a = *running_.back();
    plan(a, std::min(a.n_pending(), budget));
  }
  if (batch_.empty()) {
    // Waiting requests that fit nowhere while nothing runs: the pool is held
    // by the prefix cache alone, which admission already tried to evict, so
    // they can never run.
    if (running_.empty() && !preempted) {
      while (!waiting_.empty()) {
        std::unique_ptr<Seq> s = std::move(waiting_.front());
        waiting_.pop_front();
        LeaveQueue();
        Finish(std::move(s), FinishReason::kError, ResourceExhaustedError("scheduler: KV pool cannot hold the request"));
      }
    }
    PublishStats();
    return !running_.empty() || !waiting_.empty();
  }

  // 4. One forward over the batch.
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
  if (!st.ok()) {
    CS_LOG(Error) << "scheduler: step failed: " << st.ToString();
    for (Seq* s : batch_seqs_) {
      s->done = true;
      s->done_reason = FinishReason::kError;
    }
  } else {
    int64_t row = 0;
    for (size_t k = 0; k < batch_.size(); ++k) {
      Seq& s = *batch_seqs_[k];
      const auto n = static_cast<int64_t>(batch_[k].tokens.size());
      (s.decoding() ? stats_.n_decode_tokens : stats_.n_prefill_tokens) += n;
      s.n_computed += n;
      // Publish computed prompt blocks at once so that requests waiting on
      // this shared prefix can be admitted in the next step.
      if (s.n_computed <= s.n_prompt) InsertIntoPrefixCache(s, s.n_computed);
      if (!batch_[k].want_logits) continue;
      const std::span<const float> row_logits = logits_.Row(row++);
      const int32_t token = s.sampler.Sample(row_logits);
      if (s.first_token_ns == 0) s.first_token_ns = NowNanos();
      if (s.sampler.IsEndOfGeneration(token)) {
        s.done = true;
        s.done_reason = FinishReason::kEndOfGeneration;
        continue;
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
  }
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
  PublishStats();
  return true;
}

void Scheduler::PublishStats() {
  stats_.n_waiting = static_cast<int64_t>(waiting_.size());
  stats_.n_running = static_cast<int64_t>(running_.size());
  stats_.n_blocks_total = pool_->n_blocks();
  stats_.n_blocks_free = pool_->n_free();
  stats_.n_blocks_cached = prefix_cache_ ? prefix_cache_->n_cached_blocks() : 0;
  std::lock_guard<std::mutex> lock(mu_);
  published_ = stats_;
}

SchedulerStats Scheduler::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return published_;
}

}  // namespace chunkserve::sched
