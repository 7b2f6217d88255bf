// AccessLog: one line per HTTP request (`serve --log-requests`), written
// after the response:
//
//   2026-12-07T18:50:01.123Z 127.0.0.1 POST /v1/chat/completions 200 1834 52.1ms
//
// (UTC time the response was done, client address, method, path without the
// query string, status, response body bytes, wall time from the routing of
// the request; requests the connection layer refused before routing - no
// key, too large, timed out - are logged with "-" for bytes and time).
// Bytes outside printable ASCII in the method and path are written as \xNN,
// so a request cannot write escape sequences to a terminal or fake a line.
//
// Thread safety: Log may be called from any thread; lines never interleave.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace chunkserve::server {

struct AccessRecord {
  std::string_view client;  // address
  std::string_view method;
  std::string_view path;    // a query string is cut off
  int status = 0;
  std::optional<int64_t> body_bytes;
  std::optional<double> wall_ms;
};

// The line for `record` (without the newline); `unix_ms`: when it was done.
std::string FormatAccessLine(const AccessRecord& record, int64_t unix_ms);

class AccessLog {
 public:
  // Lines go to `sink` (e.g. stderr), one call per line, newline included.
  explicit AccessLog(std::function<void(std::string_view line)> sink) : sink_(std::move(sink)) {}
  void Log(const AccessRecord& record);

 private:
  std::mutex mu_;
  std::function<void(std::string_view)> sink_;
};

}  // namespace chunkserve::server
