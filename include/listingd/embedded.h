// listingd/embedded.h — files compiled into the binary (see scripts/embed.py).
#pragma once

#include <string_view>
#include <vector>

namespace listingd::embedded {

struct Migration {
  std::string_view file_name;  // e.g. "001_init.sql"; the number is its schema version
  std::string_view sql;
};

struct Asset {
  std::string_view path;  // its path under web/, e.g. "index.html"
  std::string_view data;
};

extern const std::string_view openapi_yaml;       // schema/openapi.yaml
extern const std::vector<Migration> migrations;   // schema/sqlite/*.sql, in order
extern const std::vector<Migration> postgres_migrations;  // schema/postgres/*.sql, in order
extern const std::vector<Asset> web_assets;       // web/*: the browser UI (src/http/ui.cpp)

}  // namespace listingd::embedded
