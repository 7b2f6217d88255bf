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
    MarkFillLost(f.fill.key);
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
    if (f.tokens.empty()) continue;
    if (fill_keys_.count(f.key) > 0) {  // another request's job computes it
      seq.awaited_fill_keys.push_back(f.key);
      continue;
    }
    if (!planner->NeedsFill(f)) continue;
    seq.awaited_fill_keys.push_back(f.key);
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
  ++stats_.n_fill_jobs_done;
  const uint64_t key = job.fill.key;
  storing_keys_.insert(key);
  {
    MutexLock lock(&mu_);
    ++n_storing_;
  }
  // The entry is reusable when this returns; storing it (disk, shared tier)
  // goes on while the next steps run.
  options_.planner->CompleteFillAsync(
      job.fill, job.table, job.source.n_blocks() > 0 ? &job.source : nullptr, job.source_first_slot,
      [this, key](Status s) {
        if (!s.ok()) CS_LOG(Warning) << "scheduler: chunk cache fill failed: " << s.ToString();
        {
          MutexLock lock(&mu_);
          stored_inbox_.emplace_back(key, s.ok());
          --n_storing_;
          woken_ = true;
        }
        cv_.NotifyOne();
        idle_cv_.NotifyAll();
      });
}

void Scheduler::TakeStoredReports() {
  std::vector<std::pair<uint64_t, bool>> reports;
  {
    MutexLock lock(&mu_);
    reports.swap(stored_inbox_);
  }
  for (const auto& [key, ok] : reports) {
    if (auto it = storing_keys_.find(key); it != storing_keys_.end()) storing_keys_.erase(it);
    if (!ok) MarkFillLost(key);
  }
}

bool Scheduler::FillPending(uint64_t key) const { return fill_keys_.count(key) > 0 || storing_keys_.count(key) > 0; }

void Scheduler::MarkFillLost(uint64_t key) {
  for (const std::unique_ptr<Seq>& h : held_)
    if (std::find(h->awaited_fill_keys.begin(), h->awaited_fill_keys.end(), key) != h->awaited_fill_keys.end())
      h->awaited_fill_lost = true;
}

void Scheduler::AddFills(const std::vector<std::pair<uint64_t, int64_t>>& planned) {
  // A job starts in free blocks, or (when nobody waits) in blocks only the
  // prefix cache holds: a chunk entry is worth more than an LRU cached
  // prefix (it serves any position), but a waiting request may hit that
  // prefix. One that cannot start ends the phase.
  for (const auto& [planned_id, n_tokens] : planned) {
    const uint64_t id = planned_id;  // (clang 14 cannot capture a structured binding)
    const auto it = std::find_if(fills_.begin(), fills_.end(),
                                 [id](const std::unique_ptr<FillJob>& f) { return f->id == id; });
    if (it == fills_.end()) continue;  // dropped for a decode's room
    FillJob& f = **it;
    if (!f.started) {
      const auto n_fill = static_cast<int64_t>(f.fill.tokens.size());
      bool ok = f.table.Reserve(n_fill);
      while (!ok && waiting_.empty() && prefix_cache_ != nullptr &&
             prefix_cache_->Evict((n_fill - f.table.capacity_tokens() + pool_->block_tokens() - 1) /
                                  pool_->block_tokens()) > 0)
        ok = f.table.Reserve(n_fill);
      if (!ok) {
        f.table.Clear();
        return;
      }
      f.started = true;
    }
    StepSequence step;
    step.seq_id = f.id;
    step.table = &f.table;
    step.tokens = std::span<const int32_t>(f.fill.tokens.data() + f.n_computed, static_cast<size_t>(n_tokens));
    step.first_slot = f.n_computed;
    step.output = StepOutput::kNone;
    batch_.push_back(step);
    batch_seqs_.push_back(nullptr);
    batch_fills_.push_back(&f);
    batch_first_token_.push_back(f.n_computed);
    f.in_step = true;
  }
}

}  // namespace chunkserve::sched
