// Internal to the store module: the PostgreSQL Store (pg_store.cpp).
#pragma once

#include <memory>

#include "listingd/database.h"
#include "pq.h"

namespace listingd::postgres {

// Requires: the schema migrated. Starts the writer and the LISTEN threads.
Result<std::unique_ptr<Store>> open_pg_store(const pq::Target& target,
                                             const DatabaseOptions& options,
                                             CommitListener listener,
                                             BatchListener batch_listener, ChangeFeed feed);

}  // namespace listingd::postgres
