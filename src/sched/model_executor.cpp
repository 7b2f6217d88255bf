#include "sched/model_executor.h"

#include <vector>

#include "model/gem_filter.h"
#include "model/paged_kv_cache.h"

namespace chunkserve::sched {

kv::BlockPoolOptions PoolOptionsFor(const model::Model& model, int64_t block_tokens, size_t budget_bytes) {
  kv::BlockPoolOptions po;
  po.block_tokens = block_tokens;
  po.n_layers = static_cast<int>(model.hparams().n_layer);
  po.row_floats = model.hparams().n_embd_kv();
  po.type = model.kv_type();
  po.budget_bytes = budget_bytes;
  return po;
}

Status ModelExecutor::Run(std::span<const StepSequence> batch, StepLogits* logits) {
  std::vector<std::unique_ptr<model::PagedKvCache>> views;
  std::vector<model::SequenceBatch> seqs;
  std::vector<std::vector<int32_t>> positions(batch.size());
  std::vector<model::AttentionVotes> votes(batch.size());
  views.reserve(batch.size());
  seqs.reserve(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    const StepSequence& s = batch[b];
    views.push_back(std::make_unique<model::PagedKvCache>(s.table));
    model::SequenceBatch sb;
    sb.kv = views.back().get();
    sb.tokens = s.tokens;
    sb.first_slot = s.first_slot;
    if (s.position() != s.first_slot) {
      positions[b].resize(s.tokens.size());
      for (size_t i = 0; i < s.tokens.size(); ++i) positions[b][i] = static_cast<int32_t>(s.position() + static_cast<int64_t>(i));
      sb.positions = positions[b];
    }
    if (s.vote_rows > 0) {
      votes[b].n_rows = s.vote_rows;
      sb.votes = &votes[b];
    }
    if (s.page_budget > 0) {
      if (s.headwise && !head_roles_) {
        ASSIGN_OR_RETURN(head_roles_, model::LoadOrCalibrateHeadRoles(*model_, model_->file().path() + ".heads"));
      }
      std::unique_ptr<model::PageSelection>& pages = pages_[s.seq_id];
      if (!pages || pages->budget_tokens() != s.page_budget)
        pages = std::make_unique<model::PageSelection>(s.page_budget, s.table->pool()->block_tokens(),
                                                       static_cast<int>(model_->hparams().n_layer),
                                                       s.headwise ? &*head_roles_ : nullptr);
      sb.pages = pages.get();
    }
    switch (s.output) {
      case StepOutput::kNone: sb.logits = model::LogitsMode::kNone; break;
      case StepOutput::kLastLogits: sb.logits = model::LogitsMode::kLast; break;
      case StepOutput::kAllLogits: sb.logits = model::LogitsMode::kAll; break;
      case StepOutput::kHidden: sb.logits = model::LogitsMode::kHidden; break;
    }
    seqs.push_back(sb);
  }
  RETURN_IF_ERROR(model_->Forward(seqs, &model_logits_));
  logits->n_rows = model_logits_.n_rows;
  logits->n_vocab = model_logits_.n_vocab;
  logits->data.swap(model_logits_.data);
  logits->n_hidden_rows = model_logits_.n_hidden_rows;
  logits->n_embd = model_logits_.n_embd;
  logits->hidden.swap(model_logits_.hidden);
  logits->votes.clear();
  for (size_t b = 0; b < batch.size(); ++b) {
    if (batch[b].vote_rows <= 0) continue;
    StepVotes v;
    v.entry = b;
    v.n_layers = static_cast<int>(model_->hparams().n_layer);
    v.n_kv_heads = static_cast<int>(model_->hparams().n_head_kv);
    v.n_slots = votes[b].n_slots;
    v.mass = std::move(votes[b].mass);
    logits->votes.push_back(std::move(v));
  }
  return Status::Ok();
}

StatusOr<std::vector<int64_t>> ModelExecutor::FilterPrompt(std::span<const int32_t> prompt, int64_t n_keep) {
  return model::GemFilterSelect(*model_, prompt, n_keep, model::GemFilterLayer(model_->hparams()));
}

Status ModelExecutor::ShiftKeys(kv::BlockTable* table, int64_t first_slot, int64_t n, int64_t delta) {
  model::PagedKvCache kv(table);
  return model_->ShiftKeys(&kv, first_slot, n, delta);
}

}  // namespace chunkserve::sched
