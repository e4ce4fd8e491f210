// Internal to the store module: a small RAII wrapper of libpq, PostgreSQL's own C client.
//
// Why libpq and not libpqxx: listingd needs a handful of calls (connect, prepared
// statements, LISTEN/NOTIFY on a socket it polls itself); libpq gives exactly those, is
// what libpqxx wraps anyway, and keeps errors as values (libpqxx throws, and our modules
// do not let exceptions cross them). Debian's libpqxx (6.4) is also older than its
// current C++17/20 API.
//
// Every statement's values go as parameters ($1, $2, ... with their lengths), never
// spliced into SQL. A Connection is used by one thread at a time.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "listingd/status.h"

namespace listingd::pq {

// The values of one statement, in order ($1, $2, ...), as text (PostgreSQL casts each to
// its column's type); a missing optional is NULL.
class Params {
 public:
  Params& add(std::string_view v) {
    values_.emplace_back(v);
    nulls_.push_back(false);
    return *this;
  }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(int64_t v) { return add(std::to_string(v)); }
  Params& add(int v) { return add(static_cast<int64_t>(v)); }
  Params& add(double v);  // exact: the shortest text that reads back as the same double
  Params& add_null() {
    values_.emplace_back();
    nulls_.push_back(true);
    return *this;
  }
  template <class T>
  Params& add(const std::optional<T>& v) {
    return v ? add(*v) : add_null();
  }
  size_t size() const { return values_.size(); }

 private:
  friend class Connection;
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
};

// An array parameter ("{1,NULL,3}", "{\"a b\",NULL}") whose elements are added as a
// Params' values are, which a statement unnests: one statement for the rows of many
// writes. Texts are quoted and escaped, so any text goes; a missing optional is NULL.
class ArrayParam {
 public:
  ArrayParam& add(std::string_view v);
  ArrayParam& add(const std::string& v) { return add(std::string_view(v)); }
  ArrayParam& add(int64_t v) { return add_raw(std::to_string(v)); }
  ArrayParam& add(double v);  // exact, as Params::add(double)
  template <class T>
  ArrayParam& add(const std::optional<T>& v) {
    return v ? add(*v) : add_raw("NULL");
  }
  bool empty() const { return text_.empty(); }
  std::string literal() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  ArrayParam& add_raw(std::string_view v);
  std::string text_;
};

// A statement's result rows (text format). Owns the PGresult.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* r) : r_(r, PQclear) {}
  int size() const { return r_ ? PQntuples(r_.get()) : 0; }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col); }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col),
                       static_cast<size_t>(PQgetlength(r_.get(), row, col)));
  }
  int64_t int64(int row, int col) const;
  double real(int row, int col) const;
  // Rows changed by an INSERT/UPDATE/DELETE.
  int64_t affected() const;

 private:
  std::shared_ptr<PGresult> r_;
};

class Connection {
 public:
  Connection() = default;
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects to `url` (a libpq URI; its password, if any, stays inside libpq), with
  // `password` when not empty (from --db-password-file). Errors never quote a password.
  Status open(const std::string& url, const std::string& password);
  void close();
  // Whether the connection is there and not broken.
  bool healthy() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }
  PGconn* handle() { return conn_; }
  int backend_pid() const { return conn_ ? PQbackendPID(conn_) : 0; }

  // Runs `sql` as a prepared statement (prepared once per connection) with `params`.
  Result<Rows> run(const std::string& sql, const Params& params = {});
  // Runs SQL without parameters (BEGIN, COMMIT, DDL; possibly several statements).
  Status exec(const std::string& sql);

  // Runs `statements` (each a prepared statement, as run()) in one round trip: libpq's
  // pipeline mode, sent all at once, one sync, then every result read. The rows of each, in
  // order; or the first error (the statements after a failed one are skipped by the
  // server: inside a transaction, it is then aborted). A connection left in a state it
  // cannot be used in (lost, or its results not all read) is closed.
  struct Statement {
    std::string_view sql;
    Params params;
  };
  Result<std::vector<Rows>> run_pipelined(const std::vector<Statement>& statements);

 private:
  Status error(const char* what, PGresult* r = nullptr);
  Result<const std::string*> prepared(const std::string& sql);  // its statement's name
  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // SQL → statement name
};

// A Status from a failed libpq call: unavailable for a lost connection, a server shutting
// down, a serialization failure or deadlock (worth retrying); exhausted when an identity
// sequence reached its MAXVALUE; invalid for a constraint; internal otherwise.
Status status_from(PGconn* conn, PGresult* r, const char* what);

// The connection URI and password a Database opens its connections with.
struct Target {
  std::string url;
  std::string password;  // from --db-password-file; empty: libpq's sources
};

}  // namespace listingd::pq
