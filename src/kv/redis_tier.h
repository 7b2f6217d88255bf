// RedisTier: the shared chunk-KV tier, after RAM and disk (chunk_cache.h),
// on a Redis server that several replicas use (`--chunk-kv redis://...`).
//
// Keys are content addresses, the same in every process and machine:
//   chunkserve:kv:v<layout version>:<model fingerprint>:<content hash>:<variant>
// where the content hash covers the lead-in and the chunk's tokens
// (ChunkContentHash), the layout version is the chunk file's, and the
// variant names everything else that changes the stored bytes (the KV value
// type and the attention precision, set by whoever builds the cache).
// Values are chunk files (chunk_file.h): header and payload checksums, the
// model fingerprint and content hash inside; the cache verifies every value
// it reads and deletes a wrong one (it is then recomputed and published
// again). Redis bounds the tier itself: run it with
// `maxmemory-policy allkeys-lru` (the tier warns once when it is not).
//
// Faults are ordinary: every connect and command has a deadline
// (timeout_ms); a failure drops the connection and starts a backoff
// (backoff_min_ms, doubling to backoff_max_ms) during which calls return at
// once (a miss; a skipped publish), after which the next call reconnects.
// So Redis down costs a request at most one timeout, and the tier comes
// back by itself.
//
// Create() sets SIGPIPE to ignored when it has its default action (a write
// to a Redis that died must fail, not kill the process), as `serve` does.
//
// Thread safety: every method may be called from any thread (one
// connection, used under a mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "kv/chunk_kv.h"

struct redisContext;

namespace chunkserve::kv {

struct RedisTierOptions {
  // redis://[:password@]host[:port][/db] or unix:///path/to/redis.sock
  std::string url;
  std::string variant = "default";
  int timeout_ms = 250;
  int backoff_min_ms = 200;
  int backoff_max_ms = 5000;
};

struct RedisTierStats {
  int64_t n_hits = 0;       // values returned (verified by the caller)
  int64_t n_misses = 0;     // no such key
  int64_t n_published = 0;
  int64_t n_deleted = 0;    // wrong values removed
  int64_t n_errors = 0;     // failed connects and commands
  int64_t n_skipped = 0;    // calls answered at once during a backoff
  int64_t n_connects = 0;   // successful (re)connects
  int64_t bytes_read = 0;
  int64_t bytes_written = 0;
};

class RedisTier {
 public:
  // InvalidArgument for a malformed URL. Does not connect: a server that
  // is down now is tried on first use.
  static StatusOr<std::unique_ptr<RedisTier>> Create(RedisTierOptions options);
  ~RedisTier();
  RedisTier(const RedisTier&) = delete;
  RedisTier& operator=(const RedisTier&) = delete;

  std::string KeyOf(const ChunkKey& key) const;

  // The stored value, or nullopt: no such key, Redis unreachable or
  // backing off.
  std::optional<std::vector<uint8_t>> Get(const ChunkKey& key);
  // Stores the value; kUnavailable when Redis is unreachable or backing off.
  Status Put(const ChunkKey& key, std::span<const uint8_t> value);
  // Removes a value found wrong (best effort).
  void Delete(const ChunkKey& key);

  RedisTierStats stats() const;
  const RedisTierOptions& options() const { return options_; }

 private:
  struct Address {
    std::string host;  // empty: unix socket
    int port = 6379;
    std::string socket_path;
    std::string password;
    int db = 0;
  };
  RedisTier(RedisTierOptions options, Address address) : options_(std::move(options)), address_(std::move(address)) {}
  // A connected context, connecting first when allowed; nullptr when
  // unreachable or backing off.
  redisContext* ConnectedLocked() REQUIRES(mu_);
  void FailLocked(std::string_view what) REQUIRES(mu_);

  const RedisTierOptions options_;
  const Address address_;
  mutable Mutex mu_;
  redisContext* context_ GUARDED_BY(mu_) = nullptr;
  std::chrono::steady_clock::time_point retry_at_ GUARDED_BY(mu_){};
  int backoff_ms_ GUARDED_BY(mu_) = 0;
  bool policy_checked_ GUARDED_BY(mu_) = false;
  RedisTierStats stats_ GUARDED_BY(mu_);
};

}  // namespace chunkserve::kv
