#include "model/shared_prefix.h"

#include <algorithm>
#include <map>

#include "base/logging.h"

namespace chunkserve::model {

std::vector<SharedPrefixGroup> FindSharedPrefixes(std::span<const DecodeAttention> queries) {
  // Candidates by their first block: only those can share a prefix.
  std::map<const void*, std::vector<size_t>> by_first_block;
  for (size_t i = 0; i < queries.size(); ++i) {
    const kernels::KvBlocksView& v = queries[i].view;
    if (!v.k_blocks.empty() && queries[i].kv_len >= kernels::kAttentionChunkKeys)
      by_first_block[v.k_blocks[0]].push_back(i);
  }
  std::vector<SharedPrefixGroup> groups;
  for (const auto& [block, members] : by_first_block) {
    if (members.size() < 2) continue;
    // Whole chunks of blocks every member has in common, within every kv_len.
    const kernels::KvBlocksView& first = queries[members[0]].view;
    size_t common = first.k_blocks.size();
    int64_t min_len = INT64_MAX;
    for (size_t m : members) {
      const kernels::KvBlocksView& v = queries[m].view;
      size_t n = 0;
      while (n < common && n < v.k_blocks.size() && v.k_blocks[n] == first.k_blocks[n] &&
             v.v_blocks[n] == first.v_blocks[n])
        ++n;
      common = n;
      min_len = std::min<int64_t>(min_len, queries[m].kv_len);
    }
    const int64_t shared = std::min<int64_t>(static_cast<int64_t>(common) * first.block_tokens, min_len) /
                           kernels::kAttentionChunkKeys * kernels::kAttentionChunkKeys;
    if (shared > 0) groups.push_back({members, shared});
  }
  return groups;
}

std::vector<size_t> AttendSharedPrefixGroups(std::span<const SharedPrefixGroup> groups,
                                             std::span<const DecodeAttention> queries,
                                             const kernels::AttentionShape& shape, ThreadPool* pool) {
  CHECK(shape.window == 0);
  std::vector<size_t> done;
  std::vector<float> q, out;
  std::vector<int32_t> kv_len;
  std::vector<kernels::KvBlocksView> views;
  for (const SharedPrefixGroup& g : groups) {
    const std::vector<size_t>& members = g.members;
    const int64_t q_row = int64_t{shape.n_heads} * shape.head_dim;
    q.resize(members.size() * static_cast<size_t>(q_row));
    out.resize(q.size());
    kv_len.clear();
    views.clear();
    for (size_t j = 0; j < members.size(); ++j) {
      CHECK(members[j] < queries.size());
      const DecodeAttention& d = queries[members[j]];
      std::copy_n(d.q, q_row, q.data() + j * static_cast<size_t>(q_row));
      kv_len.push_back(d.kv_len);
      views.push_back(d.view);
    }
    kernels::AttentionSharedPrefix(q.data(), static_cast<int64_t>(members.size()), kv_len.data(), views,
                                   g.shared_keys, shape, out.data(), pool);
    for (size_t j = 0; j < members.size(); ++j)
      std::copy_n(out.data() + j * static_cast<size_t>(q_row), q_row, queries[members[j]].out);
    done.insert(done.end(), members.begin(), members.end());
  }
  std::sort(done.begin(), done.end());
  return done;
}

std::vector<size_t> AttendSharedPrefixes(std::span<const DecodeAttention> queries,
                                         const kernels::AttentionShape& shape, ThreadPool* pool) {
  CHECK(shape.window == 0);
  return AttendSharedPrefixGroups(FindSharedPrefixes(queries), queries, shape, pool);
}

}  // namespace chunkserve::model
