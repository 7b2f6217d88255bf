// Thin RAII wrappers over libpq, returning Status (the PostgreSQL twin of
// sqlite_db.h).
//
// PgConnection owns a connection; Query() runs one parameterised statement
// (parameters as text, or as raw bytes for bytea), Exec() runs SQL without
// parameters (several statements allowed), CopyIn() streams rows into a
// `COPY ... FROM STDIN` in text format. Every error becomes a Status naming
// the SQL and the server's message: a lost or refused connection, an
// administrator shutdown, serialization failures and deadlocks are
// kUnavailable (retry later), an undefined table is kFailedPrecondition
// (not a chunkserve database), a unique violation kAlreadyExists, and
// everything else kInternal.
//
// Reconnecting: a connection found broken before a statement is re-opened
// first (with its session settings, see AddSessionSetting); a statement
// that loses the connection while no transaction is open (an autocommit
// statement, atomic on the server) is retried once on a new connection.
// Inside a transaction the error is returned: the caller retries the whole
// transaction (PgStore does, pg_store.h). Connecting gives up after 5 s
// unless the URI sets connect_timeout.
//
// Thread safety: a PgConnection belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct pg_conn;
struct pg_result;

namespace chunkserve::rag {

// One statement parameter: text (nullopt: SQL NULL), or bytes sent as-is
// (binary format, for bytea).
struct PgParam {
  PgParam(std::nullopt_t) {}  // NOLINT: NULL
  PgParam(std::string v) : value(std::move(v)) {}  // NOLINT
  PgParam(std::string_view v) : value(std::string(v)) {}  // NOLINT
  PgParam(const char* v) : value(std::string(v)) {}  // NOLINT
  PgParam(int64_t v) : value(std::to_string(v)) {}  // NOLINT
  PgParam(int v) : value(std::to_string(v)) {}  // NOLINT
  static PgParam Bytes(std::span<const uint8_t> bytes) {
    PgParam p(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    p.binary = true;
    return p;
  }
  std::optional<std::string> value;
  bool binary = false;
};

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* result) : result_(result, &Clear) {}
  int rows() const;
  bool IsNull(int row, int col) const;
  // Text columns (or raw bytes, for a binary-format result's bytea).
  std::string_view Text(int row, int col) const;
  // An integer column in text format, or int2/int4/int8 in binary format.
  int64_t Int64(int row, int col) const;
  pg_result* raw() const { return result_.get(); }

 private:
  static void Clear(pg_result* r);
  std::shared_ptr<pg_result> result_;
};

class PgConnection {
 public:
  // kUnavailable when the server cannot be reached, kInvalidArgument for a
  // malformed URI.
  static StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& url);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  Status Exec(std::string_view sql);
  // `binary_result`: columns come back in binary format (bytea as raw bytes;
  // use Int64 for integers).
  StatusOr<PgResult> Query(std::string_view sql, std::span<const PgParam> params = {}, bool binary_result = false);
  StatusOr<PgResult> Query(std::string_view sql, std::initializer_list<PgParam> params, bool binary_result = false) {
    return Query(sql, std::span<const PgParam>(params.begin(), params.size()), binary_result);
  }
  // Runs `copy_sql` (COPY ... FROM STDIN) and sends `data` (text format rows).
  Status CopyIn(std::string_view copy_sql, std::string_view data);
  // False once the connection broke.
  bool ok() const;
  // Connected and outside any transaction (fit to be reused).
  bool idle() const;
  // Runs `sql` now and again after every reconnect (e.g. "SET ...").
  Status AddSessionSetting(std::string sql);
  // Re-opens the connection (kUnavailable when the server does not answer).
  Status Reconnect();
  // The URI without its password (for messages).
  const std::string& safe_url() const { return safe_url_; }
  // Successful Reconnect()s so far (a LISTEN session setting was re-run:
  // notifications sent meanwhile were lost).
  int64_t n_reconnects() const { return n_reconnects_; }
  // LISTEN/NOTIFY: reads what the server sent without waiting (no round
  // trip) and returns the payloads of the notifications received, oldest
  // first. kUnavailable when the connection is broken.
  StatusOr<std::vector<std::string>> TakeNotifications();

 private:
  PgConnection(pg_conn* conn, std::string safe_url) : conn_(conn), safe_url_(std::move(safe_url)) {}
  Status ResultStatus(pg_result* result, std::string_view sql) const;
  // Reconnects when the connection is broken.
  Status EnsureConnected();
  // Whether a statement that failed may run again: the connection was idle
  // (no transaction) before it and is broken now.
  bool MayRetry(bool was_idle) const;
  pg_conn* conn_;
  std::string safe_url_;
  std::vector<std::string> session_sql_;
  int64_t n_reconnects_ = 0;
};

// A text value escaped for COPY's text format (backslash, tab, newline, CR).
void AppendCopyText(std::string* out, std::string_view value);
// A PostgreSQL array literal of text values ({"a","b"}).
std::string PgTextArray(std::span<const std::string> values);
std::string PgInt64Array(std::span<const int64_t> values);
// The URI with any password replaced by "***".
std::string RedactPgUrl(std::string_view url);

}  // namespace chunkserve::rag
