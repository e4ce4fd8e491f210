// The SQLite TokenStore: one connection of its own behind a mutex, and what it read kept
// for a second. Every write request asks whether any token exists, and every request with
// a token looks it up: reading the database each time, under a write load, measured 15 %
// of the price-update throughput (W4). Changes made through this store take effect at
// once; changes made by another process on the same file (`listingd token create` or
// `revoke` beside a running server) within k_reread_after.
#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>

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
constexpr int64_t k_touch_interval_ms = 60'000;
constexpr auto k_reread_after = std::chrono::seconds(1);
// Found tokens kept at most (a bound against a flood of distinct valid tokens; there are
// few). Unknown hashes are never kept: a client could fill memory with them.
constexpr size_t k_max_kept_tokens = 1024;

using SteadyClock = std::chrono::steady_clock;

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
    forget_reads();
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
    forget_reads();
    return Status::Ok();
  }

  Result<std::optional<TokenRecord>> find(const std::string& hash) override {
    std::lock_guard lock(mutex_);
    const auto now = SteadyClock::now();
    const auto kept = found_.find(hash);
    if (kept != found_.end() && now < kept->second.read_at + k_reread_after)
      return std::optional<TokenRecord>(kept->second.token);
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
    if (!found) {
      found_.erase(hash);  // revoked elsewhere
    } else if (found_.size() < k_max_kept_tokens || found_.contains(hash)) {
      found_[hash] = {*found, now};
    }
    return found;
  }

  Result<bool> any() override {
    std::lock_guard lock(mutex_);
    const auto now = SteadyClock::now();
    if (any_ && now < any_read_at_ + k_reread_after) return *any_;
    auto v = conn_.query_int(k_any);
    if (!v.ok()) return v.status();
    any_ = *v != 0;
    any_read_at_ = now;
    return *any_;
  }

  Status touch(const std::string& hash, int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    int64_t& last = last_touch_[hash];
    if (now_ms - last < k_touch_interval_ms) return Status::Ok();  // recorded recently
    last = now_ms;
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
  // Requires: mutex_ held.
  void forget_reads() {
    found_.clear();
    any_.reset();
  }

  struct Found {
    TokenRecord token;
    SteadyClock::time_point read_at;
  };

  std::mutex mutex_;
  Connection conn_;
  std::unordered_map<std::string, int64_t> last_touch_;  // bounded by the tokens in use
  std::unordered_map<std::string, Found> found_;         // by hash; read within a second
  std::optional<bool> any_;                               // what any() read last, and when
  SteadyClock::time_point any_read_at_;
};

}  // namespace

Result<std::unique_ptr<TokenStore>> open_sqlite_token_store(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteTokenStore>();
  if (Status s = store->open(options); !s.ok()) return s;
  return std::unique_ptr<TokenStore>(std::move(store));
}

}  // namespace listingd
