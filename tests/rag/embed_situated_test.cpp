// Situated chunk texts (rag/embed/situated_text.h): the recorded-id suffix,
// and the text embedded for each chunk (its neighbours' words around it).
#include <gtest/gtest.h>

#include "rag/embed/situated_text.h"
#include "rag/ingest/ingester.h"
#include "rag/text/token_counter.h"
#include "test_dir.h"

namespace chunkserve::rag {
namespace {

TEST(SituatedText, IdSuffixRoundTrips) {
  const std::string id = SituatedId("use-lite/abc/max=128", SituatedParams{24});
  EXPECT_EQ(id, "use-lite/abc/max=128+situated:w=24");
  ASSERT_TRUE(SituatedOf(id).has_value());
  EXPECT_EQ(SituatedOf(id)->context_words, 24);
  EXPECT_EQ(QueryEmbedderId(id), "use-lite/abc/max=128");
  EXPECT_FALSE(SituatedOf("use-lite/abc/max=128").has_value());
  EXPECT_EQ(QueryEmbedderId("use-lite/abc/max=128"), "use-lite/abc/max=128");
  for (const char* bad : {"m+situated:w=", "m+situated:w=0", "m+situated:w=3x", "m+situated:w=-2"}) {
    EXPECT_FALSE(SituatedOf(bad).has_value()) << bad;
    EXPECT_EQ(QueryEmbedderId(bad), bad);
  }
}

TEST(SituatedText, ChunksCarryTheirNeighboursWords) {
  TestDir dir("situated");
  // Three paragraphs, one chunk each (16-token chunks, no overlap).
  dir.Write("docs/a.txt",
            "alpha beta gamma delta alpha beta gamma delta.\n\nepsilon zeta eta theta epsilon zeta eta theta.\n\n"
            "iota kappa lambda mu iota kappa lambda mu.\n");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  IngestParams p;
  p.paths = {dir.path("docs")};
  p.collection = "c";
  p.chunker.chunk_tokens = 16;
  p.chunker.overlap_tokens = 0;
  ApproxTokenCounter counter;
  Ingester ingester(store->get(), &counter);
  auto ran = ingester.Run(p);
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  auto cid = (*store)->FindCollection("c");
  ASSERT_TRUE(cid.ok() && *cid);
  auto docs = (*store)->ListDocuments(**cid);
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 1u);
  auto chunks = (*store)->GetChunks((*docs)[0].id);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 3u) << "the fixture expects one chunk per paragraph";

  auto texts = SituatedTexts(store->get(), **cid, SituatedParams{2});
  ASSERT_TRUE(texts.ok()) << texts.status().ToString();
  ASSERT_EQ(texts->size(), 3u);
  EXPECT_EQ(texts->at((*chunks)[0].id), (*chunks)[0].text + " epsilon zeta");
  EXPECT_EQ(texts->at((*chunks)[1].id), "gamma delta. " + (*chunks)[1].text + " iota kappa");
  EXPECT_EQ(texts->at((*chunks)[2].id), "eta theta. " + (*chunks)[2].text);
}

}  // namespace
}  // namespace chunkserve::rag
