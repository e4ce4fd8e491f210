// listingd/embedded.h — files compiled into the binary (see scripts/embed.py).
#pragma once

#include <string_view>
#include <vector>

namespace listingd::embedded {

struct Migration {
  std::string_view file_name;  // e.g. "001_init.sql"; the number is its schema version
  std::string_view sql;
};

extern const std::string_view openapi_yaml;       // schema/openapi.yaml
extern const std::vector<Migration> migrations;   // schema/sqlite/*.sql, in order

}  // namespace listingd::embedded
