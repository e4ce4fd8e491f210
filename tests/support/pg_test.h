// PostgreSQL for tests: a new, empty database on the throwaway cluster that
// tests/support/with_postgres.sh runs the tests against (LISTINGD_TEST_PG_URL).
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

namespace listingd::testing {

// Whether the tests run against a PostgreSQL cluster.
inline bool have_postgres() { return std::getenv("LISTINGD_TEST_PG_URL") != nullptr; }

// Runs one SQL statement on the database `url` (test set-up only); "" or the error.
inline std::string pg_exec(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
      error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return error;
}

// The first column of the first row of `sql` on `url`, as text ("" when none).
inline std::string pg_value(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  std::string out;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

// The URL of a new, empty database (its own per call); nullopt without a cluster.
inline std::optional<std::string> fresh_postgres_url() {
  const char* base = std::getenv("LISTINGD_TEST_PG_URL");
  if (!base) return std::nullopt;
  static std::atomic<int> counter{0};
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  const std::string error = pg_exec(base, "CREATE DATABASE " + name);
  if (!error.empty()) throw std::runtime_error("CREATE DATABASE " + name + ": " + error);
  std::string url = base;
  return url.substr(0, url.rfind('/') + 1) + name;
}

}  // namespace listingd::testing
