// BM25 parity: the PostgreSQL store (its own postings, rag/store/bm25.h)
// returns the same hits with the same scores as the SQLite store (FTS5's
// bm25()) for the same documents and queries.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "rag/ingest/ingester.h"
#include "rag/pg_test_server.h"
#include "rag/store/store.h"
#include "rag/test_dir.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

// A SQLite and a PostgreSQL store holding the same documents.
class Bm25Parity : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    pg_ = std::make_unique<PgTestDatabase>("parity_" + name);
    if (!pg_->ok()) GTEST_SKIP() << "PostgreSQL backend skipped: " << pg_->why_not();
    dir_ = std::make_unique<TestDir>("parity_" + name);
    auto sqlite = Store::Open(dir_->path("db.sqlite"), Store::Mode::kReadWrite);
    auto pg = Store::Open(pg_->url(), Store::Mode::kReadWrite);
    ASSERT_TRUE(sqlite.ok() && pg.ok()) << sqlite.status().ToString() << pg.status().ToString();
    stores_[0] = std::move(*sqlite);
    stores_[1] = std::move(*pg);
  }

  // Both stores' top k for each query: same (path, ordinal) in the same
  // order, same scores (to 4 ulps: both evaluate FTS5's formula in its
  // order of operations). Returns how many queries had hits.
  int ExpectSameHits(int64_t c_sqlite, int64_t c_pg, const std::vector<std::string>& queries, int k) {
    int with_hits = 0;
    for (const std::string& q : queries) {
      auto a = stores_[0]->Search(c_sqlite, q, k);
      auto b = stores_[1]->Search(c_pg, q, k);
      EXPECT_TRUE(a.ok() && b.ok()) << q << ": " << a.status().ToString() << " / " << b.status().ToString();
      if (!a.ok() || !b.ok()) continue;
      EXPECT_EQ(a->size(), b->size()) << q;
      for (size_t i = 0; i < std::min(a->size(), b->size()); ++i) {
        EXPECT_EQ((*a)[i].path, (*b)[i].path) << q << " rank " << i;
        EXPECT_EQ((*a)[i].chunk.ordinal, (*b)[i].chunk.ordinal) << q << " rank " << i;
        EXPECT_DOUBLE_EQ((*a)[i].score, (*b)[i].score) << q << " rank " << i;
      }
      with_hits += a->empty() ? 0 : 1;
    }
    return with_hits;
  }

  std::unique_ptr<PgTestDatabase> pg_;
  std::unique_ptr<TestDir> dir_;
  std::unique_ptr<Store> stores_[2];  // sqlite, postgresql
};

// Repeated terms, stems, diacritics, non-ASCII separators, overlapping
// phrase occurrences, duplicate phrases and stop-word-only queries.
TEST_F(Bm25Parity, TrickyQueriesGiveTheSameHitsAndScores) {
  const std::vector<std::string> texts = {
      "The tariff on tariffs: tariff after tariff. Farmers protested loudly.",
      "Caf\xC3\xA9 owners and cafe patrons met at the caf\xC3\xA9. Na\xC3\xAFve plans failed.",
      "don\xE2\x80\x99t stop: a a a a. The the the. Kill processes, kill processes, kill processes by name.",
      "Railroads, railroading and railroaders crossed the continent; telegraph lines followed the railroad.",
      "Processes kill time. Name the culprit. \xCE\x95\xCE\xBB\xCE\xBB\xCE\xAC\xCE\xB4\xCE\xB1 and \xE4\xB8\xAD\xE6\x96\x87 text.",
      "Short.",
      "",
  };
  int64_t ids[2];
  for (int s = 0; s < 2; ++s) {
    ids[s] = *stores_[s]->GetOrCreateCollection("c");
    ApproxTokenCounter counter;
    for (size_t i = 0; i < texts.size(); ++i) {
      DocumentRecord d;
      d.path = "/doc" + std::to_string(i) + ".txt";
      d.origin = DocumentOrigin::kFile;
      d.content_hash = "h";
      d.format = "text";
      d.chunker = "test";
      auto chunks = ChunkDocument(ExtractPlainText(texts[i]), {ChunkerKind::kSentence, 16, 0}, counter);
      ASSERT_TRUE(stores_[s]->PutDocument(ids[s], &d, chunks).ok());
    }
  }
  const std::vector<std::string> queries = {
      "tariffs", "tariff tariffs", "\"tariff after tariff\"", "caf\xC3\xA9", "cafe", "naive", "\"a a\"",
      "the", "the the", "\"the the\"", "\"kill processes\" by name", "\"kill processes\" \"by name\"",
      "kill processes name", "railroad", "railroads telegraph", "\"processes kill\" name", "don\xE2\x80\x99t",
      "\xCE\xB5\xCE\xBB\xCE\xBB\xCE\xAC\xCE\xB4\xCE\xB1", "\xE4\xB8\xAD\xE6\x96\x87", "short", "missingword",
      "\"missing phrase\" tariff", "C++ tariff?", "\"\"", "\xE2\x80\x99",
  };
  const int with_hits = ExpectSameHits(ids[0], ids[1], queries, 10);
  EXPECT_GE(with_hits, 15);
  EXPECT_TRUE(stores_[1]->CheckIntegrity().ok());
}

// The State of the Union corpus, ingested into both stores by the same
// ingester: the same top 10 for a fixed query set.
TEST_F(Bm25Parity, SotuTop10IsTheSameOnBothBackends) {
  const std::string sotu = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";
  if (!std::filesystem::is_directory(sotu)) GTEST_SKIP() << "no corpus at " << sotu;
  int64_t ids[2];
  for (int s = 0; s < 2; ++s) {
    ApproxTokenCounter counter;
    Ingester ingester(stores_[s].get(), &counter);
    IngestParams p;
    p.paths = {sotu};
    p.collection = "sotu";
    auto report = ingester.Run(p, {}, nullptr);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ids[s] = **stores_[s]->FindCollection("sotu");
  }
  EXPECT_EQ(stores_[0]->ListCollections()->at(0).n_chunks, stores_[1]->ListCollections()->at(0).n_chunks);
  const std::vector<std::string> queries = {
      "tariff on imported steel",
      "slavery and the union",
      "\"national debt\" taxes",
      "war in Vietnam",
      "Louisiana purchase",
      "income tax",
      "social security reform",
      "the",
      "Indian tribes treaties",
      "gold standard silver coinage",
      "\"federal reserve\"",
      "atomic energy",
      "civil service reform",
      "health care costs",
      "terrorism homeland security",
      "immigration",
      "railroads and canals",
      "Great Depression unemployment relief",
      "\"Panama Canal\" treaty",
      "what about the economy?",
  };
  const int with_hits = ExpectSameHits(ids[0], ids[1], queries, 10);
  EXPECT_EQ(with_hits, static_cast<int>(queries.size()));
  EXPECT_TRUE(stores_[1]->CheckIntegrity().ok());
}

}  // namespace
}  // namespace chunkserve::rag
