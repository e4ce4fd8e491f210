// libFuzzer target: the paging model check of tests/unit/paging_model_test.cpp, its
// decisions (listings, queries, limits, writes between pages) read from the input. The real
// SQLite store on a file in a temporary directory, opened once and emptied before each
// input; a page that is not the naive model's page aborts. Built and run by tests/fuzz/run.sh.
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "listingd/store.h"
#include "support/paging_model.h"

namespace {

using namespace listingd;

struct Fixture {
  std::string path;
  std::unique_ptr<Store> store;
  sqlite3* side = nullptr;  // empties the tables between inputs

  Fixture() {
    char dir[] = "/tmp/fuzz-paging-XXXXXX";
    if (!mkdtemp(dir)) std::abort();
    path = std::string(dir) + "/model.db";
    auto opened = open_sqlite_store({.path = path});
    if (!opened.ok()) {
      std::fprintf(stderr, "fuzz_paging: %s\n", opened.status().message().c_str());
      std::abort();
    }
    store = std::move(opened).value();
    if (sqlite3_open(path.c_str(), &side) != SQLITE_OK) std::abort();
    sqlite3_busy_timeout(side, 5000);
  }

  void empty() {
    char* error = nullptr;
    if (sqlite3_exec(side, "DELETE FROM price_history; DELETE FROM listings;", nullptr, nullptr,
                     &error) != SQLITE_OK) {
      std::fprintf(stderr, "fuzz_paging: %s\n", error);
      std::abort();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture;  // for the life of the process
  fixture->empty();
  if (size == 0) return 0;
  testing::ByteChoices choices(data + 1, size - 1);
  // The first byte: how many listings to begin with (up to 63), so short inputs still run
  // queries over a few.
  const int listings = data[0] % 64;
  const std::string error = testing::check_paging_model(*fixture->store, choices, listings, 20, 10);
  if (!error.empty()) {
    std::fprintf(stderr, "fuzz_paging: %s\n", error.c_str());
    std::abort();
  }
  return 0;
}
