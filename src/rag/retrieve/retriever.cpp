#include "rag/retrieve/retriever.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "rag/embed/situated_text.h"
#include "rag/retrieve/combination_select.h"
#include "rag/retrieve/near_duplicates.h"
#include "rag/store/embedding_store.h"

namespace chunkserve::rag {

std::string_view RetrievalModeName(RetrievalMode mode) {
  switch (mode) {
    case RetrievalMode::kBm25: return "bm25";
    case RetrievalMode::kDense: return "dense";
    case RetrievalMode::kHybrid: return "hybrid";
  }
  return "?";
}

StatusOr<RetrievalMode> ParseRetrievalMode(std::string_view name) {
  if (name == "bm25") return RetrievalMode::kBm25;
  if (name == "dense") return RetrievalMode::kDense;
  if (name == "hybrid") return RetrievalMode::kHybrid;
  return InvalidArgumentError("unknown retrieval mode '" + std::string(name) + "' (bm25, dense or hybrid)");
}

namespace {

// Chunk ids of the collection's documents under a path prefix.
StatusOr<std::unordered_set<int64_t>> ChunkIdsUnder(Store* store, int64_t collection_id, const std::string& prefix) {
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, store->ChunkIdsUnder(collection_id, prefix));
  return std::unordered_set<int64_t>(ids.begin(), ids.end());
}

}  // namespace

StatusOr<std::vector<RetrievedChunk>> Retriever::Retrieve(std::string_view query, const RetrieveParams& params) {
  if (params.k <= 0) return std::vector<RetrievedChunk>();
  const bool want_bm25 = params.mode != RetrievalMode::kDense;
  const bool want_dense = params.mode != RetrievalMode::kBm25;
  if (want_dense && (!embedder_ || !dense_))
    return FailedPreconditionError("dense retrieval needs the collection's embedding model (--embed-model)");
  if (want_dense && embedder_->id() != QueryEmbedderId(dense_->embedder().embedder_id))
    return FailedPreconditionError("the collection was embedded with '" + dense_->embedder().embedder_id +
                                   "', but the query embedder is '" + embedder_->id() + "'");
  const int depth = std::max(params.k, params.mode == RetrievalMode::kHybrid ? params.candidate_k : params.k) +
                    (params.dedupe ? params.k : 0);

  std::optional<std::unordered_set<int64_t>> allowed;
  if (!params.path_prefix.empty()) {
    ASSIGN_OR_RETURN(auto ids, ChunkIdsUnder(store_, collection_id_, params.path_prefix));
    allowed = std::move(ids);
  }

  std::unordered_map<int64_t, SearchHit> hits;
  std::vector<RankedId> bm25_list, dense_list;
  if (want_bm25) {
    // The filter is applied after ranking: ask deeper when filtering.
    const int bm25_depth = allowed ? depth * 8 : depth;
    ASSIGN_OR_RETURN(auto found, store_->Search(collection_id_, query, bm25_depth));
    for (SearchHit& h : found) {
      if (allowed && !allowed->count(h.chunk.id)) continue;
      if (static_cast<int>(bm25_list.size()) >= depth) break;
      bm25_list.push_back({h.chunk.id, h.score});
      hits.emplace(h.chunk.id, std::move(h));
    }
  }
  if (want_dense) {
    std::vector<float> q(static_cast<size_t>(embedder_->dim()));
    RETURN_IF_ERROR(embedder_->EmbedQuery(query, q, params.embed_control));
    SearchOptions opt;
    opt.k = depth;
    opt.ef = params.ef;
    if (allowed) opt.filter = [&allowed](int64_t id) { return allowed->count(id) != 0; };
    ASSIGN_OR_RETURN(auto neighbors, dense_->Search(q, opt));
    std::vector<int64_t> missing;
    for (const Neighbor& nb : neighbors) {
      dense_list.push_back({nb.id, static_cast<double>(Similarity(Metric::kCosine, nb.distance))});
      if (!hits.count(nb.id)) missing.push_back(nb.id);
    }
    EmbeddingStore es(store_);
    ASSIGN_OR_RETURN(auto fetched, es.GetChunksById(missing));
    for (SearchHit& h : fetched) hits.emplace(h.chunk.id, std::move(h));
    // A chunk deleted since the index was built has no row: drop it.
    dense_list.erase(std::remove_if(dense_list.begin(), dense_list.end(),
                                    [&](const RankedId& r) { return !hits.count(r.id); }),
                     dense_list.end());
  }

  // One ranking: the single list's scores, or fused.
  std::vector<RetrievedChunk> ranked;
  auto add = [&](int64_t id, double score) {
    RetrievedChunk rc;
    rc.hit = hits.at(id);
    rc.hit.score = score;
    ranked.push_back(std::move(rc));
  };
  if (params.mode == RetrievalMode::kBm25) {
    for (const RankedId& r : bm25_list) add(r.id, r.score);
  } else if (params.mode == RetrievalMode::kDense) {
    for (const RankedId& r : dense_list) add(r.id, r.score);
  } else {
    for (const FusedId& f : FuseReciprocalRank({bm25_list, dense_list}, {params.bm25_weight, params.dense_weight},
                                               params.rrf_k))
      add(f.id, f.score);
  }
  std::unordered_map<int64_t, std::pair<int, double>> bm25_at, dense_at;
  for (size_t i = 0; i < bm25_list.size(); ++i) bm25_at[bm25_list[i].id] = {static_cast<int>(i) + 1, bm25_list[i].score};
  for (size_t i = 0; i < dense_list.size(); ++i) dense_at[dense_list[i].id] = {static_cast<int>(i) + 1, dense_list[i].score};
  for (RetrievedChunk& rc : ranked) {
    if (auto it = bm25_at.find(rc.hit.chunk.id); it != bm25_at.end()) std::tie(rc.bm25_rank, rc.bm25_score) = it->second;
    if (auto it = dense_at.find(rc.hit.chunk.id); it != dense_at.end())
      std::tie(rc.dense_rank, rc.dense_similarity) = it->second;
  }

  if (params.dedupe) {
    std::vector<Span> spans;
    for (const RetrievedChunk& rc : ranked)
      spans.push_back({rc.hit.chunk.document_id, rc.hit.chunk.text_begin, rc.hit.chunk.text_end});
    std::vector<RetrievedChunk> kept;
    for (size_t i : DropOverlapping(spans)) kept.push_back(std::move(ranked[i]));
    // Copies of one text under other paths merge into the best-ranked one.
    std::vector<std::string_view> texts;
    std::vector<int64_t> documents;
    for (const RetrievedChunk& rc : kept) {
      texts.push_back(rc.hit.chunk.text);
      documents.push_back(rc.hit.chunk.document_id);
    }
    const NearDuplicateGroups groups = MergeNearDuplicates(texts, documents);
    ranked.clear();
    for (size_t g = 0; g < groups.kept.size(); ++g) {
      RetrievedChunk& rc = kept[groups.kept[g]];
      for (size_t m : groups.merged[g]) rc.hit.also_in.push_back(kept[m].hit.path);
      ranked.push_back(std::move(rc));
    }
  }
  size_t n_keep = std::min(ranked.size(), static_cast<size_t>(params.k));
  if (params.select) {
    SelectionParams sel = params.selection;
    sel.max_chunks = std::min(sel.max_chunks > 0 ? sel.max_chunks : params.k, params.k);
    std::vector<double> scores;
    std::vector<int64_t> tokens;
    // Reciprocal-rank scores move in coarse steps (in both lists or in one),
    // which the drop rule would take for cliffs. Hybrid selection therefore
    // looks at relative score fusion instead: each list's score divided by
    // its best, weighted as in the fusion; the order stays RRF's.
    double bm25_best = 0, dense_best = 0;
    for (const RetrievedChunk& rc : ranked) {
      bm25_best = std::max(bm25_best, rc.bm25_score);
      dense_best = std::max(dense_best, rc.dense_similarity);
    }
    for (const RetrievedChunk& rc : ranked) {
      double s = rc.hit.score;
      if (params.mode == RetrievalMode::kHybrid) {
        s = (bm25_best > 0 ? params.bm25_weight * rc.bm25_score / bm25_best : 0.0) +
            (dense_best > 0 ? params.dense_weight * std::max(0.0, rc.dense_similarity) / dense_best : 0.0);
      }
      scores.push_back(s);
      tokens.push_back(rc.hit.chunk.n_tokens);
    }
    if (params.selection_kind == RetrieveParams::Selection::kCombination) {
      CombinationParams comb;
      comb.token_budget = sel.token_budget;
      comb.max_chunks = sel.max_chunks;
      std::vector<std::string_view> texts;
      for (const RetrievedChunk& rc : ranked) texts.push_back(rc.hit.chunk.text);
      std::vector<RetrievedChunk> chosen;
      for (size_t i : SelectCombination(query, texts, scores, tokens, comb)) chosen.push_back(std::move(ranked[i]));
      return chosen;
    }
    n_keep = SelectByScoreDrop(scores, tokens, sel);
  }
  ranked.resize(n_keep);
  return ranked;
}

}  // namespace chunkserve::rag
