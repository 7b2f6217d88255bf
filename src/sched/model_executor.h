// ModelExecutor: the StepExecutor over a real model::Model and a
// (non-simulated) kv::BlockPool. One Run() is ONE Model::Forward over every
// sequence of the step: all new tokens (decodes of many sequences and
// prefill slices alike) go through each weight matrix together, so the
// weights are read once per step, not once per sequence; attention runs per
// sequence over its own blocks.
//
// Thread safety: as Model::Forward: the scheduler thread only, which is the
// one thread that runs the model (engine/engine.h).
// REQUIRES: model and pool outlive the executor; the pool's shape matches
// the model (n_layer layers of n_embd_kv values of model.kv_type(): use PoolOptionsFor).
#pragma once

#include <memory>
#include <optional>
#include <unordered_map>

#include "kv/block_pool.h"
#include "model/head_roles.h"
#include "model/model.h"
#include "model/page_selection.h"
#include "sched/step_executor.h"

namespace chunkserve::sched {

// A pool shaped for `model` with `budget_bytes` of KV, values of model.kv_type().
kv::BlockPoolOptions PoolOptionsFor(const model::Model& model, int64_t block_tokens, size_t budget_bytes);

class ModelExecutor final : public StepExecutor {
 public:
  explicit ModelExecutor(model::Model* model) : model_(model) {}

  int64_t n_vocab() const override { return model_->hparams().n_vocab; }
  Status Run(std::span<const StepSequence> batch, StepLogits* logits) override;
  Status ShiftKeys(kv::BlockTable* table, int64_t first_slot, int64_t n, int64_t delta) override;
  void Forget(uint64_t seq_id) override { pages_.erase(seq_id); }
  StatusOr<std::vector<int64_t>> FilterPrompt(std::span<const int32_t> prompt, int64_t n_keep) override;

 private:
  model::Model* model_;
  model::Logits model_logits_;
  // Page selections of the sequences decoding under the pages policy: their
  // key summaries live as long as the sequence's cache.
  std::unordered_map<uint64_t, std::unique_ptr<model::PageSelection>> pages_;
  // The model's head roles, calibrated on the first headwise request
  // (cached beside the model file: MODEL.gguf.heads).
  std::optional<model::HeadRoles> head_roles_;
};

}  // namespace chunkserve::sched
