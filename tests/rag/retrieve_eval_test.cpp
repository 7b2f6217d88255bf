// The retrieval evaluation pieces: TREC file parsers (good and malformed
// input) and the metrics against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "rag/retrieve/retrieval_metrics.h"
#include "rag/retrieve/trec_files.h"

namespace chunkserve::rag {
namespace {

TEST(TrecFiles, TopicsTsvWithBeirHeader) {
  auto t = ParseTopics("query-id\ttext\nq1\twhat is a cat\r\n\nq2\t  dogs  \n");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].qid, "q1");
  EXPECT_EQ((*t)[0].text, "what is a cat");
  EXPECT_EQ((*t)[1].text, "dogs");
}

TEST(TrecFiles, TrecTopicFile) {
  auto t = ParseTopics(
      "<top>\n<num> Number: 301\n<title> International Organized Crime\n<desc> Description:\nx\n</top>\n"
      "<top>\n<num> 302 <title> Poliomyelitis\n</top>\n");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].qid, "301");
  EXPECT_EQ((*t)[0].text, "International Organized Crime");
  EXPECT_EQ((*t)[1].qid, "302");
  EXPECT_EQ((*t)[1].text, "Poliomyelitis");
}

TEST(TrecFiles, MalformedTopicsNameTheLine) {
  auto t = ParseTopics("q1\tfine\nq2 no tab\n");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("line 2"), std::string::npos) << t.status().message();
  EXPECT_FALSE(ParseTopics("<top><num> 1 </top>").ok());       // no title
  EXPECT_FALSE(ParseTopics("<top><num> 1 <title> x").ok());    // unterminated
}

TEST(TrecFiles, QrelsTrecAndBeir) {
  auto q = ParseQrels("# comment\n301 0 doc-a 2\n301 0 doc-b 0\n\n302 Q0 doc-c 1\n");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->size(), 3u);
  EXPECT_EQ((*q)[0].docid, "doc-a");
  EXPECT_EQ((*q)[0].grade, 2);
  EXPECT_EQ((*q)[2].qid, "302");
  auto b = ParseQrels("query-id\tcorpus-id\tscore\nq1\td1\t1\n");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].docid, "d1");
  for (const char* bad : {"301 0 doc\n", "301 0 doc x\n", "301 0 doc 1 extra more\n"}) {
    auto r = ParseQrels(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("line 1"), std::string::npos) << r.status().message();
  }
}

TEST(TrecFiles, Evidence) {
  auto e = ParseEvidence("q1 a.txt 10 20\nq1 b.txt 0 5 2\n");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[0].grade, 1);
  EXPECT_EQ((*e)[1].grade, 2);
  EXPECT_EQ((*e)[1].end, 5);
  for (const char* bad : {"q1 a 5 5\n", "q1 a 7 3\n", "q1 a -1 3\n", "q1 a x 3\n", "q1 a 1\n"})
    EXPECT_FALSE(ParseEvidence(bad).ok()) << bad;
}

TEST(RetrievalMetrics, NdcgByHand) {
  // DCG = 2/log2(3) + 1/log2(4); ideal = 2/log2(2) + 1/log2(3).
  const double want = (2 / std::log2(3.0) + 0.5) / (2 + 1 / std::log2(3.0));
  EXPECT_NEAR(NdcgAtK({0, 2, 1}, {1, 0, 2}, 10), want, 1e-12);
  EXPECT_DOUBLE_EQ(NdcgAtK({2, 1}, {2, 1}, 10), 1.0);
  EXPECT_DOUBLE_EQ(NdcgAtK({0, 0, 2}, {2}, 2), 0.0);  // beyond the cutoff
  EXPECT_DOUBLE_EQ(NdcgAtK({1}, {0, 0}, 10), 0.0);    // nothing relevant judged
}

TEST(RetrievalMetrics, UnionAndIoU) {
  EXPECT_EQ(UnionBytes({{0, 10}, {5, 15}, {20, 25}, {21, 22}}), 20);
  std::map<std::string, std::vector<ByteRange>> cited = {{"a", {{0, 10}}}, {"b", {{0, 4}}}};
  std::map<std::string, std::vector<ByteRange>> gold = {{"a", {{5, 15}}}};
  // a: inter 5, union 15; b: inter 0, union 4.
  EXPECT_DOUBLE_EQ(RangeIoU(cited, gold), 5.0 / 19.0);
  EXPECT_DOUBLE_EQ(RangeIoU(gold, gold), 1.0);
  EXPECT_DOUBLE_EQ(RangeIoU({}, {}), 0.0);
}

TEST(RetrievalMetrics, DocumentLevelUsesFirstChunkOfEachDocument) {
  Judgements j;
  j.doc_grades = {{"a", 2}, {"b", 1}, {"c", 0}};
  // Documents in order: c, a, b (a's second chunk does not count again).
  std::vector<RankedChunk> ranked = {{"c", 0, 10}, {"a", 0, 10}, {"a", 10, 20}, {"b", 0, 10}};
  MetricCutoffs cut;
  cut.recall_k = {1, 2, 3};
  const QueryScores s = ScoreQuery(ranked, j, cut);
  EXPECT_DOUBLE_EQ(s.rr, 0.5);
  ASSERT_EQ(s.recall.size(), 3u);
  EXPECT_DOUBLE_EQ(s.recall[0], 0.0);
  EXPECT_DOUBLE_EQ(s.recall[1], 0.5);
  EXPECT_DOUBLE_EQ(s.recall[2], 1.0);
  EXPECT_NEAR(s.ndcg, NdcgAtK({0, 2, 1}, {2, 1, 0}, 10), 1e-12);
  EXPECT_FALSE(s.has_passages);
}

TEST(RetrievalMetrics, PassageLevelCountsEachSpanOnce) {
  Judgements j;
  j.doc_grades = {{"a", 2}};
  j.spans = {{"q", "a", 100, 200, 2}, {"q", "a", 500, 520, 1}};
  std::vector<RankedChunk> ranked = {
      {"a", 0, 90},     // misses both
      {"a", 150, 260},  // reaches span 1
      {"a", 120, 180},  // span 1 again: no gain
      {"a", 510, 600},  // reaches span 2
  };
  MetricCutoffs cut;
  cut.recall_k = {2, 4};
  cut.cite_k = 2;
  const QueryScores s = ScoreQuery(ranked, j, cut);
  ASSERT_TRUE(s.has_passages);
  EXPECT_DOUBLE_EQ(s.passage_rr, 0.5);
  EXPECT_DOUBLE_EQ(s.passage_recall[0], 0.5);
  EXPECT_DOUBLE_EQ(s.passage_recall[1], 1.0);
  EXPECT_NEAR(s.passage_ndcg, NdcgAtK({0, 2, 0, 1}, {2, 1}, 10), 1e-12);
  // Cited: [0,90) + [150,260) = 200 bytes; gold 120 bytes; overlap [150,200) = 50.
  EXPECT_DOUBLE_EQ(s.iou, 50.0 / (200 + 120 - 50));
}

}  // namespace
}  // namespace chunkserve::rag
