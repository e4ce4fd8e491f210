// Internal to the store module: the PostgreSQL Store (pg_store.cpp).
#pragma once

#include <memory>

#include "listingd/database.h"
#include "pq.h"

namespace listingd::postgres {

// Requires: the schema migrated. Starts the writer thread; subscribe() starts the LISTEN
// thread.
Result<std::unique_ptr<Store>> open_pg_store(const pq::Target& target,
                                             const DatabaseOptions& options);

}  // namespace listingd::postgres
