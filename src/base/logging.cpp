#include "base/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "base/status.h"

namespace chunkserve {
namespace {

LogLevel LevelFromEnvironment() {
  const char* v = std::getenv("CHUNKSERVE_LOG");
  if (v == nullptr) return LogLevel::kInfo;
  if (std::strcmp(v, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(v, "warning") == 0) return LogLevel::kWarning;
  if (std::strcmp(v, "error") == 0) return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<LogLevel>& Level() {
  static std::atomic<LogLevel> level{LevelFromEnvironment()};
  return level;
}

std::mutex& OutputMutex() {
  static std::mutex m;
  return m;
}

const char* LevelTag(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "D";
    case LogLevel::kInfo: return "I";
    case LogLevel::kWarning: return "W";
    case LogLevel::kError: return "E";
  }
  return "?";
}

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

void SetLogLevel(LogLevel level) { Level().store(level); }
LogLevel GetLogLevel() { return Level().load(); }

namespace internal {

LogMessage::LogMessage(LogLevel level, const char* file, int line) : level_(level) {
  stream_ << LevelTag(level) << " " << Basename(file) << ":" << line << "] ";
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  std::string s = stream_.str();
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fwrite(s.data(), 1, s.size(), stderr);
  (void)level_;
}

void CheckFailed(const char* condition, const char* file, int line, std::string_view detail) {
  {
    std::lock_guard<std::mutex> lock(OutputMutex());
    std::fprintf(stderr, "CHECK failed at %s:%d: %s %.*s\n", Basename(file), line, condition,
                 static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

}  // namespace internal
}  // namespace chunkserve
