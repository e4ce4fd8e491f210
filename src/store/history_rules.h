// Internal to the store module: the invariants of a listing and its price history that
// both backends' bulk loaders check before they write (see BulkLoader::add in store.h).
#pragma once

#include <vector>

#include "listingd/store.h"

namespace listingd {

// Ok, or Code::invalid naming the first invariant `history` breaks.
inline Status check_history(const Listing& listing, const std::vector<PricePoint>& history) {
  if (history.empty()) return Status::Invalid("a listing needs at least one price");
  for (size_t i = 1; i < history.size(); ++i) {
    if (history[i].created_ms < history[i - 1].created_ms)
      return Status::Invalid("price history must be oldest first");
  }
  if (history.front().created_ms != listing.created_ms)
    return Status::Invalid("the first price must be at the listing's created time");
  if (history.back().created_ms > listing.updated_ms)
    return Status::Invalid("the last price must not be after the listing's updated time");
  if (history.back().price_cents != listing.fields.price_cents)
    return Status::Invalid("the last price must be the listing's price");
  return Status::Ok();
}

}  // namespace listingd
