// Retriever: query -> the chunks to put in the prompt.
//
//   bm25     the store's FTS5 BM25 ranking
//   dense    the collection's DenseIndex (query embedded by the collection's
//            embedder; its id must match the one recorded)
//   hybrid   both lists (candidate_k each) fused by weighted reciprocal rank
// then, in every mode: overlapping chunks of one document are reduced to the
// best-ranked one and near-duplicate passages (copies under other paths,
// near_duplicates.h) are merged into it, their paths in SearchHit::also_in
// (dedupe), and SelectByScoreDrop picks how many to keep
// under the token budget (select; otherwise the top k), or
// SelectCombination the set of the best value (select, kCombination). Hybrid selection
// judges drops on relative score fusion (each list's score / its best,
// weighted), since RRF scores step coarsely.
//
// A path filter (documents whose path starts with path_prefix) applies to
// both retrievers: inside the dense index's traversal, and as a post-filter
// on a deeper BM25 list.
//
// Thread safety: one Retriever per thread (it uses the Store's connection).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/retrieve/dense_index.h"
#include "rag/retrieve/fusion.h"
#include "rag/store/store.h"

namespace chunkserve::rag {

enum class RetrievalMode { kBm25, kDense, kHybrid };
std::string_view RetrievalModeName(RetrievalMode mode);
StatusOr<RetrievalMode> ParseRetrievalMode(std::string_view name);

struct RetrieveParams {
  RetrievalMode mode = RetrievalMode::kHybrid;
  int k = 10;                   // results at most
  int candidate_k = 50;         // per retriever before fusion
  double rrf_k = 60.0;
  double bm25_weight = 1.0;
  // 0.5: measured best of {1, 0.5, 0.25} for R@10 with the static GloVe
  // embedder on the SOTU set while keeping dense's weight in play (see
  // bench/retrieval/README.md); a neural embedder deserves 1.
  double dense_weight = 0.5;
  int ef = 0;                   // HNSW beam (0: index default)
  bool dedupe = true;
  bool select = false;          // SAGE selection instead of a fixed k
  SelectionParams selection;    // max_chunks is clamped to k
  // With select: kScoreDrop walks the ranking (SelectByScoreDrop);
  // kCombination picks the set by its value (combination_select.h, CORAG's
  // idea) under the same budget and max_chunks.
  enum class Selection { kScoreDrop, kCombination };
  Selection selection_kind = Selection::kScoreDrop;
  std::string path_prefix;      // empty: every document
  // Passed to the embedder for the query (dense / hybrid): a caller that
  // left, or a deadline, stops a query still waiting for the embedder.
  EmbedControl embed_control;
};

struct RetrievedChunk {
  SearchHit hit;                // path + chunk; hit.score = the final score
  int bm25_rank = 0;            // 1-based, 0 when not in that list
  int dense_rank = 0;
  double bm25_score = 0;
  double dense_similarity = 0;  // cosine
};

class Retriever {
 public:
  // embedder/dense may be null (then only bm25 works). REQUIRES: all
  // pointers outlive the Retriever.
  Retriever(Store* store, int64_t collection_id, const Embedder* embedder, const DenseIndex* dense)
      : store_(store), collection_id_(collection_id), embedder_(embedder), dense_(dense) {}

  StatusOr<std::vector<RetrievedChunk>> Retrieve(std::string_view query, const RetrieveParams& params);

 private:
  Store* store_;
  int64_t collection_id_;
  const Embedder* embedder_;
  const DenseIndex* dense_;
};

}  // namespace chunkserve::rag
