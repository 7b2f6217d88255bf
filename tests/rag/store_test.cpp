#include "rag/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "rag/store/fts_query.h"
#include "rag/store/sqlite_store.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"
#include "legacy_schema.h"
#include "test_dir.h"

namespace chunkserve::rag {
namespace {

std::vector<Chunk> MakeChunks(const std::string& text, uint32_t chunk_tokens = 32) {
  ApproxTokenCounter counter;
  return ChunkDocument(ExtractPlainText(text), {ChunkerKind::kSentence, chunk_tokens, 0}, counter);
}

// The SQLite connection under a store these tests opened from a file.
Database& Db(Store& s) { return static_cast<SqliteStore&>(s).db(); }

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
  EXPECT_EQ(*Db(s).QueryInt("SELECT count(*) FROM chunks"), 0);
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
  EXPECT_EQ(*Db(s).QueryInt("SELECT count(*) FROM chunks"), 1);
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

namespace chunkserve::rag {
namespace {

double TopScore(Store& s, int64_t collection, const std::string& q, std::string* path = nullptr) {
  auto hits = s.Search(collection, q, 5);
  EXPECT_TRUE(hits.ok()) << hits.status().ToString();
  if (!hits.ok() || hits->empty()) return -1;
  if (path) *path = (*hits)[0].path;
  return (*hits)[0].score;
}

// BM25's statistics (document count, average length, document frequency)
// are each collection's own: adding, changing or deleting another
// collection's documents leaves a query's scores exactly as they were.
TEST(StoreTest, Bm25StatisticsArePerCollection) {
  TestDir dir("store_bm25");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  const int64_t a = *s.GetOrCreateCollection("a");
  DocumentRecord d1 = Doc("/a/1.txt", "1"), d2 = Doc("/a/2.txt", "2"), d3 = Doc("/a/3.txt", "3");
  ASSERT_TRUE(s.PutDocument(a, &d1, MakeChunks("The harbor pilot guided the steamer past the sandbar.")).ok());
  ASSERT_TRUE(s.PutDocument(a, &d2, MakeChunks("Grain prices rose after the harvest failed in the east.")).ok());
  ASSERT_TRUE(s.PutDocument(a, &d3, MakeChunks("A pilot boat waited at the harbor mouth all winter.")).ok());
  const double before = TopScore(s, a, "harbor pilot");
  const double before_grain = TopScore(s, a, "grain harvest");
  ASSERT_GT(before, 0);

  // An unrelated collection that uses the same words a lot, with long documents.
  const int64_t b = *s.GetOrCreateCollection("b");
  for (int i = 0; i < 20; ++i) {
    DocumentRecord d = Doc("/b/" + std::to_string(i) + ".txt", std::to_string(i));
    std::string text;
    for (int k = 0; k <= i; ++k) text += "The harbor pilot and the harbor master met again. ";
    ASSERT_TRUE(s.PutDocument(b, &d, MakeChunks(text, 256)).ok());
  }
  EXPECT_DOUBLE_EQ(TopScore(s, a, "harbor pilot"), before);
  EXPECT_DOUBLE_EQ(TopScore(s, a, "grain harvest"), before_grain);
  ASSERT_TRUE(s.DeleteDocument(b, "/b/3.txt").ok());
  EXPECT_DOUBLE_EQ(TopScore(s, a, "harbor pilot"), before);
  ASSERT_TRUE(s.DeleteCollection("b").ok());
  EXPECT_DOUBLE_EQ(TopScore(s, a, "harbor pilot"), before);
  // The other collection's index is gone with it.
  EXPECT_EQ(*Db(s).QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'chunks_fts_" + std::to_string(b) + "'"),
            0);
  EXPECT_TRUE(s.CheckIntegrity().ok()) << s.CheckIntegrity().ToString();
}

TEST(StoreTest, QuotedPhrasesMustMatchInOrder) {
  TestDir dir("store_phrase");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord scattered = Doc("/scattered.txt", "1"), phrase = Doc("/psmisc.txt", "2");
  ASSERT_TRUE(s.PutDocument(c, &scattered, MakeChunks("Name the processes you want to kill. The name of a "
                                                       "process, kill signals and processes by the dozen.")).ok());
  ASSERT_TRUE(s.PutDocument(c, &phrase, MakeChunks("killall - kill processes by name.")).ok());
  auto words = s.Search(c, "kill processes by name", 10);
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(words->size(), 2u);
  auto quoted = s.Search(c, "\"kill processes by name\"", 10);
  ASSERT_TRUE(quoted.ok()) << quoted.status().ToString();
  ASSERT_EQ(quoted->size(), 1u);
  EXPECT_EQ((*quoted)[0].path, "/psmisc.txt");
  // Words beside a phrase only rank; a phrase in another order does not match.
  EXPECT_EQ(s.Search(c, "\"kill processes\" dozen", 10)->size(), 1u);
  EXPECT_EQ(s.Search(c, "\"name by processes kill\"", 10)->size(), 0u);
}

TEST(FtsQueryTest, PhrasesAndUnpairedQuotes) {
  EXPECT_EQ(*BuildFtsQuery("\"kill processes by name\""), "\"kill processes by name\"");
  EXPECT_EQ(*BuildFtsQuery("\"kill processes\" by name"), "\"kill processes\" AND (\"kill processes\" OR \"name\")");
  EXPECT_EQ(*BuildFtsQuery("\"a b\" \"c\""), "\"a b\" AND \"c\"");
  EXPECT_EQ(*BuildFtsQuery("unpaired \"quote here"), "\"unpaired\" OR \"quote\" OR \"here\"");
  EXPECT_FALSE(BuildFtsQuery("\"\" \"?!\"").has_value());
  EXPECT_EQ(QueryPhrases("x \"The  Cat\" y \"the cat\"").size(), 1u);
}

// A version-2 file (one shared FTS index) becomes version 3 when opened
// read-write: per-collection indexes with the same rows, origins guessed
// from the paths; read-only it keeps working as it is.
TEST(StoreTest, VersionTwoIsMigrated) {
  TestDir dir("store_v2");
  const std::string path = dir.path("v2.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string sql = std::string(kSchemaV1Sql) + kSchemaV2ExtraSql + kLegacyRowsSql + "PRAGMA user_version = 2;";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  {
    auto ro = Store::Open(path, Store::Mode::kReadOnly);
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    EXPECT_EQ((*ro)->schema_version(), 2);
    auto hits = (*ro)->Search(1, "canal", 10);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    EXPECT_EQ(hits->size(), 3u);
    EXPECT_EQ((*ro)->FindDocument(1, "notes.txt")->value().origin, DocumentOrigin::kUpload);
  }
  auto rw = Store::Open(path, Store::Mode::kReadWrite);
  ASSERT_TRUE(rw.ok()) << rw.status().ToString();
  Store& s = **rw;
  EXPECT_EQ(*Db(s).QueryInt("PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(*Db(s).QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'chunks_fts'"), 0);
  EXPECT_TRUE(s.CheckIntegrity().ok()) << s.CheckIntegrity().ToString();
  EXPECT_EQ(s.Search(1, "canal", 10)->size(), 3u);
  EXPECT_EQ(s.Search(2, "canal", 10)->size(), 1u);
  EXPECT_EQ(s.FindDocument(1, "/docs/canal.txt")->value().origin, DocumentOrigin::kFile);
  EXPECT_EQ(s.FindDocument(1, "notes.txt")->value().origin, DocumentOrigin::kUpload);
  // Writes keep the migrated index in step.
  ASSERT_TRUE(s.DeleteDocument(1, "/docs/canal.txt").ok());
  EXPECT_EQ(s.Search(1, "canal", 10)->size(), 1u);
  EXPECT_TRUE(s.CheckIntegrity().ok()) << s.CheckIntegrity().ToString();
}

TEST(StoreTest, UploadsAndFilesNeverReplaceEachOther) {
  TestDir dir("store_origin");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord file = Doc("/srv/docs/a.txt", "1");
  file.origin = DocumentOrigin::kFile;
  ASSERT_TRUE(s.PutDocument(c, &file, MakeChunks("Lighthouse keepers logged the storms.")).ok());
  DocumentRecord upload = Doc("/srv/docs/a.txt", "2");  // an upload named like the ingested path
  Status refused = s.PutDocument(c, &upload, MakeChunks("Forged text."));
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("ingested from disk"), std::string::npos) << refused.ToString();
  EXPECT_EQ(s.FindDocument(c, "/srv/docs/a.txt")->value().content_hash, "1");
  EXPECT_EQ(s.Search(c, "forged", 10)->size(), 0u);
  // And the other way round.
  DocumentRecord up = Doc("notes.txt", "3");
  ASSERT_TRUE(s.PutDocument(c, &up, MakeChunks("Uploaded notes.")).ok());
  DocumentRecord over = Doc("notes.txt", "4");
  over.origin = DocumentOrigin::kFile;
  EXPECT_EQ(s.PutDocument(c, &over, MakeChunks("x")).code(), StatusCode::kFailedPrecondition);
  // Same origin replaces as before.
  DocumentRecord up2 = Doc("notes.txt", "5");
  EXPECT_TRUE(s.PutDocument(c, &up2, MakeChunks("Newer notes.")).ok());
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST(StoreTest, PagesRoundTrip) {
  TestDir dir("store_pages");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  const int64_t c = *s.GetOrCreateCollection("c");
  ApproxTokenCounter counter;
  ExtractedText doc = ExtractPagedText("First page about locks and how their gates open and close.\n\f"
                                       "Second page about weirs, which hold the river back in summer.\n\f");
  ASSERT_EQ(doc.page_starts.size(), 1u);
  auto chunks = ChunkDocument(doc, {ChunkerKind::kSentence, 16, 0}, counter);
  ASSERT_GE(chunks.size(), 2u);
  DocumentRecord d = Doc("/r.pdf", "1");
  ASSERT_TRUE(s.PutDocument(c, &d, chunks).ok());
  auto hits = s.Search(c, "weirs", 1);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].chunk.page_begin, 2u);
  EXPECT_EQ((*hits)[0].chunk.page_end, 2u);
  EXPECT_EQ(s.Search(c, "locks", 1)->at(0).chunk.page_begin, 1u);
}

}  // namespace
}  // namespace chunkserve::rag

#include "rag/store/embedding_store.h"

namespace chunkserve::rag {
namespace {

TEST(StoreTest, CollectionsReportEmbedderAndCoverage) {
  TestDir dir("store_coverage");
  auto store = Store::Open(dir.path("db.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  const int64_t c = *s.GetOrCreateCollection("c");
  (void)*s.GetOrCreateCollection("plain");
  DocumentRecord d = Doc("/a.txt", "1");
  ASSERT_TRUE(s.PutDocument(c, &d, MakeChunks("One sentence here. Another sentence there. A third one follows. "
                                              "And a fourth to be sure.", 16)).ok());
  auto chunks = s.GetChunks(d.id);
  ASSERT_GE(chunks->size(), 2u);
  EmbeddingStore es(&s);
  ASSERT_TRUE(es.RecordEmbedder(c, "emb-x", 2).ok());
  const int64_t first = (*chunks)[0].id;
  const float v[2] = {1, 0};
  ASSERT_TRUE(es.PutEmbeddings(std::span<const int64_t>(&first, 1), v, 2).ok());
  auto list = s.ListCollections();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "c");
  EXPECT_EQ((*list)[0].embedder_id, "emb-x");
  EXPECT_EQ((*list)[0].embedding_dim, 2);
  EXPECT_EQ((*list)[0].n_embedded_chunks, 1);
  EXPECT_EQ((*list)[0].n_chunks, static_cast<int64_t>(chunks->size()));
  EXPECT_TRUE((*list)[1].embedder_id.empty());
  EXPECT_EQ((*list)[1].n_embedded_chunks, 0);
}

}  // namespace
}  // namespace chunkserve::rag

namespace chunkserve::rag {
namespace {

// Schema 4 records where a collection's embedding model came from. A
// version-3 file (made here by dropping the version-4 columns, which leaves
// exactly the tables version 3 wrote) keeps its embedder when migrated, with
// an empty source; read-only it works as it is.
TEST(StoreTest, VersionThreeIsMigratedAndSourcesRoundTrip) {
  TestDir dir("store_v3");
  const std::string path = dir.path("v3.db");
  {
    auto store = Store::Open(path, Store::Mode::kReadWrite);
    ASSERT_TRUE(store.ok());
    const int64_t c = *(*store)->GetOrCreateCollection("c");
    EmbeddingStore es(store->get());
    ASSERT_TRUE(es.RecordEmbedder(c, "emb-x", 2).ok());
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* downgrade =
        "ALTER TABLE collection_embedders DROP COLUMN model_path;"
        "ALTER TABLE collection_embedders DROP COLUMN pooling;"
        "ALTER TABLE collection_embedders DROP COLUMN query_prefix;"
        "ALTER TABLE collection_embedders DROP COLUMN doc_prefix;"
        "PRAGMA user_version = 3;";
    ASSERT_EQ(sqlite3_exec(db, downgrade, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  {
    auto ro = Store::Open(path, Store::Mode::kReadOnly);
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    EXPECT_EQ((*ro)->schema_version(), 3);
    EmbeddingStore es(ro->get());
    auto e = es.GetEmbedder(1);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE(e->has_value());
    EXPECT_EQ((*e)->embedder_id, "emb-x");
    EXPECT_TRUE((*e)->source.model_path.empty());
  }
  auto rw = Store::Open(path, Store::Mode::kReadWrite);
  ASSERT_TRUE(rw.ok()) << rw.status().ToString();
  EXPECT_EQ((*rw)->schema_version(), kSchemaVersion);
  EXPECT_EQ(*Db(**rw).QueryInt("PRAGMA user_version"), 4);
  EXPECT_TRUE((*rw)->CheckIntegrity().ok());
  EmbeddingStore es(rw->get());
  auto before = es.GetEmbedder(1);
  ASSERT_TRUE(before.ok() && before->has_value());
  EXPECT_EQ((*before)->embedder_id, "emb-x");
  EXPECT_TRUE((*before)->source.model_path.empty());

  // A source is recorded with the embedder, kept when a later record has
  // none, and replaced by a newer path; nullopt and "" prefixes differ.
  const EmbedderSource source{"/models/e.gguf", "mean", std::nullopt, "passage: "};
  ASSERT_TRUE(es.RecordEmbedder(1, "emb-x", 2, source).ok());
  ASSERT_TRUE(es.RecordEmbedder(1, "emb-x", 2).ok());
  auto after = es.GetEmbedder(1);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->source.model_path, "/models/e.gguf");
  EXPECT_EQ((*after)->source.pooling, "mean");
  EXPECT_FALSE((*after)->source.query_prefix.has_value());
  EXPECT_EQ((*after)->source.doc_prefix, "passage: ");
  ASSERT_TRUE(es.RecordEmbedder(1, "emb-x", 2, {"/elsewhere/e.gguf", "", std::string(), ""}).ok());
  after = es.GetEmbedder(1);
  EXPECT_EQ((*after)->source.model_path, "/elsewhere/e.gguf");
  ASSERT_TRUE((*after)->source.query_prefix.has_value());
  EXPECT_EQ(*(*after)->source.query_prefix, "");
  // Another model is still refused, and the source stays.
  EXPECT_EQ(es.RecordEmbedder(1, "emb-y", 2, source).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(es.GetEmbedder(1)->value().source.model_path, "/elsewhere/e.gguf");
  // A new file has the columns from the start.
  auto fresh = Store::Open(dir.path("new.db"), Store::Mode::kReadWrite);
  ASSERT_TRUE(fresh.ok());
  const int64_t c = *(*fresh)->GetOrCreateCollection("c");
  EmbeddingStore fresh_es(fresh->get());
  ASSERT_TRUE(fresh_es.RecordEmbedder(c, "emb-z", 3, source).ok());
  EXPECT_EQ(fresh_es.GetEmbedder(c)->value().source.model_path, "/models/e.gguf");
}

}  // namespace
}  // namespace chunkserve::rag
