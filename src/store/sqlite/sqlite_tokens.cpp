// The SQLite TokenStore: one connection of its own behind a mutex, and what it read kept
// for a second (../token_reads.h): changes made by another process on the same file
// (`listingd token create` or `revoke` beside a running server) count within a second.
#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "../token_reads.h"
#include "listingd/store.h"
#include "sqlite.h"

namespace listingd {
namespace {

using sqlite::Connection;
using sqlite::Statement;

constexpr const char* k_insert =
    "INSERT INTO tokens (name, role, hash, created_ms) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* k_select_all =
    "SELECT name, role, hash, created_ms, last_used_ms FROM tokens ORDER BY name";
constexpr const char* k_select_by_hash =
    "SELECT name, role, hash, created_ms, last_used_ms FROM tokens WHERE hash = ?1";
constexpr const char* k_delete = "DELETE FROM tokens WHERE name = ?1";
constexpr const char* k_any = "SELECT EXISTS (SELECT 1 FROM tokens)";
constexpr const char* k_touch = "UPDATE tokens SET last_used_ms = ?2 WHERE hash = ?1";

TokenRecord read_token(const Statement& row) {
  TokenRecord t;
  t.name = row.text(0);
  t.role = parse_role(row.text(1)).value_or(Role::reader);
  t.hash = row.text(2);
  t.created_ms = row.int64(3);
  if (!row.is_null(4)) t.last_used_ms = row.int64(4);
  return t;
}

class SqliteTokenStore final : public TokenStore {
 public:
  Status open(const SqliteOptions& options) {
    return sqlite::open_connection(conn_, options, /*writer=*/true);
  }

  Status add(const TokenRecord& token) override {
    std::lock_guard lock(mutex_);
    Status s;
    Statement* stmt = conn_.prepare(k_insert, s);
    if (!stmt) return s;
    stmt->bind(1, token.name).bind(2, to_string(token.role)).bind(3, token.hash)
        .bind(4, token.created_ms);
    int rc = stmt->step();
    stmt->reset();
    if ((rc & 0xFF) == SQLITE_CONSTRAINT)
      return Status::Invalid("a token named " + token.name + " already exists");
    if (rc != SQLITE_DONE) return sqlite::error_status(conn_.handle(), rc, "add token");
    reads_.forget();
    return Status::Ok();
  }

  Result<std::vector<TokenRecord>> list() override {
    std::lock_guard lock(mutex_);
    Status s;
    Statement* stmt = conn_.prepare(k_select_all, s);
    if (!stmt) return s;
    std::vector<TokenRecord> out;
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) out.push_back(read_token(*stmt));
    stmt->reset();
    if (rc != SQLITE_DONE) return sqlite::error_status(conn_.handle(), rc, "list tokens");
    return out;
  }

  Status revoke(const std::string& name) override {
    std::lock_guard lock(mutex_);
    Status s;
    Statement* stmt = conn_.prepare(k_delete, s);
    if (!stmt) return s;
    stmt->bind(1, name);
    int rc = stmt->step();
    stmt->reset();
    if (rc != SQLITE_DONE) return sqlite::error_status(conn_.handle(), rc, "revoke token");
    if (sqlite3_changes(conn_.handle()) == 0) return Status::NotFound("no token named " + name);
    reads_.forget();
    return Status::Ok();
  }

  Result<std::optional<TokenRecord>> find(const std::string& hash) override {
    std::lock_guard lock(mutex_);
    const auto now = TokenReads::Clock::now();
    if (auto kept = reads_.found(hash, now)) return kept;
    Status s;
    Statement* stmt = conn_.prepare(k_select_by_hash, s);
    if (!stmt) return s;
    stmt->bind(1, hash);
    int rc = stmt->step();
    std::optional<TokenRecord> found;
    if (rc == SQLITE_ROW) found = read_token(*stmt);
    stmt->reset();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      return sqlite::error_status(conn_.handle(), rc, "find token");
    reads_.read(hash, found, now);
    return found;
  }

  Result<bool> any() override {
    std::lock_guard lock(mutex_);
    const auto now = TokenReads::Clock::now();
    if (auto kept = reads_.any(now)) return *kept;
    auto v = conn_.query_int(k_any);
    if (!v.ok()) return v.status();
    reads_.read_any(*v != 0, now);
    return *v != 0;
  }

  Status touch(const std::string& hash, int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    if (!reads_.touch_due(hash, now_ms)) return Status::Ok();  // recorded recently
    Status s;
    Statement* stmt = conn_.prepare(k_touch, s);
    if (!stmt) return s;
    stmt->bind(1, hash).bind(2, now_ms);
    int rc = stmt->step();
    stmt->reset();
    if (rc != SQLITE_DONE) return sqlite::error_status(conn_.handle(), rc, "record token use");
    return Status::Ok();
  }

 private:
  std::mutex mutex_;
  Connection conn_;
  TokenReads reads_;  // mutex_
};

}  // namespace

Result<std::unique_ptr<TokenStore>> open_sqlite_token_store(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteTokenStore>();
  if (Status s = store->open(options); !s.ok()) return s;
  return std::unique_ptr<TokenStore>(std::move(store));
}

}  // namespace listingd
