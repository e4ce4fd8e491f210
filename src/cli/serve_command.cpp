// `listingd serve`: its flags, and the server's life from start to a clean stop on
// SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "commands.h"
#include "listingd/server.h"
#include "listingd/thread_name.h"
#include "listingd/database.h"
#include "listingd/store.h"
#include "version.h"

namespace listingd::cli {
namespace {

struct ServeFlags {
  ServerOptions server;
  std::string log_format = "json", log_level = "info";
  CLI::Option* log_format_option = nullptr;  // not given: text on a terminal, else json
  int shutdown_timeout_s = 30;
  DatabaseOptions db;
  size_t cache_mb = 64;
  std::string synchronous = "full";  // becomes db.synchronous once parsed
};

void add_serve_flags(CLI::App& serve, ServeFlags& f) {
  serve.add_option("--host", f.server.host, "address to listen on (0.0.0.0: every IPv4 address)")
      ->envname("LISTINGD_HOST")
      ->capture_default_str();
  serve.add_option("--port", f.server.port, "TCP port to listen on (0: any free port)")
      ->envname("LISTINGD_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  add_db_flag(serve, f.db);
  serve.add_option("--threads", f.server.threads,
                   "HTTP workers kept ready; each answers one request at a time")
      ->envname("LISTINGD_THREADS")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  serve.add_option("--max-threads", f.server.max_threads,
                   "most HTTP workers: more start while every one is busy (a connection "
                   "that waits for or sends its request holds none)")
      ->envname("LISTINGD_MAX_THREADS")
      ->check(CLI::Range(1, 16384))
      ->capture_default_str();
  serve.add_flag("--auth-reads", f.server.auth_reads,
                 "reads need a token too (reader or above); by default they are public")
      ->envname("LISTINGD_AUTH_READS");
  serve.add_flag("--allow-anonymous-writes", f.server.allow_anonymous_writes,
                 "while no token exists, accept writes from any address, not only local "
                 "clients (unsafe on a network)")
      ->envname("LISTINGD_ALLOW_ANONYMOUS_WRITES");
  serve.add_option("--local-clients", f.server.local_clients,
                   "addresses (CIDR) allowed to write while no token exists")
      ->envname("LISTINGD_LOCAL_CLIENTS")
      ->delimiter(',')
      ->capture_default_str();
  serve.add_option("--trusted-proxy", f.server.trusted_proxies,
                   "proxies (CIDR) whose X-Forwarded-For names the client; none by default")
      ->envname("LISTINGD_TRUSTED_PROXY")
      ->delimiter(',');
  serve.add_option("--read-rate", f.server.read_rate,
                   "reads per second per client (token, else address; local clients are not "
                   "limited unless --rate-limit-local); 0: no limit")
      ->envname("LISTINGD_READ_RATE")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  serve.add_option("--read-burst", f.server.read_burst, "reads a client may make at once")
      ->envname("LISTINGD_READ_BURST")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  serve.add_option("--write-rate", f.server.write_rate,
                   "writes per second per client (token, else address); 0: no limit")
      ->envname("LISTINGD_WRITE_RATE")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  serve.add_option("--write-burst", f.server.write_burst, "writes a client may make at once")
      ->envname("LISTINGD_WRITE_BURST")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  serve.add_flag("--rate-limit-local", f.server.rate_limit_local,
                 "apply --read-rate and --write-rate to local clients (--local-clients) too; "
                 "by default they are not limited")
      ->envname("LISTINGD_RATE_LIMIT_LOCAL");
  f.log_format_option =
      serve.add_option("--log-format", f.log_format,
                       "request lines on stdout: json or text (default: text when stdout is "
                       "a terminal, else json)")
          ->envname("LISTINGD_LOG_FORMAT")
          ->check(CLI::IsMember({"json", "text"}));
  serve.add_option("--log-level", f.log_level,
                   "debug, info (a line per request), warn, error (5xx only) or off")
      ->envname("LISTINGD_LOG_LEVEL")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  serve.add_option("--shutdown-timeout", f.shutdown_timeout_s,
                   "seconds a stop waits for requests in flight before it exits anyway "
                   "(acknowledged writes are always kept)")
      ->envname("LISTINGD_SHUTDOWN_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve.add_option("--backup-dir", f.server.backup_dir,
                   "where POST /admin/backup writes copies (default: backups/ beside the "
                   "database)")
      ->envname("LISTINGD_BACKUP_DIR");
  serve.add_option("--tls-cert", f.server.tls_cert,
                   "serve HTTPS with this PEM certificate (chain); needs --tls-key")
      ->envname("LISTINGD_TLS_CERT");
  serve.add_option("--tls-key", f.server.tls_key, "the PEM private key of --tls-cert")
      ->envname("LISTINGD_TLS_KEY");
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
                   "durability of an acknowledged write: full (fsync each commit, shared by "
                   "its batch: an answered write survives a power cut) or normal (faster on "
                   "a slow disk; a power cut may lose the last acknowledged writes, never "
                   "corrupt)")
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
  // Reads are CPU work on a file the kernel caches: twice the cores keeps every core busy
  // while some reads wait on I/O; at least 8 so that a few slow pages do not hold them all.
  f.db.read_connections = std::max<size_t>(8, 2 * std::thread::hardware_concurrency());
  serve.add_option("--read-connections", f.db.read_connections,
                   "most database connections reading at once (each with a page cache of "
                   "2 MiB); more reads wait for one, up to --busy-timeout-ms, then 503")
      ->envname("LISTINGD_READ_CONNECTIONS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  serve.add_option("--changes-keep-days", f.db.changes_keep_days,
                   "the change feed (GET /changes) keeps every change of this many days...")
      ->envname("LISTINGD_CHANGES_KEEP_DAYS")
      ->check(CLI::Range(1, 36500))
      ->capture_default_str();
  serve.add_option("--changes-keep", f.db.changes_keep,
                   "...and this many last changes, whatever their age; older ones are pruned "
                   "(a client asking for them gets 410 and resynchronises)")
      ->envname("LISTINGD_CHANGES_KEEP")
      ->check(CLI::Range(int64_t{1000}, int64_t{1'000'000'000}))
      ->capture_default_str();
  serve.add_option("--keep-alive-max", f.server.keep_alive_max_requests,
                   "requests served on one keep-alive connection before it is closed")
      ->envname("LISTINGD_KEEP_ALIVE_MAX")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve.add_option("--keep-alive-timeout", f.server.keep_alive_timeout_s,
                   "seconds an idle keep-alive connection is kept open (also after a stop "
                   "signal, within half of --shutdown-timeout)")
      ->envname("LISTINGD_KEEP_ALIVE_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve.add_option("--header-timeout", f.server.header_timeout_s,
                   "seconds a request head (request line and headers) may take to arrive "
                   "whole, from its first byte")
      ->envname("LISTINGD_HEADER_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve.add_option("--max-connections", f.server.max_connections,
                   "open client connections, in all")
      ->envname("LISTINGD_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve.add_option("--max-connections-per-client", f.server.max_connections_per_client,
                   "open connections from one client address (0: no cap); local clients "
                   "and trusted proxies have none")
      ->envname("LISTINGD_MAX_CONNECTIONS_PER_CLIENT")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  serve.add_option("--events-heartbeat", f.server.events_heartbeat_s,
                   "seconds between heartbeat comments on an idle event stream (GET /events), "
                   "so that proxies keep it open")
      ->envname("LISTINGD_EVENTS_HEARTBEAT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve.add_option("--events-buffer-bytes", f.server.events_buffer_bytes,
                   "unsent bytes an event stream may hold; a client that falls further behind "
                   "is disconnected and catches up when it reconnects (Last-Event-ID)")
      ->envname("LISTINGD_EVENTS_BUFFER_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{64} * 1024 * 1024))
      ->capture_default_str();
  serve.add_option("--read-timeout", f.server.read_timeout_s,
                   "seconds a client may pause while sending a request")
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

// Stops the server when a stop signal comes: no new connections, the requests in flight
// answered, and each idle keep-alive connection left to its client for up to `drain_idle`
// (a proxy in front closes its own first, so none of its requests crosses our close). A
// second signal closes the idle connections at once. Past `grace`, exits anyway:
// acknowledged writes are committed already, so nothing acknowledged is lost.
// Requires: the signals were blocked before any thread was started (threads inherit the
// mask; one that did not block them would take the signal and die of it).
class StopOnSignal {
 public:
  StopOnSignal(HttpServer& server, std::chrono::seconds grace,
               std::chrono::milliseconds drain_idle) {
    waiter_ = std::thread([this, &server, grace, drain_idle] {
      name_this_thread("lsd-signals");
      const sigset_t signals = stop_signals();
      int sig = 0;
      sigwait(&signals, &sig);
      if (done_) return;  // woken by the destructor: serve() already returned
      std::cerr << "listingd: stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                << "): no new connections; finishing requests in flight; idle keep-alive "
                   "connections closed within "
                << drain_idle.count() / 1000.0 << " s (a second signal: at once)\n";
      server.stop(drain_idle);
      const auto deadline = std::chrono::steady_clock::now() + grace;
      while (!done_) {
        if (std::chrono::steady_clock::now() >= deadline) {
          std::cerr << "listingd: requests still running after " << grace.count()
                    << " s; exiting without them\n";
          std::_Exit(1);
        }
        const timespec step{0, 100'000'000};
        if (sigtimedwait(&signals, nullptr, &step) > 0 && !done_) {
          std::cerr << "listingd: second stop signal: closing idle connections now\n";
          server.stop();
        }
      }
    });
  }
  ~StopOnSignal() {
    done_ = true;
    pthread_kill(waiter_.native_handle(), SIGTERM);  // wakes the waiter if no signal came
    waiter_.join();
  }

 private:
  std::thread waiter_;
  std::atomic<bool> done_{false};
};

uint64_t file_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// A database made before listingd created its files 0600 (or by hand) may be readable by
// other users: its token hashes with it. Said at start; the mode is the operator's call.
void warn_if_readable_by_others(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & 0044) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
  std::cerr << "listingd: warning: " << path << " is readable by other users (mode " << mode
            << "), token hashes included; `chmod 600 " << path
            << "` makes it its owner's only (new databases are created so)\n";
}

// What a newcomer needs after the first line (which scripts parse for the one URL in it):
// where the UI, the API, its contract and docs are, the database, and who may write.
void print_banner(const ServeFlags& flags, int port, TokenStore& tokens) {
  const ServerOptions& o = flags.server;
  std::cout << "listingd " << LISTINGD_VERSION << " listening on "
            << (o.tls_cert.empty() ? "http://" : "https://") << o.host << ":" << port
            << " (database " << redact_url(flags.db.path) << ")\n";
  std::string access;
  auto all = tokens.list();
  const size_t n = all.ok() ? all->size() : 0;
  if (!all.ok())
    access = "tokens cannot be read now: " + all.status().message();
  else if (n > 0)
    access = "tokens: " + std::to_string(n) + (n == 1 ? " exists" : " exist") +
             "; writes need a writer token";
  else if (o.allow_anonymous_writes)
    access = "open: anyone who reaches this port may write until a token exists "
             "(--allow-anonymous-writes)";
  else
    access = "protected: writes from this machine only (--local-clients) until a token "
             "exists (listingd token create --name NAME --db " + redact_url(flags.db.path) + ")";
  if (o.auth_reads) access += "; reads need a token (--auth-reads)";
  std::error_code ec;
  const bool file = !is_postgres_url(flags.db.path);
  const auto db = file ? std::filesystem::absolute(flags.db.path, ec) : std::filesystem::path();
  std::cout << "  UI        /            (open it in a browser)\n"
            << "  API       /listings    (contract: /openapi.yaml)\n"
            << "  docs      /docs        (the API reference, in a browser)\n"
            << "  database  " << (ec || !file ? redact_url(flags.db.path) : db.string()) << "\n"
            << "  access    " << access << std::endl;
}

// Removes a database file this start created, with its -wal and -shm files, when the start
// fails (port taken, bad certificate): a failed start leaves nothing behind.
struct RemoveIfNew {
  explicit RemoveIfNew(std::string path) : path(std::move(path)) {
    std::error_code ec;
    existed = this->path.empty() || std::filesystem::exists(this->path, ec) || ec;
  }
  void remove() const {
    if (existed) return;
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
  std::string path;
  bool existed = true;
};

int serve_on(ServeFlags& flags, bool& started);

int serve(ServeFlags& flags) {
  // A PostgreSQL database is the operator's: never removed.
  const RemoveIfNew created(is_postgres_url(flags.db.path) ? std::string() : flags.db.path);
  bool started = false;
  const int code = serve_on(flags, started);  // the store is closed when it returns
  if (code != 0 && !started) created.remove();
  return code;
}

int serve_on(ServeFlags& flags, bool& started) {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the store starts its threads
  if (Status s = check_server_options(flags.server); !s.ok()) {
    std::cerr << "listingd: " << s.message() << "\n";
    return 2;
  }
  // CLI11 matched it ignoring case: "NORMAL" is normal too.
  flags.db.synchronous = CLI::detail::to_lower(flags.synchronous) == "normal"
                             ? Synchronous::normal
                             : Synchronous::full;
  flags.server.log_format = flags.log_format == "text" ? LogFormat::text : LogFormat::json;
  const std::map<std::string, LogLevel> levels = {{"debug", LogLevel::debug},
                                                  {"info", LogLevel::info},
                                                  {"warn", LogLevel::warn},
                                                  {"error", LogLevel::error},
                                                  {"off", LogLevel::off}};
  flags.server.log_level = levels.at(flags.log_level);
  if (flags.log_format_option && flags.log_format_option->count() == 0)  // not given
    flags.server.log_format = isatty(STDOUT_FILENO) ? LogFormat::text : LogFormat::json;
  const bool postgres = is_postgres_url(flags.db.path);
  if (flags.server.backup_dir.empty())  // (PostgreSQL: /admin/backup says what to use)
    flags.server.backup_dir =
        postgres ? "backups"
                 : (std::filesystem::path(flags.db.path).parent_path() / "backups").string();
  if (!postgres) warn_if_readable_by_others(flags.db.path);
  auto database = open_database(flags.db);
  Metrics metrics;
  JsonCache cache(flags.cache_mb * 1024 * 1024);  // outlives the service, which keeps it in step
  auto store = database->open_store();
  if (!store.ok()) {
    std::cerr << "listingd: " << store.status().message() << "\n";
    return 1;
  }
  auto tokens = database->open_token_store();
  if (!tokens.ok()) {
    std::cerr << "listingd: " << tokens.status().message() << "\n";
    return 1;
  }
  SystemClock clock;
  ListingService service(
      **store, cache, clock,
      {.batch_committed = [&metrics](size_t writes) { metrics.write_batch(writes); }});
  const std::string path = postgres ? std::string() : flags.db.path;  // no file to measure
  metrics.set_sources({[&cache] { return cache.stats().hits; },
                       [&cache] { return cache.stats().misses; },
                       [&cache] { return cache.stats().evictions; },
                       [&cache] { return cache.stats().bytes; },
                       [path] {
                         return path.empty() ? 0 : file_bytes(path) + file_bytes(path + "-wal");
                       }});
  HttpServer server(service, **tokens, clock, flags.server, &metrics);
  if (Status s = server.bind(); !s.ok()) {
    std::cerr << "listingd: " << s.message() << "\n";
    return 1;
  }
  started = true;
  // Idle connections get their keep-alive timeout, within half the grace: the other half is
  // for the requests they may still carry.
  const std::chrono::seconds grace(flags.shutdown_timeout_s);
  StopOnSignal stop_on_signal(
      server, grace,
      std::min<std::chrono::milliseconds>(std::chrono::seconds(flags.server.keep_alive_timeout_s),
                                          std::chrono::milliseconds(grace) / 2));
  if (flags.server.allow_anonymous_writes)
    std::cerr << "listingd: warning: --allow-anonymous-writes: until a token exists, anyone "
                 "who can reach this port can create and change listings\n";
  print_banner(flags, server.port(), **tokens);
  server.serve();
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the ListingAPI over HTTP");
  add_serve_flags(*cmd, *flags);
  return {cmd, [flags] { return serve(*flags); }};
}

}  // namespace listingd::cli
