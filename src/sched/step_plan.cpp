#include "sched/step_plan.h"

#include <algorithm>
#include <optional>

#include "base/logging.h"

namespace chunkserve::sched {
namespace {

// The budget left for prefill work once decodes took theirs, cut so that the
// step's predicted time stays within the allowed slowdown of a decode-only
// step. Unknown predictions do not cut (the cost model learns by trying).
int64_t LimitForDecodeLatency(const StepView& view, const StepCostModel& cost, int64_t n_decode_tokens,
                              int64_t budget, bool* limited) {
  if (view.max_decode_slowdown <= 0 || n_decode_tokens <= 0 || budget <= 0) return budget;
  const std::optional<double> base = cost.Predict(n_decode_tokens);
  if (!base) return budget;
  const int64_t total =
      cost.MaxTokensWithin(view.max_decode_slowdown * *base, n_decode_tokens + 1, n_decode_tokens + budget);
  if (total - n_decode_tokens >= budget) return budget;
  *limited = true;
  return total - n_decode_tokens;
}

}  // namespace

StepPlan PlanStep(const StepView& view, const StepCostModel& cost) {
  CHECK(view.max_step_tokens > 0);
  StepPlan plan;
  int64_t budget = view.max_step_tokens;

  for (size_t i = 0; i < view.running.size() && budget > 0; ++i) {
    const RunningView& r = view.running[i];
    if (!r.decoding) continue;
    const int64_t n_draft = std::clamp<int64_t>(r.n_draft, 0, budget - 1);
    plan.decodes.push_back({i, n_draft});
    budget -= 1 + n_draft;
  }

  budget = LimitForDecodeLatency(view, cost, view.max_step_tokens - budget, budget, &plan.latency_limited);

  for (size_t i = 0; i < view.running.size() && budget > 0; ++i) {
    const RunningView& r = view.running[i];
    if (r.decoding || r.n_pending <= 0) continue;
    const int64_t n = std::min(r.n_pending, budget);
    plan.prefills.push_back({i, n});
    budget -= n;
  }

  if (!view.admission_lacked_blocks) {
    int64_t fill_budget = view.waiting.empty() ? budget : (budget + 1) / 2;
    int64_t n_jobs = 0;
    for (size_t j = 0; j < view.fills.size() && fill_budget > 0; ++j) {
      const FillView& f = view.fills[j];
      if (!f.started && n_jobs >= view.max_fill_jobs) break;
      ++n_jobs;
      const int64_t n = std::min(f.n_left, fill_budget);
      if (n <= 0) continue;
      plan.fills.push_back({j, n});
      budget -= n;
      fill_budget -= n;
    }
  }

  if (budget > 0) {
    auto slots = static_cast<int64_t>(view.max_running) - static_cast<int64_t>(view.running.size());
    for (size_t j = 0; j < view.waiting.size() && slots > 0; ++j) {
      if (!view.waiting[j].ready) continue;
      plan.admissions.push_back(j);
      --slots;
    }
    plan.admission_budget = budget;
  }
  return plan;
}

}  // namespace chunkserve::sched
