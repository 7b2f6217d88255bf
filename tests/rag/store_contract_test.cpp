// The Store contract (rag/store/store.h), run against both backends: every
// case opens a fresh SQLite file or a fresh PostgreSQL database
// (pg_test_server.h; skipped with the reason when PostgreSQL is absent).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "rag/pg_test_server.h"
#include "rag/store/embedding_store.h"
#include "rag/store/pg_store.h"
#include "rag/store/sqlite_store.h"
#include "rag/store/store.h"
#include "rag/test_dir.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

std::vector<Chunk> MakeChunks(const std::string& text, uint32_t chunk_tokens = 32) {
  ApproxTokenCounter counter;
  return ChunkDocument(ExtractPlainText(text), {ChunkerKind::kSentence, chunk_tokens, 0}, counter);
}

DocumentRecord Doc(const std::string& path, const std::string& hash,
                   DocumentOrigin origin = DocumentOrigin::kFile) {
  DocumentRecord d;
  d.path = path;
  d.origin = origin;
  d.content_hash = hash;
  d.format = "text";
  d.chunker = "test";
  return d;
}

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    if (GetParam() == "postgresql") {
      pg_ = std::make_unique<PgTestDatabase>(name);
      if (!pg_->ok()) GTEST_SKIP() << "PostgreSQL backend skipped: " << pg_->why_not();
      location_ = pg_->url();
    } else {
      std::string label = "contract_" + name;
      for (char& c : label)
        if (c == '/') c = '_';
      dir_ = std::make_unique<TestDir>(label);
      location_ = dir_->path("db.sqlite");
    }
    store_ = Open(Store::Mode::kReadWrite);
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<Store> Open(Store::Mode mode) {
    auto s = Store::Open(location_, mode);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Writes a stored schema version directly (each backend keeps it its own way).
  Status SetStoredSchemaVersion(int version) {
    if (GetParam() == "postgresql")
      return static_cast<PgStore&>(*store_).connection().Exec("UPDATE chunkserve_schema SET version = " +
                                                              std::to_string(version));
    return static_cast<SqliteStore&>(*store_).db().Exec("PRAGMA user_version = " + std::to_string(version));
  }

  std::unique_ptr<TestDir> dir_;
  std::unique_ptr<PgTestDatabase> pg_;
  std::string location_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContract, CollectionsLifecycle) {
  Store& s = *store_;
  EXPECT_EQ(s.GetOrCreateCollection("").status().code(), StatusCode::kInvalidArgument);
  auto b = s.GetOrCreateCollection("beta");
  auto a = s.GetOrCreateCollection("alpha");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(*s.GetOrCreateCollection("alpha"), *a);
  EXPECT_EQ(**s.FindCollection("beta"), *b);
  EXPECT_FALSE(s.FindCollection("gamma")->has_value());
  DocumentRecord d = Doc("/x.txt", "h");
  ASSERT_TRUE(s.PutDocument(*a, &d, MakeChunks("One sentence here. Another one there.")).ok());
  auto list = s.ListCollections();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "alpha");  // by name
  EXPECT_EQ((*list)[0].n_documents, 1);
  EXPECT_EQ((*list)[0].n_chunks, d.n_chunks);
  EXPECT_GT((*list)[0].n_tokens, 0);
  EXPECT_EQ((*list)[1].name, "beta");
  EXPECT_EQ((*list)[1].n_documents, 0);
  ASSERT_TRUE(s.DeleteCollection("alpha").ok());
  EXPECT_EQ(s.DeleteCollection("alpha").code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ListCollections()->size(), 1u);
  EXPECT_TRUE(s.GetChunks(d.id)->empty());  // cascaded
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST_P(StoreContract, DocumentsAndChunksRoundTripEveryField) {
  Store& s = *store_;
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord d = Doc("/docs/guide.md", "abc123");
  d.size_bytes = 4096;
  d.mtime_ns = 1700000000123456789;
  d.format = "markdown";
  d.chunker = "structure/64/8";
  d.n_invalid_bytes = 3;
  d.metadata_json = R"({"title":"Guide \"one\"","tags":["a","b"]})";
  std::vector<Chunk> chunks(3);
  for (uint32_t i = 0; i < chunks.size(); ++i) {
    Chunk& k = chunks[i];
    k.ordinal = i;
    k.text_begin = 100 * i;
    k.text_end = 100 * i + 90;
    k.source_begin = 120 * i + 7;
    k.source_end = 120 * i + 99;
    k.n_tokens = 20 + i;
    k.page_begin = i + 1;
    k.page_end = i + 2;
    k.heading_path = i == 0 ? std::vector<std::string>{} : std::vector<std::string>{"Guide", "Part \"" + std::to_string(i) + "\" \\ {x}"};
    k.text = "Chunk " + std::to_string(i) + " talks about caf\xC3\xA9s, tabs\tand\nnewlines, quotes \" and \\ backslashes.";
  }
  ASSERT_TRUE(s.PutDocument(c, &d, chunks).ok());
  EXPECT_GT(d.id, 0);
  EXPECT_EQ(d.n_chunks, 3);
  auto found = s.FindDocument(c, "/docs/guide.md");
  ASSERT_TRUE(found.ok() && found->has_value()) << found.status().ToString();
  const DocumentRecord& f = **found;
  EXPECT_EQ(f.id, d.id);
  EXPECT_EQ(f.origin, DocumentOrigin::kFile);
  EXPECT_EQ(f.content_hash, "abc123");
  EXPECT_EQ(f.size_bytes, 4096);
  EXPECT_EQ(f.mtime_ns, 1700000000123456789);
  EXPECT_EQ(f.format, "markdown");
  EXPECT_EQ(f.chunker, "structure/64/8");
  EXPECT_EQ(f.n_chunks, 3);
  EXPECT_EQ(f.n_invalid_bytes, 3);
  EXPECT_EQ(f.metadata_json, d.metadata_json);
  auto stored = s.GetChunks(d.id);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    const StoredChunk& k = (*stored)[i];
    EXPECT_EQ(k.document_id, d.id);
    EXPECT_EQ(k.ordinal, i);
    EXPECT_EQ(k.text_begin, static_cast<int64_t>(chunks[i].text_begin));
    EXPECT_EQ(k.text_end, static_cast<int64_t>(chunks[i].text_end));
    EXPECT_EQ(k.source_begin, static_cast<int64_t>(chunks[i].source_begin));
    EXPECT_EQ(k.source_end, static_cast<int64_t>(chunks[i].source_end));
    EXPECT_EQ(k.n_tokens, chunks[i].n_tokens);
    EXPECT_EQ(k.page_begin, chunks[i].page_begin);
    EXPECT_EQ(k.page_end, chunks[i].page_end);
    EXPECT_EQ(k.heading_path, chunks[i].heading_path);
    EXPECT_EQ(k.text, chunks[i].text);
    EXPECT_EQ(k.content_hash.size(), 16u);
  }
  auto docs = s.ListDocuments(c);
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].path, "/docs/guide.md");
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST_P(StoreContract, ReplacingADocumentIsAtomicAndDropsOldChunks) {
  Store& s = *store_;
  const int64_t c = *s.GetOrCreateCollection("docs");
  DocumentRecord a = Doc("/a.txt", "h1");
  ASSERT_TRUE(s.PutDocument(c, &a, MakeChunks("The tariff on imported steel was raised. Farmers protested the tariff loudly.")).ok());
  DocumentRecord b = Doc("/b.txt", "h2");
  ASSERT_TRUE(s.PutDocument(c, &b, MakeChunks("Railroads crossed the continent. Telegraph lines followed.")).ok());
  auto hits = s.Search(c, "tariffs", 10);  // porter stemming: tariffs -> tariff
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].path, "/a.txt");
  EXPECT_GT((*hits)[0].score, 0);
  const int64_t old_id = a.id;
  DocumentRecord a2 = Doc("/a.txt", "h3");
  ASSERT_TRUE(s.PutDocument(c, &a2, MakeChunks("Nothing about trade here.")).ok());
  EXPECT_TRUE(s.GetChunks(old_id)->empty());
  EXPECT_TRUE(s.Search(c, "tariff", 10)->empty());
  EXPECT_EQ(s.Search(c, "trade", 10)->size(), 1u);
  EXPECT_EQ((*s.FindDocument(c, "/a.txt"))->content_hash, "h3");
  EXPECT_EQ(s.ListDocuments(c)->size(), 2u);
  EXPECT_TRUE(s.CheckIntegrity().ok());
  EXPECT_TRUE(*s.DeleteDocument(c, "/a.txt"));
  EXPECT_FALSE(*s.DeleteDocument(c, "/a.txt"));
  EXPECT_TRUE(s.Search(c, "trade", 10)->empty());
  EXPECT_EQ(s.Search(c, "railroads", 10)->size(), 1u);
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST_P(StoreContract, UploadsAndFilesNeverReplaceEachOther) {
  Store& s = *store_;
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord file = Doc("/x.txt", "f", DocumentOrigin::kFile);
  ASSERT_TRUE(s.PutDocument(c, &file, MakeChunks("Ingested from disk.")).ok());
  DocumentRecord upload = Doc("/x.txt", "u", DocumentOrigin::kUpload);
  EXPECT_EQ(s.PutDocument(c, &upload, MakeChunks("Uploaded text.")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*s.FindDocument(c, "/x.txt"))->content_hash, "f");
  EXPECT_TRUE(s.Search(c, "uploaded", 5)->empty());
  DocumentRecord named = Doc("notes.txt", "u", DocumentOrigin::kUpload);
  ASSERT_TRUE(s.PutDocument(c, &named, MakeChunks("Uploaded text.")).ok());
  DocumentRecord over = Doc("notes.txt", "f", DocumentOrigin::kFile);
  EXPECT_EQ(s.PutDocument(c, &over, MakeChunks("From disk.")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*s.FindDocument(c, "notes.txt"))->origin, DocumentOrigin::kUpload);
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST_P(StoreContract, DeleteByIdStaysInItsCollection) {
  Store& s = *store_;
  const int64_t c1 = *s.GetOrCreateCollection("one"), c2 = *s.GetOrCreateCollection("two");
  DocumentRecord d = Doc("/d.txt", "1");
  ASSERT_TRUE(s.PutDocument(c1, &d, MakeChunks("Apples grow on trees.")).ok());
  EXPECT_FALSE(*s.DeleteDocumentById(c2, d.id));
  EXPECT_FALSE(*s.DeleteDocumentById(c1, d.id + 1000));
  EXPECT_EQ(s.Search(c1, "apples", 5)->size(), 1u);
  EXPECT_TRUE(*s.DeleteDocumentById(c1, d.id));
  EXPECT_TRUE(s.Search(c1, "apples", 5)->empty());
}

TEST_P(StoreContract, Bm25StatisticsArePerCollection) {
  Store& s = *store_;
  const int64_t c1 = *s.GetOrCreateCollection("one");
  DocumentRecord d1 = Doc("/1.txt", "1"), d2 = Doc("/2.txt", "2");
  ASSERT_TRUE(s.PutDocument(c1, &d1, MakeChunks("Steel mills and steel workers.")).ok());
  ASSERT_TRUE(s.PutDocument(c1, &d2, MakeChunks("Cotton fields in the south.")).ok());
  const double before = (*s.Search(c1, "steel", 5))[0].score;
  const int64_t c2 = *s.GetOrCreateCollection("two");
  for (int i = 0; i < 5; ++i) {
    DocumentRecord d = Doc("/s" + std::to_string(i) + ".txt", "x");
    ASSERT_TRUE(s.PutDocument(c2, &d, MakeChunks("Steel steel steel everywhere.")).ok());
  }
  EXPECT_EQ((*s.Search(c1, "steel", 5))[0].score, before);
  EXPECT_EQ(s.Search(c1, "cotton", 5)->size(), 1u);
  EXPECT_TRUE(s.Search(c2, "cotton", 5)->empty());
}

TEST_P(StoreContract, QuotedPhrasesMustMatchInOrder) {
  Store& s = *store_;
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord a = Doc("/a.txt", "a"), b = Doc("/b.txt", "b");
  ASSERT_TRUE(s.PutDocument(c, &a, MakeChunks("You can kill processes by name with pkill.")).ok());
  ASSERT_TRUE(s.PutDocument(c, &b, MakeChunks("Processes kill time; name the culprit.")).ok());
  auto hits = s.Search(c, "\"kill processes\" by name", 10);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].path, "/a.txt");
  EXPECT_EQ(s.Search(c, "kill processes name", 10)->size(), 2u);
  EXPECT_TRUE(s.Search(c, "\"processes kill name\"", 10)->empty());
}

TEST_P(StoreContract, TiesBreakByChunkId) {
  Store& s = *store_;
  const int64_t c = *s.GetOrCreateCollection("c");
  for (const char* path : {"/z.txt", "/a.txt", "/m.txt"}) {
    DocumentRecord d = Doc(path, "h");
    ASSERT_TRUE(s.PutDocument(c, &d, MakeChunks("Identical words about canals.")).ok());
  }
  auto hits = s.Search(c, "canals", 10);
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].score, (*hits)[2].score);
  EXPECT_LT((*hits)[0].chunk.id, (*hits)[1].chunk.id);
  EXPECT_LT((*hits)[1].chunk.id, (*hits)[2].chunk.id);
  EXPECT_EQ((*hits)[0].path, "/z.txt");  // inserted first
  EXPECT_EQ(s.Search(c, "canals", 2)->size(), 2u);
  EXPECT_TRUE(s.Search(c, "canals", 0)->empty());
}

TEST_P(StoreContract, HostileQueriesNeverFail) {
  Store& s = *store_;
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord d = Doc("/d.txt", "1");
  ASSERT_TRUE(s.PutDocument(c, &d, MakeChunks("C++ and C# are languages. NEAR and NOT are words too.")).ok());
  for (const char* q : {"\"", "\"unbalanced", "a AND", "NOT", "OR OR", "NEAR(", "col:value", "*", "^start", "C++",
                        "(((", "'; DROP TABLE chunks; --", "", "   ", "\xFF\xFE", "text:*", "NEAR(a b, 5)",
                        "\"\"\"\"", "-x", "{a b}", "caf\xC3\xA9 \xE2\x80\x99", "\\", "{\"a\",\"b\"}"}) {
    auto hits = s.Search(c, q, 10);
    EXPECT_TRUE(hits.ok()) << q << ": " << hits.status().ToString();
  }
  EXPECT_EQ(s.Search(c, "NOT", 10)->size(), 1u);
  EXPECT_EQ(s.Search(c, "c++", 10)->size(), 1u);
  EXPECT_EQ(s.GetChunks(d.id)->size(), 1u);
}

TEST_P(StoreContract, ChunkIdsUnderAPathPrefix) {
  Store& s = *store_;
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord a = Doc("/docs/a.txt", "a"), b = Doc("/docs2/b.txt", "b"), x = Doc("/other/x.txt", "x");
  ASSERT_TRUE(s.PutDocument(c, &a, MakeChunks("Alpha one two three four five six seven. Beta one two three four five six seven eight nine ten eleven. Gamma.", 16)).ok());
  ASSERT_TRUE(s.PutDocument(c, &b, MakeChunks("Delta.")).ok());
  ASSERT_TRUE(s.PutDocument(c, &x, MakeChunks("Epsilon.")).ok());
  auto ids = s.ChunkIdsUnder(c, "/docs");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(static_cast<int64_t>(ids->size()), a.n_chunks + b.n_chunks);
  EXPECT_EQ(s.ChunkIdsUnder(c, "/docs/")->size(), static_cast<size_t>(a.n_chunks));
  EXPECT_TRUE(s.ChunkIdsUnder(c, "/nothing")->empty());
  EXPECT_TRUE(std::is_sorted(ids->begin(), ids->end()));
}

TEST_P(StoreContract, EmbeddingsRoundTrip) {
  Store& s = *store_;
  EmbeddingStore es(&s);
  const int64_t c = *s.GetOrCreateCollection("c");
  DocumentRecord d = Doc("/d.txt", "1");
  ASSERT_TRUE(s.PutDocument(c, &d, MakeChunks("First sentence here with several more words to fill it up. Second sentence there with even more words to fill the budget. Third one closes.", 16)).ok());
  ASSERT_GE(d.n_chunks, 2);
  EXPECT_FALSE(es.GetEmbedder(c)->has_value());
  EmbedderSource source{"/models/e.gguf", "mean", std::nullopt, "passage: "};
  ASSERT_TRUE(es.RecordEmbedder(c, "emb-1", 3, source).ok());
  EXPECT_TRUE(es.RecordEmbedder(c, "emb-1", 3).ok());
  EXPECT_EQ(es.RecordEmbedder(c, "emb-2", 3).code(), StatusCode::kFailedPrecondition);
  auto e = es.GetEmbedder(c);
  ASSERT_TRUE(e.ok() && e->has_value()) << e.status().ToString();
  EXPECT_EQ((*e)->embedder_id, "emb-1");
  EXPECT_EQ((*e)->dim, 3);
  EXPECT_EQ((*e)->source.model_path, "/models/e.gguf");
  EXPECT_EQ((*e)->source.pooling, "mean");
  EXPECT_FALSE((*e)->source.query_prefix.has_value());
  EXPECT_EQ((*e)->source.doc_prefix, "passage: ");
  EXPECT_TRUE((*e)->common_component.empty());

  auto pending = es.ChunksWithoutEmbedding(c, 100);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(static_cast<int64_t>(pending->size()), d.n_chunks);
  EXPECT_EQ(*es.CountChunksWithoutEmbedding(c), d.n_chunks);
  std::vector<int64_t> ids = {(*pending)[1].chunk_id, (*pending)[0].chunk_id};
  const std::vector<float> vectors = {1.5f, -2.0f, 0.25f, 4.0f, 5.0f, -6.5f};
  ASSERT_TRUE(es.PutEmbeddings(ids, vectors, 3).ok());
  EXPECT_EQ(es.PutEmbeddings(ids, std::vector<float>{1.0f}, 3).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(es.PutEmbeddings(std::vector<int64_t>{d.id + 100000}, std::vector<float>{1, 2, 3}, 3).ok());
  EXPECT_EQ(*es.CountChunksWithoutEmbedding(c), d.n_chunks - 2);
  auto rows = es.LoadEmbeddings(c);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->ids.size(), 2u);
  EXPECT_EQ(rows->ids[0], (*pending)[0].chunk_id);  // ascending by id
  EXPECT_EQ(rows->vectors, (std::vector<float>{4.0f, 5.0f, -6.5f, 1.5f, -2.0f, 0.25f}));
  EXPECT_EQ(rows->document_ids[0], d.id);
  EXPECT_EQ(rows->ordinals[1], 1u);
  auto info = s.ListCollections();
  EXPECT_EQ((*info)[0].embedder_id, "emb-1");
  EXPECT_EQ((*info)[0].embedding_dim, 3);
  EXPECT_EQ((*info)[0].n_embedded_chunks, 2);

  const std::vector<float> common = {0.5f, 0.25f, -1.0f};
  ASSERT_TRUE(es.SetCommonComponent(c, common).ok());
  EXPECT_EQ((*es.GetEmbedder(c))->common_component, common);

  auto by_id = es.GetChunksById(std::vector<int64_t>{ids[0], 999999, ids[1]});
  ASSERT_TRUE(by_id.ok());
  ASSERT_EQ(by_id->size(), 2u);  // the missing id is skipped, the order kept
  EXPECT_EQ((*by_id)[0].chunk.id, ids[0]);
  EXPECT_EQ((*by_id)[0].path, "/d.txt");
  EXPECT_EQ((*by_id)[1].chunk.id, ids[1]);

  // Re-ingesting the document drops its vectors with its chunks.
  DocumentRecord d2 = Doc("/d.txt", "2");
  ASSERT_TRUE(s.PutDocument(c, &d2, MakeChunks("Entirely new text.")).ok());
  EXPECT_TRUE(es.LoadEmbeddings(c)->ids.empty());
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST_P(StoreContract, DataVersionSeesOtherConnections) {
  std::unique_ptr<Store> watcher = Open(Store::Mode::kReadOnly);
  ASSERT_NE(watcher, nullptr);
  auto v0 = watcher->DataVersion();
  ASSERT_TRUE(v0.ok()) << v0.status().ToString();
  const int64_t c = *store_->GetOrCreateCollection("c");
  DocumentRecord d = Doc("/d.txt", "1");
  ASSERT_TRUE(store_->PutDocument(c, &d, MakeChunks("Some text.")).ok());
  auto v1 = watcher->DataVersion();
  ASSERT_TRUE(v1.ok());
  EXPECT_NE(*v1, *v0);
  EXPECT_EQ(*watcher->DataVersion(), *v1);  // no change, no new version
  ASSERT_TRUE(*store_->DeleteDocument(c, "/d.txt"));
  EXPECT_NE(*watcher->DataVersion(), *v1);
}

TEST_P(StoreContract, ReadOnlyStoresNeverWrite) {
  const int64_t c = *store_->GetOrCreateCollection("c");
  DocumentRecord d = Doc("/d.txt", "1");
  ASSERT_TRUE(store_->PutDocument(c, &d, MakeChunks("Original text.")).ok());
  std::unique_ptr<Store> ro = Open(Store::Mode::kReadOnly);
  ASSERT_NE(ro, nullptr);
  DocumentRecord d2 = Doc("/d.txt", "2");
  EXPECT_FALSE(ro->PutDocument(c, &d2, MakeChunks("Replaced text.")).ok());
  EXPECT_FALSE(ro->DeleteCollection("c").ok());
  EXPECT_EQ(ro->Search(c, "original", 5)->size(), 1u);
  EXPECT_EQ((*store_->FindDocument(c, "/d.txt"))->content_hash, "1");
}

TEST_P(StoreContract, NewerSchemaIsAClearError) {
  ASSERT_TRUE(SetStoredSchemaVersion(static_cast<int>(store_->schema_version()) + 1).ok());
  auto s = Store::Open(location_, Store::Mode::kReadWrite);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("upgrade chunkserve"), std::string::npos) << s.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace chunkserve::rag
