// Retrieval quality of one ranked chunk list against graded judgements, at
// two levels:
//
//   documents  the distinct documents in the order their first chunk ranks,
//              scored against the qrels (TREC): nDCG@k with linear gains
//              (trec_eval's), recall@k of the documents judged relevant
//              (grade > 0), reciprocal rank of the first one
//   passages   when the set has gold evidence spans (trec_files.h): a chunk
//              is relevant when its byte range overlaps a span; each span
//              counts once (the first chunk that reaches it gets its grade as
//              gain, later chunks on the same span nothing), so nDCG@k,
//              recall@k (spans reached) and reciprocal rank measure finding
//              the passage, not the speech
//   iou        |cited ∩ gold| / |cited ∪ gold| in bytes, per document and
//              summed: how tightly the chunks one would cite cover the
//              evidence (1 = exactly the gold spans)
//
// Means over queries skip nothing: a query with no relevant document
// scores 0 everywhere (callers drop such queries beforehand if they wish).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "rag/retrieve/trec_files.h"

namespace chunkserve::rag {

struct RankedChunk {
  std::string docid;
  int64_t begin = 0, end = 0;  // source bytes, end exclusive
};

struct Judgements {
  std::map<std::string, int> doc_grades;  // docid -> grade (0 = judged not relevant)
  std::vector<EvidenceSpan> spans;        // empty: no passage-level scores
};

struct MetricCutoffs {
  int ndcg_k = 10;
  std::vector<int> recall_k = {5, 10, 20};
  int cite_k = 3;  // the first cite_k chunks are the cited ranges for iou
};

struct QueryScores {
  double ndcg = 0, rr = 0;
  std::vector<double> recall;  // per MetricCutoffs::recall_k
  bool has_passages = false;
  double passage_ndcg = 0, passage_rr = 0, iou = 0;
  std::vector<double> passage_recall;
};

// nDCG@k of `gains` (in rank order) against the ideal order of `judged`
// (every judged grade); 0 when no judged grade is positive.
double NdcgAtK(const std::vector<int>& gains, std::vector<int> judged, int k);

// Bytes in the union of [begin, end) ranges of one document.
struct ByteRange {
  int64_t begin = 0, end = 0;
};
int64_t UnionBytes(std::vector<ByteRange> ranges);
// Intersection-over-union in bytes of two sets of ranges, per document
// (keys) and summed; 0 when both are empty.
double RangeIoU(const std::map<std::string, std::vector<ByteRange>>& a,
                const std::map<std::string, std::vector<ByteRange>>& b);

QueryScores ScoreQuery(const std::vector<RankedChunk>& ranked, const Judgements& judged, const MetricCutoffs& cut);

}  // namespace chunkserve::rag
