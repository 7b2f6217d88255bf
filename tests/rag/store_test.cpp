#include "rag/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "rag/store/fts_query.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"
#include "test_dir.h"

namespace chunkserve::rag {
namespace {

std::vector<Chunk> MakeChunks(const std::string& text, uint32_t chunk_tokens = 32) {
  ApproxTokenCounter counter;
  return ChunkDocument(ExtractPlainText(text), {ChunkerKind::kSentence, chunk_tokens, 0}, counter);
}

DocumentRecord Doc(const std::string& path, const std::string& hash) {
  DocumentRecord d;
  d.path = path;
  d.content_hash = hash;
  d.format = "text";
  d.chunker = "test";
  return d;
}

TEST(StoreTest, PutFindReplaceDeleteSearch) {
  TestDir dir("store_basic");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Store& s = **store;
  auto cid = s.GetOrCreateCollection("docs");
  ASSERT_TRUE(cid.ok());
  EXPECT_EQ(*s.GetOrCreateCollection("docs"), *cid);

  DocumentRecord a = Doc("/a.txt", "h1");
  auto chunks_a = MakeChunks("The tariff on imported steel was raised. Farmers protested the tariff loudly.");
  ASSERT_TRUE(s.PutDocument(*cid, &a, chunks_a).ok());
  DocumentRecord b = Doc("/b.txt", "h2");
  ASSERT_TRUE(s.PutDocument(*cid, &b, MakeChunks("Railroads crossed the continent. Telegraph lines followed.")).ok());

  auto found = s.FindDocument(*cid, "/a.txt");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->content_hash, "h1");
  EXPECT_EQ((*found)->n_chunks, static_cast<int64_t>(chunks_a.size()));

  auto hits = s.Search(*cid, "tariffs", 10);  // porter stemming: tariffs -> tariff
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].path, "/a.txt");
  EXPECT_GT((*hits)[0].score, 0);
  for (size_t i = 1; i < hits->size(); ++i) EXPECT_GE((*hits)[i - 1].score, (*hits)[i].score);

  // Replace a with different text: the old chunks leave the index.
  DocumentRecord a2 = Doc("/a.txt", "h3");
  ASSERT_TRUE(s.PutDocument(*cid, &a2, MakeChunks("Nothing about trade here.")).ok());
  EXPECT_TRUE(s.Search(*cid, "tariff", 10)->empty());
  EXPECT_EQ(s.Search(*cid, "trade", 10)->size(), 1u);
  EXPECT_TRUE(s.CheckIntegrity().ok());

  // Delete a document, then the collection.
  EXPECT_TRUE(*s.DeleteDocument(*cid, "/a.txt"));
  EXPECT_FALSE(*s.DeleteDocument(*cid, "/a.txt"));
  EXPECT_TRUE(s.Search(*cid, "trade", 10)->empty());
  EXPECT_EQ(s.Search(*cid, "railroads", 10)->size(), 1u);
  auto list = s.ListCollections();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].n_documents, 1);
  ASSERT_TRUE(s.DeleteCollection("docs").ok());
  EXPECT_EQ(s.DeleteCollection("docs").code(), StatusCode::kNotFound);
  EXPECT_TRUE(s.ListCollections()->empty());
  // Cascades removed the chunks and their FTS rows.
  EXPECT_EQ(*s.db().QueryInt("SELECT count(*) FROM chunks"), 0);
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST(StoreTest, CollectionsAreIsolated) {
  TestDir dir("store_iso");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  int64_t c1 = *s.GetOrCreateCollection("one"), c2 = *s.GetOrCreateCollection("two");
  DocumentRecord d1 = Doc("/x.txt", "1"), d2 = Doc("/x.txt", "2");
  ASSERT_TRUE(s.PutDocument(c1, &d1, MakeChunks("Apples grow on trees.")).ok());
  ASSERT_TRUE(s.PutDocument(c2, &d2, MakeChunks("Oranges grow on trees.")).ok());
  EXPECT_EQ(s.Search(c1, "oranges", 5)->size(), 0u);
  EXPECT_EQ(s.Search(c2, "oranges", 5)->size(), 1u);
  EXPECT_EQ(s.Search(c1, "trees", 5)->size(), 1u);
}

TEST(StoreTest, HostileQueriesNeverFail) {
  TestDir dir("store_q");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord d = Doc("/d.txt", "1");
  ASSERT_TRUE(s.PutDocument(c, &d, MakeChunks("C++ and C# are languages. NEAR and NOT are words too.")).ok());
  for (const char* q : {"\"", "\"unbalanced", "a AND", "NOT", "OR OR", "NEAR(", "col:value", "*", "^start",
                        "C++", "(((", "'; DROP TABLE chunks; --", "", "   ", "\xFF\xFE", "text:*",
                        "NEAR(a b, 5)", "\"\"\"\"", "-x", "{a b}"}) {
    auto hits = s.Search(c, q, 10);
    EXPECT_TRUE(hits.ok()) << q << ": " << hits.status().ToString();
  }
  EXPECT_EQ(s.Search(c, "NOT", 10)->size(), 1u);  // a word, not an operator
  EXPECT_EQ(s.Search(c, "c++", 10)->size(), 1u);
  EXPECT_EQ(*s.db().QueryInt("SELECT count(*) FROM chunks"), 1);
}

TEST(FtsQueryTest, QuotesTermsAndDropsStopWords) {
  EXPECT_EQ(*BuildFtsQuery("What did the President say about tariffs?"), "\"president\" OR \"say\" OR \"tariffs\"");
  EXPECT_EQ(*BuildFtsQuery("the"), "\"the\"");  // only stop words: keep them
  EXPECT_FALSE(BuildFtsQuery("?!  ...").has_value());
  EXPECT_EQ(*BuildFtsQuery("x\"y"), "\"x\" OR \"y\"");
}

TEST(StoreTest, NewerSchemaIsAClearError) {
  TestDir dir("store_ver");
  const std::string path = dir.path("db.sqlite");
  { ASSERT_TRUE(Store::Open(path, Store::Mode::kReadWrite).ok()); }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto s = Store::Open(path, Store::Mode::kReadWrite);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("newer"), std::string::npos) << s.status().ToString();
}

TEST(StoreTest, ForeignFilesAreRejected) {
  TestDir dir("store_foreign");
  // A SQLite database that is not ours.
  const std::string other = dir.path("other.sqlite");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto s1 = Store::Open(other, Store::Mode::kReadWrite);
  ASSERT_FALSE(s1.ok());
  EXPECT_EQ(s1.status().code(), StatusCode::kFailedPrecondition);
  // Not a database at all.
  const std::string junk = dir.path("junk.sqlite");
  dir.Write("junk.sqlite", std::string(4096, 'j'));
  auto s2 = Store::Open(junk, Store::Mode::kReadWrite);
  ASSERT_FALSE(s2.ok());
  EXPECT_EQ(s2.status().code(), StatusCode::kDataLoss) << s2.status().ToString();
  // Missing file in read-only mode.
  auto s3 = Store::Open(dir.path("missing.sqlite"), Store::Mode::kReadOnly);
  EXPECT_FALSE(s3.ok());
}

}  // namespace
}  // namespace chunkserve::rag
