// Logging to stderr and CHECK for invariants.
//
// CHECK is for conditions that only a bug can break; it must never be
// reachable from user input (use Status for that). A failed CHECK prints the
// condition and location, then aborts.
//
// Thread safety: log lines from different threads are not interleaved.
#pragma once

#include <sstream>
#include <string_view>

namespace chunkserve {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo; CHUNKSERVE_LOG=debug|
// info|warning|error in the environment overrides it at start-up.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

namespace internal {

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

[[noreturn]] void CheckFailed(const char* condition, const char* file, int line,
                              std::string_view detail);

}  // namespace internal
}  // namespace chunkserve

#define CS_LOG(level)                                                      \
  if (::chunkserve::LogLevel::k##level < ::chunkserve::GetLogLevel()) {    \
  } else                                                                   \
    ::chunkserve::internal::LogMessage(::chunkserve::LogLevel::k##level,   \
                                       __FILE__, __LINE__)                 \
        .stream()

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) ::chunkserve::internal::CheckFailed(#cond, __FILE__, __LINE__, ""); \
  } while (0)

#define CHECK_MSG(cond, msg)                                                 \
  do {                                                                       \
    if (!(cond)) ::chunkserve::internal::CheckFailed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)

#define CHECK_OK(expr)                                                       \
  do {                                                                       \
    ::chunkserve::Status cs_check_status_ = (expr);                          \
    if (!cs_check_status_.ok())                                              \
      ::chunkserve::internal::CheckFailed(#expr, __FILE__, __LINE__,         \
                                          cs_check_status_.ToString());      \
  } while (0)
