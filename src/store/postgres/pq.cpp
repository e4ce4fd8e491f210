// The libpq wrapper (see pq.h).
#include "pq.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace listingd::pq {

namespace {

// The shortest text that reads back as the same double.
std::string exact_text(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? static_cast<size_t>(end - buf) : 0);
}

}  // namespace

Params& Params::add(double v) { return add(exact_text(v)); }

ArrayParam& ArrayParam::add(double v) { return add_raw(exact_text(v)); }

// Quoted, with '"' and '\' escaped by a backslash: commas, braces, spaces and the word NULL
// are then plain text.
ArrayParam& ArrayParam::add(std::string_view v) {
  std::string quoted;
  quoted.reserve(v.size() + 2);
  quoted.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return add_raw(quoted);
}

ArrayParam& ArrayParam::add_raw(std::string_view v) {
  text_.push_back(text_.empty() ? '{' : ',');
  text_.append(v);
  return *this;
}

int64_t Rows::int64(int row, int col) const {
  return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10);
}

double Rows::real(int row, int col) const {
  const char* s = PQgetvalue(r_.get(), row, col);
  double v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

int64_t Rows::affected() const {
  const char* s = r_ ? PQcmdTuples(r_.get()) : "";
  return *s ? std::strtoll(s, nullptr, 10) : 0;
}

Status status_from(PGconn* conn, PGresult* r, const char* what) {
  std::string message = r ? PQresultErrorMessage(r) : (conn ? PQerrorMessage(conn) : "");
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  if (message.empty()) message = "no connection";
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state ? state : "";
  const std::string text = std::string(what) + ": " + message;
  if (!conn || PQstatus(conn) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 ||
      sqlstate.rfind("57P", 0) == 0 || sqlstate.rfind("53", 0) == 0 || sqlstate == "40001" ||
      sqlstate == "40P01" || sqlstate == "55P03")
    return Status::Unavailable("the database is unavailable (" + text + ")");
  if (sqlstate == "2200H")
    return Status::Exhausted("no listing id is left: ids go up to 9007199254740991 (2^53 - 1)"
                             " and the largest is taken (an import gave it)");
  if (sqlstate.rfind("23", 0) == 0) return Status::Invalid(text);
  return Status::Internal(text);
}

Status Connection::open(const std::string& url, const std::string& password) {
  close();
  // dbname=<URI> with expand_dbname: the URI is parsed by libpq; a password keyword given
  // after it wins over one in the URI. Notices (e.g. "relation exists") are not printed.
  const char* keys[] = {"dbname", "connect_timeout", "fallback_application_name", "password",
                        nullptr};
  const char* values[] = {url.c_str(), "5", "listingd", password.c_str(), nullptr};
  if (password.empty()) keys[3] = values[3] = nullptr;  // libpq's sources, then
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    std::string m = std::string("cannot connect to PostgreSQL: ") +
                    (conn_ ? PQerrorMessage(conn_) : "out of memory");
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    close();
    return Status::Unavailable(m);
  }
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  return Status::Ok();
}

void Connection::close() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  prepared_.clear();
}

Status Connection::error(const char* what, PGresult* r) { return status_from(conn_, r, what); }

Result<const std::string*> Connection::prepared(const std::string& sql) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    PGresult* r = PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr);
    Rows hold(r);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) return error("prepare", r);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  return &it->second;
}

namespace {
struct Values {  // a statement's parameters as libpq takes them
  explicit Values(const std::vector<std::string>& v, const std::vector<bool>& nulls)
      : values(v.size()), lengths(v.size()) {
    for (size_t i = 0; i < v.size(); ++i) {
      values[i] = nulls[i] ? nullptr : v[i].c_str();
      lengths[i] = static_cast<int>(v[i].size());
    }
  }
  std::vector<const char*> values;
  std::vector<int> lengths;
};
}  // namespace

Result<Rows> Connection::run(const std::string& sql, const Params& params) {
  if (!conn_) return Status::Unavailable("the database is unavailable (no connection)");
  auto name = prepared(sql);
  if (!name.ok()) return name.status();
  const int n = static_cast<int>(params.size());
  Values v(params.values_, params.nulls_);
  PGresult* r = PQexecPrepared(conn_, (*name)->c_str(), n, v.values.data(), v.lengths.data(),
                               nullptr, /*result text*/ 0);
  Rows rows(r);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return error("statement", r);
  return rows;
}

Status Connection::exec(const std::string& sql) {
  if (!conn_) return Status::Unavailable("the database is unavailable (no connection)");
  PGresult* r = PQexec(conn_, sql.c_str());
  Rows hold(r);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return error("statement", r);
  return Status::Ok();
}

Result<std::vector<Rows>> Connection::run_pipelined(const std::vector<Statement>& statements) {
  if (!conn_) return Status::Unavailable("the database is unavailable (no connection)");
  std::vector<const std::string*> names;  // prepared first: one round trip each, once
  for (const Statement& st : statements) {
    auto name = prepared(std::string(st.sql));
    if (!name.ok()) return name.status();
    names.push_back(*name);
  }
  if (PQenterPipelineMode(conn_) != 1) return error("pipeline");
  Status failed;
  size_t sent = 0;
  for (; sent < statements.size(); ++sent) {
    const Params& p = statements[sent].params;
    Values v(p.values_, p.nulls_);
    if (PQsendQueryPrepared(conn_, names[sent]->c_str(), static_cast<int>(p.size()),
                            v.values.data(), v.lengths.data(), nullptr, 0) != 1) {
      failed = error("send");
      break;
    }
  }
  bool usable = PQpipelineSync(conn_) == 1;
  if (!usable && failed.ok()) failed = error("sync");
  std::vector<Rows> out;
  out.reserve(sent);
  // Each statement's result is followed by a null one; the sync's comes last.
  for (size_t i = 0; usable && i < sent; ++i) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      usable = false;
      if (failed.ok()) failed = error("pipeline");
      break;
    }
    Rows rows(r);
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) out.push_back(rows);
    else if (failed.ok()) failed = error("statement", r);
    if (PGresult* end = PQgetResult(conn_)) {  // not the separator: out of step
      PQclear(end);
      usable = false;
    }
  }
  if (usable) {
    PGresult* r = PQgetResult(conn_);
    usable = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    if (r) PQclear(r);
  }
  if (!usable || PQexitPipelineMode(conn_) != 1) {
    if (failed.ok()) failed = error("pipeline");
    close();  // the caller reconnects
  }
  if (!failed.ok()) return failed;
  return out;
}

}  // namespace listingd::pq
