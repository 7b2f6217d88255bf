// A throwaway redis-server for tests: a child process on a unix socket in
// a temporary directory (no TCP port, no persistence), bounded by
// maxmemory with allkeys-lru as the chunk tier expects. Start() returns
// false when redis-server is not installed; Kill() is SIGKILL (Redis
// "down"), Start() again brings an empty one back on the same socket.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

namespace chunkserve::kv::testing {

inline constexpr const char* kRedisServer = "/usr/bin/redis-server";

class RedisTestServer {
 public:
  explicit RedisTestServer(const std::string& dir) : dir_(dir) {}
  ~RedisTestServer() { Kill(); }
  std::string socket() const { return dir_ + "/redis.sock"; }
  std::string url() const { return "unix://" + socket(); }

  bool Start() {
    if (!std::filesystem::exists(kRedisServer)) return false;
    std::filesystem::remove(socket());
    std::fflush(nullptr);  // the child must not write the parent's buffered output again
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string sock = socket();
      const std::string log = dir_ + "/redis.log";  // its banner and warnings stay out of the test output
      std::FILE* f = std::freopen(log.c_str(), "a", stdout);
      (void)f;
      ::dup2(::fileno(stdout), 2);
      ::execl(kRedisServer, kRedisServer, "--port", "0", "--unixsocket", sock.c_str(), "--unixsocketperm", "700",
              "--save", "", "--appendonly", "no", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
              "--dir", dir_.c_str(), "--loglevel", "warning", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {  // up to 2 s
      if (Ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Runs one command on a fresh connection; the reply's string or "" .
  std::string Run(std::initializer_list<std::string> args) const {
    redisContext* c = redisConnectUnix(socket().c_str());
    std::string out;
    if (c != nullptr && c->err == 0) {
      std::vector<const char*> argv;
      std::vector<size_t> len;
      for (const std::string& a : args) {
        argv.push_back(a.data());
        len.push_back(a.size());
      }
      auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), len.data()));
      if (r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) out.assign(r->str, r->len);
      if (r != nullptr && r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
      if (r != nullptr) freeReplyObject(r);
    }
    if (c != nullptr) redisFree(c);
    return out;
  }
  bool Ping() const { return Run({"PING"}) == "PONG"; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace chunkserve::kv::testing
