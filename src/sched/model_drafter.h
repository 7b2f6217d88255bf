// ModelDrafter: the Drafter (drafter.h) over a model::Model with its own
// paged KV pool: a second, small GGUF sharing the target's vocabulary
// (FastDraft), or the target itself run through its first n_layers blocks
// then the final norm and output head (LayerSkip-style early exit,
// Model::ForwardEarlyExit) - self-drafting without a second file.
//
// Per sequence it keeps a block table in its own pool and the tokens whose
// KV it holds. A query's history is compared with them: the common prefix is
// kept (a rejected draft is rolled back by forgetting its tail), the rest is
// computed in slices of at most max_catch_up_tokens, then each draft token
// is one batched forward of every query. When its pool is full it forgets
// the least recently drafted sequences that are not in the query; a query
// that still finds no room gets no draft.
//
// Thread safety: the scheduler thread only (the model's Forward is run on
// the same thread as the target's, never concurrently).
// REQUIRES: model outlives the drafter.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "kv/block_pool.h"
#include "kv/block_table.h"
#include "model/model.h"
#include "sched/drafter.h"

namespace chunkserve::sched {

struct ModelDrafterOptions {
  // Blocks of the model to run; 0: all (a separate draft model). Fewer:
  // early exit through the final norm and head (self-drafting).
  int64_t n_layers = 0;
  size_t kv_budget_bytes = size_t{256} << 20;
  int64_t block_tokens = 16;
  int64_t max_catch_up_tokens = 512;  // tokens of one catch-up forward
};

class ModelDrafter final : public Drafter {
 public:
  // InvalidArgument for n_layers outside [0, n_layer] or a pool too small
  // for one block.
  static StatusOr<std::unique_ptr<ModelDrafter>> Create(model::Model* model, const ModelDrafterOptions& options);

  int64_t n_vocab() const override { return model_->hparams().n_vocab; }
  Status Propose(std::span<DraftQuery> queries) override;
  void Forget(uint64_t seq_id) override { seqs_.erase(seq_id); }

  int64_t n_layers() const { return n_layers_; }
  const kv::BlockPool& pool() const { return *pool_; }
  // Tokens run through the model so far (catch-up and drafts): its cost.
  // Any thread.
  int64_t n_computed_tokens() const { return n_computed_tokens_.load(std::memory_order_relaxed); }

 private:
  struct SeqState {
    explicit SeqState(kv::BlockPool* pool) : table(pool) {}
    kv::BlockTable table;
    std::vector<int32_t> cached;  // the tokens at slots [0, cached.size())
    uint64_t last_used = 0;
  };
  struct PrivateTag {};

 public:
  ModelDrafter(PrivateTag, model::Model* model, std::unique_ptr<kv::BlockPool> pool, const ModelDrafterOptions& options);

 private:
  // Room for n_slots in s's table, forgetting other idle sequences (least
  // recently used first) when the pool is full.
  bool Reserve(SeqState& s, int64_t n_slots, std::span<const DraftQuery> queries);
  Status Run(std::span<const model::SequenceBatch> batch);

  model::Model* model_;
  std::unique_ptr<kv::BlockPool> pool_;
  int64_t n_layers_;
  int64_t max_catch_up_tokens_;
  std::unordered_map<uint64_t, std::unique_ptr<SeqState>> seqs_;
  uint64_t use_counter_ = 0;
  std::atomic<int64_t> n_computed_tokens_{0};
  model::Logits logits_;
};

}  // namespace chunkserve::sched
