// Internal to the store module: how a listing maps to a row of the `listings` table, and
// the SQL that writes listings and prices, shared by the store and the bulk loader.
#pragma once

#include <iterator>
#include <string>

#include "listingd/listing.h"
#include "sqlite.h"

namespace listingd::sqlite {

inline constexpr const char* k_listing_columns =
    "id, name, street_address, postal_code, city, country, description, building_type, "
    "price_cents, surface_area_m2, rooms_count, bedrooms_count, contact_phone_number, "
    "created_ms, updated_ms";
inline constexpr int k_listing_column_count = 15;  // read_listing reads columns 0..14

// ?1..?12 the writable fields (bind_fields), ?13 created and ?14 updated time, ?15 the
// id (NULL: the next one).
inline constexpr const char* k_insert_listing_row =
    "INSERT INTO listings (name, street_address, postal_code, city, country, description, "
    "building_type, price_cents, surface_area_m2, rooms_count, bedrooms_count, "
    "contact_phone_number, created_ms, updated_ms, id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

// The search index's entry of a new listing (schema/sqlite/006_search.sql): written by
// every path that inserts a listing, right after its row. (Not a trigger: a trigger makes
// each INSERT a statement transaction, at whose savepoint FTS5 flushes its pending terms,
// one tiny segment per listing: seeding 50 000 listings took 16 s instead of 4.)
inline constexpr const char* k_index_listing =
    "INSERT INTO listings_search (rowid, name, description, street_address, city) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";

inline Status index_listing(Connection& conn, int64_t id, const ListingWrite& f) {
  Status s;
  Statement* stmt = conn.prepare(k_index_listing, s);
  if (!stmt) return s;
  stmt->bind(1, id)
      .bind(2, f.name)
      .bind(3, f.description)
      .bind(4, f.postal_address.street_address)
      .bind(5, f.postal_address.city);
  if (int rc = stmt->step(); rc != SQLITE_DONE)
    return error_status(conn.handle(), rc, "index listing for search");
  return Status::Ok();
}

inline constexpr const char* k_insert_price =
    "INSERT INTO price_history (listing_id, price_cents, created_ms) VALUES (?1, ?2, ?3)";

// The bulk loader's: `rows` prices of one listing in one statement (fewer statement steps
// than k_insert_price row by row). ?1 the listing id; row k (from 0): ?2k+2 the price in
// cents, ?2k+3 its time.
inline std::string insert_prices_sql(int rows) {
  std::string sql = "INSERT INTO price_history (listing_id, price_cents, created_ms) VALUES ";
  for (int k = 0; k < rows; ++k) {
    sql += k ? ", " : "";
    sql += "(?1, ?" + std::to_string(2 * k + 2) + ", ?" + std::to_string(2 * k + 3) + ")";
  }
  return sql;
}

inline BuildingType building_type_from(const std::string& s) {
  if (s == "STUDIO") return BuildingType::studio;
  if (s == "HOUSE") return BuildingType::house;
  return BuildingType::apartment;
}

// A listing from a row whose columns are k_listing_columns, in that order.
inline Listing read_listing(const Statement& row) {
  Listing l;
  l.id = row.int64(0);
  ListingWrite& f = l.fields;
  f.name = row.text(1);
  f.postal_address = {row.text(2), row.text(3), row.text(4), row.text(5)};
  f.description = row.text(6);
  f.building_type = building_type_from(row.text(7));
  f.price_cents = row.int64(8);
  f.surface_area_m2 = row.real(9);
  f.rooms_count = row.int64(10);
  f.bedrooms_count = row.int64(11);
  if (!row.is_null(12)) f.contact_phone_number = row.text(12);
  l.created_ms = row.int64(13);
  l.updated_ms = row.int64(14);
  return l;
}

// The columns of the writable fields, in the order bind_fields binds them (?1..?12).
inline constexpr const char* k_writable_columns[] = {
    "name", "street_address", "postal_code", "city", "country", "description",
    "building_type", "price_cents", "surface_area_m2", "rooms_count", "bedrooms_count",
    "contact_phone_number"};

// Which writable fields differ between two listings: bit k set when column
// k_writable_columns[k] (parameter ?k+1) differs.
inline unsigned changed_columns(const ListingWrite& a, const ListingWrite& b) {
  const bool differ[] = {
      a.name != b.name,
      a.postal_address.street_address != b.postal_address.street_address,
      a.postal_address.postal_code != b.postal_address.postal_code,
      a.postal_address.city != b.postal_address.city,
      a.postal_address.country != b.postal_address.country,
      a.description != b.description,
      a.building_type != b.building_type,
      a.price_cents != b.price_cents,
      a.surface_area_m2 != b.surface_area_m2,
      a.rooms_count != b.rooms_count,
      a.bedrooms_count != b.bedrooms_count,
      a.contact_phone_number != b.contact_phone_number};
  unsigned mask = 0;
  for (unsigned k = 0; k < std::size(differ); ++k) mask |= differ[k] ? 1u << k : 0u;
  return mask;
}

// The UPDATE of listing ?14 that sets the columns in `changed` (a changed_columns mask,
// bound by bind_fields) and updated_ms (?13). Only those: SQLite rewrites the entries of
// every index on a column a statement sets, even to the same value, and a price change
// would otherwise move the postal-code and city indexes too.
inline std::string update_listing_sql(unsigned changed) {
  std::string sql = "UPDATE listings SET ";
  for (unsigned k = 0; k < std::size(k_writable_columns); ++k) {
    if (!(changed & (1u << k))) continue;
    sql += k_writable_columns[k];
    sql += " = ?";
    sql += std::to_string(k + 1);
    sql += ", ";
  }
  return sql + "updated_ms = ?13 WHERE id = ?14";
}

// Binds the writable fields as ?1..?12, the order every listing write uses.
inline void bind_fields(Statement& stmt, const ListingWrite& f) {
  stmt.bind(1, f.name)
      .bind(2, f.postal_address.street_address)
      .bind(3, f.postal_address.postal_code)
      .bind(4, f.postal_address.city)
      .bind(5, f.postal_address.country)
      .bind(6, f.description)
      .bind(7, to_string(f.building_type))
      .bind(8, f.price_cents)
      .bind(9, f.surface_area_m2)
      .bind(10, f.rooms_count)
      .bind(11, f.bedrooms_count);
  if (f.contact_phone_number) stmt.bind(12, *f.contact_phone_number);
  else stmt.bind_null(12);
}

}  // namespace listingd::sqlite
