// The chunk cache's shared tier on a real redis-server (redis_test_server.h):
// two caches stand for two replicas.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "base/hash.h"
#include "kv/chunk_cache.h"
#include "kv/chunk_file.h"
#include "kv/redis_tier.h"
#include "kv_test_util.h"
#include "redis_test_server.h"

namespace chunkserve::kv {
namespace {

using testing::MakeChunk;
using testing::RedisTestServer;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kFp = 0xBEEF;

class RedisTierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("redis");
    server_ = std::make_unique<RedisTestServer>(dir_->path());
    if (!server_->Start()) GTEST_SKIP() << "redis-server is not installed (" << testing::kRedisServer << ")";
  }
  std::unique_ptr<ChunkCache> Replica(const std::string& variant = "attn-f32", std::string disk_dir = "") {
    ChunkCacheOptions o;
    o.ram_budget_bytes = 8 << 20;
    o.disk_dir = std::move(disk_dir);
    o.remote.url = server_->url();
    o.remote.variant = variant;
    o.remote.timeout_ms = 200;
    o.remote.backoff_min_ms = 50;
    o.remote.backoff_max_ms = 200;
    auto c = ChunkCache::Open(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<RedisTestServer> server_;
};

TEST_F(RedisTierTest, AChunkComputedOnOneReplicaIsWarmOnAnother) {
  auto a = Replica(), b = Replica();
  auto kv = MakeChunk(kFp, 24, 100);
  EXPECT_FALSE(b->Lookup(kv->key, kv->tokens).has_value());  // nobody has it yet
  ASSERT_TRUE(a->Insert(kv).ok());                            // A computed it: published
  EXPECT_EQ(a->stats().n_remote_published, 1);
  auto hit = b->Lookup(kv->key, kv->tokens);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->tier, ChunkTier::kRemote);
  EXPECT_EQ(hit->kv->k, kv->k);
  EXPECT_EQ(hit->kv->v, kv->v);
  EXPECT_EQ(hit->kv->scores, kv->scores);
  EXPECT_EQ(b->stats().n_remote_hits, 1);
  // Now in B's RAM: no second trip to Redis.
  auto again = b->Lookup(kv->key, kv->tokens);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->tier, ChunkTier::kRam);
  EXPECT_EQ(b->remote()->stats().n_hits, 1);
  // Other tokens under the same key (a collision) are not this chunk.
  std::vector<int32_t> other = kv->tokens;
  other.back() += 1;
  auto c = Replica();
  EXPECT_FALSE(c->Lookup(kv->key, other).has_value());
}

// Insert in halves (the engine's fill path): InsertInRam is a RAM entry at
// once and nothing else; Persist then writes the disk file and publishes.
TEST_F(RedisTierTest, InsertInRamThenPersistStoresEverywhere) {
  TempDir disk("persist_disk");
  auto a = Replica("attn-f32", disk.path()), b = Replica();
  auto kv = MakeChunk(kFp, 24, 300);
  a->InsertInRam(kv);
  EXPECT_EQ(a->Where(kv->key), ChunkTier::kRam);
  EXPECT_EQ(a->stats().n_disk_files, 0);
  EXPECT_EQ(a->stats().n_remote_published, 0);
  EXPECT_FALSE(b->Lookup(kv->key, kv->tokens).has_value());
  ASSERT_TRUE(a->Persist(kv).ok());
  EXPECT_EQ(a->stats().n_disk_files, 1);
  EXPECT_EQ(a->stats().n_remote_published, 1);
  EXPECT_EQ(a->stats().n_inserts, 1);
  auto hit = b->Lookup(kv->key, kv->tokens);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->tier, ChunkTier::kRemote);
  a->DropRamTier();
  EXPECT_EQ(a->Where(kv->key), ChunkTier::kDisk);
}

TEST_F(RedisTierTest, KeysSeparateVariantsModelsAndLayoutVersions) {
  auto f32 = Replica("attn-f32"), bf16 = Replica("attn-bf16");
  auto kv = MakeChunk(kFp, 8, 7);
  ASSERT_TRUE(f32->Insert(kv).ok());
  EXPECT_FALSE(bf16->Lookup(kv->key, kv->tokens).has_value());
  auto other_model = MakeChunk(kFp + 1, 8, 7);
  EXPECT_FALSE(Replica()->Lookup(other_model->key, other_model->tokens).has_value());
  const std::string key = f32->remote()->KeyOf(kv->key);
  EXPECT_NE(key.find(":v" + std::to_string(kChunkFileVersion) + ":"), std::string::npos) << key;
  EXPECT_NE(key.find(HashToHex(kFp)), std::string::npos) << key;
  EXPECT_NE(key.find(HashToHex(kv->key.content_hash)), std::string::npos) << key;
  EXPECT_NE(key.find("attn-f32"), std::string::npos) << key;
}

TEST_F(RedisTierTest, AWrongValueIsRejectedDeletedAndRecomputed) {
  auto a = Replica(), b = Replica();
  auto kv = MakeChunk(kFp, 16, 40);
  ASSERT_TRUE(a->Insert(kv).ok());
  const std::string key = a->remote()->KeyOf(kv->key);
  std::string value = server_->Run({"GET", key});
  ASSERT_FALSE(value.empty());
  value[value.size() / 2] ^= 0x20;  // a flipped payload bit: the checksum no longer matches
  ASSERT_EQ(server_->Run({"SET", key, value}), "OK");
  EXPECT_FALSE(b->Lookup(kv->key, kv->tokens).has_value());
  EXPECT_EQ(b->stats().n_remote_rejected, 1);
  EXPECT_EQ(server_->Run({"EXISTS", key}), "0");  // deleted there
  // B recomputes and publishes; a third replica gets the good value.
  ASSERT_TRUE(b->Insert(kv).ok());
  auto hit = Replica()->Lookup(kv->key, kv->tokens);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->kv->k, kv->k);
}

TEST_F(RedisTierTest, RedisDownOrFlushedNeverFailsAndTheTierComesBack) {
  auto a = Replica(), b = Replica();
  auto kv1 = MakeChunk(kFp, 16, 1), kv2 = MakeChunk(kFp, 16, 500), kv3 = MakeChunk(kFp, 16, 900);
  ASSERT_TRUE(a->Insert(kv1).ok());
  // Flushed: a miss, then recomputed and republished.
  ASSERT_EQ(server_->Run({"FLUSHALL"}), "OK");
  EXPECT_FALSE(b->Lookup(kv1->key, kv1->tokens).has_value());
  ASSERT_TRUE(b->Insert(kv1).ok());
  EXPECT_TRUE(Replica()->Lookup(kv1->key, kv1->tokens).has_value());

  // Down: inserts succeed (RAM), lookups miss, each within the timeout.
  server_->Kill();
  const auto t0 = Clock::now();
  EXPECT_TRUE(a->Insert(kv2).ok());
  EXPECT_FALSE(b->Lookup(kv2->key, kv2->tokens).has_value());
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(b->Lookup(kv3->key, kv3->tokens).has_value());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(a->Lookup(kv2->key, kv2->tokens).has_value());  // A's own RAM still serves
  EXPECT_GE(a->stats().n_remote_publish_failures, 1);
  EXPECT_GE(b->remote()->stats().n_skipped, 1);  // backing off, not retrying every call

  // Back: after the backoff the tier reconnects by itself.
  ASSERT_TRUE(server_->Start());
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // > backoff_max_ms
  ASSERT_TRUE(a->Insert(kv3).ok());
  EXPECT_EQ(a->stats().n_remote_published, 2);
  auto hit = b->Lookup(kv3->key, kv3->tokens);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->tier, ChunkTier::kRemote);
  EXPECT_GE(b->remote()->stats().n_connects, 2);
}

TEST_F(RedisTierTest, UnreachableRedisAtStartIsNotAnError) {
  ChunkCacheOptions o;
  o.remote.url = "unix://" + dir_->path() + "/nobody.sock";
  o.remote.timeout_ms = 100;
  auto cache = ChunkCache::Open(o);
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  auto kv = MakeChunk(kFp, 4, 3);
  EXPECT_TRUE((*cache)->Insert(kv).ok());
  EXPECT_TRUE((*cache)->Lookup(kv->key, kv->tokens).has_value());
}

TEST(RedisTierUrl, MalformedUrlsAreRejected) {
  for (const char* url : {"http://x", "redis://", "redis://host:0", "redis://host:99999", "redis://h:p",
                          "unix://relative.sock", "redis://host/db"}) {
    RedisTierOptions o;
    o.url = url;
    EXPECT_EQ(RedisTier::Create(o).status().code(), StatusCode::kInvalidArgument) << url;
  }
  for (const char* url : {"redis://localhost", "redis://127.0.0.1:6380/2", "redis://:secret@host:1", "unix:///tmp/r.sock"}) {
    RedisTierOptions o;
    o.url = url;
    EXPECT_TRUE(RedisTier::Create(o).ok()) << url;
  }
}

}  // namespace
}  // namespace chunkserve::kv
