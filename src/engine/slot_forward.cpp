#include "engine/slot_forward.h"

#include <algorithm>
#include <vector>

namespace chunkserve::engine {

Status ForwardAtSlots(model::Model& model, model::KvCache* kv, const SlotBatch& batch,
                      int64_t max_tokens_per_call, model::Logits* logits) {
  const size_t n = batch.tokens.size();
  if (n == 0) return InvalidArgumentError("engine: no tokens to run");
  if (batch.slots.size() != n || (!batch.positions.empty() && batch.positions.size() != n))
    return InvalidArgumentError("engine: tokens, slots and positions differ in length");
  for (size_t i = 1; i < n; ++i)
    if (batch.slots[i] <= batch.slots[i - 1]) return InvalidArgumentError("engine: slots must ascend");
  if (max_tokens_per_call <= 0) max_tokens_per_call = static_cast<int64_t>(n);

  logits->n_rows = 0;
  logits->n_vocab = model.hparams().n_vocab;
  logits->data.clear();
  model::Logits part;
  std::vector<model::SequenceBatch> runs;
  for (size_t begin = 0; begin < n;) {
    const size_t end = std::min(n, begin + static_cast<size_t>(max_tokens_per_call));
    const bool last_call = end == n;
    runs.clear();
    for (size_t r = begin; r < end;) {
      size_t e = r + 1;
      while (e < end && batch.slots[e] == batch.slots[e - 1] + 1) ++e;
      model::SequenceBatch seq;
      seq.kv = kv;
      seq.tokens = batch.tokens.subspan(r, e - r);
      seq.first_slot = batch.slots[r];
      if (!batch.positions.empty()) seq.positions = batch.positions.subspan(r, e - r);
      if (batch.logits == model::LogitsMode::kAll) {
        seq.logits = model::LogitsMode::kAll;
      } else if (batch.logits == model::LogitsMode::kLast && last_call && e == end) {
        seq.logits = model::LogitsMode::kLast;
      } else {
        seq.logits = model::LogitsMode::kNone;
      }
      runs.push_back(seq);
      r = e;
    }
    RETURN_IF_ERROR(model.Forward(runs, &part));
    logits->data.insert(logits->data.end(), part.data.begin(), part.data.end());
    logits->n_rows += part.n_rows;
    begin = end;
  }
  return Status::Ok();
}

}  // namespace chunkserve::engine
