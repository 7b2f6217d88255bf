// Query-aware page selection at decode (Quest; TokenSelect and LServe select
// the same way): nothing is evicted, but each decode token reads, per layer
// and KV head, only the pages of its cache whose keys can score highest
// against its query.
//
// A page is 1 to 4 consecutive cache blocks, as many as leave room for at
// least 8 pages in the budget. Its summary is the
// per-channel min and max of its keys (after RoPE), so for a query q the
// bound sum_d max(q_d min_d, q_d max_d) is at least q . k for every key k of
// the page. A KV head ranks its pages by the largest bound over the query
// heads that share it and reads the first page (attention sinks), the last
// two (the recent window and the token being written) and the best of the
// rest, in slot order, up to budget_tokens in all.
//
// Summaries are computed on first use from the cache rows and kept for the
// sequence's life: a page is summarized only once it lies wholly below the
// current token's block, so its keys never change afterwards (no other KV
// policy compacts or re-rotates a sequence under page selection, and a
// preempted sequence starts over with a fresh PageSelection).
//
// Headwise (RazorAttention, DuoAttention), the same machinery with roles
// instead of bounds: with HeadRoles (model/head_roles.h), a retrieval head
// reads every block and a streaming head the first block (the sinks) and the
// most recent blocks, budget_tokens in all.
//
// With a budget that covers the whole cache every page is read, and the
// output equals plain attention bit for bit (kernels' split-K chunks are
// fixed key ranges, and the selected view is then the full one).
//
// Thread safety: one PageSelection per sequence; AttendSelectedPages is
// called from the forward pass's thread only (it parallelizes inside).
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/attention.h"
#include "model/head_roles.h"

namespace chunkserve::model {

class PageSelection {
 public:
  // roles: null for page selection, else headwise with these roles
  // (borrowed; must outlive this). REQUIRES: block_tokens > 0 (the
  // cache's), budget_tokens > 0.
  PageSelection(int64_t budget_tokens, int64_t block_tokens, int n_layers, const HeadRoles* roles = nullptr);

  int64_t budget_tokens() const { return budget_tokens_; }
  int64_t page_blocks() const { return page_blocks_; }
  // Keys read and keys cached, summed over every selection so far (layers
  // and KV heads each count).
  int64_t tokens_read() const { return tokens_read_; }
  int64_t tokens_cached() const { return tokens_cached_; }

  // out (n_heads, head_dim) = attention of one query q (n_heads, head_dim)
  // over slots [0, kv_len) of `view`, each KV head reading only its selected
  // pages. REQUIRES: shape.window == 0.
  void Attend(int layer, const float* q, int64_t kv_len, const kernels::KvBlocksView& view,
              const kernels::AttentionShape& shape, float* out, ThreadPool* pool);

  // The blocks KV head `kv_head` reads for query q, ascending; exposed for
  // tests. n_blocks = ceil(kv_len / block_tokens).
  std::vector<int64_t> SelectBlocks(int layer, int kv_head, const float* q, int64_t n_blocks,
                                    const kernels::KvBlocksView& view, const kernels::AttentionShape& shape);

 private:
  // Summaries of layer `layer` for pages [0, n_pages): (page, {min, max},
  // n_kv_heads * head_dim), extended from the cache rows as pages complete.
  const float* Bounds(int layer, int64_t n_pages, const kernels::KvBlocksView& view,
                      const kernels::AttentionShape& shape);

  int64_t budget_tokens_;
  int64_t page_blocks_;
  const HeadRoles* roles_;
  std::vector<std::vector<float>> bounds_;  // per layer
  int64_t tokens_read_ = 0;
  int64_t tokens_cached_ = 0;
};

}  // namespace chunkserve::model
