#include "rag/retrieve/retrieval_metrics.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

namespace chunkserve::rag {
namespace {

double Dcg(const std::vector<int>& gains, int k) {
  double dcg = 0;
  for (int i = 0; i < std::min<int>(k, static_cast<int>(gains.size())); ++i)
    if (gains[i] > 0) dcg += gains[i] / std::log2(i + 2.0);
  return dcg;
}

// Recall at each cutoff and the reciprocal rank of a 0/1 hit list against
// `n_relevant` relevant items; hits[i] counts the new relevant items rank
// i + 1 brings.
void RecallAndRank(const std::vector<int>& hits, int n_relevant, const std::vector<int>& cutoffs,
                   std::vector<double>* recall, double* rr) {
  recall->assign(cutoffs.size(), 0.0);
  *rr = 0;
  for (size_t i = 0; i < hits.size(); ++i)
    if (hits[i] > 0) {
      *rr = 1.0 / static_cast<double>(i + 1);
      break;
    }
  if (n_relevant == 0) return;
  for (size_t c = 0; c < cutoffs.size(); ++c) {
    int found = 0;
    for (int i = 0; i < std::min<int>(cutoffs[c], static_cast<int>(hits.size())); ++i) found += hits[i];
    (*recall)[c] = static_cast<double>(found) / n_relevant;
  }
}

bool Overlaps(const RankedChunk& c, const EvidenceSpan& s) {
  return c.docid == s.docid && c.begin < s.end && s.begin < c.end;
}

}  // namespace

double NdcgAtK(const std::vector<int>& gains, std::vector<int> judged, int k) {
  std::sort(judged.begin(), judged.end(), std::greater<>());
  const double ideal = Dcg(judged, k);
  return ideal > 0 ? Dcg(gains, k) / ideal : 0.0;
}

int64_t UnionBytes(std::vector<ByteRange> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  int64_t total = 0, end = INT64_MIN;
  for (const ByteRange& r : ranges) {
    const int64_t from = std::max(r.begin, end);
    if (r.end > from) total += r.end - from;
    end = std::max(end, r.end);
  }
  return total;
}

double RangeIoU(const std::map<std::string, std::vector<ByteRange>>& a,
                const std::map<std::string, std::vector<ByteRange>>& b) {
  std::set<std::string> docs;
  for (const auto& [d, _] : a) docs.insert(d);
  for (const auto& [d, _] : b) docs.insert(d);
  int64_t inter = 0, uni = 0;
  for (const std::string& d : docs) {
    const auto ia = a.find(d);
    const auto ib = b.find(d);
    std::vector<ByteRange> ra = ia == a.end() ? std::vector<ByteRange>{} : ia->second;
    std::vector<ByteRange> rb = ib == b.end() ? std::vector<ByteRange>{} : ib->second;
    const int64_t na = UnionBytes(ra), nb = UnionBytes(rb);
    std::vector<ByteRange> both = ra;
    both.insert(both.end(), rb.begin(), rb.end());
    const int64_t nu = UnionBytes(both);
    uni += nu;
    inter += na + nb - nu;
  }
  return uni > 0 ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
}

QueryScores ScoreQuery(const std::vector<RankedChunk>& ranked, const Judgements& judged, const MetricCutoffs& cut) {
  QueryScores out;

  // Documents, in the order their first chunk ranks.
  std::vector<int> doc_gains, doc_hits;
  std::set<std::string> seen;
  for (const RankedChunk& c : ranked) {
    if (!seen.insert(c.docid).second) continue;
    const auto g = judged.doc_grades.find(c.docid);
    const int grade = g == judged.doc_grades.end() ? 0 : g->second;
    doc_gains.push_back(std::max(grade, 0));
    doc_hits.push_back(grade > 0 ? 1 : 0);
  }
  std::vector<int> doc_judged;
  int n_relevant_docs = 0;
  for (const auto& [_, g] : judged.doc_grades) {
    doc_judged.push_back(std::max(g, 0));
    n_relevant_docs += g > 0;
  }
  out.ndcg = NdcgAtK(doc_gains, doc_judged, cut.ndcg_k);
  RecallAndRank(doc_hits, n_relevant_docs, cut.recall_k, &out.recall, &out.rr);

  if (judged.spans.empty()) return out;
  out.has_passages = true;
  std::vector<bool> reached(judged.spans.size(), false);
  std::vector<int> gains, hits;
  for (const RankedChunk& c : ranked) {
    int gain = 0, fresh = 0;
    for (size_t s = 0; s < judged.spans.size(); ++s) {
      if (reached[s] || !Overlaps(c, judged.spans[s])) continue;
      reached[s] = true;
      gain = std::max(gain, judged.spans[s].grade);
      ++fresh;
    }
    gains.push_back(gain);
    hits.push_back(fresh);
  }
  std::vector<int> span_grades;
  for (const EvidenceSpan& s : judged.spans) span_grades.push_back(s.grade);
  out.passage_ndcg = NdcgAtK(gains, span_grades, cut.ndcg_k);
  RecallAndRank(hits, static_cast<int>(judged.spans.size()), cut.recall_k, &out.passage_recall, &out.passage_rr);

  std::map<std::string, std::vector<ByteRange>> cited, gold;
  for (int i = 0; i < std::min<int>(cut.cite_k, static_cast<int>(ranked.size())); ++i)
    cited[ranked[i].docid].push_back({ranked[i].begin, ranked[i].end});
  for (const EvidenceSpan& s : judged.spans) gold[s.docid].push_back({s.begin, s.end});
  out.iou = RangeIoU(cited, gold);
  return out;
}

}  // namespace chunkserve::rag
