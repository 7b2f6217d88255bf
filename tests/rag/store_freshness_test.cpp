// Freshness across replicas: two "replicas" (each its own Store connection
// and dense-index cache, CollectionIndexes) on one database. What one
// writes, the other searches at once (BM25), or as soon as the commit's
// notification arrives (dense, PostgreSQL: LISTEN/NOTIFY; SQLite: at once);
// deletions disappear there too. Run on both backends (PostgreSQL is the
// replicas' case). Then PostgreSQL's upkeep: its change listener (a lost
// connection falls back to polling and listens again), change-log pruning,
// and the upgrade of a schema 4 database (postings per chunk) to 5.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>
#include <memory>
#include <set>
#include <string>

#include "rag/embed/collection_embedding.h"
#include "rag/embed/static_embedder.h"
#include "rag/embed_test_util.h"
#include "rag/pg_test_server.h"
#include "rag/retrieve/collection_indexes.h"
#include "rag/store/pg_store.h"
#include "rag/store/store.h"
#include "rag/test_dir.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

class Freshness : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string label = "fresh_" + name;
    for (char& c : label)
      if (c == '/') c = '_';
    dir_ = std::make_unique<TestDir>(label);
    if (GetParam() == "postgresql") {
      pg_ = std::make_unique<PgTestDatabase>(label);
      if (!pg_->ok()) GTEST_SKIP() << "PostgreSQL backend skipped: " << pg_->why_not();
      location_ = pg_->url();
      // The dense-index cache of a PostgreSQL database lives under the
      // user's cache directory: keep it in the test's.
      ::setenv("XDG_CACHE_HOME", dir_->path("cache").c_str(), 1);
    } else {
      location_ = dir_->path("db.sqlite");
    }
    model_ = WriteTinyGloveModel(*dir_);
    ASSERT_FALSE(model_.empty());
    auto e = StaticEmbedder::Load(model_);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    embedder_ = std::move(*e);
    auto a = Store::Open(location_, Store::Mode::kReadWrite);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    writer_ = std::move(*a);
    collection_ = *writer_->GetOrCreateCollection("c");
  }

  // Replica A's write: a document and its vectors.
  void Put(const std::string& path, const std::string& sentence) {
    std::string text;
    for (int i = 0; i < 6; ++i) text += sentence + " ";
    ApproxTokenCounter counter;
    DocumentRecord d;
    d.path = path;
    d.origin = DocumentOrigin::kFile;
    d.content_hash = path;
    d.format = "text";
    d.chunker = "test";
    ASSERT_TRUE(writer_->PutDocument(collection_, &d,
                                     ChunkDocument(ExtractPlainText(text), {ChunkerKind::kSentence, 16, 0}, counter))
                    .ok());
    auto embedded = EmbedCollection(writer_.get(), collection_, *embedder_);
    ASSERT_TRUE(embedded.ok()) << embedded.status().ToString();
  }

  // Replica B's dense search: the paths of the k nearest chunks.
  std::set<std::string> DensePaths(CollectionIndexes& indexes, Store& store, const std::string& query) {
    auto index = indexes.Get(&store, collection_, "c");
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    if (!index.ok() || *index == nullptr) return {};
    std::vector<float> q(static_cast<size_t>(embedder_->dim()));
    EXPECT_TRUE(embedder_->EmbedQuery(query, q).ok());
    SearchOptions o;
    o.k = 3;
    auto found = (*index)->Search(q, o);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::vector<int64_t> ids;
    for (const Neighbor& n : *found) ids.push_back(n.id);
    std::set<std::string> paths;
    auto hits = store.GetChunksById(ids);
    EXPECT_TRUE(hits.ok());
    for (const SearchHit& h : *hits) paths.insert(h.path);
    return paths;
  }

  // The documented delay of dense freshness: a commit's notification
  // arrives within milliseconds; a loaded test machine gets 5 s.
  bool Eventually(const std::function<bool()>& cond) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  std::unique_ptr<TestDir> dir_;
  std::unique_ptr<PgTestDatabase> pg_;
  std::string location_;
  std::string model_;
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<Store> writer_;
  int64_t collection_ = 0;
};

TEST_P(Freshness, WritesOfOneReplicaAreSearchableOnAnotherAtOnce) {
  Put("/pets.txt", "The cat and the dog are pets with fur and a paw.");
  auto b = Store::Open(location_, Store::Mode::kReadOnly);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  Store& store_b = **b;
  auto indexes = CollectionIndexes::Create(location_, embedder_.get(), Store::Mode::kReadOnly);
  ASSERT_TRUE(indexes.ok()) << indexes.status().ToString();
  CollectionIndexes& idx_b = **indexes;
  EXPECT_EQ(DensePaths(idx_b, store_b, "kitten puppy animal"), std::set<std::string>{"/pets.txt"});

  // A adds a document: B's next search sees it (dense: once the commit's
  // notification arrived; BM25 reads the shared postings at once).
  Put("/navy.txt", "The navy fleet of ships sailed the ocean from the harbor.");
  EXPECT_TRUE(Eventually([&] { return DensePaths(idx_b, store_b, "sailor sea fleet").count("/navy.txt") > 0; }));
  auto bm25 = store_b.Search(collection_, "harbor", 5);
  ASSERT_TRUE(bm25.ok());
  ASSERT_FALSE(bm25->empty());
  EXPECT_EQ((*bm25)[0].path, "/navy.txt");

  // A deletes it: gone from B's BM25 and dense results.
  ASSERT_TRUE(*writer_->DeleteDocument(collection_, "/navy.txt"));
  EXPECT_TRUE(Eventually([&] { return DensePaths(idx_b, store_b, "sailor sea fleet").count("/navy.txt") == 0; }));
  EXPECT_TRUE(store_b.Search(collection_, "harbor", 5)->empty());
  // And unchanged data keeps B's index (no reopen without a change).
  auto first = idx_b.Get(&store_b, collection_, "c");
  auto second = idx_b.Get(&store_b, collection_, "c");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());
  // PostgreSQL tells collections apart: a change in another collection
  // keeps this collection's index.
  if (GetParam() == "postgresql") {
    const int64_t other = *writer_->GetOrCreateCollection("other");
    DocumentRecord d;
    d.path = "/other.txt";
    d.content_hash = "o";
    d.format = "text";
    d.chunker = "test";
    ApproxTokenCounter counter;
    ASSERT_TRUE(writer_->PutDocument(other, &d, ChunkDocument(ExtractPlainText("Unrelated text."),
                                                               {ChunkerKind::kSentence, 16, 0}, counter)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // its notification arrives
    auto third = idx_b.Get(&store_b, collection_, "c");
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(third->get(), second->get());
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Freshness, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// PostgreSQL's watcher store (PgStore::WatchChanges) on its own: versions
// from notifications, no change-log query while listening, polling while the
// listener is down, listening again by itself; and change-log pruning.
class PgStoreUpkeep : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    pg_ = std::make_unique<PgTestDatabase>("chg_" + name);
    if (!pg_->ok()) GTEST_SKIP() << "PostgreSQL backend skipped: " << pg_->why_not();
    writer_ = std::move(Store::Open(pg_->url(), Store::Mode::kReadWrite)).value();
    collection_ = *writer_->GetOrCreateCollection("c");
    admin_ = std::move(PgConnection::Connect(pg_->url())).value();
  }
  void Put(int64_t collection, const std::string& path) {
    DocumentRecord d;
    d.path = path;
    d.content_hash = path;
    d.format = "text";
    d.chunker = "test";
    ApproxTokenCounter counter;
    ASSERT_TRUE(writer_->PutDocument(collection, &d, ChunkDocument(ExtractPlainText("Some text of " + path + "."),
                                                                   {ChunkerKind::kSentence, 16, 0}, counter)).ok());
  }
  int64_t AdminInt(const std::string& sql) {
    auto r = admin_->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->rows() > 0 && !r->IsNull(0, 0) ? r->Int64(0, 0) : -1;
  }
  int64_t NewestLogId() {
    return AdminInt("SELECT max(id) FROM change_log WHERE collection_id = " + std::to_string(collection_));
  }
  // Waits (bounded) until the watcher's version satisfies `cond`.
  int64_t VersionWhen(Store& watcher, const std::function<bool(int64_t)>& cond) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      auto v = watcher.CollectionVersion(collection_);
      EXPECT_TRUE(v.ok()) << v.status().ToString();
      if (!v.ok() || cond(*v) || std::chrono::steady_clock::now() > deadline) return v.ok() ? *v : 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::unique_ptr<PgTestDatabase> pg_;
  std::unique_ptr<Store> writer_;
  std::unique_ptr<PgConnection> admin_;
  int64_t collection_ = 0;
};

TEST_F(PgStoreUpkeep, NotificationsDriveTheVersionAndALostListenerFallsBackToPolling) {
  auto watcher = std::move(Store::Open(pg_->url(), Store::Mode::kReadOnly)).value();
  ASSERT_TRUE(watcher->WatchChanges().ok());
  const int64_t v0 = *watcher->CollectionVersion(collection_);
  EXPECT_LT(v0, 0) << "a listening watcher's version comes from notifications";
  // Asking again without a change: the same, and no query on the watcher's
  // own connection (its backend's last statement stays what it was).
  auto last_query = [&] {
    auto r = admin_->Query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND query LIKE '%max(id) FROM change_log%'");
    return r.ok() ? r->Int64(0, 0) : -1;
  };
  for (int i = 0; i < 20; ++i) EXPECT_EQ(*watcher->CollectionVersion(collection_), v0);
  EXPECT_EQ(last_query(), 0) << "the watcher polled the change log while listening";

  Put(collection_, "/a.txt");
  const int64_t v1 = VersionWhen(*watcher, [&](int64_t v) { return v != v0; });
  EXPECT_NE(v1, v0);
  EXPECT_LT(v1, 0);
  // Another collection's commit leaves this one's version.
  Put(*writer_->GetOrCreateCollection("other"), "/o.txt");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(*watcher->CollectionVersion(collection_), v1);

  // The listener's connection is killed: the version falls back to the
  // change log (the newest id), which still follows commits...
  EXPECT_EQ(AdminInt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                     "current_database() AND query = 'LISTEN chunkserve_changes'"), 1);
  const int64_t polled = VersionWhen(*watcher, [](int64_t v) { return v > 0; });
  EXPECT_EQ(polled, NewestLogId());
  // ... and it listens again by itself (within its 1 s retry): the version
  // moves once more (notifications may have been lost meanwhile).
  const int64_t relistened = VersionWhen(*watcher, [](int64_t v) { return v < 0; });
  EXPECT_LT(relistened, 0);
  EXPECT_NE(relistened, v1);
  Put(collection_, "/b.txt");
  EXPECT_NE(VersionWhen(*watcher, [&](int64_t v) { return v != relistened; }), relistened);
}

TEST_F(PgStoreUpkeep, OldChangeLogEntriesArePrunedButTheVersionStays) {
  for (int i = 0; i < 4; ++i) Put(collection_, "/d" + std::to_string(i) + ".txt");
  const std::string where = " FROM change_log WHERE collection_id = " + std::to_string(collection_);
  EXPECT_EQ(AdminInt("SELECT count(*)" + where), 4);
  // Entries within the bound stay; age them past it.
  ASSERT_TRUE(admin_->Exec("UPDATE change_log SET at_s = at_s - " + std::to_string(2 * PgStore::kChangeLogRetentionS))
                  .ok());
  Put(collection_, "/d4.txt");
  EXPECT_EQ(AdminInt("SELECT count(*)" + where), 1) << "the old entries were not pruned";
  // The newest entry (the version) is the new one; a non-listening store
  // still reads it.
  auto reader = std::move(Store::Open(pg_->url(), Store::Mode::kReadOnly)).value();
  EXPECT_EQ(*reader->CollectionVersion(collection_), NewestLogId());
  // A collection whose only entry is old keeps it (its version).
  ASSERT_TRUE(admin_->Exec("UPDATE change_log SET at_s = at_s - " + std::to_string(2 * PgStore::kChangeLogRetentionS))
                  .ok());
  const int64_t other = *writer_->GetOrCreateCollection("other");
  Put(other, "/o.txt");
  EXPECT_EQ(AdminInt("SELECT count(*)" + where), 1);
}

TEST_F(PgStoreUpkeep, SchemaFourIsUpgradedToFiveWithTheSameSearchResults) {
  const char* texts[] = {"The harbor and the navy fleet. Ships sailed from the harbor at dawn.",
                         "A cat, a dog and a harbor seal. The seal swam in the harbor.",
                         "Taxes on imported steel and the national debt."};
  for (int i = 0; i < 3; ++i) {
    DocumentRecord d;
    d.path = "/t" + std::to_string(i) + ".txt";
    d.content_hash = d.path;
    d.format = "text";
    d.chunker = "test";
    ApproxTokenCounter counter;
    std::string text;
    for (int r = 0; r < 5; ++r) text += std::string(texts[i]) + " ";
    ASSERT_TRUE(writer_->PutDocument(collection_, &d, ChunkDocument(ExtractPlainText(text),
                                                                    {ChunkerKind::kSentence, 16, 0}, counter)).ok());
  }
  const char* queries[] = {"harbor", "\"harbor seal\"", "navy OR steel", "debt taxes harbor"};
  auto results = [&](Store& s) {
    std::vector<std::vector<std::pair<int64_t, double>>> out;
    for (const char* q : queries) {
      auto hits = s.Search(collection_, q, 10);
      EXPECT_TRUE(hits.ok()) << hits.status().ToString();
      out.emplace_back();
      if (hits.ok())
        for (const SearchHit& h : *hits) out.back().emplace_back(h.chunk.id, h.score);
    }
    return out;
  };
  const auto before = results(*writer_);
  ASSERT_FALSE(before[0].empty());
  // Rewrite the database as schema 4 had it: a postings row per term and chunk.
  ASSERT_TRUE(admin_->Exec(R"sql(
    CREATE TABLE chunk_terms(collection_id bigint NOT NULL, term text NOT NULL, chunk_id bigint NOT NULL,
      row_tokens integer NOT NULL, positions integer[] NOT NULL, PRIMARY KEY(collection_id, term, chunk_id));
    CREATE INDEX chunk_terms_by_chunk ON chunk_terms(chunk_id);
    INSERT INTO chunk_terms
      SELECT t.collection_id, t.term, t.chunk_ids[j], t.row_tokens[j],
             t.positions[(SELECT coalesce(sum(n), 0) FROM unnest(t.n_positions[1:j-1]) n) + 1 :
                         (SELECT sum(n) FROM unnest(t.n_positions[1:j]) n)]
      FROM doc_terms t CROSS JOIN LATERAL generate_subscripts(t.chunk_ids, 1) j;
    DROP TABLE doc_terms;
    UPDATE chunkserve_schema SET version = 4;
  )sql").ok());
  // Read-only: refused with what to do.
  auto ro = Store::Open(pg_->url(), Store::Mode::kReadOnly);
  ASSERT_FALSE(ro.ok());
  EXPECT_NE(ro.status().message().find("needs an upgrade"), std::string::npos) << ro.status().ToString();
  // Read-write: upgraded, every search the same (ids and scores), consistent.
  auto upgraded = Store::Open(pg_->url() + "&application_name=upgrade", Store::Mode::kReadWrite);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  EXPECT_EQ((*upgraded)->schema_version(), PgStore::kPgSchemaVersion);
  EXPECT_EQ(results(**upgraded), before);
  EXPECT_TRUE((*upgraded)->CheckIntegrity().ok()) << (*upgraded)->CheckIntegrity().ToString();
  EXPECT_EQ(AdminInt("SELECT count(*) FROM pg_tables WHERE tablename = 'chunk_terms'"), 0);
}

}  // namespace
}  // namespace chunkserve::rag
