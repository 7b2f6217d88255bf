#include "kv/chunk_cache.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include <signal.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/logging.h"
#include "base/mapped_file.h"
#include "kv/chunk_file.h"

namespace chunkserve::kv {
namespace fs = std::filesystem;
namespace {

constexpr const char* kExtension = ".kvc";

int64_t ToNanos(fs::file_time_type t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string ChunkCache::FileName(const ChunkKey& key) {
  return HashToHex(key.model_fingerprint) + "-" + HashToHex(key.content_hash) + kExtension;
}

StatusOr<std::unique_ptr<ChunkCache>> ChunkCache::Open(const ChunkCacheOptions& options) {
  auto cache = std::make_unique<ChunkCache>(PrivateTag{}, options);
  if (!options.disk_dir.empty()) RETURN_IF_ERROR(cache->ScanDisk());
  if (!options.remote.url.empty()) {
    ASSIGN_OR_RETURN(cache->remote_, RedisTier::Create(options.remote));
  }
  return cache;
}

ChunkCache::~ChunkCache() = default;

namespace {

// A write's temporary file (`NAME.kvc.tmp.PID`, see WriteFileAtomically)
// left by a process that died mid-write: its writer is gone, or it is an
// hour old (a pid may be reused; no write takes that long).
bool IsStaleTempFile(const fs::path& path, fs::file_time_type mtime) {
  const std::string name = path.filename().string();
  const std::string marker = std::string(kExtension) + ".tmp.";
  const size_t at = name.find(marker);
  if (at == std::string::npos) return false;
  const std::string pid_text = name.substr(at + marker.size());
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) return false;
  const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
  const bool writer_gone = pid <= 0 || pid == ::getpid() || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
  const bool old = fs::file_time_type::clock::now() - mtime > std::chrono::hours(1);
  return writer_gone || old;
}

}  // namespace

Status ChunkCache::ScanDisk() {
  MutexLock lock(&mu_);  // before the cache is shared; keeps the analysis exact
  std::error_code ec;
  fs::create_directories(options_.disk_dir, ec);
  if (ec) return IoError("chunk cache: cannot create " + options_.disk_dir + ": " + ec.message());
  for (fs::directory_iterator it(options_.disk_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;  // a file that vanished meanwhile is skipped, not an error
    const auto written = it->last_write_time(file_ec);
    if (!file_ec && IsStaleTempFile(it->path(), written)) {
      if (fs::remove(it->path(), file_ec)) ++stats_.n_stale_temp_files;
      continue;
    }
    if (!it->is_regular_file(ec) || it->path().extension() != kExtension) continue;
    const auto size = it->file_size(ec);
    if (ec) continue;
    const auto mtime = it->last_write_time(ec);
    if (ec) continue;
    disk_files_[it->path().filename().string()] = DiskFile{static_cast<size_t>(size), ToNanos(mtime)};
    stats_.disk_bytes += static_cast<size_t>(size);
  }
  if (ec) return IoError("chunk cache: cannot list " + options_.disk_dir + ": " + ec.message());
  stats_.n_disk_files = static_cast<int64_t>(disk_files_.size());
  // A directory that already exceeds the budget (e.g. a smaller budget
  // after a restart) is trimmed now.
  MakeDiskRoomLocked(0);
  return Status::Ok();
}

bool ChunkCache::Contains(const ChunkKey& key) const {
  MutexLock lock(&mu_);
  return ram_index_.count(key) > 0 || disk_files_.count(FileName(key)) > 0;
}

std::optional<ChunkTier> ChunkCache::Where(const ChunkKey& key) const {
  MutexLock lock(&mu_);
  if (ram_index_.count(key) > 0) return ChunkTier::kRam;
  if (disk_files_.count(FileName(key)) > 0) return ChunkTier::kDisk;
  return std::nullopt;
}

std::optional<ChunkHit> ChunkCache::Lookup(const ChunkKey& key, std::span<const int32_t> tokens) {
  bool on_disk = false;
  {
    MutexLock lock(&mu_);
    auto it = ram_index_.find(key);
    if (it != ram_index_.end()) {
      const std::shared_ptr<const ChunkKv>& kv = it->second->kv;
      if (std::equal(kv->tokens.begin(), kv->tokens.end(), tokens.begin(), tokens.end())) {
        ram_lru_.splice(ram_lru_.begin(), ram_lru_, it->second);
        ++stats_.n_ram_hits;
        return ChunkHit{kv, ChunkTier::kRam};
      }
      // Same key, other tokens: a hash collision. Not this chunk.
      ++stats_.n_misses;
      return std::nullopt;
    }
    on_disk = !options_.disk_dir.empty() && disk_files_.count(FileName(key)) > 0;
  }
  if (on_disk) {
    std::optional<ChunkHit> hit = LoadFromDisk(key, tokens);
    if (hit) {
      MutexLock lock(&mu_);
      ++stats_.n_disk_hits;
      return hit;
    }
  }
  if (remote_) {
    std::optional<ChunkHit> hit = LoadFromRemote(key, tokens);
    if (hit) {
      MutexLock lock(&mu_);
      ++stats_.n_remote_hits;
      return hit;
    }
  }
  MutexLock lock(&mu_);
  ++stats_.n_misses;
  return std::nullopt;
}

std::optional<ChunkHit> ChunkCache::LoadFromRemote(const ChunkKey& key, std::span<const int32_t> tokens) {
  std::optional<std::vector<uint8_t>> bytes = remote_->Get(key);
  if (!bytes) return std::nullopt;
  StatusOr<ChunkKv> decoded = DecodeChunkFile(*bytes, key);
  if (!decoded.ok()) {
    CS_LOG(Warning) << "chunk cache: rejecting Redis value " << remote_->KeyOf(key) << ": "
                    << decoded.status().ToString();
    remote_->Delete(key);
    MutexLock lock(&mu_);
    ++stats_.n_remote_rejected;
    return std::nullopt;
  }
  // A valid value of a colliding chunk: not ours.
  if (!std::equal(decoded->tokens.begin(), decoded->tokens.end(), tokens.begin(), tokens.end())) return std::nullopt;
  auto kv = std::make_shared<const ChunkKv>(std::move(decoded).value());
  MutexLock lock(&mu_);
  PutRamLocked(kv);
  return ChunkHit{std::move(kv), ChunkTier::kRemote};
}

std::optional<ChunkHit> ChunkCache::LoadFromDisk(const ChunkKey& key, std::span<const int32_t> tokens) {
  // Map, check and decode without the lock, so lookups of other chunks (a
  // planner fetches a prompt's chunks in parallel) proceed meanwhile. A file
  // replaced meanwhile is read whole, old or new (writes rename atomically).
  const std::string name = FileName(key);
  const std::string path = options_.disk_dir + "/" + name;
  StatusOr<MappedFile> file = MappedFile::Open(path);
  StatusOr<ChunkKv> decoded = file.ok() ? DecodeChunkFile(file->bytes(), key) : StatusOr<ChunkKv>(file.status());

  MutexLock lock(&mu_);
  if (!file.ok()) {
    // Gone (evicted, or someone cleaned the directory) or unreadable: forget it.
    RemoveFileLocked(name);
    return std::nullopt;
  }
  if (!decoded.ok()) {
    CS_LOG(Warning) << "chunk cache: rejecting " << path << ": " << decoded.status().ToString();
    ++stats_.n_rejected_files;
    RemoveFileLocked(name);
    return std::nullopt;
  }
  if (!std::equal(decoded->tokens.begin(), decoded->tokens.end(), tokens.begin(), tokens.end())) {
    // A well-formed file of a colliding chunk: keep it, it is valid for
    // its own tokens, but it is not ours.
    return std::nullopt;
  }
  // Refresh the mtime: the LRU order on disk survives restarts.
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(path, now, ec);
  if (!ec && disk_files_.count(name)) disk_files_[name].mtime_ns = ToNanos(now);
  auto kv = std::make_shared<const ChunkKv>(std::move(decoded).value());
  PutRamLocked(kv);
  return ChunkHit{std::move(kv), ChunkTier::kDisk};
}

Status ChunkCache::Insert(std::shared_ptr<const ChunkKv> kv) {
  InsertInRam(kv);
  return Persist(kv);
}

void ChunkCache::InsertInRam(std::shared_ptr<const ChunkKv> kv) {
  CHECK(kv && kv->ShapeConsistent());
  MutexLock lock(&mu_);
  ++stats_.n_inserts;
  PutRamLocked(std::move(kv));
}

Status ChunkCache::Persist(const std::shared_ptr<const ChunkKv>& kv) {
  CHECK(kv && kv->ShapeConsistent());
  std::vector<uint8_t> bytes;
  const Status local = WriteToDisk(*kv, &bytes);
  if (!remote_) return local;
  // Published before Persist returns: a replica asking next finds it.
  if (bytes.empty()) bytes = EncodeChunkFile(*kv);
  const Status published = remote_->Put(kv->key, bytes);
  MutexLock lock(&mu_);
  ++(published.ok() ? stats_.n_remote_published : stats_.n_remote_publish_failures);
  return local;
}

Status ChunkCache::WriteToDisk(const ChunkKv& kv, std::vector<uint8_t>* encoded) {
  if (options_.disk_dir.empty()) return Status::Ok();
  *encoded = EncodeChunkFile(kv);
  MutexLock lock(&mu_);
  const std::vector<uint8_t>& bytes = *encoded;
  if (bytes.size() > options_.disk_budget_bytes) return Status::Ok();
  const std::string name = FileName(kv.key);
  if (disk_files_.count(name)) RemoveFileLocked(name);
  MakeDiskRoomLocked(bytes.size());
  const std::string path = options_.disk_dir + "/" + name;
  RETURN_IF_ERROR(WriteFileAtomically(path, bytes));
  std::error_code ec;
  const auto mtime = fs::last_write_time(path, ec);
  disk_files_[name] = DiskFile{bytes.size(), ec ? 0 : ToNanos(mtime)};
  stats_.disk_bytes += bytes.size();
  stats_.n_disk_files = static_cast<int64_t>(disk_files_.size());
  return Status::Ok();
}

void ChunkCache::PutRamLocked(std::shared_ptr<const ChunkKv> kv) {
  const size_t bytes = kv->bytes();
  auto it = ram_index_.find(kv->key);
  if (it != ram_index_.end()) {
    stats_.ram_bytes -= it->second->kv->bytes();
    ram_lru_.erase(it->second);
    ram_index_.erase(it);
  }
  if (bytes > options_.ram_budget_bytes) {
    stats_.n_ram_entries = static_cast<int64_t>(ram_index_.size());
    return;
  }
  while (stats_.ram_bytes + bytes > options_.ram_budget_bytes && !ram_lru_.empty()) {
    stats_.ram_bytes -= ram_lru_.back().kv->bytes();
    ram_index_.erase(ram_lru_.back().key);
    ram_lru_.pop_back();
    ++stats_.n_ram_evictions;
  }
  const ChunkKey key = kv->key;
  ram_lru_.push_front(RamEntry{key, std::move(kv)});
  ram_index_[key] = ram_lru_.begin();
  stats_.ram_bytes += bytes;
  stats_.n_ram_entries = static_cast<int64_t>(ram_index_.size());
}

void ChunkCache::RemoveFileLocked(const std::string& name) {
  std::error_code ec;
  fs::remove(options_.disk_dir + "/" + name, ec);
  auto it = disk_files_.find(name);
  if (it != disk_files_.end()) {
    stats_.disk_bytes -= it->second.bytes;
    disk_files_.erase(it);
  }
  stats_.n_disk_files = static_cast<int64_t>(disk_files_.size());
}

void ChunkCache::MakeDiskRoomLocked(size_t bytes_needed) {
  while (!disk_files_.empty() && stats_.disk_bytes + bytes_needed > options_.disk_budget_bytes) {
    auto oldest = std::min_element(disk_files_.begin(), disk_files_.end(), [](const auto& a, const auto& b) {
      return a.second.mtime_ns != b.second.mtime_ns ? a.second.mtime_ns < b.second.mtime_ns : a.first < b.first;
    });
    const std::string name = oldest->first;
    RemoveFileLocked(name);
    ++stats_.n_disk_evictions;
  }
}

void ChunkCache::DropRamTier() {
  MutexLock lock(&mu_);
  ram_lru_.clear();
  ram_index_.clear();
  stats_.ram_bytes = 0;
  stats_.n_ram_entries = 0;
}

ChunkCacheStats ChunkCache::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

}  // namespace chunkserve::kv
