// ModelExecutor: the StepExecutor over a real model::Model and a
// (non-simulated) kv::BlockPool. One Run() is ONE Model::Forward over every
// sequence of the step: all new tokens (decodes of many sequences and
// prefill slices alike) go through each weight matrix together, so the
// weights are read once per step, not once per sequence; attention runs per
// sequence over its own blocks.
//
// Thread safety: as Model::Forward (the scheduler thread only); when other
// code also runs the model (e.g. embeddings), pass a mutex that every user
// holds around Forward.
// REQUIRES: model and pool outlive the executor; the pool's shape matches
// the model (n_layer layers of n_embd_kv values of model.kv_type(): use PoolOptionsFor).
#pragma once

#include <memory>
#include <mutex>

#include "kv/block_pool.h"
#include "model/model.h"
#include "sched/step_executor.h"

namespace chunkserve::sched {

// A pool shaped for `model` with `budget_bytes` of KV, values of model.kv_type().
kv::BlockPoolOptions PoolOptionsFor(const model::Model& model, int64_t block_tokens, size_t budget_bytes);

class ModelExecutor final : public StepExecutor {
 public:
  explicit ModelExecutor(model::Model* model, std::mutex* model_mutex = nullptr)
      : model_(model), model_mutex_(model_mutex) {}

  int64_t n_vocab() const override { return model_->hparams().n_vocab; }
  Status Run(std::span<const StepSequence> batch, StepLogits* logits) override;

 private:
  model::Model* model_;
  std::mutex* model_mutex_;  // may be null
  model::Logits model_logits_;
};

}  // namespace chunkserve::sched
