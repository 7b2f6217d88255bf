// Thin RAII wrappers over the SQLite C API, returning Status.
//
// Database owns a connection, Statement a prepared statement. Every SQLite
// error becomes a Status naming the SQL and SQLite's message; SQLITE_BUSY /
// SQLITE_LOCKED become kUnavailable (another process holds the database).
//
// Thread safety: a Database and its Statements belong to one thread at a time
// (SQLite's default serialized mode would allow more, but we never share).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace chunkserve::rag {

class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binds are 1-based as in SQLite. Text is copied (SQLITE_TRANSIENT).
  Status Bind(int index, int64_t value);
  Status Bind(int index, double value);
  Status Bind(int index, std::string_view value);
  Status BindNull(int index);
  Status BindBlob(int index, std::span<const uint8_t> bytes);

  // Runs one step: true when a row is available, false when done.
  StatusOr<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();
  // Resets for re-execution and clears bindings.
  void Reset();

  int64_t ColumnInt64(int index) const;
  double ColumnDouble(int index) const;
  std::string_view ColumnText(int index) const;  // valid until the next Step/Reset
  bool ColumnIsNull(int index) const;
  std::span<const uint8_t> ColumnBlob(int index) const;  // valid until the next Step/Reset

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Status Check(int rc, std::string_view what) const;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  enum class Mode { kReadWriteCreate, kReadWrite, kReadOnly };
  static StatusOr<std::unique_ptr<Database>> Open(const std::string& path, Mode mode);
  // Takes ownership of an open connection; use Open().
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status Exec(std::string_view sql);
  StatusOr<Statement> Prepare(std::string_view sql);
  // The single integer a query returns (e.g. "PRAGMA user_version").
  StatusOr<int64_t> QueryInt(std::string_view sql);
  int64_t LastInsertRowId() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_;
  std::string path_;
};

// kUnavailable for busy/locked, kDataLoss for corrupt/not-a-database,
// kIo for I/O errors and kInternal otherwise.
Status SqliteError(sqlite3* db, int rc, std::string_view what);

}  // namespace chunkserve::rag
