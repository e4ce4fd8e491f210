// open_database (see listingd/database.h): the URL or path decides the backend; the SQLite
// one wraps the open_sqlite_* functions of store.h.
#include "listingd/database.h"

#include <filesystem>

#include "postgres/pg_database.h"

namespace listingd {
namespace {

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(DatabaseOptions options) : options_(std::move(options)) {}

  std::string_view backend() const override { return "sqlite"; }
  std::string display_name() const override { return options_.path; }
  bool exists() override {
    std::error_code ec;
    return std::filesystem::exists(options_.path, ec) || ec;
  }
  Result<int> migrate() override { return migrate_sqlite(options_.path); }
  Result<std::unique_ptr<Store>> open_store() override { return open_sqlite_store(options_); }
  Result<std::unique_ptr<TokenStore>> open_token_store() override {
    return open_sqlite_token_store(options_);
  }
  Result<std::unique_ptr<BulkLoader>> open_bulk_loader(int64_t listings_per_commit) override {
    return open_sqlite_bulk_loader(options_, listings_per_commit);
  }
  Status scan(const ListingScan& each) override { return scan_sqlite(options_, each); }
  Status backup(const std::string& to, const BackupOptions& options) override {
    return backup_sqlite(options_.path, to, options);
  }

 private:
  const DatabaseOptions options_;
};

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

}  // namespace

bool is_postgres_url(std::string_view s) {
  return starts_with_ci(s, "postgres://") || starts_with_ci(s, "postgresql://");
}

std::string redact_url(std::string_view url) {
  if (!is_postgres_url(url)) return std::string(url);
  // scheme://[user[:password]@]host...: the password is between the first ':' after the
  // scheme and the last '@' before the path. A password=... parameter is redacted too.
  std::string out(url);
  const size_t start = out.find("://") + 3;
  size_t end = out.find_first_of("/?", start);
  if (end == std::string::npos) end = out.size();
  const size_t at = out.rfind('@', end);
  if (at != std::string::npos && at >= start) {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p)) {
    if (p > 0 && out[p - 1] != '?' && out[p - 1] != '&') {
      p += 9;
      continue;
    }
    const size_t value = p + 9;
    size_t stop = out.find('&', value);
    if (stop == std::string::npos) stop = out.size();
    out.replace(value, stop - value, "***");
    p = value;
  }
  return out;
}

std::unique_ptr<Database> open_database(const DatabaseOptions& options) {
  if (is_postgres_url(options.path)) return postgres::open_database(options);
  return std::make_unique<SqliteDatabase>(options);
}

}  // namespace listingd
