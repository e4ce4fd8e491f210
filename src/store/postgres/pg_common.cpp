// Row mapping, the connection pool and the migrations of the PostgreSQL backend.
#include "pg_common.h"

#include "listingd/embedded.h"

namespace listingd::postgres {
namespace {

BuildingType building_type_from(const std::string& s) {
  if (s == "STUDIO") return BuildingType::studio;
  if (s == "HOUSE") return BuildingType::house;
  return BuildingType::apartment;
}

// The advisory lock key of migrations: "LSTD", as SQLite's application_id.
constexpr const char* k_migration_lock = "SELECT pg_advisory_xact_lock(1280529476)";

}  // namespace

Listing read_listing(const pq::Rows& rows, int r) {
  Listing l;
  l.id = rows.int64(r, 0);
  ListingWrite& f = l.fields;
  f.name = rows.text(r, 1);
  f.postal_address = {rows.text(r, 2), rows.text(r, 3), rows.text(r, 4), rows.text(r, 5)};
  f.description = rows.text(r, 6);
  f.building_type = building_type_from(rows.text(r, 7));
  f.price_cents = rows.int64(r, 8);
  f.surface_area_m2 = rows.real(r, 9);
  f.rooms_count = rows.int64(r, 10);
  f.bedrooms_count = rows.int64(r, 11);
  if (!rows.is_null(r, 12)) f.contact_phone_number = rows.text(r, 12);
  l.created_ms = rows.int64(r, 13);
  l.updated_ms = rows.int64(r, 14);
  return l;
}

namespace {

// The schema version recorded in the database: 0 when it has no listingd schema and no
// table of its own (a new database); an error when it holds other tables.
Result<int> recorded_version(pq::Connection& conn, const std::string& name) {
  auto marker = conn.run("SELECT to_regclass('listingd_schema') IS NOT NULL");
  if (!marker.ok()) return marker.status();
  if (marker->text(0, 0) == "t") {
    auto v = conn.run("SELECT version FROM listingd_schema WHERE application = 'listingd'");
    if (!v.ok()) return v.status();
    if (v->size() != 1) return Status::Invalid(name + " is not a listingd database");
    return static_cast<int>(v->int64(0, 0));
  }
  auto tables = conn.run(
      "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()");
  if (!tables.ok()) return tables.status();
  if (tables->int64(0, 0) != 0)
    return Status::Invalid(name + " is not a listingd database (it holds other tables); "
                           "refusing to touch it");
  return 0;
}

Status check_known(int version, const std::string& name) {
  const int known = static_cast<int>(embedded::postgres_migrations.size());
  if (version > known)
    return Status::Invalid(name + " has schema version " + std::to_string(version) +
                           ", newer than this listingd knows (" + std::to_string(known) +
                           "); upgrade listingd");
  return Status::Ok();
}

}  // namespace

Result<int> migrate(pq::Connection& conn, const std::string& name) {
  const int known = static_cast<int>(embedded::postgres_migrations.size());
  // One transaction, under a lock every starting listingd takes: the first migrates, the
  // others then find the schema up to date. DDL is transactional: a failed migration
  // leaves nothing behind.
  if (Status s = conn.exec("BEGIN"); !s.ok()) return s;
  auto rollback = [&](Status s) {
    conn.exec("ROLLBACK");
    return s;
  };
  if (Status s = conn.exec(k_migration_lock); !s.ok()) return rollback(s);
  auto version = recorded_version(conn, name);
  if (!version.ok()) return rollback(version.status());
  if (Status s = check_known(*version, name); !s.ok()) return rollback(s);
  if (*version == 0) {
    Status s = conn.exec(
        "CREATE TABLE listingd_schema (application text PRIMARY KEY, version integer NOT NULL);"
        "INSERT INTO listingd_schema VALUES ('listingd', 0)");
    if (!s.ok()) return rollback(s);
  }
  for (int v = *version + 1; v <= known; ++v) {
    const auto& m = embedded::postgres_migrations[v - 1];
    if (std::stoi(std::string(m.file_name)) != v)
      return rollback(Status::Internal("migration " + std::string(m.file_name) +
                                       " is out of order"));
    Status s = conn.exec(std::string(m.sql));
    if (s.ok())
      s = conn.run("UPDATE listingd_schema SET version = $1 WHERE application = 'listingd'",
                   pq::Params().add(v))
              .status();
    if (!s.ok())
      return rollback(Status(s.code(), "migration " + std::string(m.file_name) + ": " +
                                           s.message()));
  }
  if (Status s = conn.exec("COMMIT"); !s.ok()) return s;
  return known;
}

Status check_schema(pq::Connection& conn, const std::string& name) {
  auto version = recorded_version(conn, name);
  if (!version.ok()) return version.status();
  if (*version == 0) return Status::Invalid(name + " is not a listingd database");
  return check_known(*version, name);
}

Pool::Lease::Lease(Pool& pool) : pool_(pool) {
  std::unique_lock lock(pool.mutex_);
  const auto deadline = std::chrono::steady_clock::now() + pool.wait_;
  while (pool.idle_.empty() && pool.open_ >= pool.max_) {
    if (pool.freed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        pool.idle_.empty() && pool.open_ >= pool.max_) {
      status_ = Status::Unavailable("the database is busy: no connection was free in time");
      return;
    }
  }
  if (!pool.idle_.empty()) {
    conn_ = std::move(pool.idle_.back());
    pool.idle_.pop_back();
  } else {
    ++pool.open_;
    conn_ = std::make_unique<pq::Connection>();
  }
  lock.unlock();
  if (!conn_->healthy()) {  // new, or broken since (a restarted database): (re)connect
    if (Status s = conn_->open(pool.target_.url, pool.target_.password); !s.ok()) {
      status_ = s;
      conn_.reset();
      std::lock_guard relock(pool.mutex_);
      --pool.open_;
      pool.freed_.notify_one();
    }
  }
}

Pool::Lease::~Lease() {
  if (!conn_) return;
  // A connection left inside a transaction (an error midway) is closed, not reused.
  if (conn_->healthy() && PQtransactionStatus(conn_->handle()) != PQTRANS_IDLE)
    conn_->close();
  std::lock_guard lock(pool_.mutex_);
  pool_.idle_.push_back(std::move(conn_));
  pool_.freed_.notify_one();
}

}  // namespace listingd::postgres
