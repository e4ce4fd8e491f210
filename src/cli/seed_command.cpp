// `listingd seed`: fills a database with synthetic listings (see listingd/seed.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.h"
#include "listingd/seed.h"
#include "listingd/database.h"
#include "listingd/store.h"

namespace listingd::cli {
namespace {

struct SeedFlags {
  SeedOptions seed;
  DatabaseOptions db;
};

void add_seed_flags(CLI::App& seed, SeedFlags& f) {
  seed.add_option("--listings", f.seed.listings, "how many listings to add")
      ->envname("LISTINGD_LISTINGS")
      ->required()
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}));
  seed.add_option("--prices-per-listing", f.seed.prices_per_listing,
                  "length of each listing's price history")
      ->envname("LISTINGD_PRICES_PER_LISTING")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  seed.add_option("--seed", f.seed.seed, "the same seed gives the same data, times included")
      ->envname("LISTINGD_SEED")
      ->capture_default_str();
  add_db_flag(seed, f.db);
}

int seed(const SeedFlags& flags) {
  const auto start = std::chrono::steady_clock::now();
  // A progress line redrawn in place, only for a person watching a terminal.
  SeedProgress progress;
  if (isatty(STDERR_FILENO)) {
    progress = [](int64_t done, int64_t total) {
      std::fprintf(stderr, "\rseeding: %lld / %lld listings", static_cast<long long>(done),
                   static_cast<long long>(total));
      if (done == total) std::fputc('\n', stderr);
    };
  }
  if (Status s = seed_database(flags.db, flags.seed, progress); !s.ok()) {
    std::cerr << "\nlistingd: " << s.message() << "\n";
    return 1;
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", took.count());
  std::cout << "seeded " << flags.seed.listings << " listings, "
            << flags.seed.listings * flags.seed.prices_per_listing << " prices into "
            << open_database(flags.db)->display_name() << " in " << seconds << " s" << std::endl;
  return 0;
}

}  // namespace

Command add_seed_command(CLI::App& app) {
  auto flags = std::make_shared<SeedFlags>();
  CLI::App* cmd = app.add_subcommand(
      "seed", "add realistic synthetic listings (FR, DE, BE) with price histories, then exit");
  add_seed_flags(*cmd, *flags);
  return {cmd, [flags] { return seed(*flags); }};
}

}  // namespace listingd::cli
