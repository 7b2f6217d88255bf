#include "engine/engine.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <string>

#include "base/clock.h"
#include "base/logging.h"
#include "model/paged_kv_cache.h"
#include "engine/chunk_plan.h"
#include "engine/slot_forward.h"
#include "kv/block_table.h"
#include "sched/model_executor.h"
#include "sampling/sampler.h"

namespace chunkserve::engine {
namespace {

double ProcessCpuMillis() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

}  // namespace

// Working state of one request.
struct Engine::Request {
  explicit Request(kv::BlockPool* pool) : table(pool) {}

  std::vector<int32_t> tokens;  // prompt, then every generated token fed back
  int64_t n_prompt = 0;
  kv::BlockTable table;
  std::unique_ptr<model::PagedKvCache> kv;
  // Chunk segments that missed the cache: [begin, end) slots.
  std::vector<std::pair<int64_t, int64_t>> missed_chunks;
  // First slot whose KV is not what a full prefill computes (reused chunk
  // rows and everything computed after them); n_prompt when all is exact.
  int64_t first_inexact_slot = 0;
};

Engine::Engine(PrivateTag, model::Model* model, const EngineOptions& options)
    : model_(model), options_(options) {}
Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::Create(model::Model* model, const EngineOptions& options) {
  if (options.recompute_fraction < 0 || options.recompute_fraction > 1)
    return InvalidArgumentError("engine: recompute_fraction must lie in [0, 1]");
  auto e = std::make_unique<Engine>(PrivateTag{}, model, options);
  const model::HParams& hp = model->hparams();
  ASSIGN_OR_RETURN(e->rope_, RopeSetupFor(*model));

  const gguf::GgufFile& f = model->file();
  e->lead_in_ = options.chunk_lead_in ? *options.chunk_lead_in : DefaultChunkLeadIn(*model);
  for (int32_t t : e->lead_in_)
    if (t < 0 || t >= hp.n_vocab) return InvalidArgumentError("engine: chunk lead-in token outside the vocabulary");
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    const std::optional<int64_t> id = f.GetInt(key);
    if (id && *id >= 0 && *id < hp.n_vocab) e->default_eog_.push_back(static_cast<int32_t>(*id));
  }

  ASSIGN_OR_RETURN(e->pool_, kv::BlockPool::Create(sched::PoolOptionsFor(*model, options.block_tokens,
                                                                         options.kv_budget_bytes)));
  if (options.enable_prefix_cache) {
    const int64_t max_blocks =
        options.prefix_cache_max_blocks > 0 ? options.prefix_cache_max_blocks : e->pool_->n_blocks();
    e->prefix_cache_ = std::make_unique<kv::PrefixCache>(e->pool_.get(), max_blocks);
  }
  if (options.enable_chunk_cache) {
    ASSIGN_OR_RETURN(e->chunk_cache_, kv::ChunkCache::Open(options.chunk_cache));
  }
  return e;
}

kv::PrefixCacheStats Engine::prefix_cache_stats() const {
  return prefix_cache_ ? prefix_cache_->stats() : kv::PrefixCacheStats{};
}

int64_t Engine::n_free_blocks() const { return pool_->n_free(); }

void Engine::ClearPrefixCache() {
  std::lock_guard<std::mutex> lock(mu_);
  if (prefix_cache_) prefix_cache_->EvictAll();
}

Status Engine::EnsureCapacity(kv::BlockTable& table, int64_t n_tokens) {
  while (!table.Reserve(n_tokens)) {
    // Blocks only the prefix cache holds are the reserve we may reclaim.
    const int64_t missing = (n_tokens - table.capacity_tokens() + pool_->block_tokens() - 1) / pool_->block_tokens();
    if (!prefix_cache_ || prefix_cache_->Evict(missing) == 0)
      return ResourceExhaustedError("engine: KV pool exhausted: a sequence of " + std::to_string(n_tokens) +
                                    " tokens needs " + std::to_string((n_tokens + pool_->block_tokens() - 1) / pool_->block_tokens()) +
                                    " blocks; " + std::to_string(pool_->n_blocks()) + " in the pool, " +
                                    std::to_string(pool_->n_free()) + " free");
  }
  return Status::Ok();
}

StatusOr<RequestResult> Engine::Generate(const Prompt& prompt, const RequestParams& params,
                                         const TokenCallback& on_token) {
  std::lock_guard<std::mutex> lock(mu_);
  const Stopwatch total;
  const double cpu_start_ms = ProcessCpuMillis();
  const model::HParams& hp = model_->hparams();
  const uint64_t fingerprint = model_->fingerprint();
  const double fraction = params.recompute_fraction.value_or(options_.recompute_fraction);
  if (fraction < 0 || fraction > 1) return InvalidArgumentError("engine: recompute_fraction must lie in [0, 1]");

  Request req(pool_.get());
  std::vector<int64_t> seg_begin;
  for (const Segment& s : prompt) {
    seg_begin.push_back(static_cast<int64_t>(req.tokens.size()));
    for (int32_t t : s.tokens) {
      if (t < 0 || t >= hp.n_vocab)
        return InvalidArgumentError("engine: token id " + std::to_string(t) + " outside [0, " +
                                    std::to_string(hp.n_vocab) + ")");
      req.tokens.push_back(t);
    }
  }
  req.n_prompt = static_cast<int64_t>(req.tokens.size());
  if (req.n_prompt == 0) return InvalidArgumentError("engine: empty prompt");
  const int64_t n_prompt = req.n_prompt;
  req.first_inexact_slot = n_prompt;

  RequestResult result;
  result.n_vocab = hp.n_vocab;
  RequestStats& st = result.stats;
  st.n_prompt_tokens = n_prompt;

  // 1. Prefix cache: never the whole prompt, the last token must be run to
  // get its logits.
  const bool use_prefix = prefix_cache_ && params.use_prefix_cache;
  const bool use_chunks = chunk_cache_ && params.use_chunk_cache;
  std::vector<ChunkSpan> chunks;
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i].kind == SegmentKind::kChunk && !prompt[i].tokens.empty())
      chunks.push_back(ChunkSpan{seg_begin[i], seg_begin[i] + static_cast<int64_t>(prompt[i].tokens.size())});
  int64_t matched = 0;
  if (use_prefix) {
    kv::PrefixMatch m = prefix_cache_->Lookup(
        fingerprint, std::span<const int32_t>(req.tokens.data(), static_cast<size_t>(n_prompt - 1)));
    // A match never ends inside a chunk segment (chunk_plan.h).
    if (use_chunks) {
      const int64_t keep = TrimPrefixMatchToChunks(chunks, m.n_tokens, pool_->block_tokens()) / pool_->block_tokens();
      for (size_t j = static_cast<size_t>(keep); j < m.blocks.size(); ++j) pool_->Release(m.blocks[j]);
      m.blocks.resize(static_cast<size_t>(keep));
      m.n_tokens = keep * pool_->block_tokens();
    }
    for (kv::BlockId b : m.blocks) req.table.AdoptShared(b);
    matched = m.n_tokens;
  }
  RETURN_IF_ERROR(EnsureCapacity(req.table, n_prompt));
  req.kv = std::make_unique<model::PagedKvCache>(&req.table);

  // 2. Plan: which slots to compute, chunks placed from the cache.
  ChunkPlanParams cp;
  cp.model_fingerprint = fingerprint;
  cp.lead_in = lead_in_;
  cp.recompute_fraction = fraction;
  cp.signal = options_.recompute_signal;
  cp.rope = &rope_;
  cp.pool = model_->pool();
  ChunkPlan plan = PlanChunkReuse(use_chunks ? chunk_cache_.get() : nullptr, req.tokens, n_prompt, chunks, matched,
                                  req.kv.get(), cp);
  st.n_prefix_reused_tokens = matched;
  st.n_chunk_ram_hits = plan.n_chunk_ram_hits;
  st.n_chunk_disk_hits = plan.n_chunk_disk_hits;
  st.n_chunk_misses = static_cast<int64_t>(plan.missed.size());
  st.n_chunk_recomputed_tokens = plan.n_chunk_recomputed_tokens;
  st.n_chunk_reused_tokens = plan.n_chunk_reused_tokens;
  for (const ChunkSpan& c : plan.missed) req.missed_chunks.emplace_back(c.begin, c.end);
  req.first_inexact_slot = plan.first_inexact_slot;
  const std::vector<int64_t>& slots = plan.compute_slots;
  st.n_computed_tokens = static_cast<int64_t>(slots.size());

  // 3. Prefill the planned slots.
  std::vector<int32_t> slot_tokens(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) slot_tokens[i] = req.tokens[static_cast<size_t>(slots[i])];
  // Rows to capture: the computed tokens of a final tail segment.
  const int64_t capture_from =
      params.capture_logits && prompt.back().kind == SegmentKind::kTail ? seg_begin.back() : n_prompt - 1;
  model::Logits logits;
  {
    const auto split = static_cast<size_t>(
        std::lower_bound(slots.begin(), slots.end(), params.capture_logits ? capture_from : n_prompt) - slots.begin());
    const std::span<const int32_t> all_tokens(slot_tokens);
    const std::span<const int64_t> all_slots(slots);
    if (split > 0 && split < slots.size()) {
      SlotBatch head{all_tokens.first(split), all_slots.first(split), {}, model::LogitsMode::kNone};
      RETURN_IF_ERROR(ForwardAtSlots(*model_, req.kv.get(), head, options_.max_tokens_per_forward, &logits));
    }
    const size_t from = split < slots.size() ? split : 0;
    SlotBatch rest{all_tokens.subspan(from), all_slots.subspan(from), {},
                   params.capture_logits ? model::LogitsMode::kAll : model::LogitsMode::kLast};
    RETURN_IF_ERROR(ForwardAtSlots(*model_, req.kv.get(), rest, options_.max_tokens_per_forward, &logits));
  }
  if (params.capture_logits) {
    result.captured_logits = logits.data;
    result.n_captured_rows = logits.n_rows;
  }

  // 4. Sample and decode.
  sampling::Sampler sampler(params.sampling, static_cast<int>(hp.n_vocab));
  sampler.SetEndOfGenerationTokens(params.end_of_generation.empty() ? default_eog_ : params.end_of_generation);
  const int64_t max_new = params.forced_tokens.empty()
                              ? params.max_new_tokens
                              : std::min<int64_t>(params.max_new_tokens, static_cast<int64_t>(params.forced_tokens.size()));
  std::span<const float> last_row = logits.Row(logits.n_rows - 1);
  Stopwatch decode_clock;
  bool cancelled = false;
  for (int64_t j = 0; j < max_new; ++j) {
    if (params.cancel && params.cancel->load(std::memory_order_relaxed)) {
      cancelled = true;
      break;
    }
    const int32_t token = params.forced_tokens.empty() ? sampler.Sample(last_row) : params.forced_tokens[static_cast<size_t>(j)];
    if (j == 0) {
      st.ttft_ms = total.ElapsedMillis();
      st.ttft_cpu_ms = ProcessCpuMillis() - cpu_start_ms;
      decode_clock.Reset();
    }
    if (params.forced_tokens.empty() && sampler.IsEndOfGeneration(token)) {
      result.finish = FinishReason::kEndOfGeneration;
      break;
    }
    sampler.Accept(token);
    result.tokens.push_back(token);
    if (on_token && !on_token(token)) {
      cancelled = true;
      break;
    }
    if (j + 1 == max_new) break;  // the last token needs no forward
    // Feed the token back at the next slot.
    const int64_t slot = static_cast<int64_t>(req.tokens.size());
    req.tokens.push_back(token);
    RETURN_IF_ERROR(EnsureCapacity(req.table, slot + 1));
    req.kv->Refresh();
    const int32_t tok = token;
    model::SequenceBatch seq;
    seq.kv = req.kv.get();
    seq.tokens = std::span<const int32_t>(&tok, 1);
    seq.first_slot = slot;
    seq.logits = model::LogitsMode::kLast;
    RETURN_IF_ERROR(model_->Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits));
    last_row = logits.Row(0);
    if (params.capture_logits) {
      result.captured_logits.insert(result.captured_logits.end(), last_row.begin(), last_row.end());
      ++result.n_captured_rows;
    }
  }
  if (cancelled) result.finish = FinishReason::kCancelled;
  st.n_generated_tokens = static_cast<int64_t>(result.tokens.size());
  if (st.n_generated_tokens > 1)
    st.decode_tokens_per_s = static_cast<double>(st.n_generated_tokens - 1) / std::max(1e-9, decode_clock.ElapsedSeconds());
  if (st.n_generated_tokens == 0) {
    st.ttft_ms = total.ElapsedMillis();
    st.ttft_cpu_ms = ProcessCpuMillis() - cpu_start_ms;
  }

  // 5. Fill the caches (after the answer, so it never delays the first token).
  if (use_chunks && !req.missed_chunks.empty()) {
    const Status s = FillChunkCache(req);
    if (!s.ok()) {
      CS_LOG(Warning) << "engine: chunk cache fill failed: " << s.ToString();
    }
    for (const auto& [b, e] : req.missed_chunks) st.n_cache_fill_tokens += e - b + static_cast<int64_t>(lead_in_.size());
  }
  if (use_prefix) {
    // Exact rows only: the prompt up to the first inexact slot, and the fed
    // back tokens when the whole prompt was exact.
    const int64_t n_exact = req.first_inexact_slot < n_prompt ? req.first_inexact_slot
                                                              : static_cast<int64_t>(req.tokens.size());
    prefix_cache_->Insert(fingerprint, std::span<const int32_t>(req.tokens.data(), static_cast<size_t>(n_exact)),
                          req.table.blocks());
  }
  st.total_ms = total.ElapsedMillis();
  return result;
}

Status Engine::FillChunkCache(Request& req) {
  const auto L = static_cast<int64_t>(lead_in_.size());
  // All missed chunks in one Forward: each its own [lead-in][chunk] sequence.
  std::vector<std::unique_ptr<model::ContiguousKvCache>> caches;
  std::vector<std::vector<int32_t>> inputs;
  for (const auto& [b, e] : req.missed_chunks) {
    // The pool's value type (kv_type()), so entries hold what a fill job stores.
    caches.push_back(model_->NewKvCache(L + (e - b)));
    std::vector<int32_t> in(lead_in_);
    in.insert(in.end(), req.tokens.begin() + b, req.tokens.begin() + e);
    inputs.push_back(std::move(in));
  }
  // Keep each call to about max_tokens_per_forward tokens.
  model::Logits unused;
  std::vector<model::SequenceBatch> batch;
  int64_t batch_tokens = 0;
  for (size_t i = 0; i <= inputs.size(); ++i) {
    const bool flush = i == inputs.size() ||
                       (batch_tokens > 0 && batch_tokens + static_cast<int64_t>(inputs[i].size()) > options_.max_tokens_per_forward);
    if (flush && !batch.empty()) {
      RETURN_IF_ERROR(model_->Forward(batch, &unused));
      batch.clear();
      batch_tokens = 0;
    }
    if (i == inputs.size()) break;
    model::SequenceBatch seq;
    seq.kv = caches[i].get();
    seq.tokens = inputs[i];
    seq.first_slot = 0;
    seq.logits = model::LogitsMode::kNone;
    batch.push_back(seq);
    batch_tokens += static_cast<int64_t>(inputs[i].size());
  }
  for (size_t i = 0; i < req.missed_chunks.size(); ++i) {
    const auto [b, e] = req.missed_chunks[i];
    const std::span<const int32_t> chunk = std::span<const int32_t>(inputs[i]).subspan(static_cast<size_t>(L));
    const kv::ChunkKey key{model_->fingerprint(), kv::ChunkContentHash(lead_in_, chunk)};
    RETURN_IF_ERROR(chunk_cache_->Insert(BuildChunkKv(key, chunk, L, caches[i].get(), req.kv.get(), b, b, rope_)));
  }
  return Status::Ok();
}

}  // namespace chunkserve::engine
