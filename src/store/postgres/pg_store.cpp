// The PostgreSQL Store. Writes: as the SQLite store, one writer thread and connection that
// commits whatever is queued in one transaction (../group_commit.h), each write in a savepoint
// of its own; an update locks its row (SELECT ... FOR UPDATE), so two nodes updating one
// listing at once append their prices in commit order. Every write also sends NOTIFY with
// the listing id inside its transaction, delivered to the other nodes only if it commits,
// and appends its change to the change feed: a batch first locks the feed's one counter
// row (change_log), so the writers of every node take seqs one transaction at a time and
// seq order is commit order (locked first, before any listing row: no deadlock between
// writers).
// Reads: a bounded pool of connections (pg_common.h). A thread of its own LISTENs and
// tells the subscriber what other nodes changed, or that it cannot tell (LISTEN lost).
#include "pg_store.h"

#include <poll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "../group_commit.h"
#include "listingd/thread_name.h"
#include "pg_common.h"
#include "pg_database.h"
#include "pg_page_query.h"

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
// The pipelined path's: an id drawn for each create first (phase 1); then (phase 2) the
// batch's new listings inserted, and the last state of each listing it updates written, in
// one statement each: arrays side by side ($1 ids, $2..$13 the fields as for_each_field, $14 the
// write's time), unnested.
constexpr const char* k_next_listing_id =
    "SELECT nextval(pg_get_serial_sequence('listings', 'id'))";
constexpr const char* k_update_listings =
    "UPDATE listings AS l SET name = v.name, street_address = v.street, "
    "postal_code = v.postal_code, city = v.city, country = v.country, "
    "description = v.description, building_type = v.building_type, price_cents = v.price, "
    "surface_area_m2 = v.surface, rooms_count = v.rooms, bedrooms_count = v.bedrooms, "
    "contact_phone_number = v.phone, updated_ms = v.updated FROM" LISTINGD_UNNEST_LISTINGS
    " WHERE l.id = v.id";
constexpr const char* k_update_listing =
    "UPDATE listings SET name = $1, street_address = $2, postal_code = $3, city = $4, "
    "country = $5, description = $6, building_type = $7, price_cents = $8, "
    "surface_area_m2 = $9, rooms_count = $10, bedrooms_count = $11, "
    "contact_phone_number = $12, updated_ms = $13 WHERE id = $14";
constexpr const char* k_insert_price =
    "INSERT INTO price_history (listing_id, price_cents, created_ms) VALUES ($1, $2, $3)";
// The pipelined path's: the rows of a whole batch in one statement each (arrays side by
// side); prices inserted in the arrays' order, so that their ids follow write order.
constexpr const char* k_insert_changes =
    "INSERT INTO changes (seq, listing_id, type, old_price_cents, new_price_cents, at_ms) "
    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], "
    "$6::bigint[])";
constexpr const char* k_notify_all =
    "SELECT pg_notify($1, id::text) FROM unnest($2::bigint[]) AS n(id)";
// One statement, one snapshot: whether the listing exists, and its history.
constexpr const char* k_select_history =
    "SELECT p.price_cents, p.created_ms FROM listings l LEFT JOIN price_history p "
    "ON p.listing_id = l.id WHERE l.id = $1 ORDER BY p.created_ms, p.id";
constexpr const char* k_notify = "SELECT pg_notify($1, $2)";
constexpr const char* k_delete_history = "DELETE FROM price_history WHERE listing_id = $1";
constexpr const char* k_delete_listing = "DELETE FROM listings WHERE id = $1";
constexpr const char* k_remember_deleted =
    "INSERT INTO deleted_listings (id, deleted_ms) VALUES ($1, $2) "
    "ON CONFLICT (id) DO UPDATE SET deleted_ms = excluded.deleted_ms";
// The feed's counter row, locked by every writing transaction before anything else.
constexpr const char* k_lock_change_log =
    "SELECT last_seq, last_at_ms FROM change_log WHERE id = 1 FOR UPDATE";
constexpr const char* k_save_change_log =
    "UPDATE change_log SET last_seq = $1, last_at_ms = $2 WHERE id = 1";
// Keeps a keyed write's answer; an expired row of the same key (at_ms before $8) is
// replaced, a live one left alone (then no row changes: the key is taken).
constexpr const char* k_keep_answer =
    "INSERT INTO idempotency_keys (scope, key, request, listing_id, created, body, at_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (scope, key) DO UPDATE SET "
    "request = excluded.request, listing_id = excluded.listing_id, created = excluded.created, "
    "body = excluded.body, at_ms = excluded.at_ms WHERE idempotency_keys.at_ms < $8";
constexpr const char* k_kept_answer =
    "SELECT request, listing_id, created, body FROM idempotency_keys "
    "WHERE scope = $1 AND key = $2 AND at_ms >= $3";
constexpr const char* k_insert_change =
    "INSERT INTO changes (seq, listing_id, type, old_price_cents, new_price_cents, at_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6)";

Change change_from(const std::string& type) {
  if (type == "created") return Change::created;
  if (type == "price_changed") return Change::price_changed;
  if (type == "deleted") return Change::deleted;
  return Change::updated;
}

class PgStore final : public Store {
 public:
  PgStore(pq::Target target, const DatabaseOptions& options)
      : target_(std::move(target)),
        changes_keep_days_(options.changes_keep_days),
        changes_keep_(options.changes_keep),
        readers_(target_, options.read_connections,
                 std::chrono::milliseconds(options.busy_timeout_ms)) {}

  ~PgStore() override {
    writes_.stop();  // after it drains the queue
    listening_.store(false);
    if (listen_thread_.joinable()) listen_thread_.join();
  }

  Status open() {
    if (Status s = connect_writer(); !s.ok()) return s;
    writes_.start({.commit = [this](const auto& batch) { return commit_batch(batch); },
                   .failing = [this] { return !last_commit_.ok(); },  // only this thread sets it
                   .probe = [this] { probe(); },
                   .after_batch =
                       [this] {
                         if (std::chrono::steady_clock::now() - last_prune_ >= k_prune_every) {
                           prune_changes();
                           prune_idempotency_keys();
                         }
                       }},
                  "lsd-pg-writer");
    return Status::Ok();
  }

  void subscribe(StoreEvents events) override {
    const bool hears_elsewhere = events.committed_elsewhere || events.elsewhere_live;
    // Until listening, nothing kept can be trusted: other nodes' writes start unheard.
    if (events.elsewhere_live) events.elsewhere_live(false);
    writes_.subscribe(std::move(events));
    if (!hears_elsewhere || listening_.exchange(true)) return;  // listening already: the
    // LISTEN thread tells the new subscriber (within 100 ms) that it is live, if it is
    listen_thread_ = std::thread([this] {
      name_this_thread("lsd-pg-listen");
      listen_loop();
    });
    // A little wait for the first subscription, so that a node starts caching.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!subscribed_.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

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
    auto rows = read(k_kept_answer,
                     pq::Params().add(pg_text(scope)).add(pg_text(key)).add(since_ms));
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) return std::optional<KeptAnswer>();
    return std::optional<KeptAnswer>(KeptAnswer{rows->text(0, 0), rows->int64(0, 1),
                                                rows->text(0, 2) == "t", rows->text(0, 3)});
  }

  Status remove(int64_t id, const Check& check, int64_t now_ms) override {
    return writes_.remove(id, check, now_ms);
  }

  Result<Listing> get(int64_t id) override {
    auto rows = read(k_select_listing, pq::Params().add(id));
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) return Status::NotFound("no listing with id " + std::to_string(id));
    return read_listing(*rows, 0);
  }

  Result<Page> list_page(const ListingQuery& query) override {
    auto rows = read_sql(build_page_sql(query));
    if (!rows.ok()) return rows.status();
    Page page;
    page.listings.reserve(rows->size());
    for (int i = 0; i < rows->size(); ++i) {
      page.listings.push_back(read_listing(*rows, i));
      // A relevance page's rows end with their score, the sort key (pg_page_query.h).
      if (query.sort == SortOrder::relevance && page.listings.size() <= query.limit)
        page.last = {rows->int64(i, k_listing_column_count), page.listings.back().id};
    }
    if (page.listings.size() > query.limit) {
      page.listings.pop_back();
      page.has_more = true;
    }
    if (query.sort != SortOrder::relevance && !page.listings.empty())
      page.last = position_of(query.sort, page.listings.back());
    if (query.count_total) {
      auto total = read_sql(build_count_sql(query));
      if (!total.ok()) return total.status();
      page.total = total->int64(0, 0);
    }
    return page;
  }

  Result<ChangePage> changes(const ChangeQuery& query) override {
    // One snapshot: the retention check and the page agree.
    for (int attempt = 0;; ++attempt) {
      Pool::Lease reader(readers_);
      if (!reader.ok()) return reader.status();
      auto page = read_changes(*reader, query);
      if (page.ok() || reader->healthy() || attempt == 1) return page;
    }
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
    if (writes_.stopping()) return Status::Unavailable("the server is shutting down");
    {
      std::lock_guard lock(health_mutex_);
      if (!last_commit_.ok()) return last_commit_;
    }
    return read("SELECT 1").status();
  }

 private:
  // One read statement on a pooled connection. A connection that broke since its last use
  // (the database restarted) shows it only now: the read is tried once more, on a new one.
  Result<pq::Rows> read_sql(const PageSql& page_sql) {
    pq::Params params;
    for (const auto& arg : page_sql.args)
      std::visit([&](const auto& v) { params.add(v); }, arg);
    return read(page_sql.sql, params);
  }

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

  // While the database is unreachable: once a second, reconnect and ask it something.
  void probe() {
    Status s = writer_.healthy() ? Status::Ok() : connect_writer();
    if (s.ok()) s = writer_.run("SELECT 1").status();
    if (s.ok()) set_health(s);
  }

  void set_health(const Status& s) {
    std::lock_guard lock(health_mutex_);
    last_commit_ = s;
  }

  // Writes the batch in one transaction (see GroupCommit::Backend::commit).
  Status commit_batch(const std::vector<WriteCommand*>& batch) {
    std::optional<Status> pipelined;
    if (writer_.healthy() && pipelinable(batch)) pipelined = commit_pipelined(batch);
    const Status s = pipelined ? *pipelined : commit_one_by_one(batch);
    // A lost connection (database down or restarting) makes the store unready until the
    // writer reconnects; a statement's own failure does not.
    if (s.ok() || !writer_.healthy()) {
      set_health(s.ok() ? s
                        : Status::Unavailable("the database is unreachable: " + s.message()));
    }
    return s;
  }

  // Creates, updates and edits without an Idempotency-Key: those the pipelined path takes.
  static bool pipelinable(const std::vector<WriteCommand*>& batch) {
    return std::all_of(batch.begin(), batch.end(),
                       [](const WriteCommand* c) { return !c->remove && !c->key; });
  }

  // The batch in two round trips whatever its size (libpq's pipeline mode), where the
  // one-by-one path takes seven per write: on a loaded machine each round trip waits for
  // the scheduler, and the writes of a batch queued behind them. 1: BEGIN, the feed's
  // counter locked, each updated listing locked and read (in batch order, as one by one),
  // an id drawn for each create; 2: each write's listing inserted or updated, then the
  // batch's prices, changes and notifications in one statement each (a statement costs
  // PostgreSQL far more than a row), the counter saved, COMMIT.
  // Nothing per write can fail in SQL that the one-by-one path would answer for that write
  // alone (a missing listing, a refused edit are known after step 1): so when a statement
  // fails, the whole transaction is rolled back and the batch goes the one-by-one way
  // (nullopt), which gives each write its own answer. A lost connection is an error for
  // all (a COMMIT may have been sent: never written twice).
  std::optional<Status> commit_pipelined(const std::vector<WriteCommand*>& batch) {
    using Statement = pq::Connection::Statement;
    std::vector<Statement> first{{"BEGIN", {}}, {k_lock_change_log, {}}};
    for (const WriteCommand* c : batch)
      first.push_back(c->id ? Statement{k_lock_listing, pq::Params().add(*c->id)}
                            : Statement{k_next_listing_id, {}});
    auto locked = writer_.run_pipelined(first);
    if (!locked.ok()) return fall_back(locked.status(), false);
    if ((*locked)[1].size() != 1) return fall_back(Status::Internal("no change_log row"), false);
    last_seq_ = saved_seq_ = (*locked)[1].int64(0, 0);
    last_at_ms_ = saved_at_ms_ = (*locked)[1].int64(0, 1);

    ListingArrays created;
    PriceArrays prices;
    pq::ArrayParam seqs, change_ids, types, old_prices, new_prices, change_times;
    // A listing written earlier in the batch is, for the next write of it, as that write
    // left it (step 1 read every row before any write); the last state of each listing
    // updated is what the UPDATE writes.
    std::unordered_map<int64_t, Listing> written;
    std::unordered_set<int64_t> updated;  // a listing created in the batch too
    for (size_t i = 0; i < batch.size(); ++i) {
      WriteCommand& c = *batch[i];
      const pq::Rows& row = (*locked)[i + 2];
      newest_write_ms_ = std::max(newest_write_ms_, c.now_ms);
      std::optional<int64_t> old_price;
      int64_t id = 0, now_ms = c.now_ms, created_ms = c.now_ms;
      const ListingWrite* fields = c.fields;
      std::optional<Result<ListingWrite>> edited;
      if (!c.id) {
        id = row.int64(0, 0);
        c.change = Change::created;
      } else {
        const auto earlier = written.find(*c.id);
        if (earlier == written.end() && row.size() == 0) {
          c.result = Status::NotFound("no listing with id " + std::to_string(*c.id));
          continue;
        }
        const Listing old = earlier != written.end() ? earlier->second : read_listing(row, 0);
        if (c.edit) {
          edited = (*c.edit)(old);
          if (!edited->ok()) {
            c.result = edited->status();
            continue;
          }
          fields = &edited->value();
        }
        id = old.id;
        created_ms = old.created_ms;
        now_ms = std::max(c.now_ms, old.updated_ms);  // history stays in write order
        old_price = old.fields.price_cents;
        c.change = fields->price_cents != old.fields.price_cents ? Change::price_changed
                                                                  : Change::updated;
      }
      c.result = Listing{id, *fields, created_ms, now_ms};
      if (c.change == Change::created) created.add(c.result->value());
      else updated.insert(id);
      written.insert_or_assign(id, c.result->value());
      const bool priced = c.change != Change::updated;
      if (priced) {
        prices.add(id, fields->price_cents, now_ms);
      }
      last_at_ms_ = std::max(last_at_ms_, now_ms);
      seqs.add(++last_seq_);
      change_ids.add(id);
      types.add(to_string(c.change));
      old_prices.add(priced ? old_price : std::nullopt);
      new_prices.add(priced ? std::optional<int64_t>(fields->price_cents) : std::nullopt);
      change_times.add(last_at_ms_);
    }
    ListingArrays last_states;
    for (int64_t id : updated) last_states.add(written.at(id));

    // Inserted before the updates: a listing created in the batch may be updated in it.
    std::vector<Statement> second;
    if (!created.empty()) second.push_back({k_insert_listings, created.params()});
    if (!last_states.empty()) second.push_back({k_update_listings, last_states.params()});
    if (!prices.empty()) second.push_back({k_insert_prices, prices.params()});
    if (!seqs.empty()) {
      second.push_back({k_insert_changes, pq::Params()
                                              .add(seqs.literal())
                                              .add(change_ids.literal())
                                              .add(types.literal())
                                              .add(old_prices.literal())
                                              .add(new_prices.literal())
                                              .add(change_times.literal())});
      // Inside the transaction: the other nodes hear of the writes only if it commits.
      second.push_back({k_notify_all, pq::Params().add(k_channel).add(change_ids.literal())});
    }
    if (last_seq_ != saved_seq_ || last_at_ms_ != saved_at_ms_)
      second.push_back({k_save_change_log, pq::Params().add(last_seq_).add(last_at_ms_)});
    second.push_back({"COMMIT", {}});
    if (auto done = writer_.run_pipelined(second); !done.ok())
      return fall_back(done.status(), true);
    return Status::Ok();
  }

  // After a failed pipelined attempt: the one-by-one way (which reconnects if need be),
  // unless the connection was lost once the COMMIT may have been sent: then every write
  // is answered that the database is unavailable, as the one-by-one path answers a lost
  // COMMIT (whatever libpq said of the lost pipeline: never a 500).
  std::optional<Status> fall_back(const Status& error, bool commit_sent) {
    if (writer_.healthy()) {
      if (writer_.exec("ROLLBACK").ok()) return std::nullopt;
      writer_.close();  // in an unknown state: the next batch reconnects
    }
    if (!commit_sent) return std::nullopt;
    if (error.code() == Code::unavailable) return error;
    return Status::Unavailable("the database is unavailable (" + error.message() + ")");
  }

  // The batch one write at a time, each in a savepoint of its own: a write that fails
  // is undone alone. Sets each write's result; returns the transaction's status.
  Status commit_one_by_one(const std::vector<WriteCommand*>& batch) {
    Status s = writer_.healthy() ? Status::Ok() : connect_writer();
    if (s.ok()) s = writer_.exec("BEGIN");
    // A connection that broke while idle shows it at BEGIN, before anything was written:
    // once, a new connection.
    if (!s.ok() && !writer_.healthy() && connect_writer().ok()) s = writer_.exec("BEGIN");
    if (s.ok()) {
      auto log = writer_.run(k_lock_change_log);
      if (log.ok() && log->size() != 1) log = Status::Internal("the change_log row is missing");
      if (log.ok()) {
        last_seq_ = saved_seq_ = log->int64(0, 0);
        last_at_ms_ = saved_at_ms_ = log->int64(0, 1);
      }
      s = log.status();
    }
    for (WriteCommand* c : batch) {
      newest_write_ms_ = std::max(newest_write_ms_, c->now_ms);
      if (!s.ok()) {
        c->result = s;
        continue;
      }
      c->result = in_savepoint(*c);
      if (!c->result->ok() && !writer_.healthy()) s = c->result->status();  // connection lost
    }
    if (s.ok() && (last_seq_ != saved_seq_ || last_at_ms_ != saved_at_ms_))
      s = writer_.run(k_save_change_log, pq::Params().add(last_seq_).add(last_at_ms_)).status();
    if (s.ok()) s = writer_.exec("COMMIT");
    else if (writer_.healthy()) writer_.exec("ROLLBACK");
    return s;
  }

  Result<Listing> in_savepoint(WriteCommand& c) {
    if (Status s = writer_.exec("SAVEPOINT command"); !s.ok()) return s;
    const int64_t seq = last_seq_, at_ms = last_at_ms_;
    Result<Listing> result = !c.id     ? keep_answer(c, apply_create(c))
                             : c.remove ? apply_remove(*c.id, c)
                                        : keep_answer(c, apply_update(*c.id, c));
    if (result.ok()) {
      // Inside the transaction: the other nodes hear of it only if it commits.
      auto n = writer_.run(k_notify, pq::Params().add(k_channel).add(result->id));
      if (!n.ok()) result = n.status();
    }
    if (!result.ok()) {
      last_seq_ = seq;
      last_at_ms_ = at_ms;
      if (!writer_.healthy()) return result;
      writer_.exec("ROLLBACK TO SAVEPOINT command");
    }
    if (Status s = writer_.exec("RELEASE SAVEPOINT command"); !s.ok() && result.ok()) return s;
    return result;
  }

  Result<Listing> apply_create(WriteCommand& c) {
    pq::Params p;
    add_fields(p, *c.fields);
    p.add(c.now_ms);
    auto row = writer_.run(k_insert_listing, p);
    if (!row.ok()) return row.status();
    Listing listing{row->int64(0, 0), *c.fields, c.now_ms, c.now_ms};
    if (Status s = append_price(listing.id, c.fields->price_cents, c.now_ms); !s.ok()) return s;
    c.change = Change::created;
    if (Status s = record_change(listing.id, Change::created, std::nullopt,
                                 listing.fields.price_cents, c.now_ms);
        !s.ok())
      return s;
    return listing;
  }

  // A keyed write's answer, kept in its transaction; Code::conflict when the key is taken
  // by a write of the last 24 h (the savepoint then undoes this one), as on SQLite.
  Result<Listing> keep_answer(const WriteCommand& c, Result<Listing> written) {
    if (!c.key || !written.ok()) return written;
    pq::Params p;
    p.add(pg_text(c.key->scope))
        .add(pg_text(c.key->key))
        .add(pg_text(c.key->request))
        .add(written->id)
        .add(c.id ? "false" : "true")
        .add(listing_to_json(*written))
        .add(c.now_ms)
        .add(c.now_ms - limits::idempotency_keep_ms);
    auto r = writer_.run(k_keep_answer, p);
    if (!r.ok()) return r.status();
    if (r->affected() == 0)
      return Status::Conflict("Idempotency-Key " + c.key->key + " was used by another request");
    return written;
  }

  // The listing as it is, its row locked until the transaction ends: concurrent writes of
  // one listing, from every node, are applied one after the other.
  Result<Listing> locked_listing(int64_t id) {
    auto current = writer_.run(k_lock_listing, pq::Params().add(id));
    if (!current.ok()) return current.status();
    if (current->size() == 0) return Status::NotFound("no listing with id " + std::to_string(id));
    return read_listing(*current, 0);
  }

  Result<Listing> apply_update(int64_t id, WriteCommand& c) {
    auto current = locked_listing(id);
    if (!current.ok()) return current.status();
    const Listing& old = *current;
    std::optional<Result<ListingWrite>> edited;
    if (c.edit) {
      edited = (*c.edit)(old);
      if (!edited->ok()) return edited->status();
    }
    const ListingWrite& fields = c.edit ? edited->value() : *c.fields;
    // Never before the previous write (history stays in write order).
    const int64_t now_ms = std::max(c.now_ms, old.updated_ms);
    pq::Params p;
    add_fields(p, fields);
    p.add(now_ms).add(id);
    if (auto r = writer_.run(k_update_listing, p); !r.ok()) return r.status();
    c.change = Change::updated;
    Status s;
    if (fields.price_cents != old.fields.price_cents) {
      if (s = append_price(id, fields.price_cents, now_ms); !s.ok()) return s;
      c.change = Change::price_changed;
      s = record_change(id, c.change, old.fields.price_cents, fields.price_cents, now_ms);
    } else {
      s = record_change(id, c.change, std::nullopt, std::nullopt, now_ms);
    }
    if (!s.ok()) return s;
    return Listing{id, fields, old.created_ms, now_ms};
  }

  // Deletes the listing and its history, and remembers its id (never given again: the id
  // sequence never goes back, and the bulk loader moves it past deleted ids too).
  Result<Listing> apply_remove(int64_t id, WriteCommand& c) {
    auto current = locked_listing(id);
    if (!current.ok()) return current.status();
    if (c.check) {
      if (Status s = (*c.check)(*current); !s.ok()) return s;
    }
    for (const char* sql : {k_delete_history, k_delete_listing}) {
      if (auto r = writer_.run(sql, pq::Params().add(id)); !r.ok()) return r.status();
    }
    if (auto r = writer_.run(k_remember_deleted, pq::Params().add(id).add(c.now_ms)); !r.ok())
      return r.status();
    c.change = Change::deleted;
    if (Status s = record_change(id, Change::deleted, current->fields.price_cents, std::nullopt,
                                 c.now_ms);
        !s.ok())
      return s;
    return current;
  }

  // Appends the write to the change feed, in its transaction, with the next seq (the
  // counter row is locked: see commit_batch). Times never go back along the feed, so a
  // time maps to a seq (GET /changes?since=).
  Status record_change(int64_t id, Change type, std::optional<int64_t> old_price,
                       std::optional<int64_t> new_price, int64_t at_ms) {
    last_at_ms_ = std::max(last_at_ms_, at_ms);
    pq::Params p;
    p.add(last_seq_ + 1).add(id).add(std::string(to_string(type))).add(old_price).add(new_price)
        .add(last_at_ms_);
    if (auto r = writer_.run(k_insert_change, p); !r.ok()) return r.status();
    ++last_seq_;
    return Status::Ok();
  }

  // Drops the changes older than both retention bounds (changes_keep_days and
  // changes_keep), at most k_prune_rows at a time, and remembers the last seq dropped (as
  // the SQLite store). Any node may prune; the counter row is locked first, as by writes.
  void prune_changes() {
    last_prune_ = std::chrono::steady_clock::now();
    if (!writer_.healthy()) return;
    const int64_t keep_after_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch()).count() -
        int64_t{changes_keep_days_} * 86'400'000;
    auto bounds = writer_.run(
        "SELECT coalesce((SELECT seq FROM changes WHERE at_ms < $1 ORDER BY at_ms DESC, seq DESC "
        "LIMIT 1), 0), coalesce((SELECT max(seq) FROM changes), 0), "
        "coalesce((SELECT min(seq) FROM changes), 0)",
        pq::Params().add(keep_after_ms));
    if (!bounds.ok()) return;  // tried again later
    const int64_t by_age = bounds->int64(0, 0), newest = bounds->int64(0, 1),
                  oldest = bounds->int64(0, 2);
    const int64_t cut = std::min({by_age, newest - changes_keep_, oldest + k_prune_rows});
    if (cut < oldest) return;
    const pq::Params through = pq::Params().add(cut);
    Status s = writer_.exec("BEGIN");
    if (s.ok())
      s = writer_.run("UPDATE change_log SET pruned_through = GREATEST(pruned_through, $1) "
                      "WHERE id = 1", through).status();
    if (s.ok()) s = writer_.run("DELETE FROM changes WHERE seq <= $1", through).status();
    if (s.ok()) s = writer_.exec("COMMIT");
    else if (writer_.healthy()) writer_.exec("ROLLBACK");
  }

  // Drops Idempotency-Keys older than limits::idempotency_keep_ms, at most k_prune_rows at
  // a time (lookups ignore them already), by the writes' clock as the keys' times are.
  void prune_idempotency_keys() {
    if (!writer_.healthy()) return;
    writer_.run("DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key FROM "
                "idempotency_keys WHERE at_ms < $1 LIMIT $2)",
                pq::Params().add(newest_write_ms_ - limits::idempotency_keep_ms).add(k_prune_rows));
  }

  // One REPEATABLE READ snapshot on `conn`.
  Result<ChangePage> read_changes(pq::Connection& conn, const ChangeQuery& q) {
    if (Status s = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !s.ok()) return s;
    auto page = read_changes_in_snapshot(conn, q);
    if (Status s = conn.exec("COMMIT"); !s.ok() && page.ok()) return s;
    return page;
  }

  Result<ChangePage> read_changes_in_snapshot(pq::Connection& conn, const ChangeQuery& q) {
    auto log = conn.run("SELECT pruned_through, (SELECT coalesce(max(seq), 0) FROM changes) "
                        "FROM change_log WHERE id = 1");
    if (!log.ok()) return log.status();
    if (log->size() != 1) return Status::Internal("the change_log row is missing");
    if (q.after < log->int64(0, 0)) {
      return Status::Gone("changes after seq " + std::to_string(q.after) +
                          " are no longer kept (the feed keeps the last " +
                          std::to_string(changes_keep_days_) + " days, or the last " +
                          std::to_string(changes_keep_) +
                          " changes): resynchronise from GET /listings, then follow the feed "
                          "after seq " + std::to_string(log->int64(0, 1)));
    }
    int64_t after = q.after;
    if (q.since_ms) {  // times never go back along the feed: the first seq at or after it
      auto first = conn.run("SELECT seq FROM changes WHERE at_ms >= $1 ORDER BY at_ms, seq LIMIT 1",
                            pq::Params().add(*q.since_ms));
      if (!first.ok()) return first.status();
      if (first->size() == 0) return ChangePage{};
      after = std::max(after, first->int64(0, 0) - 1);
    }
    std::string sql =
        "SELECT seq, listing_id, type, old_price_cents, new_price_cents, at_ms FROM changes "
        "WHERE seq > $1";
    // A constant, not a parameter: it must match a partial index's predicate.
    if (q.type) sql += " AND type = '" + std::string(to_string(*q.type)) + "'";
    if (q.direction == PriceDirection::down) sql += " AND new_price_cents < old_price_cents";
    if (q.direction == PriceDirection::up) sql += " AND new_price_cents > old_price_cents";
    sql += " ORDER BY seq LIMIT $2";
    auto rows = conn.run(sql, pq::Params().add(after).add(static_cast<int64_t>(q.limit + 1)));
    if (!rows.ok()) return rows.status();
    ChangePage out;
    for (int i = 0; i < rows->size(); ++i) {
      if (out.changes.size() == q.limit) {
        out.has_more = true;
        break;
      }
      ChangeRecord c{rows->int64(i, 0), rows->int64(i, 1), change_from(rows->text(i, 2)),
                     std::nullopt, std::nullopt, rows->int64(i, 5)};
      if (!rows->is_null(i, 3)) c.old_price_cents = rows->int64(i, 3);
      if (!rows->is_null(i, 4)) c.new_price_cents = rows->int64(i, 4);
      out.changes.push_back(std::move(c));
    }
    return out;
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
    std::shared_ptr<const StoreEvents> told;  // the subscriber last told that it is live
    while (listening_.load()) {
      if (!live) {
        if (conn.open(target_.url, target_.password).ok() &&
            conn.exec(std::string("LISTEN ") + k_channel).ok()) {
          live = true;
          told = subscriber();
          if (told->elsewhere_live) told->elsewhere_live(true);
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
        const auto events = subscriber();
        if (events != told) {  // subscribed while live: it starts told it is not (subscribe)
          told = events;
          if (events->elsewhere_live) events->elsewhere_live(true);
        }
        while (PGnotify* n = PQnotifies(conn.handle())) {
          const int64_t id = std::strtoll(n->extra, nullptr, 10);
          const bool own = n->be_pid == writer_pid_.load();  // already in our cache
          PQfreemem(n);
          if (!own && events->committed_elsewhere) events->committed_elsewhere(id);
        }
        if (PQstatus(conn.handle()) != CONNECTION_OK) lost = true;
      }
      if (lost) {
        live = false;
        conn.close();
        if (auto e = subscriber(); e->elsewhere_live) e->elsewhere_live(false);
        sleep_a_little(std::chrono::milliseconds(500));
      }
    }
  }

  std::shared_ptr<const StoreEvents> subscriber() { return writes_.subscriber(); }

  void sleep_a_little(std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (listening_.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // How often the writer prunes the change feed, and how many changes at most at a time.
  static constexpr std::chrono::seconds k_prune_every{10};
  static constexpr int64_t k_prune_rows = 10'000;

  const pq::Target target_;
  const int changes_keep_days_;
  const int64_t changes_keep_;
  Pool readers_;
  pq::Connection writer_;  // the writer thread's (and open()'s before it starts)
  std::atomic<int> writer_pid_{0};
  std::mutex health_mutex_;
  Status last_commit_;
  std::chrono::steady_clock::time_point last_prune_{};  // writer only
  // The feed's counter inside the batch's transaction: as locked at its start (saved_*),
  // and as the writes so far leave it. Writer only.
  int64_t last_seq_ = 0, last_at_ms_ = 0, saved_seq_ = 0, saved_at_ms_ = 0;
  int64_t newest_write_ms_ = 0;  // the latest time a write was made at; writer only
  std::thread listen_thread_;
  std::atomic<bool> listening_{false};
  std::atomic<bool> subscribed_{false};  // once, the first time
  GroupCommit writes_;  // the writer thread (reconnecting once a second while it cannot)
};

}  // namespace

Result<std::unique_ptr<Store>> open_pg_store(const pq::Target& target,
                                             const DatabaseOptions& options) {
  auto store = std::make_unique<PgStore>(target, options);
  if (Status s = store->open(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace listingd::postgres
