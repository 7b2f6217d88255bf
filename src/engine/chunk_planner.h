// ChunkPlanner: the Cache-Craft chunk cache as the scheduler's admission hook
// (sched/prompt_planner.h), so chunk reuse works under continuous batching.
//
// At admission it resolves a request's chunk segments exactly as Engine
// does (chunk_plan.h, one implementation): hits are placed into the
// request's blocks with K re-rotated, a fraction r of the reused tokens is
// recomputed (signal as configured; default kPromptRecency), misses are
// computed in the prompt's context. Each miss becomes a fill: the
// scheduler runs [lead-in][chunk] from slot 0 in the budget running requests
// leave (requests needing that chunk wait for it) and
// CompleteFill(Async) copies it into a ChunkKv and inserts it into the cache
// (the async form: into RAM at once, to disk and the shared tier on the
// publisher's thread; the scheduler uses it) (with
// deviation scores against the request's in-context rows when the signal is
// kRecordedDeviation; other signals ignore scores, so the scheduler is not
// asked to keep the request's blocks and the scores are zeros).
//
// Chunks found only on the disk tier are read ahead of admission on the
// prefetcher's thread (Prepare), so the step never waits for a disk read.
//
// Given the same cache contents, a request planned here computes the same
// slots and places the same KV as Engine::Generate, and the model's rows do
// not depend on batch composition, so the greedy outputs agree
// (tests/engine/chunk_planner_test).
//
// Thread safety: the scheduler thread only (the ChunkCache locks itself and
// may be shared, e.g. with an Engine).
// REQUIRES: model and (borrowed) cache outlive the planner; the scheduler's
// pool is shaped for the model and not simulated.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "engine/chunk_plan.h"
#include "engine/chunk_prefetcher.h"
#include "engine/chunk_publisher.h"
#include "engine/chunk_reuse.h"
#include "kv/chunk_cache.h"
#include "model/model.h"
#include "sched/prompt_planner.h"

namespace chunkserve::engine {

struct ChunkPlannerOptions {
  double recompute_fraction = 0.15;
  RecomputeSignal recompute_signal = RecomputeSignal::kPromptRecency;
  // nullopt: DefaultChunkLeadIn(model).
  std::optional<std::vector<int32_t>> chunk_lead_in;
};

class ChunkPlanner final : public sched::PromptPlanner {
 public:
  // InvalidArgument for a fraction outside [0, 1] or a lead-in token outside
  // the vocabulary; errors of the model's RoPE setup pass through.
  static StatusOr<std::unique_ptr<ChunkPlanner>> Create(model::Model* model, kv::ChunkCache* cache,
                                                        const ChunkPlannerOptions& options);

  // Disk-tier entries of the request's chunks are read ahead (ChunkPrefetcher).
  bool Prepare(const sched::PlanInput& in, const std::function<void()>& wake) override;
  void Release(uint64_t seq_id) override { prefetcher_->Release(seq_id); }
  int64_t TrimPrefixMatch(const sched::PlanInput& in, int64_t matched, int64_t block_tokens) override;
  StatusOr<sched::AdmissionPlan> Plan(const sched::PlanInput& in, kv::BlockTable* table) override;
  bool NeedsFill(const sched::ChunkFill& fill) override;
  uint64_t FillKey(std::span<const int32_t> chunk_tokens) override {
    return kv::ChunkContentHash(lead_in_, chunk_tokens);
  }
  bool WantsSourceKv() const override { return options_.recompute_signal == RecomputeSignal::kRecordedDeviation; }
  Status CompleteFill(const sched::ChunkFill& fill, const kv::BlockTable& fill_table, const kv::BlockTable* source,
                      int64_t source_first_slot) override;
  // The entry goes into the RAM tier at once; its disk write and publish
  // run on the publisher's thread (ChunkPublisher), then `stored`.
  void CompleteFillAsync(const sched::ChunkFill& fill, const kv::BlockTable& fill_table,
                         const kv::BlockTable* source, int64_t source_first_slot,
                         std::function<void(Status)> stored) override;

  const std::vector<int32_t>& chunk_lead_in() const { return lead_in_; }
  // Disk-tier entries read ahead of admission so far.
  int64_t n_read_ahead() const { return prefetcher_->n_reads_done(); }
  kv::ChunkCache* cache() { return cache_; }

 private:
  struct PrivateTag {};

 public:
  ChunkPlanner(PrivateTag, model::Model* model, kv::ChunkCache* cache, const ChunkPlannerOptions& options)
      : model_(model), cache_(cache), options_(options), prefetcher_(std::make_unique<ChunkPrefetcher>(cache)),
        publisher_(std::make_unique<ChunkPublisher>(cache)) {}

 private:
  // The fill's entry, built from the blocks (scheduler thread).
  StatusOr<std::shared_ptr<const kv::ChunkKv>> BuildFillEntry(const sched::ChunkFill& fill,
                                                              const kv::BlockTable& fill_table,
                                                              const kv::BlockTable* source, int64_t source_first_slot);

  model::Model* model_;
  kv::ChunkCache* cache_;
  ChunkPlannerOptions options_;
  RopeSetup rope_;
  std::vector<int32_t> lead_in_;
  std::unique_ptr<ChunkPrefetcher> prefetcher_;
  std::unique_ptr<ChunkPublisher> publisher_;
};

}  // namespace chunkserve::engine
