// Internal to the store module: the PostgreSQL Database (see listingd/database.h).
#pragma once

#include <memory>

#include "listingd/database.h"

namespace listingd::postgres {

std::unique_ptr<Database> open_database(const DatabaseOptions& options);

}  // namespace listingd::postgres

namespace listingd::postgres {
// What to use instead of a file backup (pg_dump, listingd export), with the commands for
// the database `url` (already redacted) and the file `to`.
std::string backup_advice(const std::string& url, const std::string& to);
}  // namespace listingd::postgres
