// Every listing with its price history, from one read snapshot (see scan_sqlite in
// store.h): two ordered scans walked side by side, listings by id and prices by
// (listing id, time, write order) on the index price_history_by_listing, so the whole
// database is read once, in order, without a query per listing or a sort.
#include <string>
#include <vector>

#include "listing_rows.h"
#include "listingd/store.h"
#include "sqlite.h"

namespace listingd {
namespace {

using sqlite::Connection;
using sqlite::Statement;

const std::string k_all_listings =
    std::string("SELECT ") + sqlite::k_listing_columns + " FROM listings ORDER BY id";
constexpr const char* k_all_prices =
    "SELECT listing_id, price_cents, created_ms FROM price_history "
    "ORDER BY listing_id, created_ms, id";

Status scan(Connection& conn, const ListingScan& scan) {
  auto count = conn.query_int("SELECT count(*) FROM listings");
  if (!count.ok()) return count.status();
  if (scan.on_count) scan.on_count(*count);

  Status s;
  Statement* listings = conn.prepare(k_all_listings.c_str(), s);
  if (!listings) return s;
  Statement* prices = conn.prepare(k_all_prices, s);
  if (!prices) return s;
  int price_rc = prices->step();  // the next price row not yet handed out
  std::vector<PricePoint> history;
  int rc;
  while ((rc = listings->step()) == SQLITE_ROW) {
    const Listing listing = sqlite::read_listing(*listings);
    history.clear();
    // Prices of listings before this one cannot be (foreign key): skip any all the same.
    while (price_rc == SQLITE_ROW && prices->int64(0) <= listing.id) {
      if (prices->int64(0) == listing.id) history.push_back({prices->int64(1), prices->int64(2)});
      price_rc = prices->step();
    }
    if (price_rc != SQLITE_ROW && price_rc != SQLITE_DONE)
      return sqlite::error_status(conn.handle(), price_rc, "read prices");
    if (scan.on_listing) {
      if (Status st = scan.on_listing(listing, history); !st.ok()) return st;
    }
  }
  if (rc != SQLITE_DONE) return sqlite::error_status(conn.handle(), rc, "read listings");
  return Status::Ok();
}

}  // namespace

Status scan_sqlite(const SqliteOptions& options, const ListingScan& each) {
  Connection conn;
  if (Status s = conn.open(options.path, SQLITE_OPEN_READONLY); !s.ok()) return s;
  sqlite3_busy_timeout(conn.handle(), options.busy_timeout_ms);
  if (Status s = conn.exec("BEGIN"); !s.ok()) return s;  // one snapshot for the whole scan
  Status s;
  if (auto v = sqlite::check_listingd_database(conn, options.path); !v.ok()) s = v.status();
  if (s.ok()) s = scan(conn, each);
  conn.reset_all();
  conn.exec("COMMIT");
  return s;
}

}  // namespace listingd
