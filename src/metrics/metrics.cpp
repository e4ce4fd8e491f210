// Prometheus metrics with prometheus-cpp's registry and text serializer (see metrics.h).
#include "listingd/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "version.h"

namespace listingd {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

struct Metrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      BuildCounter().Name("listingd_http_requests_total")
          .Help("HTTP requests answered, by route, method and status").Register(registry);
  prometheus::Family<prometheus::Histogram>& latency =
      BuildHistogram().Name("listingd_http_request_duration_seconds")
          .Help("Time to answer a request, by route").Register(registry);
  prometheus::Counter& batches =
      BuildCounter().Name("listingd_write_batches_total")
          .Help("Write transactions committed (group commits)").Register(registry).Add({});
  prometheus::Histogram& batch_sizes =
      BuildHistogram().Name("listingd_write_batch_size")
          .Help("Writes per committed batch").Register(registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  prometheus::Counter& limited =
      BuildCounter().Name("listingd_rate_limited_total")
          .Help("Requests refused with 429").Register(registry).Add({});
  prometheus::Gauge& event_streams =
      BuildGauge().Name("listingd_event_streams")
          .Help("Open live event streams (GET /events, /listings/{id}/events)").Register(registry).Add({});
  prometheus::Counter& events_sent =
      BuildCounter().Name("listingd_events_sent_total")
          .Help("Change events written into event streams").Register(registry).Add({});
  prometheus::Counter& event_streams_dropped =
      BuildCounter().Name("listingd_event_streams_dropped_total")
          .Help("Event streams closed because their client did not keep up (it reconnects "
                "with Last-Event-ID)").Register(registry).Add({});
  prometheus::Family<prometheus::Gauge>& cache =
      BuildGauge().Name("listingd_cache").Help("Cache counters: hits, misses, evictions (totals), bytes (now)")
          .Register(registry);
  prometheus::Gauge& database_bytes =
      BuildGauge().Name("listingd_database_bytes")
          .Help("Size of the database file and its WAL").Register(registry).Add({});

  std::mutex sources_mutex;
  Sources sources;
  // Tells Metrics objects apart (an address can be reused by the next one).
  const uint64_t id = next_id.fetch_add(1) + 1;
  static inline std::atomic<uint64_t> next_id{0};

  Impl() {
    BuildGauge().Name("listingd_build_info").Help("The running build").Register(registry)
        .Add({{"version", LISTINGD_VERSION}}).Set(1);
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::request(const std::string& route, const std::string& method, int status,
                      double seconds) {
  // Family::Add looks the labels up under the family's lock; a request thread keeps the
  // series it has used, so the hot path is one hash lookup and an atomic add.
  struct Series {
    prometheus::Counter* requests;
    prometheus::Histogram* latency;
  };
  thread_local std::unordered_map<std::string, Series> known;
  thread_local uint64_t owner = 0;
  if (owner != impl_->id) {  // another Metrics (tests make several): start afresh
    known.clear();
    owner = impl_->id;
  }
  const std::string key = route + ' ' + method + ' ' + std::to_string(status);
  auto it = known.find(key);
  if (it == known.end()) {
    static const prometheus::Histogram::BucketBoundaries buckets{
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    Series s{&impl_->requests.Add(
                 {{"route", route}, {"method", method}, {"status", std::to_string(status)}}),
             &impl_->latency.Add({{"route", route}}, buckets)};
    it = known.emplace(key, s).first;
  }
  it->second.requests->Increment();
  it->second.latency->Observe(seconds);
}

void Metrics::write_batch(size_t writes) {
  impl_->batches.Increment();
  impl_->batch_sizes.Observe(static_cast<double>(writes));
}

void Metrics::rate_limited() { impl_->limited.Increment(); }

void Metrics::event_streams(int delta) { impl_->event_streams.Increment(delta); }
void Metrics::events_sent(size_t events) { impl_->events_sent.Increment(static_cast<double>(events)); }
void Metrics::event_stream_dropped() { impl_->event_streams_dropped.Increment(); }

void Metrics::set_sources(Sources sources) {
  std::lock_guard lock(impl_->sources_mutex);
  impl_->sources = std::move(sources);
}

std::string Metrics::text() {
  {
    std::lock_guard lock(impl_->sources_mutex);
    const Sources& s = impl_->sources;
    auto set = [&](const char* what, const std::function<uint64_t()>& f) {
      if (f) impl_->cache.Add({{"counter", what}}).Set(static_cast<double>(f()));
    };
    set("hits", s.cache_hits);
    set("misses", s.cache_misses);
    set("evictions", s.cache_evictions);
    set("bytes", s.cache_bytes);
    if (s.database_bytes) impl_->database_bytes.Set(static_cast<double>(s.database_bytes()));
  }
  return prometheus::TextSerializer().Serialize(impl_->registry.Collect());
}

}  // namespace listingd
