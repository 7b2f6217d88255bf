#include "kv/redis_tier.h"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>

#include "base/hash.h"
#include "base/logging.h"
#include "kv/chunk_file.h"

namespace chunkserve::kv {
namespace {

timeval ToTimeval(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

// Frees a hiredis reply on scope exit.
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply Command(redisContext* c, std::initializer_list<std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

bool ParseInt(std::string_view s, int* out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string_view::npos) return false;
  *out = std::atoi(std::string(s).c_str());
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<RedisTier>> RedisTier::Create(RedisTierOptions options) {
  const std::string& url = options.url;
  Address a;
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("bad Redis URL '" + url + "' (" + why +
                                "; expected redis://[:password@]host[:port][/db] or unix:///path)");
  };
  if (url.starts_with("unix://")) {
    a.socket_path = url.substr(7);
    if (a.socket_path.empty() || a.socket_path[0] != '/') return bad("the socket path must be absolute");
  } else if (url.starts_with("redis://")) {
    std::string rest = url.substr(8);
    if (const size_t at = rest.rfind('@'); at != std::string::npos) {
      std::string auth = rest.substr(0, at);
      a.password = auth.substr(auth.find(':') == std::string::npos ? 0 : auth.find(':') + 1);
      rest = rest.substr(at + 1);
    }
    if (const size_t slash = rest.find('/'); slash != std::string::npos) {
      if (slash + 1 < rest.size() && !ParseInt(rest.substr(slash + 1), &a.db)) return bad("the database is not a number");
      rest = rest.substr(0, slash);
    }
    if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
      if (!ParseInt(rest.substr(colon + 1), &a.port) || a.port < 1 || a.port > 65535) return bad("bad port");
      rest = rest.substr(0, colon);
    }
    if (rest.empty()) return bad("no host");
    a.host = rest;
  } else {
    return bad("unknown scheme");
  }
  if (options.timeout_ms <= 0 || options.backoff_min_ms <= 0 || options.backoff_max_ms < options.backoff_min_ms)
    return InvalidArgumentError("Redis tier: timeouts and backoff must be positive");
  if (options.variant.empty() || options.variant.find_first_of(" \n") != std::string::npos)
    return InvalidArgumentError("Redis tier: the key variant must be a non-empty word");
  // hiredis writes with write(2): a Redis that died would raise SIGPIPE and
  // kill the process. A network client treats it as a failed write.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  return std::unique_ptr<RedisTier>(new RedisTier(std::move(options), std::move(a)));
}

RedisTier::~RedisTier() {
  MutexLock lock(&mu_);
  if (context_ != nullptr) redisFree(context_);
}

std::string RedisTier::KeyOf(const ChunkKey& key) const {
  return "chunkserve:kv:v" + std::to_string(kChunkFileVersion) + ":" + HashToHex(key.model_fingerprint) + ":" +
         HashToHex(key.content_hash) + ":" + options_.variant;
}

void RedisTier::FailLocked(std::string_view what) {
  ++stats_.n_errors;
  const std::string detail = context_ != nullptr && context_->err != 0 ? context_->errstr : "no reply";
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
  backoff_ms_ = backoff_ms_ == 0 ? options_.backoff_min_ms : std::min(backoff_ms_ * 2, options_.backoff_max_ms);
  retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
  CS_LOG(Warning) << "chunk KV tier: Redis " << what << " failed (" << detail << "); retrying in " << backoff_ms_
                  << " ms, computing locally meanwhile";
}

redisContext* RedisTier::ConnectedLocked() {
  if (context_ != nullptr) return context_;
  if (std::chrono::steady_clock::now() < retry_at_) {
    ++stats_.n_skipped;
    return nullptr;
  }
  const timeval tv = ToTimeval(options_.timeout_ms);
  context_ = address_.host.empty() ? redisConnectUnixWithTimeout(address_.socket_path.c_str(), tv)
                                   : redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
  if (context_ == nullptr || context_->err != 0 || redisSetTimeout(context_, tv) != REDIS_OK) {
    FailLocked("connect to " + options_.url);
    return nullptr;
  }
  if (!address_.password.empty()) {
    Reply r = Command(context_, {"AUTH", address_.password});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      FailLocked("AUTH");
      return nullptr;
    }
  }
  if (address_.db != 0) {
    Reply r = Command(context_, {"SELECT", std::to_string(address_.db)});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      FailLocked("SELECT");
      return nullptr;
    }
  }
  if (!policy_checked_) {
    policy_checked_ = true;
    Reply r = Command(context_, {"CONFIG", "GET", "maxmemory-policy"});
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING &&
        std::string_view(r->element[1]->str, r->element[1]->len) != "allkeys-lru") {
      CS_LOG(Warning) << "chunk KV tier: Redis maxmemory-policy is '"
                      << std::string_view(r->element[1]->str, r->element[1]->len)
                      << "'; allkeys-lru keeps the tier bounded by evicting the least recently used chunks";
    }
  }
  backoff_ms_ = 0;
  ++stats_.n_connects;
  return context_;
}

std::optional<std::vector<uint8_t>> RedisTier::Get(const ChunkKey& key) {
  const std::string k = KeyOf(key);
  MutexLock lock(&mu_);
  redisContext* c = ConnectedLocked();
  if (c == nullptr) return std::nullopt;
  Reply r = Command(c, {"GET", k});
  if (!r) {
    FailLocked("GET");
    return std::nullopt;
  }
  if (r->type != REDIS_REPLY_STRING) {
    if (r->type == REDIS_REPLY_ERROR) ++stats_.n_errors;
    ++stats_.n_misses;
    return std::nullopt;
  }
  ++stats_.n_hits;
  stats_.bytes_read += static_cast<int64_t>(r->len);
  return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(r->str), reinterpret_cast<const uint8_t*>(r->str) + r->len);
}

Status RedisTier::Put(const ChunkKey& key, std::span<const uint8_t> value) {
  const std::string k = KeyOf(key);
  MutexLock lock(&mu_);
  redisContext* c = ConnectedLocked();
  if (c == nullptr) return UnavailableError("Redis chunk tier unreachable (backing off)");
  Reply r = Command(c, {"SET", k, std::string_view(reinterpret_cast<const char*>(value.data()), value.size())});
  if (!r) {
    FailLocked("SET");
    return UnavailableError("Redis chunk tier: SET failed");
  }
  if (r->type == REDIS_REPLY_ERROR) {  // e.g. OOM with maxmemory and noeviction
    ++stats_.n_errors;
    return ResourceExhaustedError("Redis chunk tier: " + std::string(r->str, r->len));
  }
  ++stats_.n_published;
  stats_.bytes_written += static_cast<int64_t>(value.size());
  return Status::Ok();
}

void RedisTier::Delete(const ChunkKey& key) {
  const std::string k = KeyOf(key);
  MutexLock lock(&mu_);
  redisContext* c = ConnectedLocked();
  if (c == nullptr) return;
  Reply r = Command(c, {"DEL", k});
  if (!r) {
    FailLocked("DEL");
    return;
  }
  ++stats_.n_deleted;
}

RedisTierStats RedisTier::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

}  // namespace chunkserve::kv
