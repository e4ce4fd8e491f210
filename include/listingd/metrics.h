// listingd/metrics.h — what an operator can watch: Prometheus metrics of requests, cache,
// writes, the database and rate limiting, served as text at GET /metrics.
//
// One Metrics object per server (the one piece of shared mutable state the design allows),
// built on prometheus-cpp's registry. Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace listingd {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One answered request: its route ("/listings/{id}"...), method, status and duration.
  void request(const std::string& route, const std::string& method, int status,
               double seconds);
  // One committed write batch of `writes` writes.
  void write_batch(size_t writes);
  void rate_limited();
  // Live event streams (GET /events): one opened (+1) or closed (-1); events written into
  // streams; a stream closed because its client did not keep up with its events.
  void event_streams(int delta);
  void events_sent(size_t events);
  void event_stream_dropped();

  // Values read when /metrics is scraped (cache counters, database size): set once.
  struct Sources {
    std::function<uint64_t()> cache_hits, cache_misses, cache_evictions, cache_bytes;
    std::function<uint64_t()> database_bytes;
  };
  void set_sources(Sources sources);

  // The Prometheus text exposition of every metric.
  std::string text();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace listingd
