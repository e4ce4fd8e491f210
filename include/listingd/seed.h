// listingd/seed.h — synthetic but realistic data: listings in France, Germany and Belgium
// (real cities and postal codes, local street names, titles and descriptions in the local
// language, prices per city) with their price histories, for demos and load tests.
//
// The data depend only on the seed: a PRNG of our own (the std distributions differ
// between standard libraries) and times counted back from a fixed base date, never from
// the clock. generate_listing() is pure and thread-safe; seed_database() writes through a
// BulkLoader on a connection of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "listingd/listing.h"
#include "listingd/status.h"
#include "listingd/store.h"

namespace listingd {

// Every generated time is before this: 2026-01-01T00:00:00.000Z.
inline constexpr int64_t k_seed_base_ms = 1'767'225'600'000;

struct SeedOptions {
  int64_t listings = 0;            // 1 to 10 000 000
  int64_t prices_per_listing = 10;  // history length, 1 to 1000
  uint64_t seed = 1;
};

// A listing as the store would hold it (id 0: not stored yet) with its price history:
// oldest first, strictly increasing times, consecutive prices different;
// created_ms = first entry's time, updated_ms = last entry's, price = last entry's.
struct SeededListing {
  Listing listing;
  std::vector<PricePoint> history;
};

// The `index`-th listing of the data set `seed`, with `prices` history entries.
// Requires: prices >= 1. Pure: the same arguments give the same listing everywhere.
SeededListing generate_listing(uint64_t seed, int64_t index, int64_t prices);

// Told how many listings are written so far, of how many; called now and then.
using SeedProgress = std::function<void(int64_t done, int64_t total)>;

// Appends options.listings generated listings (indexes 0 .. listings-1 of options.seed,
// new ids) to the database, creating and migrating it if needed. The file is durable and
// consistent when this returns ok; on an error, listings of earlier commits may remain.
// Returns Code::invalid for options out of range.
Status seed_database(const DatabaseOptions& db, const SeedOptions& options,
                     const SeedProgress& progress = {});

}  // namespace listingd
