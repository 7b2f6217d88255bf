#include "server/access_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace chunkserve::server {
namespace {

// Printable ASCII as is, every other byte as \xNN (and the escape itself).
void AppendEscaped(std::string_view text, std::string* out) {
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b > 0x20 && b < 0x7f && c != '\\') {
      out->push_back(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", b);
      out->append(hex);
    }
  }
}

}  // namespace

std::string FormatAccessLine(const AccessRecord& r, int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char time_text[64];
  std::snprintf(time_text, sizeof(time_text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(unix_ms % 1000));
  std::string line = time_text;
  line += ' ';
  AppendEscaped(r.client.empty() ? std::string_view("-") : r.client, &line);
  line += ' ';
  AppendEscaped(r.method.empty() ? std::string_view("-") : r.method, &line);
  line += ' ';
  const std::string_view path = r.path.substr(0, r.path.find('?'));
  AppendEscaped(path.empty() ? std::string_view("-") : path, &line);
  line += ' ' + std::to_string(r.status) + ' ';
  line += r.body_bytes ? std::to_string(*r.body_bytes) : "-";
  line += ' ';
  if (r.wall_ms) {
    char ms[32];
    std::snprintf(ms, sizeof(ms), "%.1fms", *r.wall_ms);
    line += ms;
  } else {
    line += '-';
  }
  return line;
}

void AccessLog::Log(const AccessRecord& record) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const std::string line = FormatAccessLine(record, now_ms) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  sink_(line);
}

}  // namespace chunkserve::server
