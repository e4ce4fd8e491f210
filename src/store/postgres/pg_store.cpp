// The PostgreSQL Store. Writes: as the SQLite store, one writer thread and connection that
// commits whatever is queued in one transaction (group commit), each write in a savepoint
// of its own; an update locks its row (SELECT ... FOR UPDATE), so two nodes updating one
// listing at once append their prices in commit order. Every write also sends NOTIFY with
// the listing id inside its transaction, delivered to the other nodes only if it commits.
// Reads: a bounded pool of connections (pg_common.h). A thread of its own LISTENs and
// tells the ChangeFeed what other nodes changed, or that it cannot tell (feed lost).
#include "pg_store.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <variant>

#include "listingd/thread_name.h"
#include "../page_query.h"
#include "pg_common.h"
#include "pg_database.h"

namespace listingd::postgres {
namespace {

const std::string k_select_listing =
    std::string("SELECT ") + k_listing_columns + " FROM listings WHERE id = $1";
const std::string k_lock_listing = k_select_listing + " FOR UPDATE";
constexpr const char* k_insert_listing =
    "INSERT INTO listings (name, street_address, postal_code, city, country, description, "
    "building_type, price_cents, surface_area_m2, rooms_count, bedrooms_count, "
    "contact_phone_number, created_ms, updated_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id";
constexpr const char* k_update_listing =
    "UPDATE listings SET name = $1, street_address = $2, postal_code = $3, city = $4, "
    "country = $5, description = $6, building_type = $7, price_cents = $8, "
    "surface_area_m2 = $9, rooms_count = $10, bedrooms_count = $11, "
    "contact_phone_number = $12, updated_ms = $13 WHERE id = $14";
constexpr const char* k_insert_price =
    "INSERT INTO price_history (listing_id, price_cents, created_ms) VALUES ($1, $2, $3)";
// One statement, one snapshot: whether the listing exists, and its history.
constexpr const char* k_select_history =
    "SELECT p.price_cents, p.created_ms FROM listings l LEFT JOIN price_history p "
    "ON p.listing_id = l.id WHERE l.id = $1 ORDER BY p.created_ms, p.id";
constexpr const char* k_notify = "SELECT pg_notify($1, $2)";

struct WriteCommand {
  WriteCommand(std::optional<int64_t> id, const ListingWrite& fields, int64_t now_ms)
      : id(id), fields(fields), now_ms(now_ms) {}
  std::optional<int64_t> id;
  const ListingWrite& fields;
  int64_t now_ms;
  std::optional<Result<Listing>> result;
  bool price_appended = false;
  std::atomic<uint32_t> answered{0};
};

class PgStore final : public Store {
 public:
  PgStore(pq::Target target, const DatabaseOptions& options, CommitListener listener,
          BatchListener batch_listener, ChangeFeed feed)
      : target_(std::move(target)),
        listener_(std::move(listener)),
        batch_listener_(std::move(batch_listener)),
        feed_(std::move(feed)),
        readers_(target_, options.read_connections,
                 std::chrono::milliseconds(options.busy_timeout_ms)) {}

  ~PgStore() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_ready_.notify_one();
    if (writer_thread_.joinable()) writer_thread_.join();
    listening_.store(false);
    if (listen_thread_.joinable()) listen_thread_.join();
  }

  Status open() {
    if (Status s = connect_writer(); !s.ok()) return s;
    writer_thread_ = std::thread([this] {
      name_this_thread("lsd-pg-writer");
      write_loop();
    });
    if (feed_.on_foreign_change || feed_.on_feed) {
      // Until subscribed, nothing cached can be trusted: the feed starts lost, and the
      // store waits (a little) for the first subscription, so a node starts caching.
      if (feed_.on_feed) feed_.on_feed(false);
      listening_.store(true);
      listen_thread_ = std::thread([this] {
        name_this_thread("lsd-pg-listen");
        listen_loop();
      });
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (!subscribed_.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Status::Ok();
  }

  Result<Listing> create(const ListingWrite& fields, int64_t now_ms) override {
    WriteCommand command{std::nullopt, fields, now_ms};
    return submit(command);
  }

  Result<Listing> update(int64_t id, const ListingWrite& fields, int64_t now_ms) override {
    WriteCommand command{id, fields, now_ms};
    return submit(command);
  }

  Result<Listing> get(int64_t id) override {
    auto rows = read(k_select_listing, pq::Params().add(id));
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) return Status::NotFound("no listing with id " + std::to_string(id));
    return read_listing(*rows, 0);
  }

  Result<Page> list_page(const ListingQuery& query) override {
    const sqlite::PageSql page_sql = sqlite::build_page_sql(query, sqlite::Dialect::postgres);
    pq::Params params;
    for (const auto& arg : page_sql.args)
      std::visit([&](const auto& v) { params.add(v); }, arg);
    auto rows = read(page_sql.sql, params);
    if (!rows.ok()) return rows.status();
    Page page;
    page.listings.reserve(rows->size());
    for (int i = 0; i < rows->size(); ++i) page.listings.push_back(read_listing(*rows, i));
    if (page.listings.size() > query.limit) {
      page.listings.pop_back();
      page.has_more = true;
    }
    return page;
  }

  Result<std::vector<PricePoint>> price_history(int64_t id) override {
    auto rows = read(k_select_history, pq::Params().add(id));
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) return Status::NotFound("no listing with id " + std::to_string(id));
    std::vector<PricePoint> out;
    out.reserve(rows->size());
    for (int i = 0; i < rows->size(); ++i) {
      if (rows->is_null(i, 0)) continue;  // cannot be (history is never empty)
      out.push_back({rows->int64(i, 0), rows->int64(i, 1)});
    }
    return out;
  }

  Status backup_to(const std::string& file) override {
    return Status::Unsupported(backup_advice(redact_url(target_.url), file));
  }

  Status check_ready() override {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) return Status::Unavailable("the server is shutting down");
    }
    {
      std::lock_guard lock(health_mutex_);
      if (!last_commit_.ok()) return last_commit_;
    }
    return read("SELECT 1").status();
  }

 private:
  // One read statement on a pooled connection. A connection that broke since its last use
  // (the database restarted) shows it only now: the read is tried once more, on a new one.
  Result<pq::Rows> read(const std::string& sql, const pq::Params& params = {}) {
    for (int attempt = 0;; ++attempt) {
      Pool::Lease reader(readers_);
      if (!reader.ok()) return reader.status();
      auto rows = reader->run(sql, params);
      if (rows.ok() || reader->healthy() || attempt == 1) return rows;
    }
  }

  Status connect_writer() {
    Status s = writer_.open(target_.url, target_.password);
    writer_pid_.store(s.ok() ? writer_.backend_pid() : 0);
    return s;
  }

  Result<Listing> submit(WriteCommand& command) {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) return Status::Unavailable("the server is shutting down");
      queue_.push_back(&command);
    }
    queue_ready_.notify_one();
    command.answered.wait(0, std::memory_order_acquire);
    return std::move(*command.result);
  }

  void write_loop() {
    std::vector<WriteCommand*> batch;
    for (;;) {
      {
        const bool failing = !last_commit_.ok();  // only this thread sets it
        const auto next_probe = last_probe_ + std::chrono::seconds(1);
        std::unique_lock lock(queue_mutex_);
        auto has_work = [this] { return stopping_ || !queue_.empty(); };
        if (failing) queue_ready_.wait_until(lock, next_probe, has_work);
        else queue_ready_.wait(lock, has_work);
        if (queue_.empty()) {
          if (stopping_) return;
          lock.unlock();
          if (failing && std::chrono::steady_clock::now() >= next_probe) probe();
          continue;
        }
        const size_t n = std::min(queue_.size(), k_max_batch);
        batch.assign(queue_.begin(), queue_.begin() + n);
        queue_.erase(queue_.begin(), queue_.begin() + n);
      }
      commit_batch(batch);
    }
  }

  // While the database is unreachable: once a second, reconnect and ask it something.
  void probe() {
    last_probe_ = std::chrono::steady_clock::now();
    Status s = writer_.healthy() ? Status::Ok() : connect_writer();
    if (s.ok()) s = writer_.run("SELECT 1").status();
    if (s.ok()) set_health(s);
  }

  void set_health(const Status& s) {
    std::lock_guard lock(health_mutex_);
    last_commit_ = s;
  }

  void commit_batch(const std::vector<WriteCommand*>& batch) {
    Status s = writer_.healthy() ? Status::Ok() : connect_writer();
    if (s.ok()) s = writer_.exec("BEGIN");
    // A connection that broke while idle shows it at BEGIN, before anything was written:
    // once, a new connection.
    if (!s.ok() && !writer_.healthy() && connect_writer().ok()) s = writer_.exec("BEGIN");
    for (WriteCommand* c : batch) {
      if (!s.ok()) {
        c->result = s;
        continue;
      }
      c->result = in_savepoint(*c);
      if (!c->result->ok() && !writer_.healthy()) s = c->result->status();  // connection lost
    }
    if (s.ok()) s = writer_.exec("COMMIT");
    else if (writer_.healthy()) writer_.exec("ROLLBACK");
    for (WriteCommand* c : batch) {
      if (!s.ok() && c->result->ok()) c->result = s;
      if (c->result->ok() && listener_) listener_(c->result->value(), c->price_appended);
    }
    if (s.ok() && batch_listener_) batch_listener_(batch.size());
    // A lost connection (database down or restarting) makes the store unready until the
    // writer reconnects; a statement's own failure does not.
    if (s.ok() || !writer_.healthy()) {
      set_health(s.ok() ? s
                        : Status::Unavailable("the database is unreachable: " + s.message()));
      if (!s.ok()) last_probe_ = std::chrono::steady_clock::now();
    }
    for (WriteCommand* c : batch) {
      c->answered.store(1, std::memory_order_release);
      c->answered.notify_one();
    }
  }

  Result<Listing> in_savepoint(WriteCommand& c) {
    if (Status s = writer_.exec("SAVEPOINT command"); !s.ok()) return s;
    Result<Listing> result = c.id ? apply_update(*c.id, c) : apply_create(c);
    if (result.ok()) {
      // Inside the transaction: the other nodes hear of it only if it commits.
      auto n = writer_.run(k_notify, pq::Params().add(k_channel).add(result->id));
      if (!n.ok()) result = n.status();
    }
    if (!result.ok()) {
      c.price_appended = false;
      if (!writer_.healthy()) return result;
      writer_.exec("ROLLBACK TO SAVEPOINT command");
    }
    if (Status s = writer_.exec("RELEASE SAVEPOINT command"); !s.ok() && result.ok()) return s;
    return result;
  }

  Result<Listing> apply_create(WriteCommand& c) {
    pq::Params p;
    add_fields(p, c.fields);
    p.add(c.now_ms);
    auto row = writer_.run(k_insert_listing, p);
    if (!row.ok()) return row.status();
    Listing listing{row->int64(0, 0), c.fields, c.now_ms, c.now_ms};
    if (Status s = append_price(listing.id, c.fields.price_cents, c.now_ms); !s.ok()) return s;
    c.price_appended = true;
    return listing;
  }

  Result<Listing> apply_update(int64_t id, WriteCommand& c) {
    // The row lock orders concurrent updates of one listing from every node.
    auto current = writer_.run(k_lock_listing, pq::Params().add(id));
    if (!current.ok()) return current.status();
    if (current->size() == 0) return Status::NotFound("no listing with id " + std::to_string(id));
    const Listing old = read_listing(*current, 0);
    const int64_t now_ms = std::max(c.now_ms, old.updated_ms);
    pq::Params p;
    add_fields(p, c.fields);
    p.add(now_ms).add(id);
    if (auto r = writer_.run(k_update_listing, p); !r.ok()) return r.status();
    if (c.fields.price_cents != old.fields.price_cents) {
      if (Status s = append_price(id, c.fields.price_cents, now_ms); !s.ok()) return s;
      c.price_appended = true;
    }
    return Listing{id, c.fields, old.created_ms, now_ms};
  }

  Status append_price(int64_t id, int64_t price_cents, int64_t now_ms) {
    return writer_.run(k_insert_price, pq::Params().add(id).add(price_cents).add(now_ms))
        .status();
  }

  // The LISTEN thread: subscribed, it drops what other nodes changed; not subscribed (the
  // connection lost), it tells the feed so, and tries again every 500 ms (meanwhile the
  // node reads from the database: slower, never stale).
  void listen_loop() {
    pq::Connection conn;
    bool live = false;
    while (listening_.load()) {
      if (!live) {
        if (conn.open(target_.url, target_.password).ok() &&
            conn.exec(std::string("LISTEN ") + k_channel).ok()) {
          live = true;
          if (feed_.on_feed) feed_.on_feed(true);
          subscribed_.store(true);
        } else {
          conn.close();
          sleep_a_little(std::chrono::milliseconds(500));
          continue;
        }
      }
      pollfd pfd{PQsocket(conn.handle()), POLLIN, 0};
      const int ready = ::poll(&pfd, 1, 100);
      bool lost = ready < 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL));
      if (!lost && ready > 0 && !PQconsumeInput(conn.handle())) lost = true;
      if (!lost) {
        while (PGnotify* n = PQnotifies(conn.handle())) {
          const int64_t id = std::strtoll(n->extra, nullptr, 10);
          const bool own = n->be_pid == writer_pid_.load();  // already in our cache
          PQfreemem(n);
          if (!own && feed_.on_foreign_change) feed_.on_foreign_change(id);
        }
        if (PQstatus(conn.handle()) != CONNECTION_OK) lost = true;
      }
      if (lost) {
        live = false;
        conn.close();
        if (feed_.on_feed) feed_.on_feed(false);
        sleep_a_little(std::chrono::milliseconds(500));
      }
    }
  }

  void sleep_a_little(std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (listening_.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  static constexpr size_t k_max_batch = 256;

  const pq::Target target_;
  const CommitListener listener_;
  const BatchListener batch_listener_;
  const ChangeFeed feed_;
  Pool readers_;
  pq::Connection writer_;  // the writer thread's (and open()'s before it starts)
  std::atomic<int> writer_pid_{0};
  std::mutex health_mutex_;
  Status last_commit_;
  std::chrono::steady_clock::time_point last_probe_{};
  std::thread writer_thread_, listen_thread_;
  std::atomic<bool> listening_{false};
  std::atomic<bool> subscribed_{false};  // once, the first time
  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::deque<WriteCommand*> queue_;
  bool stopping_ = false;
};

}  // namespace

Result<std::unique_ptr<Store>> open_pg_store(const pq::Target& target,
                                             const DatabaseOptions& options,
                                             CommitListener listener,
                                             BatchListener batch_listener, ChangeFeed feed) {
  auto store = std::make_unique<PgStore>(target, options, std::move(listener),
                                         std::move(batch_listener), std::move(feed));
  if (Status s = store->open(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace listingd::postgres
