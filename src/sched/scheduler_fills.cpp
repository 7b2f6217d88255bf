// Scheduler, chunk-cache fill jobs (prompt_planner.h): queued when a
// request's chunks missed, planned into the budget requests leave, dropped
// when a request needs their blocks, completed into the planner.
#include <algorithm>

#include "base/logging.h"
#include "sched/scheduler.h"
#include "sched/scheduler_state.h"

namespace chunkserve::sched {

bool Scheduler::DropOneFillJob() {
  for (size_t j = fills_.size(); j-- > 0;) {
    FillJob& f = *fills_[j];
    if (f.in_step || (f.table.n_blocks() == 0 && f.source.n_blocks() == 0)) continue;
    executor_->Forget(f.id);
    fill_keys_.erase(f.fill.key);
    fills_.erase(fills_.begin() + static_cast<std::ptrdiff_t>(j));
    ++stats_.n_fill_jobs_dropped;
    return true;
  }
  return false;
}

void Scheduler::QueueFills(Seq& seq) {
  PromptPlanner* planner = options_.planner;
  if (planner == nullptr) {
    seq.fills.clear();
    return;
  }
  const int64_t B = pool_->block_tokens();
  for (ChunkFill& f : seq.fills) {
    if (f.tokens.empty() || fill_keys_.count(f.key) > 0 || !planner->NeedsFill(f)) continue;
    auto job = std::make_unique<FillJob>(pool_, std::move(f));
    job->id = next_fill_id_++;
    if (planner->WantsSourceKv()) {
      // Hold the request's blocks over the chunk: its in-context KV outlives
      // the request for as long as the job needs it.
      const int64_t first_block = job->fill.source.begin / B;
      const int64_t end_block = (job->fill.source.end + B - 1) / B;
      const auto blocks = seq.table.blocks();
      CHECK(end_block <= static_cast<int64_t>(blocks.size()));
      for (int64_t b = first_block; b < end_block; ++b) {
        pool_->AddRef(blocks[static_cast<size_t>(b)]);
        job->source.AdoptShared(blocks[static_cast<size_t>(b)]);
      }
      job->source_first_slot = job->fill.source.begin - first_block * B;
    }
    fill_keys_.insert(job->fill.key);
    fills_.push_back(std::move(job));
  }
  seq.fills.clear();
}

void Scheduler::CompleteFillJob(FillJob& job) {
  const Status s = options_.planner->CompleteFill(job.fill, job.table,
                                                  job.source.n_blocks() > 0 ? &job.source : nullptr,
                                                  job.source_first_slot);
  if (!s.ok()) {
    CS_LOG(Warning) << "scheduler: chunk cache fill failed: " << s.ToString();
  }
  ++stats_.n_fill_jobs_done;
}

void Scheduler::PlanFills(bool preempted) {
  // Chunk-cache fill jobs (prompt_planner.h): step_budget_ that decodes and
  // running prefills leave, before new admissions (waiting requests that
  // need these chunks are held back for them). None run while the last
  // admission attempt lacked blocks (requests come first), but they do while
  // requests wait only for the running limit, a shared prefix or a fill, so
  // the cache warms up under a full queue too.
  // With requests waiting, jobs take at most half of what is left, so both
  // progress.
  if (waiting_.empty()) admission_lacked_blocks_ = false;
  int64_t fill_budget = waiting_.empty() ? step_budget_ : (step_budget_ + 1) / 2;
  int64_t n_started_fills = 0;
  for (std::unique_ptr<FillJob>& fp : fills_) {
    // While a request lacks blocks every job pauses, so that admission may
    // drop them (a job in the step being built is never dropped).
    if (fill_budget <= 0 || preempted || admission_lacked_blocks_) break;
    FillJob& f = *fp;
    const auto n_fill = static_cast<int64_t>(f.fill.tokens.size());
    if (!f.started) {
      if (n_started_fills >= options_.max_fill_jobs) break;
      // Free blocks, or (when nobody waits) blocks only the prefix cache
      // holds: a chunk entry is worth more than an LRU cached prefix (it
      // serves any position), but a waiting request may hit that prefix.
      bool ok = f.table.Reserve(n_fill);
      while (!ok && waiting_.empty() && prefix_cache_ != nullptr &&
             prefix_cache_->Evict((n_fill - f.table.capacity_tokens() + pool_->block_tokens() - 1) /
                                  pool_->block_tokens()) > 0)
        ok = f.table.Reserve(n_fill);
      if (!ok) {
        f.table.Clear();
        break;
      }
      f.started = true;
    }
    ++n_started_fills;
    const int64_t n = std::min(n_fill - f.n_computed, fill_budget);
    if (n <= 0) continue;
    StepSequence step;
    step.seq_id = f.id;
    step.table = &f.table;
    step.tokens = std::span<const int32_t>(f.fill.tokens.data() + f.n_computed, static_cast<size_t>(n));
    step.first_slot = f.n_computed;
    step.output = StepOutput::kNone;
    batch_.push_back(step);
    batch_seqs_.push_back(nullptr);
    batch_fills_.push_back(&f);
    f.in_step = true;
    step_budget_ -= n;
    fill_budget -= n;
  }
}

}  // namespace chunkserve::sched
