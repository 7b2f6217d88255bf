#include "sched/model_drafter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/paged_kv_cache.h"
#include "sched/model_executor.h"

namespace chunkserve::sched {
namespace {

// The draft token of one logits row: the argmax (lowest id on ties) for
// greedy queries, else a draw from softmax(row / temperature), whose law is
// appended to q.
int32_t PickDraft(std::span<const float> row, DraftQuery& query) {
  const auto n_vocab = static_cast<int64_t>(row.size());
  auto value = [](float x) { return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x; };
  int64_t best = 0;
  for (int64_t i = 1; i < n_vocab; ++i)
    if (value(row[static_cast<size_t>(i)]) > value(row[static_cast<size_t>(best)])) best = i;
  if (query.temperature <= 0) return static_cast<int32_t>(best);
  const double max_logit = value(row[static_cast<size_t>(best)]);
  const size_t base = query.q.size();
  query.q.resize(base + static_cast<size_t>(n_vocab));
  float* q = query.q.data() + base;
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const double e = std::exp((value(row[static_cast<size_t>(i)]) - max_logit) / query.temperature);
    q[i] = static_cast<float>(e);
    sum += q[i];
  }
  for (int64_t i = 0; i < n_vocab; ++i) q[i] = static_cast<float>(q[i] / sum);
  // Draw with the float probabilities the verifier will read, so q(draft) > 0.
  const double u = query.rng->NextDouble();
  double cumulative = 0;
  int64_t pick = best;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (q[i] <= 0) continue;
    pick = i;
    cumulative += q[i];
    if (u < cumulative) break;
  }
  return static_cast<int32_t>(pick);
}

}  // namespace

StatusOr<std::unique_ptr<ModelDrafter>> ModelDrafter::Create(model::Model* model, const ModelDrafterOptions& options) {
  const int64_t n_layer = model->hparams().n_layer;
  if (options.n_layers < 0 || options.n_layers > n_layer)
    return InvalidArgumentError("drafter: " + std::to_string(options.n_layers) + " layers to run of a model with " +
                                std::to_string(n_layer));
  if (options.max_catch_up_tokens < 1) return InvalidArgumentError("drafter: max_catch_up_tokens must be >= 1");
  ASSIGN_OR_RETURN(std::unique_ptr<kv::BlockPool> pool,
                   kv::BlockPool::Create(PoolOptionsFor(*model, options.block_tokens, options.kv_budget_bytes)));
  if (pool->n_blocks() < 1) return InvalidArgumentError("drafter: a KV budget too small for one block");
  return std::make_unique<ModelDrafter>(PrivateTag{}, model, std::move(pool), options);
}

ModelDrafter::ModelDrafter(PrivateTag, model::Model* model, std::unique_ptr<kv::BlockPool> pool,
                           const ModelDrafterOptions& options)
    : model_(model),
      pool_(std::move(pool)),
      n_layers_(options.n_layers == 0 ? model->hparams().n_layer : options.n_layers),
      max_catch_up_tokens_(options.max_catch_up_tokens) {}

bool ModelDrafter::Reserve(SeqState& s, int64_t n_slots, std::span<const DraftQuery> queries) {
  while (!s.table.Reserve(n_slots)) {
    // The idle sequence drafted for longest ago gives its blocks back.
    SeqState* victim = nullptr;
    uint64_t victim_id = 0;
    for (auto& [id, other] : seqs_) {
      if (other.get() == &s || other->last_used == use_counter_ || other->table.n_blocks() == 0) continue;
      if (!victim || other->last_used < victim->last_used) {
        victim = other.get();
        victim_id = id;
      }
    }
    if (!victim) return false;
    seqs_.erase(victim_id);
  }
  return true;
}

Status ModelDrafter::Run(std::span<const model::SequenceBatch> batch) {
  for (const model::SequenceBatch& b : batch)
    n_computed_tokens_.fetch_add(static_cast<int64_t>(b.tokens.size()), std::memory_order_relaxed);
  if (n_layers_ == model_->hparams().n_layer) return model_->Forward(batch, &logits_);
  return model_->ForwardEarlyExit(batch, n_layers_, &logits_);
}

Status ModelDrafter::Propose(std::span<DraftQuery> queries) {
  ++use_counter_;
  struct Active {
    DraftQuery* query;
    SeqState* state;
    int64_t next;  // first history token not yet in the drafter's KV
  };
  // Every queried sequence is in use this round: none is forgotten to make
  // room for another.
  for (DraftQuery& q : queries) {
    q.draft.clear();
    q.q.clear();
    std::unique_ptr<SeqState>& sp = seqs_[q.seq_id];
    if (!sp) sp = std::make_unique<SeqState>(pool_.get());
    sp->last_used = use_counter_;
  }
  std::vector<Active> active;
  for (DraftQuery& q : queries) {
    SeqState& s = *seqs_[q.seq_id];
    const auto n = static_cast<int64_t>(q.tokens.size());
    if (q.max_draft < 1 || n == 0) continue;
    // Rollback: what the drafter holds past the history's common prefix (a
    // rejected draft) is forgotten; the last token is always fed again, for
    // the logits the first draft token comes from.
    const auto common = std::mismatch(s.cached.begin(), s.cached.end(), q.tokens.begin(), q.tokens.end());
    const int64_t keep = std::min<int64_t>(common.first - s.cached.begin(), n - 1);
    s.cached.resize(static_cast<size_t>(keep));
    if (!Reserve(s, n + q.max_draft - 1, queries)) continue;
    active.push_back({&q, &s, keep});
  }

  std::vector<std::unique_ptr<model::PagedKvCache>> views;
  std::vector<model::SequenceBatch> batch;
  std::vector<Active*> picks;  // the entries asking for logits, in order
  auto add = [&](Active& a, std::span<const int32_t> tokens, int64_t first_slot, bool wants_logits) {
    views.push_back(std::make_unique<model::PagedKvCache>(&a.state->table));
    model::SequenceBatch sb;
    sb.kv = views.back().get();
    sb.tokens = tokens;
    sb.first_slot = first_slot;
    sb.logits = wants_logits ? model::LogitsMode::kLast : model::LogitsMode::kNone;
    batch.push_back(sb);
    if (wants_logits) picks.push_back(&a);
  };
  auto run = [&]() -> Status {
    RETURN_IF_ERROR(Run(batch));
    for (size_t r = 0; r < picks.size(); ++r) {
      DraftQuery& q = *picks[r]->query;
      q.draft.push_back(PickDraft(logits_.Row(static_cast<int64_t>(r)), q));
    }
    views.clear();
    batch.clear();
    picks.clear();
    return Status::Ok();
  };

  // Catch-up: each history past its kept prefix, in slices of the budget;
  // the slice ending the history yields the first draft token.
  for (;;) {
    int64_t budget = max_catch_up_tokens_;
    for (Active& a : active) {
      const auto n = static_cast<int64_t>(a.query->tokens.size());
      if (a.next >= n || budget <= 0) continue;
      const int64_t take = std::min(n - a.next, budget);
      const std::span<const int32_t> slice = a.query->tokens.subspan(static_cast<size_t>(a.next), static_cast<size_t>(take));
      add(a, slice, a.next, a.next + take == n);
      a.state->cached.insert(a.state->cached.end(), slice.begin(), slice.end());
      a.next += take;
      budget -= take;
    }
    if (batch.empty()) break;
    if (Status st = run(); !st.ok()) {
      for (Active& a : active) Forget(a.query->seq_id);
      return st;
    }
  }
  // Each further draft token: one forward of every query still drafting,
  // feeding its previous draft token.
  for (;;) {
    for (Active& a : active) {
      DraftQuery& q = *a.query;
      if (q.draft.empty() || static_cast<int64_t>(q.draft.size()) >= q.max_draft) continue;
      const int64_t slot = static_cast<int64_t>(a.state->cached.size());
      a.state->cached.push_back(q.draft.back());
      add(a, std::span<const int32_t>(a.state->cached).subspan(static_cast<size_t>(slot), 1), slot, true);
    }
    if (batch.empty()) break;
    if (Status st = run(); !st.ok()) {
      for (Active& a : active) Forget(a.query->seq_id);
      return st;
    }
  }
  return Status::Ok();
}

}  // namespace chunkserve::sched
