// ChunkCache: content-addressed KV of chunks, in up to three tiers.
//
//   Lookup: RAM (LRU under ram_budget_bytes) -> disk (one file per entry in
//   disk_dir, see chunk_file.h; LRU by file mtime under disk_budget_bytes)
//   -> remote (a Redis server shared by replicas, redis_tier.h; optional)
//   -> miss (the engine recomputes and Inserts).
//
// The remote tier: a local miss asks Redis before the engine computes, and
// Insert publishes what was computed before it returns (the scheduler holds
// the end of the response that computed it until then, so a client that
// reads the answer and asks another replica finds the chunk there). Values read from Redis are verified
// as disk files are (a wrong one is deleted there and the lookup misses);
// a remote hit is kept in RAM. Redis unreachable: lookups miss and
// publishes are skipped within the tier's timeout and backoff, so requests
// still succeed, computed locally. Contains/Where see RAM and disk only (no
// network call).
//
// Inserts go to RAM and are written through to disk at once (atomically:
// temp file + rename), so the disk tier survives restarts and crashes, and
// dropping an entry from RAM costs nothing. A disk hit is promoted to RAM and
// its file's mtime refreshed, so LRU order survives restarts too.
//
// Open deletes the temporary files of writes whose process died (killed
// mid-write), so they neither linger nor escape the disk budget.
//
// Nothing read from disk is trusted: a file that is truncated, fails a
// checksum, or belongs to another model or chunk (foreign) is deleted and
// counted in stats().n_rejected_files, and the lookup is a miss. Files of
// other models under their own names are left alone (a directory may be
// shared), but count toward the disk budget.
//
// Thread safety: every public method locks an internal mutex (a disk hit
// is read and verified outside it, so lookups of several chunks run in
// parallel); entries are handed out as shared_ptr<const ChunkKv>, so an
// entry evicted while in use stays alive for its user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "kv/chunk_kv.h"
#include "kv/redis_tier.h"

namespace chunkserve::kv {

struct ChunkCacheOptions {
  size_t ram_budget_bytes = size_t{1} << 30;
  std::string disk_dir;              // empty: no disk tier
  size_t disk_budget_bytes = size_t{8} << 30;
  RedisTierOptions remote;           // remote.url empty: no remote tier
};

enum class ChunkTier { kRam, kDisk, kRemote };

struct ChunkHit {
  std::shared_ptr<const ChunkKv> kv;
  ChunkTier tier = ChunkTier::kRam;
};

struct ChunkCacheStats {
  int64_t n_ram_hits = 0;
  int64_t n_disk_hits = 0;
  int64_t n_misses = 0;
  int64_t n_inserts = 0;
  int64_t n_ram_evictions = 0;
  int64_t n_disk_evictions = 0;
  int64_t n_rejected_files = 0;  // corrupt or foreign files deleted
  int64_t n_stale_temp_files = 0;  // half-written files of dead writers, deleted at Open
  int64_t n_remote_hits = 0;
  int64_t n_remote_rejected = 0;   // wrong values read from Redis (deleted there)
  int64_t n_remote_published = 0;
  int64_t n_remote_publish_failures = 0;  // Redis unreachable or full: computed, not shared
  size_t ram_bytes = 0;
  size_t disk_bytes = 0;
  int64_t n_ram_entries = 0;
  int64_t n_disk_files = 0;
};

class ChunkCache {
 public:
  // Creates disk_dir if needed and indexes the *.kvc files already there.
  // IoError when the directory cannot be created or read.
  static StatusOr<std::unique_ptr<ChunkCache>> Open(const ChunkCacheOptions& options);
  ~ChunkCache();
  ChunkCache(const ChunkCache&) = delete;
  ChunkCache& operator=(const ChunkCache&) = delete;

  // The entry for `key` whose stored tokens equal `tokens`, or nullopt.
  std::optional<ChunkHit> Lookup(const ChunkKey& key, std::span<const int32_t> tokens);

  // Whether an entry for `key` is in RAM or on disk (not verified, not
  // touched, no stats): e.g. to skip computing an entry someone already
  // stored.
  bool Contains(const ChunkKey& key) const;
  // The tier an entry for `key` is in (RAM first), unverified and
  // untouched; nullopt: in neither. E.g. to read disk entries ahead of use.
  std::optional<ChunkTier> Where(const ChunkKey& key) const;

  // Adds an entry to RAM, writes it to disk and publishes it to the remote
  // tier. An entry larger than a tier's budget skips that tier. The Status
  // reports a failed disk write; the RAM tier holds the entry anyway (a
  // failed publish is counted in stats(), not returned).
  // REQUIRES: kv->ShapeConsistent().
  Status Insert(std::shared_ptr<const ChunkKv> kv);
  // Insert in two halves, for a caller that must not wait for the slow one:
  // InsertInRam makes the entry visible to lookups at once (RAM only);
  // Persist (any thread, later) writes it to disk and publishes it, as
  // Insert does, with Insert's Status.
  void InsertInRam(std::shared_ptr<const ChunkKv> kv);
  Status Persist(const std::shared_ptr<const ChunkKv>& kv);

  // Forgets the RAM tier (tests and benchmarks of the disk tier).
  void DropRamTier();

  ChunkCacheStats stats() const;
  // nullptr without a remote tier.
  const RedisTier* remote() const { return remote_.get(); }
  const ChunkCacheOptions& options() const { return options_; }
  static std::string FileName(const ChunkKey& key);

 private:
  struct RamEntry {
    ChunkKey key;
    std::shared_ptr<const ChunkKv> kv;
  };
  struct DiskFile {
    size_t bytes = 0;
    int64_t mtime_ns = 0;
  };

  struct PrivateTag {};  // only Open constructs, yet make_unique works

 public:
  ChunkCache(PrivateTag, ChunkCacheOptions options) : options_(std::move(options)) {}

 private:
  Status ScanDisk() EXCLUDES(mu_);
  void PutRamLocked(std::shared_ptr<const ChunkKv> kv) REQUIRES(mu_);
  // Takes the lock for its bookkeeping only (reads and decodes without it).
  std::optional<ChunkHit> LoadFromDisk(const ChunkKey& key, std::span<const int32_t> tokens) EXCLUDES(mu_);
  // Likewise for the remote tier (the network call runs without the lock).
  std::optional<ChunkHit> LoadFromRemote(const ChunkKey& key, std::span<const int32_t> tokens) EXCLUDES(mu_);
  // The disk tier; *encoded: the chunk file bytes when they were made.
  Status WriteToDisk(const ChunkKv& kv, std::vector<uint8_t>* encoded) EXCLUDES(mu_);
  void RemoveFileLocked(const std::string& name) REQUIRES(mu_);
  void MakeDiskRoomLocked(size_t bytes_needed) REQUIRES(mu_);

  const ChunkCacheOptions options_;
  std::unique_ptr<RedisTier> remote_;  // set by Open, before the cache is shared
  mutable Mutex mu_;
  std::list<RamEntry> ram_lru_ GUARDED_BY(mu_);  // front = most recent
  std::unordered_map<ChunkKey, std::list<RamEntry>::iterator, ChunkKeyHash> ram_index_ GUARDED_BY(mu_);
  std::unordered_map<std::string, DiskFile> disk_files_ GUARDED_BY(mu_);  // by file name
  ChunkCacheStats stats_ GUARDED_BY(mu_);
};

}  // namespace chunkserve::kv
