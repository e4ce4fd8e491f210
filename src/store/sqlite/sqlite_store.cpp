// The SQLite Store. Writes: one writer thread owns the write connection and commits
// whatever is queued in one transaction (group_commit.h). Reads: a bounded pool of read
// connections (read_pool.h), which WAL mode lets run alongside the writer.
#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "listingd/store.h"
#include "checkpointer.h"
#include "../group_commit.h"
#include "listing_rows.h"
#include "page_query.h"
#include "read_pool.h"
#include "sqlite.h"

namespace listingd {
namespace {

using sqlite::Connection;
using sqlite::ReadPool;
using sqlite::Statement;
using sqlite::bind_fields;
using sqlite::k_insert_price;
using sqlite::k_listing_columns;
using sqlite::read_listing;

const std::string k_select_listing =
    std::string("SELECT ") + k_listing_columns + " FROM listings WHERE id = ?1";
constexpr const char* k_select_history =
    "SELECT price_cents, created_ms FROM price_history WHERE listing_id = ?1 "
    "ORDER BY created_ms, id";
constexpr const char* k_listing_exists = "SELECT 1 FROM listings WHERE id = ?1";
constexpr const char* k_delete_history = "DELETE FROM price_history WHERE listing_id = ?1";
constexpr const char* k_delete_listing = "DELETE FROM listings WHERE id = ?1";
constexpr const char* k_insert_change =
    "INSERT INTO changes (listing_id, type, old_price_cents, new_price_cents, at_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* k_remember_deleted =
    "INSERT OR REPLACE INTO deleted_listings (id, deleted_ms) VALUES (?1, ?2)";
// Keeps a keyed write's answer; an expired row of the same key (at_ms before ?8) is
// replaced, a live one left alone (then no row changes: the key is taken).
constexpr const char* k_keep_answer =
    "INSERT INTO idempotency_keys (scope, key, request, listing_id, created, body, at_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (scope, key) DO UPDATE SET "
    "request = excluded.request, listing_id = excluded.listing_id, created = excluded.created, "
    "body = excluded.body, at_ms = excluded.at_ms WHERE idempotency_keys.at_ms < ?8";
constexpr const char* k_kept_answer =
    "SELECT request, listing_id, created, body FROM idempotency_keys "
    "WHERE scope = ?1 AND key = ?2 AND at_ms >= ?3";

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteOptions options)
      : options_(std::move(options)),
        readers_(std::make_unique<ReadPool>(
            ReadPool::Options{
                .max_connections = std::max<size_t>(options_.read_connections, 1),
                .wait = std::chrono::milliseconds(options_.busy_timeout_ms),
                .idle = std::chrono::milliseconds(options_.read_idle_ms)},
            [this](Connection& conn) {
              return sqlite::open_connection(conn, options_, /*writer=*/false);
            })) {}

  ~SqliteStore() override {
    writes_.stop();  // after it drains the queue
    readers_.reset();  // every read connection closed before the last checkpoint
    checkpointer_.stop();  // the last checkpoint, with every write committed
  }

  Status open() {
    if (Status s = sqlite::open_connection(writer_, options_, true); !s.ok()) return s;
    auto floor = writer_.query_int("SELECT coalesce(max(id), 0) FROM deleted_listings");
    if (!floor.ok()) return floor.status();
    deleted_max_id_ = *floor;
    auto last_change = writer_.query_int("SELECT coalesce(max(at_ms), 0) FROM changes");
    if (!last_change.ok()) return last_change.status();
    last_change_ms_ = *last_change;
    if (Status s = checkpointer_.start(options_.path, options_.busy_timeout_ms); !s.ok())
      return s;
    checkpointer_.watch(writer_);
    writes_.start({.commit = [this](const auto& batch) { return commit_batch(batch); },
                   // Only the writer thread sets last_commit_: reading it there needs no lock.
                   .failing = [this] { return !last_commit_.ok(); },
                   .probe = [this] { probe_writes(); },
                   .after_batch =
                       [this] {
                         if (std::chrono::steady_clock::now() - last_prune_ >= k_prune_every) {
                           prune_changes();
                           prune_idempotency_keys();
                         }
                         checkpointer_.catch_up();
                       }},
                  "lsd-writer");
    return Status::Ok();
  }

  // One process writes a SQLite file's listings (the server): nothing happens elsewhere.
  void subscribe(StoreEvents events) override { writes_.subscribe(std::move(events)); }

  Result<Listing> create(const ListingWrite& fields, int64_t now_ms,
                         const IdempotencyKey* key) override {
    return writes_.create(fields, now_ms, key);
  }

  Result<Listing> update(int64_t id, const ListingWrite& fields, int64_t now_ms) override {
    return writes_.update(id, fields, now_ms);
  }

  Result<Listing> edit(int64_t id, const Edit& edit, int64_t now_ms,
                       const IdempotencyKey* key) override {
    return writes_.edit(id, edit, now_ms, key);
  }

  Result<std::optional<KeptAnswer>> kept_answer(const std::string& scope, const std::string& key,
                                                int64_t since_ms) override {
    ReadPool::Lease reader(*readers_);
    if (!reader.ok()) return reader.status();
    Status s;
    Statement* stmt = reader->prepare(k_kept_answer, s);
    if (!stmt) return s;
    stmt->bind(1, scope).bind(2, key).bind(3, since_ms);
    const int rc = stmt->step();
    if (rc == SQLITE_DONE) return std::optional<KeptAnswer>();
    if (rc != SQLITE_ROW) return sqlite::error_status(reader->handle(), rc, "read idempotency key");
    KeptAnswer kept{stmt->text(0), stmt->int64(1), stmt->int64(2) == 1, stmt->text(3)};
    stmt->reset();
    return std::optional<KeptAnswer>(std::move(kept));
  }

  Status remove(int64_t id, const Check& check, int64_t now_ms) override {
    return writes_.remove(id, check, now_ms);
  }

  Result<Listing> get(int64_t id) override {
    ReadPool::Lease reader(*readers_);
    if (!reader.ok()) return reader.status();
    Status s;
    Statement* stmt = reader->prepare(k_select_listing.c_str(), s);
    if (!stmt) return s;
    stmt->bind(1, id);
    int rc = stmt->step();
    if (rc == SQLITE_DONE) return Status::NotFound("no listing with id " + std::to_string(id));
    if (rc != SQLITE_ROW) return sqlite::error_status(reader->handle(), rc, "read listing");
    return read_listing(*stmt);
  }

  Status backup_to(const std::string& file) override { return backup_sqlite(options_.path, file); }

  Result<ChangePage> changes(const ChangeQuery& query) override {
    // One snapshot: the retention check and the page agree.
    return in_read_transaction([&](Connection& reader) { return read_changes(reader, query); });
  }

  Status check_ready() override {
    if (writes_.stopping()) return Status::Unavailable("the server is shutting down");
    {
      // Unready from a failed commit (disk full, read-only, I/O error) until a write
      // succeeds: the next batch's, or the writer thread's probe (see probe_writes), so
      // readiness comes back by itself once writes do, and only then.
      std::lock_guard lock(health_mutex_);
      if (!last_commit_.ok()) return last_commit_;
    }
    if (::access(options_.path.c_str(), W_OK) != 0)
      return Status::Unavailable("the database file cannot be written");
    ReadPool::Lease reader(*readers_);
    if (!reader.ok()) return reader.status();
    auto one = reader->query_int("SELECT count(*) FROM (SELECT 1 FROM listings LIMIT 1)");
    return one.ok() ? Status::Ok() : one.status();
  }

  // The one number a count query (sqlite::build_count_sql and the like) answers.
  static Result<int64_t> count_of(ReadPool::Lease& reader, const sqlite::PageSql& sql) {
    Status s;
    Statement* count = reader->prepare(sql.sql.c_str(), s);
    if (!count) return s;
    int index = 0;
    for (const auto& arg : sql.args) {
      ++index;
      std::visit([&](const auto& v) { count->bind(index, v); }, arg);
    }
    const int rc = count->step();
    if (rc != SQLITE_ROW) return sqlite::error_status(reader->handle(), rc, "count listings");
    const int64_t n = count->int64(0);
    count->reset();
    return n;
  }

  Result<Page> list_page(const ListingQuery& query) override {
    ReadPool::Lease reader(*readers_);
    if (!reader.ok()) return reader.status();
    // A search by price or date takes its way by how many listings its words match
    // (see page_query.h): counted in the search index, at most one past the threshold.
    bool many_matches = false;
    if ((query.text || query.city_prefix) && !query.postal_code && query.sort != SortOrder::id &&
        query.sort != SortOrder::relevance) {
      auto matches = count_of(reader, sqlite::build_match_count_sql(query, sqlite::k_many_matches + 1));
      if (!matches.ok()) return matches.status();
      many_matches = *matches > sqlite::k_many_matches;
    }
    const sqlite::PageSql page_sql = sqlite::build_page_sql(query, many_matches);
    Status s;
    Statement* stmt = reader->prepare(page_sql.sql.c_str(), s);
    if (!stmt) return s;
    int index = 0;
    for (const auto& arg : page_sql.args) {
      ++index;
      std::visit([&](const auto& v) { stmt->bind(index, v); }, arg);
    }
    Page page;
    page.listings.reserve(std::min<size_t>(query.limit + 1, 1024));
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) {
      page.listings.push_back(read_listing(*stmt));
      // A relevance page's rows end with their score, the sort key (see page_query.h).
      if (query.sort == SortOrder::relevance && page.listings.size() <= query.limit)
        page.last = {stmt->int64(sqlite::k_listing_column_count), page.listings.back().id};
    }
    if (rc != SQLITE_DONE) return sqlite::error_status(reader->handle(), rc, "list listings");
    if (page.listings.size() > query.limit) {
      page.listings.pop_back();
      page.has_more = true;
    }
    if (query.sort != SortOrder::relevance && !page.listings.empty())
      page.last = position_of(query.sort, page.listings.back());
    if (query.count_total) {
      auto total = count_of(reader, sqlite::build_count_sql(query));
      if (!total.ok()) return total.status();
      page.total = *total;
    }
    return page;
  }

  Result<std::vector<PricePoint>> price_history(int64_t id) override {
    // One snapshot, so the existence check and the history agree.
    return in_read_transaction([&](Connection& reader) -> Result<std::vector<PricePoint>> {
      Status s;
      Statement* exists = reader.prepare(k_listing_exists, s);
      if (!exists) return s;
      exists->bind(1, id);
      int rc = exists->step();
      if (rc == SQLITE_DONE) return Status::NotFound("no listing with id " + std::to_string(id));
      if (rc != SQLITE_ROW) return sqlite::error_status(reader.handle(), rc, "read listing");
      exists->reset();
      Statement* stmt = reader.prepare(k_select_history, s);
      if (!stmt) return s;
      stmt->bind(1, id);
      std::vector<PricePoint> out;
      while ((rc = stmt->step()) == SQLITE_ROW) out.push_back({stmt->int64(0), stmt->int64(1)});
      if (rc != SQLITE_DONE) return sqlite::error_status(reader.handle(), rc, "read prices");
      stmt->reset();
      return out;
    });
  }

 private:
  // Runs `read` on a pooled read connection inside one read transaction: all it reads
  // comes from one snapshot of the database.
  template <class Read>
  auto in_read_transaction(Read&& read) -> decltype(read(std::declval<Connection&>())) {
    ReadPool::Lease reader(*readers_);
    if (!reader.ok()) return reader.status();
    if (Status s = reader->exec("BEGIN"); !s.ok()) return s;
    struct EndRead {
      Connection& c;
      ~EndRead() {
        c.reset_all();
        c.exec("COMMIT");
      }
    } end_read{*reader};
    return read(*reader);
  }

  // Writes the batch in one transaction (see GroupCommit::Backend::commit).
  Status commit_batch(const std::vector<WriteCommand*>& batch) {
    sqlite::Transaction tx(writer_);
    Status s = tx.begin();
    for (WriteCommand* c : batch) {
      newest_write_ms_ = std::max(newest_write_ms_, c->now_ms);
      if (!s.ok()) {
        c->result = s;
        continue;
      }
      // Each command in a savepoint: one that fails is undone alone, the others commit.
      c->result = in_savepoint(*c);
      // Some errors (disk full, I/O) make SQLite roll back the whole transaction: then
      // nothing of this batch is written, and the rest must not run outside it.
      if (!c->result->ok() && sqlite3_get_autocommit(writer_.handle())) {
        s = c->result->status();
        tx.abandon();
      }
    }
    if (s.ok()) s = tx.commit();
    // A lock held past the busy timeout is a moment's contention: it leaves readiness as
    // it was. Any other failure (disk full, read-only, I/O) makes the store unready.
    if (s.ok() || !sqlite::is_busy(s)) {
      std::lock_guard lock(health_mutex_);
      last_commit_ = s;  // what readiness reports until the next batch or probe
    }
    if (!s.ok() && !sqlite::is_busy(s)) {
      // A commit whose WAL fsync failed has left its frames in the WAL, ending in a valid
      // commit frame: SQLite's recovery after a crash would bring back the writes refused
      // here. Before the refusals go out: a write puts a frame where that commit begins,
      // so the WAL's checksum chain no longer reaches it; then a TRUNCATE checkpoint
      // empties the WAL, for when that commit had started the WAL over (the fault test
      // found such a copy recovered under the sanitizers' timing). When the disk refuses
      // these too, the frames stay until a probe (once a second) or a batch gets through.
      tx.end();
      probe_writes();
      writer_.exec("PRAGMA wal_checkpoint(TRUNCATE)");  // busy with a reader: the probe holds
    }
    return s;
  }

  // Right after a failed commit (see commit_batch), then while commits fail and nothing is
  // queued, a write that changes nothing proves once a second whether the database takes
  // writes again: it rewrites the header's application_id with its own value, which puts
  // a page in the WAL and commits it like any write. A load balancer that took the node
  // out of rotation sends no write that would show it.
  void probe_writes() {
    auto id = writer_.query_int("PRAGMA application_id");
    Status s = id.ok() ? writer_.exec("PRAGMA application_id=" + std::to_string(*id))
                       : id.status();
    if (s.ok()) checkpointer_.catch_up();
    std::lock_guard lock(health_mutex_);
    if (s.ok()) last_commit_ = s;  // else the first failure's reason stays the one told
  }

  Result<Listing> in_savepoint(WriteCommand& c) {
    if (Status s = writer_.run("SAVEPOINT command"); !s.ok()) return s;
    const int64_t deleted_max_id = deleted_max_id_, last_change_ms = last_change_ms_;
    Result<Listing> result = apply(c);
    if (!result.ok()) {
      writer_.run("ROLLBACK TO command");
      deleted_max_id_ = deleted_max_id;
      last_change_ms_ = last_change_ms;
    }
    if (Status s = writer_.run("RELEASE command"); !s.ok() && result.ok()) return s;
    return result;
  }

  // Requires: on the writer thread, inside a transaction.
  Result<Listing> apply(WriteCommand& c) {
    if (!c.id) return keep_answer(c, apply_create(c));
    return c.remove ? apply_remove(*c.id, c) : keep_answer(c, apply_update(*c.id, c));
  }

  // A keyed write's answer, kept in its transaction; Code::conflict when the key is
  // taken by a write of the last 24 h (the savepoint then undoes this one).
  Result<Listing> keep_answer(const WriteCommand& c, Result<Listing> written) {
    if (!c.key || !written.ok()) return written;
    Status s;
    Statement* keep = writer_.prepare(k_keep_answer, s);
    if (!keep) return s;
    keep->bind(1, c.key->scope)
        .bind(2, c.key->key)
        .bind(3, c.key->request)
        .bind(4, written->id)
        .bind(5, int64_t{c.id ? 0 : 1})
        .bind(6, listing_to_json(*written))
        .bind(7, c.now_ms)
        .bind(8, c.now_ms - limits::idempotency_keep_ms);
    if (int rc = keep->step(); rc != SQLITE_DONE)
      return sqlite::error_status(writer_.handle(), rc, "keep idempotency key");
    if (sqlite3_changes(writer_.handle()) == 0)
      return Status::Conflict("Idempotency-Key " + c.key->key + " was used by another request");
    return written;
  }

  Result<Listing> apply_create(WriteCommand& c) {
    Status s;
    Statement* insert = writer_.prepare(sqlite::k_insert_listing_row, s);
    if (!insert) return s;
    bind_fields(*insert, *c.fields);
    insert->bind(13, c.now_ms).bind(14, c.now_ms);
    // SQLite gives max(id) + 1, which may be the id of a deleted listing: then the next
    // id above every one ever used (nothing to look up until a listing is deleted).
    insert->bind_null(15);
    if (deleted_max_id_ > 0) {
      auto max_id = writer_.query_int("SELECT coalesce(max(id), 0) FROM listings");
      if (!max_id.ok()) return max_id.status();
      if (*max_id < deleted_max_id_) insert->bind(15, deleted_max_id_ + 1);
    }
    if (int rc = insert->step(); rc != SQLITE_DONE)
      return sqlite::error_status(writer_.handle(), rc, "insert listing");
    Listing listing{sqlite3_last_insert_rowid(writer_.handle()), *c.fields, c.now_ms, c.now_ms};
    // SQLite gives max(id) + 1, which an imported id can push past what a JavaScript
    // client reads exactly (and at INT64_MAX it would pick ids at random): refuse instead.
    // The savepoint undoes the insert.
    if (listing.id > limits::max_id) return no_id_left();
    if (s = sqlite::index_listing(writer_, listing.id, *c.fields); !s.ok()) return s;
    if (s = append_price(listing.id, c.fields->price_cents, c.now_ms); !s.ok()) return s;
    c.change = Change::created;
    if (s = record_change(listing.id, Change::created, std::nullopt, listing.fields.price_cents, c.now_ms);
        !s.ok())
      return s;
    return listing;
  }

  static Status no_id_left() {
    return Status::Exhausted("no listing id is left: ids go up to " +
                             std::to_string(limits::max_id) +
                             " (2^53 - 1) and the largest is taken (an import gave it)");
  }

  // The listing as it is, read inside the write's transaction.
  Result<Listing> current_listing(int64_t id) {
    Status s;
    Statement* current = writer_.prepare(k_select_listing.c_str(), s);
    if (!current) return s;
    current->bind(1, id);
    const int rc = current->step();
    if (rc == SQLITE_DONE) return Status::NotFound("no listing with id " + std::to_string(id));
    if (rc != SQLITE_ROW) return sqlite::error_status(writer_.handle(), rc, "read listing");
    Listing listing = read_listing(*current);
    current->reset();
    return listing;
  }

  Result<Listing> apply_update(int64_t id, WriteCommand& c) {
    auto current = current_listing(id);
    if (!current.ok()) return current.status();
    const Listing& old = *current;
    std::optional<Result<ListingWrite>> edited;
    if (c.edit) {
      edited = (*c.edit)(old);
      if (!edited->ok()) return edited->status();
    }
    const ListingWrite& fields = c.edit ? edited->value() : *c.fields;
    const int64_t old_price = old.fields.price_cents;
    Status s;
    int rc;
    // Never before the previous write: a clock read earlier by a writer queued later, or
    // a clock stepped back, must not put history out of write order.
    const int64_t now_ms = std::max(c.now_ms, old.updated_ms);

    const unsigned changed = sqlite::changed_columns(old.fields, fields);
    auto sql = update_sql_.find(changed);
    if (sql == update_sql_.end())
      sql = update_sql_.emplace(changed, sqlite::update_listing_sql(changed)).first;
    Statement* update = writer_.prepare(sql->second.c_str(), s);
    if (!update) return s;
    bind_fields(*update, fields);
    update->bind(13, now_ms).bind(14, id);
    if (rc = update->step(); rc != SQLITE_DONE)
      return sqlite::error_status(writer_.handle(), rc, "update listing");
    c.change = Change::updated;
    if (fields.price_cents != old_price) {
      if (s = append_price(id, fields.price_cents, now_ms); !s.ok()) return s;
      c.change = Change::price_changed;
      s = record_change(id, c.change, old_price, fields.price_cents, now_ms);
    } else {
      s = record_change(id, c.change, std::nullopt, std::nullopt, now_ms);
    }
    if (!s.ok()) return s;
    return Listing{id, fields, old.created_ms, now_ms};
  }

  // Deletes the listing and its history, and remembers its id (never given again).
  Result<Listing> apply_remove(int64_t id, WriteCommand& c) {
    auto current = current_listing(id);
    if (!current.ok()) return current.status();
    if (c.check) {
      if (Status s = (*c.check)(*current); !s.ok()) return s;
    }
    for (const char* sql : {k_delete_history, k_delete_listing}) {
      Status s;
      Statement* del = writer_.prepare(sql, s);
      if (!del) return s;
      del->bind(1, id);
      if (int rc = del->step(); rc != SQLITE_DONE)
        return sqlite::error_status(writer_.handle(), rc, "delete listing");
    }
    Status s;
    Statement* remember = writer_.prepare(k_remember_deleted, s);
    if (!remember) return s;
    remember->bind(1, id).bind(2, c.now_ms);
    if (int rc = remember->step(); rc != SQLITE_DONE)
      return sqlite::error_status(writer_.handle(), rc, "delete listing");
    deleted_max_id_ = std::max(deleted_max_id_, id);
    c.change = Change::deleted;
    if (s = record_change(id, Change::deleted, current->fields.price_cents, std::nullopt, c.now_ms);
        !s.ok())
      return s;
    return current;
  }

  // Appends the write to the change feed, in its transaction. Times never go back along
  // the feed (a clock read earlier by a writer queued later, or stepped back), so a time
  // maps to a seq (GET /changes?since=).
  Status record_change(int64_t id, Change type, std::optional<int64_t> old_price,
                       std::optional<int64_t> new_price, int64_t at_ms) {
    Status s;
    Statement* insert = writer_.prepare(k_insert_change, s);
    if (!insert) return s;
    last_change_ms_ = std::max(last_change_ms_, at_ms);
    insert->bind(1, id).bind(2, std::string(to_string(type))).bind(5, last_change_ms_);
    if (old_price) insert->bind(3, *old_price);
    else insert->bind_null(3);
    if (new_price) insert->bind(4, *new_price);
    else insert->bind_null(4);
    if (int rc = insert->step(); rc != SQLITE_DONE)
      return sqlite::error_status(writer_.handle(), rc, "record change");
    return Status::Ok();
  }

  // Drops the changes older than both retention bounds (changes_keep_days and
  // changes_keep), at most k_prune_rows at a time, and remembers the last seq dropped.
  void prune_changes() {
    last_prune_ = std::chrono::steady_clock::now();
    const int64_t keep_after_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch()).count() -
        int64_t{options_.changes_keep_days} * 86'400'000;
    auto by_age = writer_.query_int(
        ("SELECT coalesce((SELECT seq FROM changes WHERE at_ms < " + std::to_string(keep_after_ms) +
         " ORDER BY at_ms DESC, seq DESC LIMIT 1), 0)").c_str());
    auto newest = writer_.query_int("SELECT coalesce(max(seq), 0) FROM changes");
    auto oldest = writer_.query_int("SELECT coalesce(min(seq), 0) FROM changes");
    if (!by_age.ok() || !newest.ok() || !oldest.ok()) return;  // tried again later
    const int64_t cut = std::min({*by_age, *newest - options_.changes_keep, *oldest + k_prune_rows});
    if (cut < *oldest) return;
    sqlite::Transaction tx(writer_);
    const std::string through = std::to_string(cut);
    Status s = tx.begin();
    if (s.ok()) s = writer_.exec("DELETE FROM changes WHERE seq <= " + through);
    if (s.ok()) s = writer_.exec("UPDATE change_log SET pruned_through = max(pruned_through, " + through + ")");
    if (s.ok()) s = tx.commit();
  }

  // Drops Idempotency-Keys older than limits::idempotency_keep_ms, at most k_prune_rows
  // at a time (lookups ignore them already).
  void prune_idempotency_keys() {
    // By the writes' clock, as the keys' times and the lookups are.
    const int64_t before_ms = newest_write_ms_ - limits::idempotency_keep_ms;
    writer_.exec("DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key FROM "
                 "idempotency_keys WHERE at_ms < " + std::to_string(before_ms) +
                 " LIMIT " + std::to_string(k_prune_rows) + ")");  // tried again later if it fails
  }

  // Requires: a read transaction on `conn`.
  Result<ChangePage> read_changes(Connection& conn, const ChangeQuery& q) {
    auto pruned = conn.query_int("SELECT pruned_through FROM change_log");
    if (!pruned.ok()) return pruned.status();
    if (q.after < *pruned) {
      auto newest = conn.query_int("SELECT coalesce(max(seq), 0) FROM changes");
      return Status::Gone("changes after seq " + std::to_string(q.after) +
                          " are no longer kept (the feed keeps the last " +
                          std::to_string(options_.changes_keep_days) + " days, or the last " +
                          std::to_string(options_.changes_keep) +
                          " changes): resynchronise from GET /listings, then follow the feed "
                          "after seq " + std::to_string(newest.ok() ? *newest : 0));
    }
    int64_t after = q.after;
    if (q.since_ms) {  // times never go back along the feed: the first seq at or after it
      Status s;
      Statement* first = conn.prepare(
          "SELECT seq FROM changes WHERE at_ms >= ?1 ORDER BY at_ms, seq LIMIT 1", s);
      if (!first) return s;
      first->bind(1, *q.since_ms);
      const int rc = first->step();
      if (rc == SQLITE_ROW) after = std::max(after, first->int64(0) - 1);
      first->reset();
      if (rc == SQLITE_DONE) return ChangePage{};
      if (rc != SQLITE_ROW) return sqlite::error_status(conn.handle(), rc, "read changes");
    }
    std::string sql =
        "SELECT seq, listing_id, type, old_price_cents, new_price_cents, at_ms FROM changes "
        "WHERE seq > ?1";
    if (q.type) sql += " AND type = '" + std::string(to_string(*q.type)) + "'";  // a partial index's
    if (q.direction == PriceDirection::down) sql += " AND new_price_cents < old_price_cents";
    if (q.direction == PriceDirection::up) sql += " AND new_price_cents > old_price_cents";
    sql += " ORDER BY seq LIMIT ?3";
    Status s;
    Statement* page = conn.prepare(sql.c_str(), s);
    if (!page) return s;
    page->bind(1, after).bind(3, static_cast<int64_t>(q.limit + 1));
    ChangePage out;
    int rc;
    while ((rc = page->step()) == SQLITE_ROW) {
      if (out.changes.size() == q.limit) {
        out.has_more = true;
        break;
      }
      ChangeRecord c{page->int64(0), page->int64(1), change_from(page->text(2)), std::nullopt,
                     std::nullopt, page->int64(5)};
      if (!page->is_null(3)) c.old_price_cents = page->int64(3);
      if (!page->is_null(4)) c.new_price_cents = page->int64(4);
      out.changes.push_back(std::move(c));
    }
    page->reset();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      return sqlite::error_status(conn.handle(), rc, "read changes");
    return out;
  }

  static Change change_from(const std::string& type) {
    if (type == "created") return Change::created;
    if (type == "price_changed") return Change::price_changed;
    if (type == "deleted") return Change::deleted;
    return Change::updated;
  }

  Status append_price(int64_t id, int64_t price_cents, int64_t now_ms) {
    Status s;
    Statement* insert = writer_.prepare(k_insert_price, s);
    if (!insert) return s;
    insert->bind(1, id).bind(2, price_cents).bind(3, now_ms);
    if (int rc = insert->step(); rc != SQLITE_DONE)
      return sqlite::error_status(writer_.handle(), rc, "insert price");
    return Status::Ok();
  }

  // How often the writer prunes the change feed, and how many changes at most at a time.
  static constexpr std::chrono::seconds k_prune_every{10};
  static constexpr int64_t k_prune_rows = 10'000;

  const SqliteOptions options_;
  std::mutex health_mutex_;
  Status last_commit_;
  Connection writer_;  // used by the writer thread only (and open() before it starts)
  std::unordered_map<unsigned, std::string> update_sql_;  // by changed columns; writer only
  int64_t deleted_max_id_ = 0;  // the largest id of a deleted listing; writer only
  int64_t last_change_ms_ = 0;  // the time of the feed's last change; writer only
  int64_t newest_write_ms_ = 0;  // the latest time a write was made at; writer only
  std::chrono::steady_clock::time_point last_prune_{};  // writer only
  sqlite::Checkpointer checkpointer_{options_.checkpoint_window_frames,
                                     options_.checkpoint_restart_frames};
  GroupCommit writes_;  // the writer thread (probing once a second while commits fail)
  std::unique_ptr<ReadPool> readers_;  // reset first when the store closes
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  if (Status s = store->open(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

Result<int> migrate_sqlite(const std::string& path) {
  Connection conn;
  return sqlite::open_and_migrate(conn, path, 0);
}

}  // namespace listingd
