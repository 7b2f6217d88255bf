#include "rag/ingest/pdf_text.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// Closes the descriptors it holds.
struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void Close(int& fd) {
    for (int& f : fds)
      if (f == fd) f = -1;
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

}  // namespace

bool PdfToTextAvailable() { return !FindOnPath("pdftotext").empty(); }

StatusOr<std::string> PdfToText(std::string_view pdf_bytes, const std::string& name, const PdfLimits& limits) {
  const std::string exe = FindOnPath("pdftotext");
  if (exe.empty()) return UnimplementedError(kInstallHint);

  // stdin is a socket so that writing to a child that already exited is
  // EPIPE from send(MSG_NOSIGNAL), never a SIGPIPE for the whole process.
  int in_sock[2], out_pipe[2], err_pipe[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sock) != 0)
    return IoError(std::string("socketpair: ") + std::strerror(errno));
  Fds guard{{in_sock[0], in_sock[1]}};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return IoError(std::string("pipe: ") + std::strerror(errno));
  guard.fds.insert(guard.fds.end(), {out_pipe[0], out_pipe[1]});
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return IoError(std::string("pipe: ") + std::strerror(errno));
  guard.fds.insert(guard.fds.end(), {err_pipe[0], err_pipe[1]});
  ::shutdown(in_sock[1], SHUT_WR);  // the child's end only reads
  ::shutdown(in_sock[0], SHUT_RD);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_sock[1], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // argv: no shell. "-" "-": the PDF from stdin, the text to stdout.
  std::vector<std::string> args = {exe, "-enc", "UTF-8", "-q", "-", "-"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  guard.Close(in_sock[1]);
  guard.Close(out_pipe[1]);
  guard.Close(err_pipe[1]);
  if (rc != 0) return IoError(std::string("cannot run pdftotext: ") + std::strerror(rc));
  (void)::fcntl(in_sock[0], F_SETFL, O_NONBLOCK);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limits.timeout_ms);
  std::string out, err;
  size_t written = 0;
  if (pdf_bytes.empty()) guard.Close(in_sock[0]);
  std::string limit_error;
  char buf[65536];
  while (out_pipe[0] >= 0 || err_pipe[0] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      char secs[32];
      std::snprintf(secs, sizeof(secs), "%.1f", limits.timeout_ms / 1000.0);
      limit_error = "pdftotext ran longer than " + std::string(secs) + " s on '" + name + "' (killed)";
      break;
    }
    pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {in_sock[0], POLLOUT, 0}};
    if (::poll(fds, 3, static_cast<int>(std::min<int64_t>(left.count(), 1000))) < 0) {
      if (errno == EINTR) continue;
      limit_error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (in_sock[0] >= 0 && fds[2].revents != 0) {
      const ssize_t n = ::send(in_sock[0], pdf_bytes.data() + written, pdf_bytes.size() - written, MSG_NOSIGNAL);
      if (n > 0) written += static_cast<size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == pdf_bytes.size()) guard.Close(in_sock[0]);
    }
    for (int k = 0; k < 2; ++k) {
      int& fd = k == 0 ? out_pipe[0] : err_pipe[0];
      if (fd < 0 || fds[k].revents == 0) continue;
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n > 0) {
        std::string& sink = k == 0 ? out : err;
        if (k == 1 && err.size() > 4096) continue;  // keep the start of stderr only
        sink.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        guard.Close(fd);
      }
    }
    if (out.size() > limits.max_output_bytes) {
      limit_error = "pdftotext printed more than " + std::to_string(limits.max_output_bytes >> 20) +
                    " MiB of text for '" + name + "' (killed)";
      break;
    }
  }
  if (!limit_error.empty()) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!limit_error.empty()) return ResourceExhaustedError(limit_error);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    return InvalidArgumentError("pdftotext failed on '" + name + "'" + (err.empty() ? "" : ": " + err));
  }
  return out;
}

}  // namespace chunkserve::rag
