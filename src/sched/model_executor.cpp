#include "sched/model_executor.h"

#include <vector>

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
  views.reserve(batch.size());
  seqs.reserve(batch.size());
  for (const StepSequence& s : batch) {
    views.push_back(std::make_unique<model::PagedKvCache>(s.table));
    model::SequenceBatch sb;
    sb.kv = views.back().get();
    sb.tokens = s.tokens;
    sb.first_slot = s.first_slot;
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
  return Status::Ok();
}

}  // namespace chunkserve::sched
