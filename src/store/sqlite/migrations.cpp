// Schema migrations: schema/sqlite/NNN_name.sql, embedded in the binary, applied in order
// and tracked with PRAGMA user_version. PRAGMA application_id marks a listingd database,
// so that listingd never writes into a file that belongs to something else.
#include <string>

#include "listingd/embedded.h"
#include "sqlite.h"

namespace listingd::sqlite {
namespace {
constexpr int64_t k_application_id = 0x4C535444;  // "LSTD"
}

Result<int> migrate(Connection& conn, const std::string& path) {
  // Reading the header also tells a non-SQLite file apart (SQLITE_NOTADB).
  auto app_id = conn.query_int("PRAGMA application_id");
  // A file that cannot be read (I/O error; in WAL mode, a -shm file that cannot be
  // created) says nothing about what it holds: that reason, not "not a listingd database".
  if (!app_id.ok() && app_id.status().code() == Code::unavailable)
    return Status::Unavailable("cannot read " + path + ": " + app_id.status().message());
  if (!app_id.ok())
    return Status::Invalid(path + " is not a listingd database (" + app_id.status().message() +
                           ")");
  auto version = conn.query_int("PRAGMA user_version");
  auto objects = conn.query_int("SELECT count(*) FROM sqlite_schema");
  if (!version.ok() || !objects.ok()) return version.ok() ? objects.status() : version.status();

  const bool is_new = *app_id == 0 && *version == 0 && *objects == 0;
  if (!is_new && *app_id != k_application_id)
    return Status::Invalid(path + " is not a listingd database (it holds other data); "
                           "refusing to touch it");
  const int known = static_cast<int>(embedded::migrations.size());
  if (*version < 0)
    return Status::Invalid(path + " has an invalid schema version " + std::to_string(*version));
  if (*version > known)
    return Status::Invalid(path + " has schema version " + std::to_string(*version) +
                           ", newer than this listingd knows (" + std::to_string(known) +
                           "); upgrade listingd");

  // WAL is a property of the file: set it once we know the file is ours.
  if (Status s = conn.exec("PRAGMA journal_mode=WAL"); !s.ok()) return s;
  for (int v = static_cast<int>(*version) + 1; v <= known; ++v) {
    const auto& m = embedded::migrations[v - 1];
    if (std::stoi(std::string(m.file_name)) != v)
      return Status::Internal("migration " + std::string(m.file_name) + " is out of order");
    Transaction tx(conn);
    Status s = tx.begin();
    // Another process may have migrated the file since we looked: look again, locked.
    if (s.ok()) {
      auto now = conn.query_int("PRAGMA user_version");
      if (!now.ok()) return now.status();
      if (*now >= v) continue;
    }
    if (s.ok() && is_new && v == 1)
      s = conn.exec("PRAGMA application_id=" + std::to_string(k_application_id));
    if (s.ok()) s = conn.exec(m.sql);
    if (s.ok()) s = conn.exec("PRAGMA user_version=" + std::to_string(v));
    if (s.ok()) s = tx.commit();
    if (!s.ok())
      return Status(s.code(), "migration " + std::string(m.file_name) + ": " + s.message());
  }
  return known;
}

Result<int> check_listingd_database(Connection& conn, const std::string& path) {
  auto app_id = conn.query_int("PRAGMA application_id");
  if (!app_id.ok())
    return Status::Invalid(path + " is not a listingd database (" + app_id.status().message() +
                           ")");
  auto version = conn.query_int("PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*app_id != k_application_id || *version < 1)
    return Status::Invalid(path + " is not a listingd database");
  const int known = static_cast<int>(embedded::migrations.size());
  if (*version > known)
    return Status::Invalid(path + " has schema version " + std::to_string(*version) +
                           ", newer than this listingd knows (" + std::to_string(known) +
                           "); upgrade listingd");
  return static_cast<int>(*version);
}

}  // namespace listingd::sqlite
