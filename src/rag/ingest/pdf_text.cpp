#include "rag/ingest/pdf_text.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

extern char** environ;

namespace chunkserve::rag {
namespace {

constexpr const char* kInstallHint =
    "PDF ingestion needs `pdftotext` from poppler-utils (Debian/Ubuntu: apt-get install poppler-utils)";

std::string FindOnPath(std::string_view exe) {
  const char* path = std::getenv("PATH");
  std::string_view p = path ? path : "/usr/bin:/bin";
  while (!p.empty()) {
    size_t colon = p.find(':');
    std::string_view dir = p.substr(0, colon);
    std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + std::string(exe);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    p.remove_prefix(colon + 1);
  }
  return {};
}

}  // namespace

bool PdfToTextAvailable() { return !FindOnPath("pdftotext").empty(); }

StatusOr<std::string> PdfToText(const std::string& pdf_path) {
  const std::string exe = FindOnPath("pdftotext");
  if (exe.empty()) return UnimplementedError(kInstallHint);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return IoError(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return IoError(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // argv: no shell, so any file name is safe.
  std::vector<std::string> args = {exe, "-enc", "UTF-8", "-q", pdf_path, "-"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return IoError(std::string("cannot run pdftotext: ") + std::strerror(rc));
  }
  // Read both pipes until EOF (poll, so a chatty stderr cannot deadlock us).
  std::string out, err;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || fds[k].revents == 0) continue;
      const ssize_t n = ::read(fds[k].fd, buf, sizeof(buf));
      if (n > 0) {
        (k == 0 ? out : err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    return InvalidArgumentError("pdftotext failed on '" + pdf_path + "'" + (err.empty() ? "" : ": " + err));
  }
  return out;
}

}  // namespace chunkserve::rag
