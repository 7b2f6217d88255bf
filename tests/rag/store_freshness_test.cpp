// Freshness across replicas: two "replicas" (each its own Store connection
// and dense-index cache, CollectionIndexes) on one database. What one
// writes, the other searches at once, BM25 and dense; deletions disappear
// there too. Run on both backends (PostgreSQL is the replicas' case).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "rag/embed/collection_embedding.h"
#include "rag/embed/static_embedder.h"
#include "rag/embed_test_util.h"
#include "rag/pg_test_server.h"
#include "rag/retrieve/collection_indexes.h"
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

  // A adds a document: B's very next search sees it (no delay to wait out).
  Put("/navy.txt", "The navy fleet of ships sailed the ocean from the harbor.");
  EXPECT_TRUE(DensePaths(idx_b, store_b, "sailor sea fleet").count("/navy.txt"));
  auto bm25 = store_b.Search(collection_, "harbor", 5);
  ASSERT_TRUE(bm25.ok());
  ASSERT_FALSE(bm25->empty());
  EXPECT_EQ((*bm25)[0].path, "/navy.txt");

  // A deletes it: gone from B's BM25 and dense results.
  ASSERT_TRUE(*writer_->DeleteDocument(collection_, "/navy.txt"));
  EXPECT_FALSE(DensePaths(idx_b, store_b, "sailor sea fleet").count("/navy.txt"));
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
    auto third = idx_b.Get(&store_b, collection_, "c");
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(third->get(), second->get());
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Freshness, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace chunkserve::rag
