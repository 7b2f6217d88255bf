// Retrieval end to end over a real store: ingestion, embedding pass, dense
// index cache (missing / valid / corrupt / stale), bm25 / dense / hybrid,
// path filter, embedder mismatch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "rag/embed/collection_embedding.h"
#include "rag/embed/static_embedder.h"
#include "rag/embed_test_util.h"
#include "rag/legacy_schema.h"
#include "rag/ingest/ingester.h"
#include "rag/retrieve/near_duplicates.h"
#include "rag/retrieve/retriever.h"
#include "rag/store/embedding_store.h"
#include "rag/store/sqlite_store.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

namespace fs = std::filesystem;

class RetrieveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = WriteTinyGloveModel(dir_);
    ASSERT_FALSE(model_.empty());
    auto e = StaticEmbedder::Load(model_);
    ASSERT_TRUE(e.ok());
    embedder_ = std::move(*e);
    // Four documents, one per topic, several paragraphs each so there are
    // enough chunks for the common component.
    const char* topics[][2] = {{"pets", "The cat and the dog are pets. A kitten has fur and a paw. "},
                               {"money", "Our budget and tax revenue. The treasury counts debt in dollars. "},
                               {"navy", "The navy has a fleet of ships at sea. A sailor in the harbor. "},
                               {"school", "The school teacher and the student. Education is learning in class. "}};
    for (auto& t : topics) {
      std::string text;
      for (int p = 0; p < 8; ++p) text += std::string(t[1]) + std::string(t[1]) + "\n\n";
      dir_.Write(std::string("docs/") + t[0] + ".txt", text);
    }
    dir_.Write("other/navy2.txt", "A second navy text about the ocean and the fleet.\n");
    auto store = Store::Open(dir_.path("db.sqlite"), Store::Mode::kReadWrite);
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    Ingest({dir_.path("docs"), dir_.path("other")});
    auto cid = store_->FindCollection("c");
    ASSERT_TRUE(cid.ok() && *cid);
    collection_ = **cid;
    auto embedded = EmbedCollection(store_.get(), collection_, *embedder_);
    ASSERT_TRUE(embedded.ok()) << embedded.status().ToString();
    EXPECT_GT(embedded->n_embedded, 16);
    EXPECT_TRUE(embedded->common_component_updated);
  }

  void Ingest(const std::vector<std::string>& paths) {
    IngestParams p;
    p.paths = paths;
    p.collection = "c";
    p.chunker.chunk_tokens = 32;
    p.chunker.overlap_tokens = 4;
    ApproxTokenCounter counter;
    Ingester ingester(store_.get(), &counter);
    auto r = ingester.Run(p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  DenseIndexOptions CacheOptions(size_t hnsw_min = 4096) {
    DenseIndexOptions o;
    o.cache_dir = dir_.path("cache");
    o.hnsw_min_vectors = hnsw_min;
    return o;
  }

  std::vector<RetrievedChunk> Run(const std::string& q, RetrievalMode mode, const DenseIndex* dense, int k = 3,
                                  const std::string& prefix = "") {
    Retriever r(store_.get(), collection_, embedder_.get(), dense);
    RetrieveParams p;
    p.mode = mode;
    p.k = k;
    p.path_prefix = prefix;
    auto out = r.Retrieve(q, p);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : std::vector<RetrievedChunk>{};
  }

  TestDir dir_{"retrieve"};
  std::string model_;
  std::unique_ptr<StaticEmbedder> embedder_;
  std::unique_ptr<Store> store_;
  int64_t collection_ = 0;
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST_F(RetrieveTest, DenseFindsTopicWithoutSharedWords) {
  for (size_t hnsw_min : {size_t{4096}, size_t{1}}) {  // flat, then HNSW
    auto dense = DenseIndex::Open(store_.get(), collection_, CacheOptions(hnsw_min));
    ASSERT_TRUE(dense.ok()) << dense.status().ToString();
    EXPECT_EQ((*dense)->index().kind(), hnsw_min == 1 ? "hnsw" : "flat");
    // "puppy" and "animal" appear in no document: BM25 finds nothing, dense
    // finds the pets document through the word vectors.
    EXPECT_TRUE(Run("puppy animal", RetrievalMode::kBm25, dense->get()).empty());
    auto hits = Run("puppy animal", RetrievalMode::kDense, dense->get());
    ASSERT_FALSE(hits.empty());
    EXPECT_TRUE(EndsWith(hits[0].hit.path, "pets.txt")) << hits[0].hit.path;
    EXPECT_GT(hits[0].dense_similarity, 0.5);
    // Hybrid agrees when both know the words.
    hits = Run("sailor fleet", RetrievalMode::kHybrid, dense->get());
    ASSERT_FALSE(hits.empty());
    EXPECT_NE(hits[0].hit.path.find("navy"), std::string::npos);
    EXPECT_GT(hits[0].bm25_rank, 0);
    EXPECT_GT(hits[0].dense_rank, 0);
    // Overlapping chunks of one document never both appear.
    hits = Run("budget treasury", RetrievalMode::kHybrid, dense->get(), 10);
    for (size_t i = 0; i < hits.size(); ++i)
      for (size_t j = i + 1; j < hits.size(); ++j) {
        const auto& a = hits[i].hit.chunk;
        const auto& b = hits[j].hit.chunk;
        EXPECT_FALSE(a.document_id == b.document_id && a.text_begin < b.text_end && b.text_begin < a.text_end);
      }
  }
}

TEST_F(RetrieveTest, SituatedVectorsKeepTopicsAndHaveTheirOwnCacheKey) {
  auto plain = DenseIndex::Open(store_.get(), collection_, CacheOptions(1));
  ASSERT_TRUE(plain.ok());
  DenseIndexOptions o = CacheOptions(1);
  o.situated_weight = 1.0;
  auto situated = DenseIndex::Open(store_.get(), collection_, o);
  ASSERT_TRUE(situated.ok());
  EXPECT_FALSE((*situated)->loaded_from_cache());  // another fingerprint, not the plain file
  auto hits = Run("puppy animal", RetrievalMode::kDense, situated->get());
  ASSERT_FALSE(hits.empty());
  EXPECT_TRUE(EndsWith(hits[0].hit.path, "pets.txt"));
  EXPECT_NEAR(hits[0].dense_similarity, 1.0, 0.5);
}

TEST_F(RetrieveTest, PathPrefixFiltersBothRetrievers) {
  auto dense = DenseIndex::Open(store_.get(), collection_, CacheOptions(1));
  ASSERT_TRUE(dense.ok());
  const std::string prefix = dir_.path("other");
  for (RetrievalMode mode : {RetrievalMode::kBm25, RetrievalMode::kDense, RetrievalMode::kHybrid}) {
    auto hits = Run("navy fleet ocean", mode, dense->get(), 5, prefix);
    ASSERT_FALSE(hits.empty()) << RetrievalModeName(mode);
    for (const auto& h : hits) EXPECT_EQ(h.hit.path.rfind(prefix, 0), 0u) << h.hit.path;
  }
}

// Copies of a document under other paths (one with a word changed) merge
// into the best-ranked source, their paths in also_in; passages of one
// document are never merged.
TEST_F(RetrieveTest, NearDuplicateDocumentsMergeIntoOneSource) {
  const std::string text = "The lighthouse keeper trims the wick every evening before the storm arrives.\n";
  dir_.Write("dups/a.txt", text);
  dir_.Write("dups/b.txt", text);
  dir_.Write("dups/c.txt", "The lighthouse keeper trims the wick every evening before the storm arrives!\n");
  dir_.Write("dups/d.txt", "The lighthouse keeper sleeps through the storm and the wick burns out.\n");
  Ingest({dir_.path("dups")});
  const auto hits = Run("lighthouse keeper wick storm", RetrievalMode::kBm25, nullptr, 5);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].hit.also_in.size(), 2u);
  EXPECT_TRUE(EndsWith(hits[1].hit.path, "d.txt") || EndsWith(hits[0].hit.path, "d.txt"));
  for (const auto& h : hits)
    for (const std::string& p : h.hit.also_in) EXPECT_NE(p, h.hit.path);
  // Within one document nothing merges: the repeated pets paragraphs stay.
  const auto pets = Run("cat dog kitten fur paw", RetrievalMode::kBm25, nullptr, 3);
  EXPECT_EQ(pets.size(), 3u);
  EXPECT_TRUE(MergeNearDuplicates({"a b c d", "a b c d", "x y z"}, {1, 1, 2}).merged[0].empty());
  EXPECT_EQ(MergeNearDuplicates({"a b c d", "A b, c d.", "x y z"}, {1, 2, 3}).merged[0], (std::vector<size_t>{1}));
}

TEST_F(RetrieveTest, IndexCacheIsReusedRebuiltWhenCorruptAndWhenStale) {
  auto first = DenseIndex::Open(store_.get(), collection_, CacheOptions(1));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE((*first)->loaded_from_cache());
  EXPECT_EQ((*first)->rebuild_reason(), "missing");
  auto second = DenseIndex::Open(store_.get(), collection_, CacheOptions(1));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE((*second)->loaded_from_cache());
  // Corrupt the cached file: the index is rebuilt, results stay the same.
  std::vector<fs::path> files(fs::directory_iterator(dir_.path("cache")), fs::directory_iterator());
  ASSERT_EQ(files.size(), 1u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  auto third = DenseIndex::Open(store_.get(), collection_, CacheOptions(1));
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE((*third)->loaded_from_cache());
  EXPECT_EQ((*third)->rebuild_reason().rfind("corrupt", 0), 0u) << (*third)->rebuild_reason();
  auto a = Run("kitten fur", RetrievalMode::kDense, second->get(), 5);
  auto b = Run("kitten fur", RetrievalMode::kDense, third->get(), 5);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].hit.chunk.id, b[i].hit.chunk.id);
  // Deleting a document changes the fingerprint: a fresh index without it.
  ASSERT_TRUE(*store_->DeleteDocument(collection_, dir_.path("docs/pets.txt")));
  auto fourth = DenseIndex::Open(store_.get(), collection_, CacheOptions(1));
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE((*fourth)->loaded_from_cache());
  // Same embedder and common component: the old index is updated in place
  // (tombstones for the deleted chunks), not rebuilt.
  EXPECT_TRUE((*fourth)->updated_in_place()) << (*fourth)->rebuild_reason();
  EXPECT_EQ((*fourth)->rebuild_reason().rfind("stale: updated in place (-", 0), 0u) << (*fourth)->rebuild_reason();
  DenseIndexOptions fresh_options = CacheOptions(1);
  fresh_options.cache_dir = dir_.path("fresh_cache");
  auto fresh = DenseIndex::Open(store_.get(), collection_, fresh_options);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE((*fresh)->updated_in_place());
  EXPECT_EQ((*fourth)->index().size(), (*fresh)->index().size());
  for (const char* q : {"sailor fleet", "budget treasury", "school teacher"}) {
    auto a = Run(q, RetrievalMode::kDense, fourth->get(), 1);
    auto b = Run(q, RetrievalMode::kDense, fresh->get(), 1);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(a[0].hit.path, b[0].hit.path) << q;
  }
  // The updated index was saved: the next open loads it as is.
  auto fifth = DenseIndex::Open(store_.get(), collection_, CacheOptions(1));
  ASSERT_TRUE(fifth.ok());
  EXPECT_TRUE((*fifth)->loaded_from_cache());
  for (const auto& h : Run("kitten fur cat dog", RetrievalMode::kDense, fourth->get(), 10))
    EXPECT_EQ(h.hit.path.find("pets"), std::string::npos);
  // One cache file per collection remains.
  files.assign(fs::directory_iterator(dir_.path("cache")), fs::directory_iterator());
  EXPECT_EQ(files.size(), 1u);
}

TEST_F(RetrieveTest, EmbedderMismatchIsAClearError) {
  auto other = StaticEmbedder::Load(model_, {.sif_a = 0.05});
  ASSERT_TRUE(other.ok());
  auto r = EmbedCollection(store_.get(), collection_, **other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find(embedder_->id()), std::string::npos) << r.status().message();
  auto dense = DenseIndex::Open(store_.get(), collection_, CacheOptions());
  ASSERT_TRUE(dense.ok());
  Retriever retriever(store_.get(), collection_, other->get(), dense->get());
  RetrieveParams p;
  p.mode = RetrievalMode::kDense;
  auto out = retriever.Retrieve("cat", p);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  // No embedder at all: dense is refused, bm25 works.
  Retriever bm25_only(store_.get(), collection_, nullptr, nullptr);
  EXPECT_FALSE(bm25_only.Retrieve("cat", p).ok());
  p.mode = RetrievalMode::kBm25;
  auto hits = bm25_only.Retrieve("cat", p);
  ASSERT_TRUE(hits.ok());
  EXPECT_FALSE(hits->empty());
}

TEST_F(RetrieveTest, NewChunksAreEmbeddedIncrementally) {
  EmbeddingStore es(store_.get());
  EXPECT_EQ(*es.CountChunksWithoutEmbedding(collection_), 0);
  dir_.Write("more/extra.txt", "A teacher and a student in a class at school.\n");
  Ingest({dir_.path("more")});
  EXPECT_EQ(*es.CountChunksWithoutEmbedding(collection_), 1);
  auto r = EmbedCollection(store_.get(), collection_, *embedder_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_embedded, 1);
  EXPECT_EQ(*es.CountChunksWithoutEmbedding(collection_), 0);
  auto again = EmbedCollection(store_.get(), collection_, *embedder_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->n_embedded, 0);
  EXPECT_FALSE(again->common_component_updated);
}

}  // namespace
}  // namespace chunkserve::rag

namespace chunkserve::rag {
namespace {

// A schema-1 database (before embeddings) is migrated when opened
// read-write, and works without embeddings when opened read-only.
TEST(EmbeddingSchema, VersionOneIsMigratedOrReadWithoutEmbeddings) {
  TestDir dir("schema1");
  const std::string path = dir.path("old.db");
  {
    // A version-1 file as that version wrote it (legacy_schema.h).
    auto db = Database::Open(path, Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec(std::string(kSchemaV1Sql) + "INSERT INTO collections(name, created_at_s) VALUES ('c', 0);"
                            "PRAGMA user_version = 1").ok());
  }
  {
    auto ro = Store::Open(path, Store::Mode::kReadOnly);
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    EmbeddingStore es(ro->get());
    EXPECT_EQ(es.CheckAvailable().code(), StatusCode::kFailedPrecondition);
    auto cid = (*ro)->FindCollection("c");
    ASSERT_TRUE(cid.ok() && *cid);
    // BM25 still works; dense says why it cannot.
    Retriever r(ro->get(), **cid, nullptr, nullptr);
    RetrieveParams p;
    p.mode = RetrievalMode::kBm25;
    EXPECT_TRUE(r.Retrieve("anything", p).ok());
    EXPECT_EQ(DenseIndex::Open(ro->get(), **cid, {}).status().code(), StatusCode::kFailedPrecondition);
  }
  {
    auto rw = Store::Open(path, Store::Mode::kReadWrite);
    ASSERT_TRUE(rw.ok());
    EXPECT_EQ(*static_cast<SqliteStore&>(**rw).db().QueryInt("PRAGMA user_version"), kSchemaVersion);
    EmbeddingStore es(rw->get());
    EXPECT_TRUE(es.CheckAvailable().ok());
    EXPECT_TRUE((*rw)->CheckIntegrity().ok());
  }
}

}  // namespace
}  // namespace chunkserve::rag
