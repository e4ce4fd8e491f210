// A model-based check of GET /listings paging: random listings and random queries (every
// filter, every sort, any limit) run on a real Store, each page compared with what a naive
// in-memory filter + sort of the same listings gives. Then cursors are walked while
// listings are inserted and their prices change between pages: every page must still be
// exactly the model's page after the cursor, and under sort=id no listing is skipped or
// repeated. Shared by tests/unit/paging_model_test.cpp (decisions from a seeded RNG) and
// tests/fuzz/fuzz_paging.cpp (decisions from the fuzzer's bytes).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "listingd/listing_query.h"
#include "listingd/store.h"

namespace listingd::testing {

// Where the model check's decisions come from.
class Choices {
 public:
  virtual ~Choices() = default;
  virtual uint64_t below(uint64_t n) = 0;  // in [0, n); n > 0
  virtual bool exhausted() const { return false; }
  bool one_in(uint64_t n) { return below(n) == 0; }
  template <class T, size_t N>
  const T& pick(const T (&items)[N]) { return items[below(N)]; }
};

class RandomChoices final : public Choices {
 public:
  explicit RandomChoices(uint64_t seed) : rng_(seed) {}
  uint64_t below(uint64_t n) override { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

 private:
  std::mt19937_64 rng_;
};

// A fuzzer's input, read a byte or a few at a time; zeros once it is used up.
class ByteChoices final : public Choices {
 public:
  ByteChoices(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t below(uint64_t n) override {
    uint64_t v = 0;
    for (uint64_t range = 1; range < n && range != 0; range <<= 8)
      v = (v << 8) | (at_ < size_ ? data_[at_++] : 0);
    return v % n;
  }
  bool exhausted() const override { return at_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

namespace paging_model {

// Small domains, so that filters match some listings and sort keys tie often.
inline constexpr const char* k_cities[] = {"Paris", "Lyon", "Berlin", "Bruxelles"};
inline constexpr const char* k_postal_codes[] = {"75001", "75004", "69001", "10115", "1000"};
inline constexpr const char* k_countries[] = {"FR", "DE", "BE"};
inline constexpr BuildingType k_types[] = {BuildingType::studio, BuildingType::apartment,
                                           BuildingType::house};
inline constexpr int64_t k_prices[] = {0, 100, 9999, 10000, 15050, 250000, 250001, 99999999};
inline constexpr double k_surfaces[] = {0, 9.5, 20, 20.25, 45, 90, 1000000};
inline constexpr SortOrder k_sorts[] = {SortOrder::id, SortOrder::price_asc, SortOrder::price_desc,
                                        SortOrder::updated_asc, SortOrder::updated_desc};
inline constexpr int64_t k_t0 = 1673515416000;  // 2023-01-12T09:23:36.000Z

inline ListingWrite random_write(Choices& c) {
  ListingWrite w;
  w.name = "Listing";
  w.description = "d";
  w.postal_address = {"1 rue A", c.pick(k_postal_codes), c.pick(k_cities), c.pick(k_countries)};
  w.building_type = c.pick(k_types);
  w.price_cents = c.pick(k_prices);
  w.surface_area_m2 = c.pick(k_surfaces);
  w.rooms_count = 1 + static_cast<int64_t>(c.below(6));
  w.bedrooms_count = static_cast<int64_t>(c.below(static_cast<uint64_t>(w.rooms_count)));
  return w;
}

inline ListingQuery random_query(Choices& c) {
  ListingQuery q;
  q.sort = c.pick(k_sorts);
  const uint64_t limits[] = {1, 2, 3, 5, 7, 10, 50, 1000};
  q.limit = limits[c.below(8)];
  if (c.one_in(4)) q.city = c.pick(k_cities);
  if (c.one_in(5)) q.postal_code = c.pick(k_postal_codes);
  if (c.one_in(4)) q.country = c.pick(k_countries);
  if (c.one_in(3))
    for (BuildingType t : k_types)
      if (c.one_in(2)) q.building_types.push_back(t);
  if (c.one_in(4)) q.min_price_cents = c.pick(k_prices);
  if (c.one_in(4)) q.max_price_cents = c.pick(k_prices);
  if (c.one_in(5)) q.min_surface_m2 = c.pick(k_surfaces);
  if (c.one_in(5)) q.max_surface_m2 = c.pick(k_surfaces);
  if (c.one_in(5)) q.min_rooms = static_cast<int64_t>(c.below(7));
  if (c.one_in(5)) q.max_rooms = static_cast<int64_t>(c.below(7));
  return q;
}

// The naive model: does `l` match every filter of `q`?
inline bool matches(const ListingQuery& q, const Listing& l) {
  const ListingWrite& f = l.fields;
  if (q.city && f.postal_address.city != *q.city) return false;
  if (q.postal_code && f.postal_address.postal_code != *q.postal_code) return false;
  if (q.country && f.postal_address.country != *q.country) return false;
  if (!q.building_types.empty() &&
      std::find(q.building_types.begin(), q.building_types.end(), f.building_type) ==
          q.building_types.end())
    return false;
  if (q.min_price_cents && f.price_cents < *q.min_price_cents) return false;
  if (q.max_price_cents && f.price_cents > *q.max_price_cents) return false;
  if (q.min_surface_m2 && f.surface_area_m2 < *q.min_surface_m2) return false;
  if (q.max_surface_m2 && f.surface_area_m2 > *q.max_surface_m2) return false;
  if (q.min_rooms && f.rooms_count < *q.min_rooms) return false;
  if (q.max_rooms && f.rooms_count > *q.max_rooms) return false;
  return true;
}

// A listing's place in the sort order: (key, id), compared ascending or descending.
inline PagePosition position(SortOrder sort, const Listing& l) {
  switch (sort) {
    case SortOrder::id: return {l.id, l.id};
    case SortOrder::price_asc:
    case SortOrder::price_desc: return {l.fields.price_cents, l.id};
    default: return {l.updated_ms, l.id};
  }
}
inline bool descending(SortOrder s) {
  return s == SortOrder::price_desc || s == SortOrder::updated_desc;
}
inline bool before(SortOrder sort, const PagePosition& a, const PagePosition& b) {
  const auto ka = std::pair(a.key, a.id), kb = std::pair(b.key, b.id);
  return descending(sort) ? kb < ka : ka < kb;
}

// The model's page: every listing that matches, in order, after the cursor, `limit` of them.
inline Store::Page model_page(const std::vector<Listing>& all, const ListingQuery& q) {
  std::vector<Listing> hits;
  for (const Listing& l : all)
    if (matches(q, l) && (!q.after || before(q.sort, *q.after, position(q.sort, l))))
      hits.push_back(l);
  std::sort(hits.begin(), hits.end(), [&](const Listing& a, const Listing& b) {
    return before(q.sort, position(q.sort, a), position(q.sort, b));
  });
  Store::Page page;
  page.has_more = hits.size() > q.limit;
  if (page.has_more) hits.resize(q.limit);
  page.listings = std::move(hits);
  return page;
}

inline const char* sort_name(SortOrder s) {
  const char* names[] = {"id", "price", "-price", "updated_date", "-updated_date"};
  return names[static_cast<int>(s)];
}

inline std::string describe(const ListingQuery& q) {
  std::ostringstream o;
  o << "sort=" << sort_name(q.sort) << "&limit=" << q.limit;
  if (q.city) o << "&city=" << *q.city;
  if (q.postal_code) o << "&postal_code=" << *q.postal_code;
  if (q.country) o << "&country=" << *q.country;
  for (BuildingType t : q.building_types) o << "&building_type=" << to_string(t);
  if (q.min_price_cents) o << "&min_price_cents=" << *q.min_price_cents;
  if (q.max_price_cents) o << "&max_price_cents=" << *q.max_price_cents;
  if (q.min_surface_m2) o << "&min_surface=" << *q.min_surface_m2;
  if (q.max_surface_m2) o << "&max_surface=" << *q.max_surface_m2;
  if (q.min_rooms) o << "&min_rooms=" << *q.min_rooms;
  if (q.max_rooms) o << "&max_rooms=" << *q.max_rooms;
  if (q.after) o << " after (" << q.after->key << ", " << q.after->id << ")";
  return o.str();
}

inline std::string ids(const std::vector<Listing>& listings) {
  std::string s;
  for (const Listing& l : listings) s += (s.empty() ? "" : ",") + std::to_string(l.id);
  return "[" + s + "]";
}

// Runs the model check on `store`, which must hold no listing. Returns "" when every page
// was the model's, else what differed first.
class Run {
 public:
  Run(Store& store, Choices& choices) : store_(store), c_(choices) {}

  std::string run(int listings, int static_queries, int walks) {
    for (int i = 0; i < listings && !failed(); ++i) write();
    for (int i = 0; i < static_queries && !failed() && !c_.exhausted(); ++i)
      walk(random_query(c_), false);
    for (int i = 0; i < walks && !failed() && !c_.exhausted(); ++i) {
      ListingQuery q = random_query(c_);
      if (c_.one_in(2)) q.sort = SortOrder::id;  // the sort with the no-skip guarantee
      walk(q, true);
    }
    return error_;
  }

 private:
  bool failed() const { return !error_.empty(); }
  void fail(const std::string& what) {
    if (!failed()) error_ = what;
  }

  // Time moves on by 0 to 2 ms per write, so updated_date ties often.
  int64_t tick() { return now_ += static_cast<int64_t>(c_.below(3)); }

  // A new listing, or a change of price (sometimes of more) of one that exists. Returns
  // the listing written (none on failure).
  const Listing* write() {
    if (all_.empty() || c_.one_in(3)) {
      auto created = store_.create(random_write(c_), tick());
      if (!created.ok()) return fail("create: " + created.status().message()), nullptr;
      if (created->id <= (all_.empty() ? 0 : all_.back().id))
        return fail("create: id " + std::to_string(created->id) + " not above the last"), nullptr;
      all_.push_back(*created);
      return &all_.back();
    }
    Listing& old = all_[c_.below(all_.size())];
    ListingWrite w = c_.one_in(4) ? random_write(c_) : old.fields;
    w.price_cents = c_.pick(k_prices);
    const int64_t now = tick();
    auto updated = store_.update(old.id, w, now);
    if (!updated.ok()) return fail("update: " + updated.status().message()), nullptr;
    Listing expected = old;
    expected.fields = w;
    expected.updated_ms = std::max(now, old.updated_ms);
    if (*updated != expected)
      return fail("update of " + std::to_string(old.id) + ": not what was written"), nullptr;
    old = *updated;
    return &old;
  }

  // Walks `q` page by page through its cursors; with `writes`, listings are written
  // between pages. Every page must be the model's page at that moment.
  void walk(ListingQuery q, bool writes) {
    ListingQuery filters = q;  // without a cursor
    std::set<int64_t> unmatched;  // listings that did not match at some moment of the walk
    for (const Listing& l : all_)
      if (!matches(filters, l)) unmatched.insert(l.id);
    const std::vector<Listing> at_start = all_;
    std::vector<Listing> seen;
    for (int pages = 0; !failed(); ++pages) {
      if (pages > 10000) return fail("a walk that never ends: " + describe(q));
      auto page = store_.list_page(q);
      if (!page.ok()) return fail("list_page " + describe(q) + ": " + page.status().message());
      const Store::Page expected = model_page(all_, q);
      if (page->listings != expected.listings || page->has_more != expected.has_more)
        return fail("page " + std::to_string(pages + 1) + " of " + describe(q) + ": the store gives " +
                    ids(page->listings) + (page->has_more ? " and more" : "") +
                    ", the model " + ids(expected.listings) + (expected.has_more ? " and more" : ""));
      seen.insert(seen.end(), page->listings.begin(), page->listings.end());
      if (!page->has_more) break;
      // The next page's cursor, through its wire form, as the HTTP layer makes it.
      const std::string cursor = encode_cursor(q.sort, page->last);
      q.after = decode_cursor(q.sort, cursor);
      if (!q.after) return fail("a cursor that does not decode: " + cursor);
      // Writes between the first 40 pages only: a listing repriced or updated ahead of the
      // cursor is met again, so a walk under writes without end need never end.
      if (writes && pages < 40)
        for (uint64_t n = c_.below(4); n > 0 && !failed(); --n)
          if (const Listing* l = write(); l && !matches(filters, *l)) unmatched.insert(l->id);
    }
    if (failed() || q.sort != SortOrder::id) return;
    // Under sort=id: ids strictly rise (nothing repeated), and every listing that was there
    // when the walk began and matched all along was seen (nothing skipped).
    for (size_t i = 1; i < seen.size(); ++i)
      if (seen[i].id <= seen[i - 1].id)
        return fail("sort=id walk " + describe(q) + ": listing " + std::to_string(seen[i].id) +
                    " after " + std::to_string(seen[i - 1].id));
    std::set<int64_t> seen_ids;
    for (const Listing& l : seen) seen_ids.insert(l.id);
    for (const Listing& l : at_start)
      if (!unmatched.count(l.id) && !seen_ids.count(l.id))
        return fail("sort=id walk " + describe(filters) + " skipped listing " + std::to_string(l.id));
  }

  Store& store_;
  Choices& c_;
  std::vector<Listing> all_;  // every listing, by id, as the store last returned it
  int64_t now_ = k_t0;
  std::string error_;
};

}  // namespace paging_model

// The model check on `store` (which must hold no listing): `listings` writes, then
// `static_queries` queries walked to their end, then `walks` walks with writes between
// pages. "" when it held, else what differed first.
inline std::string check_paging_model(Store& store, Choices& choices, int listings,
                                      int static_queries, int walks) {
  return paging_model::Run(store, choices).run(listings, static_queries, walks);
}

}  // namespace listingd::testing
