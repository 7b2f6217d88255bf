#include "model/page_selection.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "base/logging.h"
#include "tensor/kv_row.h"

namespace chunkserve::model {
namespace {

int64_t RowFloats(const kernels::KvBlocksView& view, const kernels::AttentionShape& shape) {
  return view.row_floats > 0 ? view.row_floats : int64_t{shape.n_kv_heads} * shape.head_dim;
}

const void* Advance(const void* p, int64_t bytes) { return static_cast<const uint8_t*>(p) + bytes; }

}  // namespace

PageSelection::PageSelection(int64_t budget_tokens, int64_t block_tokens, int n_layers, const HeadRoles* roles)
    : budget_tokens_(budget_tokens),
      page_blocks_(std::clamp<int64_t>(budget_tokens / (8 * block_tokens), 1, 4)),
      roles_(roles),
      bounds_(static_cast<size_t>(n_layers)) {
  CHECK(block_tokens > 0 && budget_tokens > 0);
}

const float* PageSelection::Bounds(int layer, int64_t n_pages, const kernels::KvBlocksView& view,
                                   const kernels::AttentionShape& shape) {
  const int64_t rf = RowFloats(view, shape);
  const int64_t bt = view.block_tokens;
  const size_t row_bytes = KvRowBytes(view.type, rf);
  std::vector<float>& bounds = bounds_[static_cast<size_t>(layer)];
  std::vector<float> row(static_cast<size_t>(rf));
  for (int64_t page = static_cast<int64_t>(bounds.size()) / (2 * rf); page < n_pages; ++page) {
    bounds.resize(static_cast<size_t>((page + 1) * 2 * rf));
    float* lo = bounds.data() + page * 2 * rf;
    float* hi = lo + rf;
    std::fill(lo, lo + rf, std::numeric_limits<float>::infinity());
    std::fill(hi, hi + rf, -std::numeric_limits<float>::infinity());
    for (int64_t slot = page * page_blocks_ * bt; slot < (page + 1) * page_blocks_ * bt; ++slot) {
      kernels::LoadKvRow(Advance(view.k_blocks[static_cast<size_t>(slot / bt)], (slot % bt) * row_bytes), rf,
                         view.type, row.data());
      for (int64_t d = 0; d < rf; ++d) {
        lo[d] = std::min(lo[d], row[d]);
        hi[d] = std::max(hi[d], row[d]);
      }
    }
  }
  return bounds.data();
}

std::vector<int64_t> PageSelection::SelectBlocks(int layer, int kv_head, const float* q, int64_t n_blocks,
                                                 const kernels::KvBlocksView& view,
                                                 const kernels::AttentionShape& shape) {
  std::vector<int64_t> blocks;
  if (roles_ != nullptr) {
    // Headwise: everything for a retrieval head; for a streaming head the
    // first block and the recent ones, budget_tokens in all.
    const int64_t recent = std::max<int64_t>(1, budget_tokens_ / view.block_tokens - 1);
    if (roles_->is_retrieval(layer, kv_head) || n_blocks <= recent + 1) {
      blocks.resize(static_cast<size_t>(n_blocks));
      std::iota(blocks.begin(), blocks.end(), 0);
      return blocks;
    }
    blocks.push_back(0);
    for (int64_t b = n_blocks - recent; b < n_blocks; ++b) blocks.push_back(b);
    return blocks;
  }
  const int64_t page_tokens = page_blocks_ * view.block_tokens;
  const int64_t n_pages = (n_blocks + page_blocks_ - 1) / page_blocks_;
  // Pages wholly below the current token's block: summarized, never written again.
  const int64_t n_complete = (n_blocks - 1) / page_blocks_;
  const int64_t budget_pages = std::max<int64_t>(3, budget_tokens_ / page_tokens);
  if (n_pages <= budget_pages || n_complete < 3) {
    blocks.resize(static_cast<size_t>(n_blocks));
    std::iota(blocks.begin(), blocks.end(), 0);
    return blocks;
  }
  // Always: page 0 (sinks) and pages [n_complete - 1, n_pages) (recent).
  const int64_t first_recent = n_complete - 1;
  const int64_t n_pick = budget_pages - 1 - (n_pages - first_recent);
  std::vector<int64_t> pages = {0};
  if (n_pick > 0) {
    const float* bounds = Bounds(layer, n_complete, view, shape);
    const int64_t rf = RowFloats(view, shape);
    const int hd = shape.head_dim;
    const int group = shape.n_heads / shape.n_kv_heads;
    std::vector<std::pair<float, int64_t>> ranked;
    for (int64_t page = 1; page < first_recent; ++page) {
      const float* lo = bounds + page * 2 * rf + int64_t{kv_head} * hd;
      const float* hi = lo + rf;
      float best = -std::numeric_limits<float>::infinity();
      for (int g = 0; g < group; ++g) {
        const float* qg = q + (int64_t{kv_head} * group + g) * hd;
        float bound = 0;
        for (int d = 0; d < hd; ++d) bound += std::max(qg[d] * lo[d], qg[d] * hi[d]);
        best = std::max(best, bound);
      }
      ranked.emplace_back(-best, page);  // ascending: highest bound, then lower page
    }
    const auto n = static_cast<size_t>(std::min<int64_t>(n_pick, static_cast<int64_t>(ranked.size())));
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end());
    for (size_t i = 0; i < n; ++i) pages.push_back(ranked[i].second);
    std::sort(pages.begin() + 1, pages.end());
  }
  for (int64_t page = first_recent; page < n_pages; ++page) pages.push_back(page);
  for (int64_t page : pages)
    for (int64_t b = page * page_blocks_; b < std::min(n_blocks, (page + 1) * page_blocks_); ++b) blocks.push_back(b);
  return blocks;
}

void PageSelection::Attend(int layer, const float* q, int64_t kv_len, const kernels::KvBlocksView& view,
                           const kernels::AttentionShape& shape, float* out, ThreadPool* pool) {
  CHECK(shape.window == 0);
  const int64_t bt = view.block_tokens;
  const int64_t n_blocks = (kv_len + bt - 1) / bt;
  const int n_kv = shape.n_kv_heads;
  const int hd = shape.head_dim;
  const int group = shape.n_heads / n_kv;
  // Summaries first (they grow here), then the selections read them.
  std::vector<std::vector<int64_t>> selected(static_cast<size_t>(n_kv));
  bool all = true;
  for (int h = 0; h < n_kv; ++h) {
    selected[static_cast<size_t>(h)] = SelectBlocks(layer, h, q, n_blocks, view, shape);
    all = all && static_cast<int64_t>(selected[static_cast<size_t>(h)].size()) == n_blocks;
  }
  tokens_cached_ += kv_len * n_kv;
  const int32_t len = static_cast<int32_t>(kv_len);
  if (all) {
    tokens_read_ += kv_len * n_kv;
    kernels::Attention(q, 1, &len, view, shape, out, pool);
    return;
  }
  // One call per KV head over a view of its blocks; the current block is
  // always the last one selected, so the view's length ends where kv_len does.
  const int64_t rf = RowFloats(view, shape);
  const auto head_bytes = static_cast<int64_t>(KvRowBytes(view.type, hd));
  const kernels::AttentionShape head_shape{.n_heads = group,
                                           .n_kv_heads = 1,
                                           .head_dim = hd,
                                           .scale = shape.scale,
                                           .precision = shape.precision,
                                           .softcap = shape.softcap};
  auto attend_head = [&](int64_t h, ThreadPool* inner) {
    const std::vector<int64_t>& blocks = selected[static_cast<size_t>(h)];
    std::vector<const void*> k(blocks.size()), v(blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
      k[i] = Advance(view.k_blocks[static_cast<size_t>(blocks[i])], h * head_bytes);
      v[i] = Advance(view.v_blocks[static_cast<size_t>(blocks[i])], h * head_bytes);
    }
    const kernels::KvBlocksView head_view{k, v, bt, view.type, rf};
    const auto head_len = static_cast<int32_t>(static_cast<int64_t>(blocks.size() - 1) * bt + (kv_len - (n_blocks - 1) * bt));
    kernels::Attention(q + h * group * hd, 1, &head_len, head_view, head_shape, out + h * group * hd, inner);
  };
  // Heads on threads of their own when there are enough of them, else each
  // head's chunks spread over the threads (split-K).
  if (pool && n_kv >= pool->size()) {
    pool->ParallelFor(n_kv, [&](int64_t h, int) { attend_head(h, nullptr); });
  } else {
    for (int h = 0; h < n_kv; ++h) attend_head(h, pool);
  }
  for (const auto& blocks : selected) tokens_read_ += std::min<int64_t>(kv_len, static_cast<int64_t>(blocks.size()) * bt);
}

}  // namespace chunkserve::model
