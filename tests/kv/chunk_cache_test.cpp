#include "kv/chunk_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <unistd.h>

#include "kv/chunk_file.h"
#include "kv_test_util.h"

namespace chunkserve::kv {
namespace {

using testing::MakeChunk;
using testing::TempDir;
namespace fs = std::filesystem;

constexpr uint64_t kFp = 0xF00D;

std::unique_ptr<ChunkCache> OpenCache(const std::string& dir, size_t ram, size_t disk) {
  ChunkCacheOptions o;
  o.ram_budget_bytes = ram;
  o.disk_dir = dir;
  o.disk_budget_bytes = disk;
  auto c = ChunkCache::Open(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(c).value();
}

TEST(ChunkCache, RamHitAndMiss) {
  auto cache = OpenCache("", 1 << 20, 0);
  auto kv = MakeChunk(kFp, 6, 10);
  ASSERT_TRUE(cache->Insert(kv).ok());
  auto hit = cache->Lookup(kv->key, kv->tokens);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->tier, ChunkTier::kRam);
  EXPECT_EQ(hit->kv.get(), kv.get());
  EXPECT_FALSE(cache->Lookup(ChunkKey{kFp + 1, kv->key.content_hash}, kv->tokens).has_value());
  // Same key with other tokens (a collision) is a miss, never the wrong KV.
  std::vector<int32_t> other = kv->tokens;
  other[0] += 1;
  EXPECT_FALSE(cache->Lookup(kv->key, other).has_value());
}

TEST(ChunkCache, RamLruUnderBudget) {
  auto a = MakeChunk(kFp, 6, 10), b = MakeChunk(kFp, 6, 20), c = MakeChunk(kFp, 6, 30);
  auto cache = OpenCache("", a->bytes() * 2, 0);
  ASSERT_TRUE(cache->Insert(a).ok());
  ASSERT_TRUE(cache->Insert(b).ok());
  ASSERT_TRUE(cache->Lookup(a->key, a->tokens).has_value());  // b is now LRU
  ASSERT_TRUE(cache->Insert(c).ok());
  EXPECT_TRUE(cache->Lookup(a->key, a->tokens).has_value());
  EXPECT_FALSE(cache->Lookup(b->key, b->tokens).has_value());
  EXPECT_TRUE(cache->Lookup(c->key, c->tokens).has_value());
  EXPECT_LE(cache->stats().ram_bytes, a->bytes() * 2);
  EXPECT_EQ(cache->stats().n_ram_evictions, 1);
}

TEST(ChunkCache, DiskTierServesAfterRamDropAndRestart) {
  TempDir dir("restart");
  auto kv = MakeChunk(kFp, 6, 10);
  {
    auto cache = OpenCache(dir.path(), 1 << 20, 1 << 20);
    ASSERT_TRUE(cache->Insert(kv).ok());
    cache->DropRamTier();
    auto hit = cache->Lookup(kv->key, kv->tokens);
    ASSERT_TRUE(hit.has_value());
    EXPECT_EQ(hit->tier, ChunkTier::kDisk);
    EXPECT_EQ(hit->kv->k, kv->k);
    // Promoted: the next lookup is a RAM hit.
    EXPECT_EQ(cache->Lookup(kv->key, kv->tokens)->tier, ChunkTier::kRam);
  }
  auto reopened = OpenCache(dir.path(), 1 << 20, 1 << 20);
  EXPECT_EQ(reopened->stats().n_disk_files, 1);
  auto hit = reopened->Lookup(kv->key, kv->tokens);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->tier, ChunkTier::kDisk);
  EXPECT_EQ(hit->kv->v, kv->v);
  EXPECT_EQ(hit->kv->scores, kv->scores);
}

TEST(ChunkCache, CorruptFileIsRejectedAndDeleted) {
  TempDir dir("corrupt");
  auto kv = MakeChunk(kFp, 6, 10);
  const std::string path = dir.path() + "/" + ChunkCache::FileName(kv->key);
  {
    auto cache = OpenCache(dir.path(), 1 << 20, 1 << 20);
    ASSERT_TRUE(cache->Insert(kv).ok());
  }
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x42');
  }
  auto cache = OpenCache(dir.path(), 1 << 20, 1 << 20);
  EXPECT_FALSE(cache->Lookup(kv->key, kv->tokens).has_value());
  EXPECT_EQ(cache->stats().n_rejected_files, 1);
  EXPECT_FALSE(fs::exists(path));
  // Recompute path: a new insert works again.
  ASSERT_TRUE(cache->Insert(kv).ok());
  cache->DropRamTier();
  EXPECT_TRUE(cache->Lookup(kv->key, kv->tokens).has_value());
}

// Disk hits are read and verified outside the cache's lock: threads looking
// up different chunks at once (as the chunk planner does) each get their
// own entry intact, a corrupt file among them is still rejected, and the
// stats add up.
TEST(ChunkCache, ParallelDiskLookupsEachGetTheirEntry) {
  TempDir dir("parallel");
  constexpr int kChunks = 12;
  std::vector<std::shared_ptr<ChunkKv>> kvs;
  for (int i = 0; i < kChunks; ++i) kvs.push_back(MakeChunk(kFp, 64, 100 * i));
  {
    auto cache = OpenCache(dir.path(), 64 << 20, 64 << 20);
    for (const auto& kv : kvs) ASSERT_TRUE(cache->Insert(kv).ok());
  }
  {
    std::fstream f(dir.path() + "/" + ChunkCache::FileName(kvs[5]->key), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(300);
    f.put('\x42');
  }
  auto cache = OpenCache(dir.path(), 64 << 20, 64 << 20);
  std::vector<std::optional<ChunkHit>> hits(kChunks);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < kChunks; i += 4) hits[i] = cache->Lookup(kvs[i]->key, kvs[i]->tokens);
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < kChunks; ++i) {
    if (i == 5) {
      EXPECT_FALSE(hits[i].has_value());
      continue;
    }
    ASSERT_TRUE(hits[i].has_value()) << i;
    EXPECT_EQ(hits[i]->tier, ChunkTier::kDisk);
    EXPECT_EQ(hits[i]->kv->tokens, kvs[i]->tokens);
    EXPECT_EQ(hits[i]->kv->k, kvs[i]->k) << i;
    EXPECT_EQ(hits[i]->kv->v, kvs[i]->v) << i;
  }
  const ChunkCacheStats st = cache->stats();
  EXPECT_EQ(st.n_disk_hits, kChunks - 1);
  EXPECT_EQ(st.n_misses, 1);
  EXPECT_EQ(st.n_rejected_files, 1);
  EXPECT_EQ(st.n_ram_entries, kChunks - 1);
  EXPECT_EQ(st.n_disk_files, kChunks - 1);
}

TEST(ChunkCache, ForeignFileUnderOurNameIsRejected) {
  TempDir dir("foreign");
  auto ours = MakeChunk(kFp, 6, 10);
  auto theirs = MakeChunk(kFp + 1, 6, 10);  // another model's KV of the same text
  // Someone copied the other model's file under our name.
  const std::vector<uint8_t> bytes = EncodeChunkFile(*theirs);
  {
    std::ofstream f(dir.path() + "/" + ChunkCache::FileName(ours->key), std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  auto cache = OpenCache(dir.path(), 1 << 20, 1 << 20);
  EXPECT_FALSE(cache->Lookup(ours->key, ours->tokens).has_value());
  EXPECT_EQ(cache->stats().n_rejected_files, 1);
  EXPECT_EQ(cache->stats().n_disk_files, 0);
}

TEST(ChunkCache, DiskBoundedLruByMtime) {
  TempDir dir("bounded");
  auto a = MakeChunk(kFp, 6, 10), b = MakeChunk(kFp, 6, 20), c = MakeChunk(kFp, 6, 30);
  const size_t file_bytes = EncodeChunkFile(*a).size();
  auto cache = OpenCache(dir.path(), 1 << 20, file_bytes * 2);
  ASSERT_TRUE(cache->Insert(a).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(cache->Insert(b).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  cache->DropRamTier();
  ASSERT_TRUE(cache->Lookup(a->key, a->tokens).has_value());  // refreshes a's mtime
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(cache->Insert(c).ok());  // evicts b, the oldest
  EXPECT_LE(cache->stats().disk_bytes, file_bytes * 2);
  EXPECT_TRUE(fs::exists(dir.path() + "/" + ChunkCache::FileName(a->key)));
  EXPECT_FALSE(fs::exists(dir.path() + "/" + ChunkCache::FileName(b->key)));
  EXPECT_TRUE(fs::exists(dir.path() + "/" + ChunkCache::FileName(c->key)));
  // A restart with a smaller budget trims at once.
  cache.reset();
  auto small = OpenCache(dir.path(), 1 << 20, file_bytes);
  EXPECT_EQ(small->stats().n_disk_files, 1);
  EXPECT_TRUE(fs::exists(dir.path() + "/" + ChunkCache::FileName(c->key)));
}

TEST(ChunkCache, OtherFilesInTheDirectoryAreIgnored) {
  TempDir dir("others");
  { std::ofstream(dir.path() + "/notes.txt") << "hello"; }
  auto cache = OpenCache(dir.path(), 1 << 20, 1 << 20);
  EXPECT_EQ(cache->stats().n_disk_files, 0);
  EXPECT_TRUE(fs::exists(dir.path() + "/notes.txt"));
}

// A write killed mid-way leaves NAME.kvc.tmp.PID (issue 15 row 15): Open
// deletes those whose writer is gone or that are an hour old, and leaves a
// live writer's file and other files alone.
TEST(ChunkCache, TempFilesOfDeadWritersAreDeletedAtOpen) {
  TempDir dir("stale");
  const std::string dead = dir.path() + "/aa-bb.kvc.tmp.999999999";  // no such process
  const std::string mine = dir.path() + "/cc-dd.kvc.tmp." + std::to_string(::getpid());
  const std::string live = dir.path() + "/ee-ff.kvc.tmp." + std::to_string(::getppid());
  const std::string old_live = dir.path() + "/gg-hh.kvc.tmp." + std::to_string(::getppid());
  const std::string other = dir.path() + "/notes.tmp.123";
  for (const std::string& f : {dead, mine, live, old_live, other}) std::ofstream(f) << std::string(1000, 'x');
  fs::last_write_time(old_live, fs::file_time_type::clock::now() - std::chrono::hours(2));
  auto cache = OpenCache(dir.path(), 1 << 20, 1 << 20);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(mine));  // this process writes nothing before Open: a reused pid's leftover
  EXPECT_TRUE(fs::exists(live));
  EXPECT_FALSE(fs::exists(old_live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_EQ(cache->stats().n_stale_temp_files, 3);
  EXPECT_EQ(cache->stats().n_disk_files, 0);
}

}  // namespace
}  // namespace chunkserve::kv
