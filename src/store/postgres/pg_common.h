// Internal to the store module: what the PostgreSQL store, token store, bulk loader and
// scan share — the row ⇄ listing mapping, a bounded connection pool, the migrations.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "listingd/listing.h"
#include "pq.h"

namespace listingd::postgres {

inline constexpr const char* k_listing_columns =
    "id, name, street_address, postal_code, city, country, description, building_type, "
    "price_cents, surface_area_m2, rooms_count, bedrooms_count, contact_phone_number, "
    "created_ms, updated_ms";
inline constexpr int k_listing_column_count = 15;  // read_listing reads columns 0..14

// The channel every committed listing write is announced on (payload: the listing id).
inline constexpr const char* k_channel = "listingd_listings";

// A listing from row `r` of rows whose columns are k_listing_columns, in order.
Listing read_listing(const pq::Rows& rows, int r);

// Calls add(value) for each writable field, in the order every statement that writes them
// takes them: name, street_address, postal_code, city, country, description, building_type,
// price_cents, surface_area_m2, rooms_count, bedrooms_count, contact_phone_number.
template <class Add>
void for_each_field(const ListingWrite& f, Add&& add) {
  add(f.name);
  add(f.postal_address.street_address);
  add(f.postal_address.postal_code);
  add(f.postal_address.city);
  add(f.postal_address.country);
  add(f.description);
  add(to_string(f.building_type));
  add(f.price_cents);
  add(f.surface_area_m2);
  add(f.rooms_count);
  add(f.bedrooms_count);
  add(f.contact_phone_number);
}

// The writable fields as the statement's next 12 values (for_each_field's order).
inline void add_fields(pq::Params& p, const ListingWrite& f) {
  for_each_field(f, [&p](const auto& value) { p.add(value); });
}

// Many listings in one statement: ListingArrays' columns, unnested side by side as rows
// v(id, name, street, ..., phone, created, updated).
#define LISTINGD_UNNEST_LISTINGS                                                              \
  " unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "         \
  "$7::text[], $8::text[], $9::bigint[], $10::double precision[], $11::bigint[], "             \
  "$12::bigint[], $13::text[], $14::bigint[], $15::bigint[]) AS v(id, name, street, "          \
  "postal_code, city, country, description, building_type, price, surface, rooms, bedrooms, "  \
  "phone, created, updated)"
inline constexpr const char* k_insert_listings =
    "INSERT INTO listings (id, name, street_address, postal_code, city, country, description, "
    "building_type, price_cents, surface_area_m2, rooms_count, bedrooms_count, "
    "contact_phone_number, created_ms, updated_ms) "
    "SELECT id, name, street, postal_code, city, country, description, building_type, price, "
    "surface, rooms, bedrooms, phone, created, updated FROM" LISTINGD_UNNEST_LISTINGS;
// Prices of many listings in one statement ($1 listing ids, $2 prices, $3 times), inserted
// in the arrays' order: each listing's history in its order.
inline constexpr const char* k_insert_prices =
    "INSERT INTO price_history (listing_id, price_cents, created_ms) "
    "SELECT l, p, t FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) "
    "WITH ORDINALITY AS h(l, p, t, n) ORDER BY n";

// Prices as the arrays k_insert_prices unnests: listing id, price, time.
class PriceArrays {
 public:
  void add(int64_t listing_id, int64_t price_cents, int64_t created_ms) {
    ids_.add(listing_id);
    prices_.add(price_cents);
    times_.add(created_ms);
  }
  bool empty() const { return ids_.empty(); }
  pq::Params params() const {
    return pq::Params().add(ids_.literal()).add(prices_.literal()).add(times_.literal());
  }

 private:
  pq::ArrayParam ids_, prices_, times_;
};

// Listings as the arrays LISTINGD_UNNEST_LISTINGS unnests ($1..$15): the id, the fields,
// created_ms and updated_ms.
class ListingArrays {
 public:
  void add(const Listing& l) {
    c_[0].add(l.id);
    size_t column = 1;
    for_each_field(l.fields, [&](const auto& value) { c_[column++].add(value); });
    c_[13].add(l.created_ms);
    c_[14].add(l.updated_ms);
  }
  bool empty() const { return c_[0].empty(); }
  const pq::ArrayParam& ids() const { return c_[0]; }
  pq::Params params() const {
    pq::Params p;
    for (const pq::ArrayParam& column : c_) p.add(column.literal());
    return p;
  }

 private:
  std::array<pq::ArrayParam, 15> c_;
};

// Applies schema/postgres/*.sql under an advisory lock (N processes starting at once
// migrate once); refuses, untouched, a database with other tables and no listingd
// schema, or a schema newer than this binary. The version it ends at.
Result<int> migrate(pq::Connection& conn, const std::string& name);
// Ok when the database holds a listingd schema this binary knows (no change made).
Status check_schema(pq::Connection& conn, const std::string& name);

// Connections to one database, at most `max` open; a caller that finds none free waits at
// most `wait`, then gets Code::unavailable. A connection found broken is reopened (the
// database restarted), so callers reconnect by themselves. Thread-safe.
class Pool {
 public:
  Pool(pq::Target target, size_t max, std::chrono::milliseconds wait)
      : target_(std::move(target)), max_(std::max<size_t>(max, 1)), wait_(wait) {}

  class Lease {
   public:
    explicit Lease(Pool& pool);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    bool ok() const { return conn_ != nullptr; }
    const Status& status() const { return status_; }
    pq::Connection* operator->() { return conn_.get(); }
    pq::Connection& operator*() { return *conn_; }

   private:
    Pool& pool_;
    std::unique_ptr<pq::Connection> conn_;
    Status status_;
  };

 private:
  const pq::Target target_;
  const size_t max_;
  const std::chrono::milliseconds wait_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pq::Connection>> idle_;
  size_t open_ = 0;  // leased + idle
};

}  // namespace listingd::postgres
