#include "rag/store/pg_conn.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>

namespace chunkserve::rag {
namespace {

std::string Abbreviate(std::string_view sql) {
  std::string s(sql.substr(0, 120));
  if (sql.size() > 120) s += "...";
  return s;
}

Status ErrorFor(std::string_view sqlstate, std::string message) {
  if (sqlstate.starts_with("08") || sqlstate.starts_with("57P") || sqlstate == "40001" || sqlstate == "40P01" ||
      sqlstate == "55P03")
    return UnavailableError(std::move(message));
  if (sqlstate == "42P01") return FailedPreconditionError(std::move(message));
  if (sqlstate == "23505") return AlreadyExistsError(std::move(message));
  if (sqlstate.starts_with("53")) return ResourceExhaustedError(std::move(message));
  return InternalError(std::move(message));
}

std::string Trimmed(const char* message) {
  std::string s = message == nullptr ? "" : message;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void PgResult::Clear(pg_result* r) { PQclear(r); }
int PgResult::rows() const { return result_ ? PQntuples(result_.get()) : 0; }
bool PgResult::IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }

std::string_view PgResult::Text(int row, int col) const {
  return {PQgetvalue(result_.get(), row, col), static_cast<size_t>(PQgetlength(result_.get(), row, col))};
}

int64_t PgResult::Int64(int row, int col) const {
  const std::string_view v = Text(row, col);
  if (PQfformat(result_.get(), col) == 0) return v.empty() ? 0 : std::stoll(std::string(v));
  uint64_t x = 0;  // network byte order, 2, 4 or 8 bytes
  for (unsigned char c : v) x = (x << 8) | c;
  switch (v.size()) {
    case 2: return static_cast<int16_t>(x);
    case 4: return static_cast<int32_t>(x);
    default: return static_cast<int64_t>(x);
  }
}

std::string RedactPgUrl(std::string_view url) {
  // scheme://user:password@host...: hide what sits between ':' and '@'.
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos) return std::string(url);
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

namespace {

// connect_timeout first, so that one in the URI (expanded after it) wins.
pg_conn* OpenConnection(const std::string& url) {
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"5", url.c_str(), nullptr};
  return PQconnectdbParams(keys, values, /*expand_dbname=*/1);
}

}  // namespace

StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string message = Trimmed(error);
    PQfreemem(error);
    return InvalidArgumentError("bad PostgreSQL URI '" + RedactPgUrl(url) + "': " + message);
  }
  PQconninfoFree(options);
  pg_conn* conn = OpenConnection(url);
  if (conn == nullptr) return ResourceExhaustedError("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return UnavailableError("cannot connect to PostgreSQL at '" + RedactPgUrl(url) + "': " + message);
  }
  std::unique_ptr<PgConnection> out(new PgConnection(conn, RedactPgUrl(url)));
  // Quiet NOTICEs ("relation already exists, skipping") stay off stderr.
  RETURN_IF_ERROR(out->AddSessionSetting("SET client_min_messages = warning"));
  return out;
}

Status PgConnection::AddSessionSetting(std::string sql) {
  RETURN_IF_ERROR(Exec(sql));
  session_sql_.push_back(std::move(sql));
  return Status::Ok();
}

Status PgConnection::Reconnect() {
  PQreset(conn_);  // same parameters as the first connect
  if (PQstatus(conn_) != CONNECTION_OK)
    return UnavailableError("cannot reconnect to PostgreSQL at '" + safe_url_ + "': " + Trimmed(PQerrorMessage(conn_)));
  for (const std::string& sql : session_sql_) {
    PgResult r(PQexec(conn_, sql.c_str()));
    RETURN_IF_ERROR(ResultStatus(r.raw(), sql));
  }
  ++n_reconnects_;
  return Status::Ok();
}

StatusOr<std::vector<std::string>> PgConnection::TakeNotifications() {
  if (!ok() || PQconsumeInput(conn_) == 0 || !ok())
    return UnavailableError("PostgreSQL listener connection lost: " + Trimmed(PQerrorMessage(conn_)));
  std::vector<std::string> out;
  while (PGnotify* n = PQnotifies(conn_)) {
    out.emplace_back(n->extra == nullptr ? "" : n->extra);
    PQfreemem(n);
  }
  return out;
}

Status PgConnection::EnsureConnected() { return ok() ? Status::Ok() : Reconnect(); }

bool PgConnection::MayRetry(bool was_idle) const { return was_idle && !ok(); }

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

bool PgConnection::idle() const { return ok() && PQtransactionStatus(conn_) == PQTRANS_IDLE; }

Status PgConnection::ResultStatus(pg_result* result, std::string_view sql) const {
  const ExecStatusType st = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) return Status::Ok();
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string message = Trimmed(result == nullptr ? PQerrorMessage(conn_) : PQresultErrorMessage(result));
  if (PQstatus(conn_) != CONNECTION_OK)
    return UnavailableError("PostgreSQL connection lost (" + message + ") in: " + Abbreviate(sql));
  return ErrorFor(state == nullptr ? "" : state, "PostgreSQL: " + message + " in: " + Abbreviate(sql));
}

Status PgConnection::Exec(std::string_view sql) {
  // PQexec returns the last statement's result; an error stops the batch
  // and is what it returns.
  RETURN_IF_ERROR(EnsureConnected());
  const bool was_idle = PQtransactionStatus(conn_) == PQTRANS_IDLE;
  Status s = ResultStatus(PgResult(PQexec(conn_, std::string(sql).c_str())).raw(), sql);
  if (!s.ok() && MayRetry(was_idle) && Reconnect().ok())
    s = ResultStatus(PgResult(PQexec(conn_, std::string(sql).c_str())).raw(), sql);
  return s;
}

StatusOr<PgResult> PgConnection::Query(std::string_view sql, std::span<const PgParam> params, bool binary_result) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].value ? params[i].value->data() : nullptr;
    lengths[i] = params[i].value ? static_cast<int>(params[i].value->size()) : 0;
    formats[i] = params[i].binary ? 1 : 0;
  }
  RETURN_IF_ERROR(EnsureConnected());
  const bool was_idle = PQtransactionStatus(conn_) == PQTRANS_IDLE;
  const std::string text(sql);
  auto run = [&] {
    return PgResult(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                 lengths.data(), formats.data(), binary_result ? 1 : 0));
  };
  PgResult result = run();
  Status s = ResultStatus(result.raw(), sql);
  if (!s.ok() && MayRetry(was_idle) && Reconnect().ok()) {
    result = run();
    s = ResultStatus(result.raw(), sql);
  }
  RETURN_IF_ERROR(s);
  return result;
}

Status PgConnection::CopyIn(std::string_view copy_sql, std::string_view data) {
  {
    PgResult start(PQexec(conn_, std::string(copy_sql).c_str()));
    RETURN_IF_ERROR(ResultStatus(start.raw(), copy_sql));
    if (PQresultStatus(start.raw()) != PGRES_COPY_IN) return InternalError("not a COPY FROM STDIN: " + Abbreviate(copy_sql));
  }
  constexpr size_t kPiece = 1 << 20;
  for (size_t at = 0; at < data.size(); at += kPiece) {
    const size_t n = std::min(kPiece, data.size() - at);
    if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1) break;  // the error arrives below
  }
  PQputCopyEnd(conn_, nullptr);
  Status status = Status::Ok();
  while (pg_result* r = PQgetResult(conn_)) {
    PgResult result(r);
    if (status.ok()) status = ResultStatus(r, copy_sql);
  }
  return status;
}

void AppendCopyText(std::string* out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '\t': out->append("\\t"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      default: out->push_back(c);
    }
  }
}

std::string PgTextArray(std::span<const std::string> values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  return out + "}";
}

std::string PgInt64Array(std::span<const int64_t> values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += std::to_string(values[i]);
  }
  return out + "}";
}

}  // namespace chunkserve::rag
