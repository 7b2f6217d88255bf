#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

#include "base/hash.h"
#include "base/logging.h"
#include "kernels/aligned_buffer.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/attention_votes.h"
#include "kernels/ops.h"
#include "model/fingerprint.h"
#include "model/moe_ffn.h"
#include "model/page_selection.h"
#include "model/shared_prefix.h"
#include "model/weights.h"

namespace chunkserve::model {
namespace {

// Runs fn(row) for rows [0, n) in a few contiguous chunks per thread. Row
// work here (norms, RoPE, copies) is cheap, so small batches stay on the
// calling thread rather than pay for a parallel section.
void ForRows(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn) {
  constexpr int64_t kMinRowsToSplit = 4;
  if (!pool || pool->size() == 1 || n < kMinRowsToSplit) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  const int64_t n_chunks = std::min<int64_t>(n, int64_t{pool->size()} * 4);
  pool->ParallelFor(n_chunks, [&](int64_t c, int) {
    const int64_t begin = n * c / n_chunks;
    const int64_t end = n * (c + 1) / n_chunks;
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

uint64_t ComputeFingerprint(const gguf::GgufFile& file, const HParams& hp) {
  uint64_t h = Hash64(hp.arch_name);
  const int64_t ints[] = {hp.n_vocab, hp.n_embd, hp.n_layer, hp.n_ff, hp.n_head,
                          hp.n_head_kv, hp.head_dim, hp.n_rot};
  h = HashCombine(h, Hash64(ints, sizeof(ints)));
  if (hp.is_moe()) {  // (dense models keep their fingerprints)
    const int64_t moe[] = {hp.n_expert, hp.n_expert_used, hp.n_ff_exp, hp.n_ff_shexp, hp.expert_norm_topk ? 1 : 0};
    h = HashCombine(h, Hash64(moe, sizeof(moe)));
    h = HashCombine(h, Hash64(&hp.expert_weights_scale, sizeof(float)));
  }
  const float floats[] = {hp.rms_norm_eps,     hp.rope_freq_base, hp.rope_freq_scale,
                          hp.attn_scale,       hp.attn_softcap,   hp.final_softcap,
                          static_cast<float>(hp.sliding_window), hp.rope_attn_factor,
                          hp.rope_long ? 1.0f : 0.0f};
  h = HashCombine(h, Hash64(floats, sizeof(floats)));
  if (hp.rope_freq_base_local > 0) h = HashCombine(h, Hash64(&hp.rope_freq_base_local, sizeof(float)));
  return FingerprintTensors(file, h);
}

// Layer l's RoPE, with `mscale` as the rotated dims' magnitude factor.
kernels::RopeParams RopeOf(const HParams& hp, int64_t l, const std::vector<float>& freq_factors, float mscale) {
  return kernels::RopeParams{
      .head_dim = static_cast<int>(hp.head_dim),
      .n_rot = static_cast<int>(hp.n_rot),
      .theta = hp.rope_base(l),
      .freq_scale = hp.rope_scale(l),
      .style = hp.rope_style,
      .freq_factors = freq_factors.empty() ? nullptr : freq_factors.data(),
      .mscale = mscale,
  };
}

}  // namespace

struct Model::Scratch {
  // 64-byte aligned and, when large, on huge pages: the matmul kernels
  // write their outputs with aligned streaming stores where they can, and a
  // prefill's activations span many MiB.
  using Activations = kernels::AlignedVector<float>;
  Activations x;       // (T, n_embd) residual stream
  Activations xn;      // (T, n_embd) normed input of a block
  Activations qkv;     // (T, n_embd_q + 2 n_embd_kv) fused projection output
  Activations gate_up; // (T, 2 n_ff) fused projection output
  Activations q;       // (T, n_embd_q)
  Activations k;       // (T, n_embd_kv)
  Activations v;       // (T, n_embd_kv)
  Activations attn;    // (T, n_embd_q)
  Activations proj;    // (T, n_embd) block output before the residual add
  Activations gate;    // (T, n_ff)
  Activations up;      // (T, n_ff)
  Activations head_in; // (n_out, n_embd) normed rows that need logits
  std::vector<int32_t> positions;  // (T,) RoPE position per token
  std::vector<int64_t> slots;      // (T,) KV slot per token
  std::vector<int32_t> seq_of;     // (T,) batch index per token
  std::vector<int32_t> kv_len;     // (T,) keys each token attends to
  std::vector<int64_t> out_rows;   // tokens whose logits are wanted
  std::vector<int64_t> hidden_rows;  // tokens whose hidden state is wanted
  // Batch entries [first_seq, ...) over one KV cache whose tokens are
  // [first_token, first_token + n_tokens): one attention call each.
  struct AttnGroup {
    int64_t first_seq = 0;
    int64_t first_token = 0;
    int64_t n_tokens = 0;
  };
  std::vector<AttnGroup> attn_groups;
  std::vector<AttnGroup> small_seqs;  // groups of <= 4 tokens, run one per thread
  MoeScratch moe;                     // mixture-of-experts layers
};

Model::Model(PrivateTag) : scratch_(std::make_unique<Scratch>()) {}
Model::~Model() = default;

StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path, const LoadOptions& options) {
  auto m = std::make_unique<Model>(PrivateTag{});
  ASSIGN_OR_RETURN(m->file_, gguf::GgufFile::Open(path));
  ASSIGN_OR_RETURN(m->hparams_, ReadHParams(*m->file_));
  {
    // LongRoPE's factor set follows the context the model runs at.
    const int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : m->hparams_.n_ctx_train;
    m->hparams_.rope_long = m->hparams_.n_ctx_orig > 0 && n_ctx > m->hparams_.n_ctx_orig;
  }
  m->attention_precision_ = options.attention_precision.value_or(
      kernels::FastestAttentionPrecision(static_cast<int>(m->hparams_.head_dim)));
  m->kv_type_ = options.kv_type.value_or(
      m->attention_precision_ == kernels::AttentionPrecision::kBf16 ? DType::kBF16 : DType::kF32);
  if (!KvTypeFits(m->kv_type_, m->hparams_.head_dim))
    return InvalidArgumentError(path + ": a " + std::string(DTypeName(m->kv_type_)) + " KV cache does not fit head_dim " +
                                std::to_string(m->hparams_.head_dim) + " (KV types: f32, bf16, q8_0 with head_dim % 32 == 0)");
  if (m->kv_type_ == DType::kBF16 && m->attention_precision_ != kernels::AttentionPrecision::kBf16)
    return InvalidArgumentError(path + ": a bf16 KV cache needs bf16 attention");
  if (options.pool) {
    m->pool_ = options.pool;
  } else {
    m->owned_pool_ = std::make_unique<ThreadPool>(options.n_threads);
    m->pool_ = m->owned_pool_.get();
  }
  auto weights = BindWeights(*m->file_, m->hparams_, m->pool_);
  if (!weights.ok()) return weights.status().WithContext(path);
  m->weights_ = std::move(weights).value();
  m->fingerprint_ = ComputeFingerprint(*m->file_, m->hparams_);
  return m;
}

size_t Model::weight_bytes_per_token() const { return weights_->BytesPerToken(hparams_.n_expert_used); }

std::span<const float> Model::rope_freq_factors() const { return weights_->rope_freqs; }

std::unique_ptr<ContiguousKvCache> Model::NewKvCache(int64_t capacity_tokens, std::optional<DType> type) const {
  return std::make_unique<ContiguousKvCache>(static_cast<int>(hparams_.n_layer), hparams_.n_embd_kv(),
                                             capacity_tokens, type.value_or(kv_type()));
}

Status Model::ShiftKeys(KvCache* kv, int64_t first_slot, int64_t n, int64_t delta) const {
  const HParams& hp = hparams_;
  if (first_slot < 0 || n < 0 || first_slot + n > kv->capacity_tokens())
    return OutOfRangeError("ShiftKeys: slots [" + std::to_string(first_slot) + ", " + std::to_string(first_slot + n) +
                           ") past the cache");
  // The forward pass's rotation without LongRoPE's magnitude factor (that
  // was applied once, when the key was computed).
  std::vector<float> row(static_cast<size_t>(kv->row_floats()));
  for (int layer = 0; layer < kv->n_layers(); ++layer) {
    const kernels::RopeParams rope = RopeOf(hp, layer, weights_->rope_freqs, /*mscale=*/1.0f);
    for (int64_t slot = first_slot; slot < first_slot + n; ++slot) {
      kv->LoadK(layer, slot, row.data());
      kernels::ApplyRope(row.data(), static_cast<int>(hp.n_head_kv), delta, rope);
      kv->StoreK(layer, slot, row.data());
    }
  }
  return Status::Ok();
}

StatusOr<Logits> Model::ForwardAll(KvCache* kv, std::span<const int32_t> tokens, int64_t first_slot) {
  SequenceBatch seq{.kv = kv, .tokens = tokens, .first_slot = first_slot, .positions = {}, .logits = LogitsMode::kAll};
  Logits logits;
  RETURN_IF_ERROR(Forward(std::span<const SequenceBatch>(&seq, 1), &logits));
  return logits;
}

Status Model::Forward(std::span<const SequenceBatch> batch, Logits* logits) {
  return Run(batch, hparams_.n_layer, /*with_head=*/true, logits);
}

Status Model::ForwardLayers(std::span<const SequenceBatch> batch, int64_t n_layers, Logits* logits) {
  return Run(batch, n_layers, /*with_head=*/n_layers == hparams_.n_layer, logits);
}

Status Model::ForwardEarlyExit(std::span<const SequenceBatch> batch, int64_t n_layers, Logits* logits) {
  return Run(batch, n_layers, /*with_head=*/true, logits);
}

Status Model::Run(std::span<const SequenceBatch> batch, int64_t n_layers, bool with_head, Logits* logits) {
  const HParams& hp = hparams_;
  if (n_layers <= 0 || n_layers > hp.n_layer)
    return InvalidArgumentError("model: " + std::to_string(n_layers) + " layers to run of " +
                                std::to_string(hp.n_layer));
  const Weights& w = *weights_;
  Scratch& s = *scratch_;

  // Validate everything before touching any cache, so a bad request changes
  // nothing.
  int64_t n_tokens = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    const SequenceBatch& seq = batch[b];
    const std::string where = "model: batch sequence " + std::to_string(b);
    if (!seq.kv) return InvalidArgumentError(where + " has no KV cache");
    if (seq.tokens.empty()) return InvalidArgumentError(where + " has no tokens");
    if (!seq.positions.empty() && seq.positions.size() != seq.tokens.size())
      return InvalidArgumentError(where + " has " + std::to_string(seq.positions.size()) +
                                  " positions for " + std::to_string(seq.tokens.size()) + " tokens");
    if (seq.kv->n_layers() != hp.n_layer || seq.kv->row_floats() != hp.n_embd_kv())
      return InvalidArgumentError(where + ": KV cache shape (" + std::to_string(seq.kv->n_layers()) +
                                  " layers, rows of " + std::to_string(seq.kv->row_floats()) +
                                  ") does not match the model");
    if (seq.kv->type() == DType::kBF16 && attention_precision_ != kernels::AttentionPrecision::kBf16)
      return InvalidArgumentError(where + ": a bf16 KV cache needs bf16 attention; the model runs " +
                                  kernels::AttentionPrecisionName(attention_precision_));
    if (!KvTypeFits(seq.kv->type(), hp.head_dim))
      return InvalidArgumentError(where + ": a " + std::string(DTypeName(seq.kv->type())) +
                                  " KV cache does not fit head_dim " + std::to_string(hp.head_dim));
    const int64_t end_slot = seq.first_slot + static_cast<int64_t>(seq.tokens.size());
    if (seq.first_slot < 0 || end_slot > seq.kv->capacity_tokens())
      return OutOfRangeError(where + ": slots [" + std::to_string(seq.first_slot) + ", " +
                             std::to_string(end_slot) + ") exceed the KV cache capacity of " +
                             std::to_string(seq.kv->capacity_tokens()) + " tokens");
    if (end_slot > INT32_MAX) return OutOfRangeError(where + ": slot index too large");
    for (int32_t tok : seq.tokens) {
      if (tok < 0 || tok >= hp.n_vocab)
        return InvalidArgumentError(where + ": token id " + std::to_string(tok) + " outside [0, " +
                                    std::to_string(hp.n_vocab) + ")");
    }
    for (int32_t pos : seq.positions) {
      if (pos < 0) return InvalidArgumentError(where + ": negative position " + std::to_string(pos));
    }
    n_tokens += static_cast<int64_t>(seq.tokens.size());
  }

  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), dkv = hp.n_embd_kv(), ff = hp.n_ff;
  const auto T = static_cast<size_t>(n_tokens);
  s.x.resize(T * d);
  s.xn.resize(T * d);
  s.q.resize(T * dq);
  s.k.resize(T * dkv);
  s.v.resize(T * dkv);
  s.attn.resize(T * dq);
  s.proj.resize(T * d);
  if (!hp.is_moe()) s.gate.resize(T * ff);
  s.positions.resize(T);
  s.slots.resize(T);
  s.seq_of.resize(T);
  s.kv_len.resize(T);
  s.out_rows.clear();
  s.hidden_rows.clear();

  ForwardLaps laps(profile_);
  // Packed weight bytes of an optional matrix (profiles only).
  auto bytes_of = [](const auto& m) -> size_t { return m.has_value() ? m->bytes() : 0; };
  std::vector<int32_t> tokens(T);
  {
    size_t t = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const SequenceBatch& seq = batch[b];
      const size_t n = seq.tokens.size();
      for (size_t i = 0; i < n; ++i, ++t) {
        tokens[t] = seq.tokens[i];
        s.slots[t] = seq.first_slot + static_cast<int64_t>(i);
        s.positions[t] = seq.positions.empty() ? static_cast<int32_t>(s.slots[t]) : seq.positions[i];
        s.seq_of[t] = static_cast<int32_t>(b);
        // Causal: a token sees every slot up to and including its own.
        s.kv_len[t] = static_cast<int32_t>(s.slots[t] + 1);
        if (seq.logits == LogitsMode::kAll || (seq.logits == LogitsMode::kLast && i + 1 == n))
          s.out_rows.push_back(static_cast<int64_t>(t));
        if (seq.logits == LogitsMode::kHidden) s.hidden_rows.push_back(static_cast<int64_t>(t));
      }
    }
  }

  // x (T, d) = token_embd rows (times sqrt(n_embd) for gemma2, in f32 as
  // llama.cpp does).
  const float embd_scale = std::sqrt(static_cast<float>(d));
  ForRows(pool_, n_tokens, [&](int64_t t) {
    float* x = s.x.data() + t * d;
    kernels::DequantizeRow(w.token_embd->type,
                           w.token_embd->data + static_cast<size_t>(tokens[t]) * w.token_embd_row_bytes, x, d);
    if (hp.scale_embd) {
      for (int64_t i = 0; i < d; ++i) x[i] *= embd_scale;
    }
  });

  laps.Lap(ForwardOp::kEmbed);

  // Entries that asked for attention votes: their last rows' probabilities,
  // per layer, from the queries and cache this layer just used.
  std::vector<int64_t> vote_first_token(batch.size(), -1);
  {
    int64_t t0 = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const auto n = static_cast<int64_t>(batch[b].tokens.size());
      if (AttentionVotes* v = batch[b].votes; v != nullptr && v->n_rows > 0) {
        const int64_t rows = std::min(v->n_rows, n);
        vote_first_token[b] = t0 + n - rows;
        v->n_rows = rows;
        v->n_slots = batch[b].first_slot + n;
        v->mass.assign(static_cast<size_t>(hp.n_layer * hp.n_head_kv * v->n_slots), 0.0f);
      }
      t0 += n;
    }
  }
  auto add_votes = [&](int layer, const kernels::AttentionShape& shape) {
    for (size_t b = 0; b < batch.size(); ++b) {
      if (vote_first_token[b] < 0) continue;
      AttentionVotes& v = *batch[b].votes;
      const int64_t t = vote_first_token[b];
      kernels::AddAttentionVotes(s.q.data() + t * dq, v.n_rows, s.kv_len.data() + t, batch[b].kv->View(layer),
                                 shape, v.n_slots, v.mass.data() + layer * hp.n_head_kv * v.n_slots, pool_);
    }
  };
  // Shared-prefix decode groups of this step (found once, model/shared_prefix.h).
  std::optional<std::vector<SharedPrefixGroup>> prefix_groups;
  for (int64_t l = 0; l < n_layers; ++l) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    const int layer = static_cast<int>(l);
    const kernels::RopeParams rope = RopeOf(hp, l, w.rope_freqs, hp.rope_attn_factor);
    // Local (sliding-window) layers see the last sliding_window slots of a
    // sequence: one slot per position, as the engine lays sequences out.
    const kernels::AttentionShape shape{
        .n_heads = static_cast<int>(hp.n_head),
        .n_kv_heads = static_cast<int>(hp.n_head_kv),
        .head_dim = static_cast<int>(hp.head_dim),
        .scale = hp.attn_scale,
        .precision = attention_precision_,
        .softcap = hp.attn_softcap,
        .window = hp.is_local_layer(l) ? hp.sliding_window : 0,
    };

    // --- attention block ---
    ForRows(pool_, n_tokens, [&](int64_t t) {
      kernels::RmsNorm(s.x.data() + t * d, lw.attn_norm.data(), d, hp.rms_norm_eps, s.xn.data() + t * d);
    });
    laps.Lap(ForwardOp::kAttnNorm);
    // q (T, dq) = xn @ Wq^T; k, v (T, dkv) likewise; one stacked MatMul
    // when the three share a type.
    const int64_t dqkv = dq + 2 * dkv;
    if (lw.wqkv) {
      if (s.qkv.size() < T * dqkv) s.qkv.resize(T * dqkv);
      kernels::MatMul(*lw.wqkv, s.xn.data(), n_tokens, s.qkv.data(), pool_);
    } else {
      kernels::MatMul(*lw.wq, s.xn.data(), n_tokens, s.q.data(), pool_);
      kernels::MatMul(*lw.wk, s.xn.data(), n_tokens, s.k.data(), pool_);
      kernels::MatMul(*lw.wv, s.xn.data(), n_tokens, s.v.data(), pool_);
    }
    if (laps.active()) laps.Lap(ForwardOp::kQkv, bytes_of(lw.wqkv) + bytes_of(lw.wq) + bytes_of(lw.wk) + bytes_of(lw.wv));
    ForRows(pool_, n_tokens, [&](int64_t t) {
      float* q = s.q.data() + t * dq;
      float* k = s.k.data() + t * dkv;
      float* v = s.v.data() + t * dkv;
      if (lw.wqkv) {
        const float* row = s.qkv.data() + t * dqkv;
        std::memcpy(q, row, static_cast<size_t>(dq) * sizeof(float));
        std::memcpy(k, row + dq, static_cast<size_t>(dkv) * sizeof(float));
        std::memcpy(v, row + dq + dkv, static_cast<size_t>(dkv) * sizeof(float));
      }
      if (!lw.bq.empty()) kernels::AddInPlace(q, lw.bq.data(), dq);
      if (!lw.bk.empty()) kernels::AddInPlace(k, lw.bk.data(), dkv);
      if (!lw.bv.empty()) kernels::AddInPlace(v, lw.bv.data(), dkv);
      if (hp.qk_norm_full) {
        kernels::RmsNorm(q, lw.q_norm.data(), dq, hp.rms_norm_eps, q);
        kernels::RmsNorm(k, lw.k_norm.data(), dkv, hp.rms_norm_eps, k);
      } else if (!lw.q_norm.empty()) {
        for (int64_t h = 0; h < hp.n_head; ++h)
          kernels::RmsNorm(q + h * hp.head_dim, lw.q_norm.data(), hp.head_dim, hp.rms_norm_eps, q + h * hp.head_dim);
        for (int64_t h = 0; h < hp.n_head_kv; ++h)
          kernels::RmsNorm(k + h * hp.head_dim, lw.k_norm.data(), hp.head_dim, hp.rms_norm_eps, k + h * hp.head_dim);
      }
      kernels::ApplyRope(q, static_cast<int>(hp.n_head), s.positions[t], rope);
      kernels::ApplyRope(k, static_cast<int>(hp.n_head_kv), s.positions[t], rope);
      KvCache* kv = batch[static_cast<size_t>(s.seq_of[t])].kv;
      kv->StoreK(layer, s.slots[t], k);
      kv->StoreV(layer, s.slots[t], v);
    });
    laps.Lap(ForwardOp::kQkvPost);
    // attn (T, dq): each sequence over its own cache. Consecutive entries
    // of one cache (the runs of a chunk-reuse prefill: scattered recomputed
    // slots) are one call, their causality in kv_len: each K/V tile is then
    // prepared once for all their queries, not once per run. A group with
    // few tokens (a decode) is only n_kv_heads small tasks, so a parallel
    // section per group would cost a pool round trip for each of a batch's
    // decodes in every layer; they run instead as one parallel section over
    // groups, each group on one thread.
    {
      constexpr int64_t kSmallSeqTokens = 4;
      s.small_seqs.clear();
      s.attn_groups.clear();
      int64_t t0 = 0;
      for (size_t b = 0; b < batch.size(); ++b) {
        const auto n = static_cast<int64_t>(batch[b].tokens.size());
        if (!s.attn_groups.empty() && batch[s.attn_groups.back().first_seq].kv == batch[b].kv) {
          s.attn_groups.back().n_tokens += n;
        } else {
          s.attn_groups.push_back({static_cast<int64_t>(b), t0, n});
        }
        t0 += n;
      }
      for (const Scratch::AttnGroup& g : s.attn_groups) {
        const SequenceBatch& first = batch[static_cast<size_t>(g.first_seq)];
        if (first.pages != nullptr && g.n_tokens == 1 && shape.window == 0) {
          first.pages->Attend(layer, s.q.data() + g.first_token * dq, s.kv_len[g.first_token], first.kv->View(layer),
                              shape, s.attn.data() + g.first_token * dq, pool_);
        } else if (g.n_tokens <= kSmallSeqTokens && s.attn_groups.size() > 1) {
          s.small_seqs.push_back(g);
        } else {
          const kernels::KvBlocksView view = batch[static_cast<size_t>(g.first_seq)].kv->View(layer);
          kernels::Attention(s.q.data() + g.first_token * dq, g.n_tokens, s.kv_len.data() + g.first_token, view,
                             shape, s.attn.data() + g.first_token * dq, pool_);
        }
      }
      // Decodes whose caches share whole leading chunks run those once (Hydragen).
      if (shared_prefix_attention_ && s.small_seqs.size() > 1 && shape.window == 0) {
        std::vector<DecodeAttention> decodes;
        std::vector<size_t> decode_of;  // index into small_seqs
        for (size_t i = 0; i < s.small_seqs.size(); ++i) {
          const Scratch::AttnGroup& g = s.small_seqs[i];
          if (g.n_tokens != 1) continue;
          decodes.push_back({s.q.data() + g.first_token * dq, s.attn.data() + g.first_token * dq,
                             s.kv_len[static_cast<size_t>(g.first_token)],
                             batch[static_cast<size_t>(g.first_seq)].kv->View(layer)});
          decode_of.push_back(i);
        }
        // The groups are the same in every layer (one block table per
        // sequence): found in the first layer that runs them, reused after.
        if (!prefix_groups) prefix_groups = FindSharedPrefixes(decodes);
        const std::vector<size_t> ran = AttendSharedPrefixGroups(*prefix_groups, decodes, shape, pool_);
        for (auto it = ran.rbegin(); it != ran.rend(); ++it)
          s.small_seqs.erase(s.small_seqs.begin() + static_cast<std::ptrdiff_t>(decode_of[*it]));
      }
      auto run_small = [&](int64_t i, int) {
        const Scratch::AttnGroup& g = s.small_seqs[static_cast<size_t>(i)];
        const kernels::KvBlocksView view = batch[static_cast<size_t>(g.first_seq)].kv->View(layer);
        kernels::Attention(s.q.data() + g.first_token * dq, g.n_tokens, s.kv_len.data() + g.first_token, view,
                           shape, s.attn.data() + g.first_token * dq, nullptr);
      };
      const auto n_small = static_cast<int64_t>(s.small_seqs.size());
      if (pool_ && n_small > 1) {
        pool_->ParallelFor(n_small, run_small);
      } else {
        for (int64_t i = 0; i < n_small; ++i) run_small(i, 0);
      }
    }
    add_votes(layer, shape);
    laps.Lap(ForwardOp::kAttention);
    // x += attn @ Wo^T (RMS-normed first with post_norms)
    kernels::MatMul(*lw.wo, s.attn.data(), n_tokens, s.proj.data(), pool_);
    if (laps.active()) laps.Lap(ForwardOp::kWo, lw.wo->bytes());
    ForRows(pool_, n_tokens, [&](int64_t t) {
      float* proj = s.proj.data() + t * d;
      if (hp.post_norms) kernels::RmsNorm(proj, lw.post_attn_norm.data(), d, hp.rms_norm_eps, proj);
      kernels::AddInPlace(s.x.data() + t * d, proj, d);
      kernels::RmsNorm(s.x.data() + t * d, lw.ffn_norm.data(), d, hp.rms_norm_eps, s.xn.data() + t * d);
    });
    laps.Lap(ForwardOp::kAttnResidual);

    // --- feed-forward block (SwiGLU or GeGLU; or a mixture of experts) ---
    if (lw.moe) {
      const MoeShape moe_shape{.n_embd = d, .n_ff_exp = hp.n_ff_exp, .n_ff_shexp = hp.n_ff_shexp,
                               .n_expert = hp.n_expert, .n_expert_used = hp.n_expert_used,
                               .norm_topk = hp.expert_norm_topk, .weights_scale = hp.expert_weights_scale,
                               .act = hp.ffn};
      const size_t moe_bytes =
          MoeFfn(*lw.moe, moe_shape, s.xn.data(), n_tokens, s.proj.data(), &s.moe, pool_, moe_schedule_);
      if (laps.active()) laps.Lap(ForwardOp::kMoeFfn, moe_bytes);
      ForRows(pool_, n_tokens, [&](int64_t t) { kernels::AddInPlace(s.x.data() + t * d, s.proj.data() + t * d, d); });
      laps.Lap(ForwardOp::kFfnResidual);
      continue;
    }
    // out (ff,) = act(gate) * up; out may alias gate.
    auto gated = [&](const float* gate, const float* up, float* out) {
      if (hp.ffn == FfnActivation::kSilu) return kernels::SiluMul(gate, up, ff, out);
      if (out != gate) std::memcpy(out, gate, static_cast<size_t>(ff) * sizeof(float));
      kernels::GeluWithIsa(kernels::ActiveIsa(), out, ff);
      for (int64_t i = 0; i < ff; ++i) out[i] *= up[i];
    };
    if (lw.w_gate_up) {
      if (s.gate_up.size() < T * 2 * ff) s.gate_up.resize(T * 2 * ff);
      kernels::MatMul(*lw.w_gate_up, s.xn.data(), n_tokens, s.gate_up.data(), pool_);
      if (laps.active()) laps.Lap(ForwardOp::kGateUp, lw.w_gate_up->bytes());
      ForRows(pool_, n_tokens, [&](int64_t t) {
        const float* row = s.gate_up.data() + t * 2 * ff;
        gated(row, row + ff, s.gate.data() + t * ff);
      });
    } else {
      if (s.up.size() < T * ff) s.up.resize(T * ff);
      kernels::MatMul(*lw.w_gate, s.xn.data(), n_tokens, s.gate.data(), pool_);
      kernels::MatMul(*lw.w_up, s.xn.data(), n_tokens, s.up.data(), pool_);
      if (laps.active()) laps.Lap(ForwardOp::kGateUp, lw.w_gate->bytes() + lw.w_up->bytes());
      ForRows(pool_, n_tokens, [&](int64_t t) {
        gated(s.gate.data() + t * ff, s.up.data() + t * ff, s.gate.data() + t * ff);
      });
    }
    laps.Lap(ForwardOp::kActivation);
    kernels::MatMul(*lw.w_down, s.gate.data(), n_tokens, s.proj.data(), pool_);
    if (laps.active()) laps.Lap(ForwardOp::kDown, lw.w_down->bytes());
    ForRows(pool_, n_tokens, [&](int64_t t) {
      float* proj = s.proj.data() + t * d;
      if (hp.post_norms) kernels::RmsNorm(proj, lw.post_ffn_norm.data(), d, hp.rms_norm_eps, proj);
      kernels::AddInPlace(s.x.data() + t * d, proj, d);
    });
    laps.Lap(ForwardOp::kFfnResidual);
  }
  if (!with_head) {
    logits->n_rows = logits->n_hidden_rows = 0;
    logits->data.clear();
    logits->hidden.clear();
    return Status::Ok();
  }

  // hidden (n_hidden, d) = rmsnorm(x[rows])
  logits->n_embd = d;
  logits->n_hidden_rows = static_cast<int64_t>(s.hidden_rows.size());
  logits->hidden.resize(static_cast<size_t>(logits->n_hidden_rows * d));
  ForRows(pool_, logits->n_hidden_rows, [&](int64_t r) {
    kernels::RmsNorm(s.x.data() + s.hidden_rows[static_cast<size_t>(r)] * d, w.output_norm.data(), d,
                     hp.rms_norm_eps, logits->hidden.data() + r * d);
  });

  // logits (n_out, n_vocab) = rmsnorm(x[rows]) @ output^T
  const auto n_out = static_cast<int64_t>(s.out_rows.size());
  logits->n_rows = n_out;
  logits->n_vocab = hp.n_vocab;
  logits->data.resize(static_cast<size_t>(n_out * hp.n_vocab));
  if (n_out == 0) {
    laps.Lap(ForwardOp::kOutputNorm);
    return Status::Ok();
  }
  s.head_in.resize(static_cast<size_t>(n_out * d));
  ForRows(pool_, n_out, [&](int64_t r) {
    kernels::RmsNorm(s.x.data() + s.out_rows[static_cast<size_t>(r)] * d, w.output_norm.data(), d,
                     hp.rms_norm_eps, s.head_in.data() + r * d);
  });
  laps.Lap(ForwardOp::kOutputNorm);
  kernels::MatMul(*w.output, s.head_in.data(), n_out, logits->data.data(), pool_);
  if (hp.final_softcap > 0) {
    const float cap = hp.final_softcap;
    ForRows(pool_, n_out, [&](int64_t r) {
      float* row = logits->data.data() + r * hp.n_vocab;
      for (int64_t i = 0; i < hp.n_vocab; ++i) row[i] = cap * std::tanh(row[i] / cap);
    });
  }
  if (laps.active()) laps.Lap(ForwardOp::kHead, w.output->bytes());
  return Status::Ok();
}

}  // namespace chunkserve::model
