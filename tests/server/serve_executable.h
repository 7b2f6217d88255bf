// ServeExecutable: the `chunkserve serve` executable on the HTTP tests'
// fixture model (server_harness.h), as a user runs it, on a free loopback
// port; stderr goes to DIR/serve.log. Stop() sends SIGTERM and returns
// whether it exited 0 within 10 s (SIGKILL after).
//
// Also RunShell (a command's exit status and output) for tests that drive
// the server with curl, node or the CLI.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "server/server_harness.h"

namespace chunkserve::server::testing {

inline int RunShell(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  const int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline bool HaveCommand(const std::string& name) {
  std::string out;
  return RunShell("command -v " + name, &out) == 0;
}

inline std::filesystem::path ChunkserveBinary() {
  return std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve";
}

class ServeExecutable {
 public:
  // `flags` follow `serve -m FIXTURE --port 0 --port-file F`.
  ServeExecutable(const std::filesystem::path& dir, const std::vector<std::string>& flags) {
    const std::filesystem::path port_file = dir / "port";
    std::filesystem::remove(port_file);
    std::vector<std::string> args = {ChunkserveBinary().string(), "serve", "-m", FixturePath(), "--port", "0",
                                     "--port-file", port_file.string()};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = (dir / "serve.log").string();
    pid_ = fork();
    if (pid_ == 0) {
      if (FILE* f = std::freopen(log.c_str(), "a", stderr)) (void)f;
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && port_ == 0 && pid_ > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::ifstream in(port_file);
      if (in) in >> port_;
    }
  }
  ~ServeExecutable() {
    if (pid_ > 0) Stop();
  }
  ServeExecutable(const ServeExecutable&) = delete;
  ServeExecutable& operator=(const ServeExecutable&) = delete;

  int port() const { return port_; }  // 0: it did not start
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  bool Stop() {
    if (pid_ <= 0) return false;
    kill(pid_, SIGTERM);
    int status = 0;
    bool exited = false;
    for (int i = 0; i < 200 && !exited; ++i) {
      exited = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace chunkserve::server::testing
