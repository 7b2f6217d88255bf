// The PostgreSQL server the store tests run against.
//
// Under ctest, the fixture pg_server_start (tests/rag/CMakeLists.txt) has
// started one per build tree with tools/cluster/pg_local.sh and names its
// directory in CHUNKSERVE_TEST_PG_DIR; its `url` file is absent when
// PostgreSQL is not installed. A test binary run by hand starts its own
// server in a temporary directory and stops it at exit. Each test then gets
// a fresh database (PgTestDatabase), dropped afterwards.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "rag/store/pg_conn.h"

namespace chunkserve::rag {

inline constexpr const char* kPgBinDir = "/usr/lib/postgresql/15/bin";

// nullopt (with the reason in *why) when no server can be had.
inline std::optional<std::string> TestPgServerUrl(std::string* why) {
  static std::string reason;
  static const std::optional<std::string> url = []() -> std::optional<std::string> {
    auto read_url = [](const std::string& dir) -> std::optional<std::string> {
      std::ifstream in(dir + "/url");
      std::string line;
      if (!std::getline(in, line) || line.empty()) return std::nullopt;
      return line;
    };
    if (const char* dir = std::getenv("CHUNKSERVE_TEST_PG_DIR"); dir != nullptr && *dir != '\0') {
      auto found = read_url(dir);
      if (!found) reason = "PostgreSQL is not installed (the ctest fixture found no " + std::string(kPgBinDir) + ")";
      return found;
    }
    if (!std::filesystem::exists(std::string(kPgBinDir) + "/initdb")) {
      reason = "PostgreSQL is not installed (no " + std::string(kPgBinDir) + "/initdb)";
      return std::nullopt;
    }
    static const std::string own = "/tmp/chunkserve-pg-own-" + std::to_string(::getpid());
    const std::string script = std::string(CHUNKSERVE_SOURCE_DIR) + "/tools/cluster/pg_local.sh";
    if (std::system((script + " start " + own + " >/dev/null").c_str()) != 0) {
      reason = "could not start PostgreSQL with " + script;
      return std::nullopt;
    }
    std::atexit([] {
      const std::string script = std::string(CHUNKSERVE_SOURCE_DIR) + "/tools/cluster/pg_local.sh";
      (void)std::system((script + " stop " + own).c_str());
      std::error_code ec;
      std::filesystem::remove_all(own, ec);
    });
    return read_url(own);
  }();
  if (why != nullptr) *why = reason;
  return url;
}

// The URL of the server's database `name` instead of "postgres".
inline std::string PgDatabaseUrl(const std::string& server_url, const std::string& name) {
  const size_t at = server_url.find("/postgres", server_url.find('@'));
  return server_url.substr(0, at) + "/" + name + server_url.substr(at + 9);
}

// A fresh database for one test, dropped when it goes out of scope.
class PgTestDatabase {
 public:
  // `label`: any text; the database name is made from it and the pid.
  explicit PgTestDatabase(const std::string& label) {
    server_ = TestPgServerUrl(&why_);
    if (!server_) return;
    name_ = "t_";
    for (char c : label) name_.push_back(std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_');
    name_ = name_.substr(0, 40) + "_" + std::to_string(::getpid());
    auto admin = PgConnection::Connect(*server_);
    if (!admin.ok()) {
      why_ = admin.status().ToString();
      server_.reset();
      return;
    }
    Status s = (*admin)->Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    if (s.ok()) s = (*admin)->Exec("CREATE DATABASE " + name_);
    if (!s.ok()) {
      why_ = s.ToString();
      server_.reset();
    }
  }
  ~PgTestDatabase() {
    if (!server_) return;
    auto admin = PgConnection::Connect(*server_);
    if (admin.ok()) (void)(*admin)->Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  bool ok() const { return server_.has_value(); }
  const std::string& why_not() const { return why_; }
  std::string url() const { return PgDatabaseUrl(*server_, name_); }

 private:
  std::optional<std::string> server_;
  std::string why_;
  std::string name_;
};

}  // namespace chunkserve::rag
