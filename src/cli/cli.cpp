// The command line (CLI11): subcommands, their flags, and how each flag can also come from
// a LISTINGD_<NAME> environment variable or a --config file.
#include "listingd/cli.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "listingd/seed.h"
#include "listingd/server.h"
#include "listingd/store.h"
#include "version.h"

namespace listingd {
namespace {

struct ServeFlags {
  ServerOptions server;
  SqliteOptions db;
  size_t cache_mb = 64;
  std::string synchronous = "normal";  // becomes db.synchronous once parsed
};

void add_db_flag(CLI::App& cmd, std::string& path) {
  cmd.add_option("--db", path, "SQLite database file; created with its schema if missing")
      ->envname("LISTINGD_DB")
      ->capture_default_str();
}

void add_serve_flags(CLI::App& serve, ServeFlags& f) {
  serve.add_option("--host", f.server.host, "address to listen on (0.0.0.0: every IPv4 address)")
      ->envname("LISTINGD_HOST")
      ->capture_default_str();
  serve.add_option("--port", f.server.port, "TCP port to listen on (0: any free port)")
      ->envname("LISTINGD_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  add_db_flag(serve, f.db.path);
  serve.add_option("--threads", f.server.threads, "HTTP worker threads (concurrent requests)")
      ->envname("LISTINGD_THREADS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  serve.add_option("--max-body-bytes", f.server.max_body_bytes,
                   "largest request body accepted; larger ones get 413")
      ->envname("LISTINGD_MAX_BODY_BYTES")
      ->check(CLI::Range(1024, 64 * 1024 * 1024))
      ->capture_default_str();
  serve.add_option("--cors-origin", f.server.cors_origins,
                   "browser origins allowed to call the API: exact (https://example.com), "
                   "any port (http://localhost:*), or * for all; repeat or separate with commas")
      ->envname("LISTINGD_CORS_ORIGIN")
      ->delimiter(',')
      ->capture_default_str();
  serve.add_option("--synchronous", f.synchronous,
                   "SQLite durability: normal (safe in WAL mode, fast; a power cut may lose "
                   "the last commits, never corrupt) or full (fsync every commit)")
      ->envname("LISTINGD_SYNCHRONOUS")
      ->check(CLI::IsMember({"normal", "full"}, CLI::ignore_case))
      ->capture_default_str();
  serve.add_option("--cache-mb", f.cache_mb,
                   "memory for the cache of listings and price histories, in MiB (0: off)")
      ->envname("LISTINGD_CACHE_MB")
      ->check(CLI::Range(0, 65536))
      ->capture_default_str();
  serve.add_option("--busy-timeout-ms", f.db.busy_timeout_ms,
                   "how long a database call waits for a lock before answering 503")
      ->envname("LISTINGD_BUSY_TIMEOUT_MS")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  serve.add_option("--keep-alive-max", f.server.keep_alive_max_requests,
                   "requests served on one keep-alive connection before it is closed")
      ->envname("LISTINGD_KEEP_ALIVE_MAX")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve.add_option("--keep-alive-timeout", f.server.keep_alive_timeout_s,
                   "seconds an idle keep-alive connection is kept open")
      ->envname("LISTINGD_KEEP_ALIVE_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve.add_option("--read-timeout", f.server.read_timeout_s,
                   "seconds to wait for a client's request data")
      ->envname("LISTINGD_READ_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve.add_option("--write-timeout", f.server.write_timeout_s,
                   "seconds to wait for a client to take response data")
      ->envname("LISTINGD_WRITE_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
}

// SIGINT and SIGTERM, blocked in every thread so that one thread of our own can wait for
// them: the clean way to react to a signal in a multithreaded server.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Stops the server when a stop signal comes. Requires: the signals were blocked before
// any thread was started (threads inherit the mask; one that did not block them would
// take the signal and die of it).
class StopOnSignal {
 public:
  explicit StopOnSignal(HttpServer& server) {
    waiter_ = std::thread([&server] {
      const sigset_t signals = stop_signals();
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGINT || sig == SIGTERM) {
        std::cerr << "listingd: stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
        server.stop();
      }
    });
  }
  ~StopOnSignal() {
    // serve() returned without a signal (e.g. a fatal error): wake the waiter to end it.
    pthread_kill(waiter_.native_handle(), SIGTERM);
    waiter_.join();
  }

 private:
  std::thread waiter_;
};

int serve(ServeFlags& flags) {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the store starts its threads
  if (Status s = check_server_options(flags.server); !s.ok()) {
    std::cerr << "listingd: " << s.message() << "\n";
    return 2;
  }
  flags.db.synchronous = flags.synchronous == "full" ? Synchronous::full : Synchronous::normal;
  JsonCache cache(flags.cache_mb * 1024 * 1024);  // outlives the store, which updates it
  auto store = open_sqlite_store(flags.db, ListingService::cache_updater(cache));
  if (!store.ok()) {
    std::cerr << "listingd: " << store.status().message() << "\n";
    return 1;
  }
  SystemClock clock;
  ListingService service(**store, cache, clock);
  HttpServer server(service, flags.server);
  if (Status s = server.bind(); !s.ok()) {
    std::cerr << "listingd: " << s.message() << "\n";
    return 1;
  }
  StopOnSignal stop_on_signal(server);
  std::cout << "listingd " << LISTINGD_VERSION << " listening on http://"
            << flags.server.host << ":" << server.port() << " (database " << flags.db.path
            << ")" << std::endl;
  server.serve();
  return 0;
}

struct SeedFlags {
  SeedOptions seed;
  SqliteOptions db;
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
  add_db_flag(seed, f.db.path);
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
            << flags.db.path << " in " << seconds << " s" << std::endl;
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"listingd: the ListingAPI (listings and their price history) over HTTP, "
               "stored in one SQLite file.\nEvery flag can also be set by the environment "
               "variable LISTINGD_<FLAG> (e.g. LISTINGD_PORT=9000) or in a --config file "
               "(TOML or INI, with [serve] / [migrate] / [seed] sections)."};
  app.set_version_flag("--version", std::string("listingd ") + LISTINGD_VERSION);
  app.set_config("--config", "", "read flags from this TOML/INI file (before the command: "
                                 "listingd --config FILE serve)");
  app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error
  app.require_subcommand(1);

  ServeFlags serve_flags;
  CLI::App* serve_cmd = app.add_subcommand("serve", "serve the ListingAPI over HTTP");
  add_serve_flags(*serve_cmd, serve_flags);

  std::string migrate_db = "listingd.db";
  CLI::App* migrate_cmd =
      app.add_subcommand("migrate", "create or upgrade the database schema, then exit");
  add_db_flag(*migrate_cmd, migrate_db);

  SeedFlags seed_flags;
  CLI::App* seed_cmd = app.add_subcommand(
      "seed", "add realistic synthetic listings (FR, DE, BE) with price histories, then exit");
  add_seed_flags(*seed_cmd, seed_flags);

  CLI11_PARSE(app, argc, argv);

  if (serve_cmd->parsed()) return serve(serve_flags);
  if (seed_cmd->parsed()) return seed(seed_flags);
  if (migrate_cmd->parsed()) {
    auto version = migrate_sqlite(migrate_db);
    if (!version.ok()) {
      std::cerr << "listingd: " << version.status().message() << "\n";
      return 1;
    }
    std::cout << migrate_db << ": schema version " << *version << std::endl;
  }
  return 0;
}

}  // namespace listingd
