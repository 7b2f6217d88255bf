#include "kv/prefix_cache.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <utility>

#include "base/hash.h"
#include "base/logging.h"

namespace chunkserve::kv {

PrefixCache::PrefixCache(BlockPool* pool, int64_t max_blocks)
    : pool_(pool), block_tokens_(pool->block_tokens()), max_blocks_(max_blocks) {
  CHECK(max_blocks >= 0);
}

PrefixCache::~PrefixCache() {
  for (const Node& n : nodes_)
    if (n.block >= 0) pool_->Release(n.block);
}

PrefixCache::NodeId PrefixCache::Root(uint64_t ns) {
  auto it = roots_.find(ns);
  if (it != roots_.end()) return it->second;
  NodeId id;
  if (!free_nodes_.empty()) {
    id = free_nodes_.back();
    free_nodes_.pop_back();
    nodes_[static_cast<size_t>(id)] = Node{};
  } else {
    id = static_cast<NodeId>(nodes_.size());
    nodes_.emplace_back();
  }
  nodes_[static_cast<size_t>(id)].hash = ns;
  roots_.emplace(ns, id);
  return id;
}

PrefixCache::NodeId PrefixCache::FindChild(NodeId parent, uint64_t hash,
                                           std::span<const int32_t> tokens) const {
  const Node& p = nodes_[static_cast<size_t>(parent)];
  auto it = p.children.find(hash);
  if (it == p.children.end()) return -1;
  const Node& c = nodes_[static_cast<size_t>(it->second)];
  // Never trust the hash alone.
  if (!std::equal(c.tokens.begin(), c.tokens.end(), tokens.begin(), tokens.end())) return -1;
  return it->second;
}

PrefixMatch PrefixCache::Lookup(uint64_t ns, std::span<const int32_t> tokens) {
  ++stats_.n_lookups;
  ++tick_;
  PrefixMatch match;
  auto root_it = roots_.find(ns);
  if (root_it == roots_.end()) return match;
  NodeId node = root_it->second;
  const int64_t n_full = static_cast<int64_t>(tokens.size()) / block_tokens_;
  for (int64_t i = 0; i < n_full; ++i) {
    const auto block_tokens = tokens.subspan(static_cast<size_t>(i * block_tokens_),
                                             static_cast<size_t>(block_tokens_));
    const uint64_t h = HashCombine(nodes_[static_cast<size_t>(node)].hash, Hash64Span(block_tokens));
    const NodeId child = FindChild(node, h, block_tokens);
    if (child < 0) break;
    Node& c = nodes_[static_cast<size_t>(child)];
    c.last_use = tick_;
    pool_->AddRef(c.block);
    match.blocks.push_back(c.block);
    node = child;
  }
  match.n_tokens = static_cast<int64_t>(match.blocks.size()) * block_tokens_;
  stats_.n_hit_tokens += match.n_tokens;
  return match;
}

int64_t PrefixCache::Insert(uint64_t ns, std::span<const int32_t> tokens, std::span<const BlockId> blocks) {
  ++tick_;
  const int64_t n_full = static_cast<int64_t>(tokens.size()) / block_tokens_;
  CHECK(static_cast<int64_t>(blocks.size()) >= n_full);
  NodeId node = Root(ns);
  int64_t n_new = 0;
  for (int64_t i = 0; i < n_full; ++i) {
    const auto block_tokens = tokens.subspan(static_cast<size_t>(i * block_tokens_),
                                             static_cast<size_t>(block_tokens_));
    const uint64_t h = HashCombine(nodes_[static_cast<size_t>(node)].hash, Hash64Span(block_tokens));
    NodeId child = FindChild(node, h, block_tokens);
    if (child < 0) {
      // A colliding hash with other tokens: keep the old node, stop here
      // rather than build a path the lookup could not follow.
      if (nodes_[static_cast<size_t>(node)].children.count(h)) break;
      if (!free_nodes_.empty()) {
        child = free_nodes_.back();
        free_nodes_.pop_back();
        nodes_[static_cast<size_t>(child)] = Node{};
      } else {
        child = static_cast<NodeId>(nodes_.size());
        nodes_.emplace_back();
      }
      Node& c = nodes_[static_cast<size_t>(child)];
      c.hash = h;
      c.parent = node;
      c.block = blocks[static_cast<size_t>(i)];
      c.tokens.assign(block_tokens.begin(), block_tokens.end());
      pool_->AddRef(c.block);
      nodes_[static_cast<size_t>(node)].children.emplace(h, child);
      ++n_new;
      ++stats_.n_cached_blocks;
      ++stats_.n_inserted_blocks;
    }
    nodes_[static_cast<size_t>(child)].last_use = tick_;
    node = child;
  }
  if (stats_.n_cached_blocks > max_blocks_) Evict(stats_.n_cached_blocks - max_blocks_);
  return n_new;
}

bool PrefixCache::Evictable(NodeId id) const {
  const Node& n = nodes_[static_cast<size_t>(id)];
  return n.block >= 0 && n.children.empty() && pool_->ref_count(n.block) == 1;
}

void PrefixCache::RemoveLeaf(NodeId id) {
  Node& n = nodes_[static_cast<size_t>(id)];
  Node& parent = nodes_[static_cast<size_t>(n.parent)];
  parent.children.erase(n.hash);
  pool_->Release(n.block);
  n = Node{};
  free_nodes_.push_back(id);
  --stats_.n_cached_blocks;
  ++stats_.n_evicted_blocks;
}

int64_t PrefixCache::Evict(int64_t n_blocks) {
  if (n_blocks <= 0) return 0;
  // Min-heap of evictable leaves by last use (then id, for determinism).
  using Item = std::pair<uint64_t, NodeId>;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto id = static_cast<NodeId>(i);
    if (Evictable(id)) heap.emplace(nodes_[i].last_use, id);
  }
  int64_t n_evicted = 0;
  while (n_evicted < n_blocks && !heap.empty()) {
    const NodeId id = heap.top().second;
    heap.pop();
    const NodeId parent = nodes_[static_cast<size_t>(id)].parent;
    RemoveLeaf(id);
    ++n_evicted;
    if (Evictable(parent)) heap.emplace(nodes_[static_cast<size_t>(parent)].last_use, parent);
  }
  return n_evicted;
}

void PrefixCache::set_max_blocks(int64_t max_blocks) {
  CHECK(max_blocks >= 0);
  max_blocks_ = max_blocks;
  if (stats_.n_cached_blocks > max_blocks_) Evict(stats_.n_cached_blocks - max_blocks_);
}

}  // namespace chunkserve::kv
