// The ListingAPI use cases (see service.h): cache first for reads, store for writes.
#include "listingd/service.h"

#include <algorithm>
#include <filesystem>

#include <sys/eventfd.h>
#include <unistd.h>

namespace listingd {

using Kind = JsonCache::Kind;

ListingService::ListingService(Store& store, JsonCache& cache, const Clock& clock,
                               StoreEvents also)
    : store_(store), cache_(cache), clock_(clock),
      change_signal_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  store_.subscribe(store_events(std::move(also)));
}

ListingService::~ListingService() {
  store_.subscribe({});
  if (change_signal_ >= 0) ::close(change_signal_);
}

// One write to an eventfd: never blocks (a counter near its limit just stays readable).
void ListingService::notify_changes() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(change_signal_, &one, sizeof one);
}

// The cache follows every commit before its writer is answered (read-your-writes, from any
// thread); other nodes' writes drop what it keeps. Either wakes the live event streams.
// Then `also` is told.
StoreEvents ListingService::store_events(StoreEvents also) {
  StoreEvents events;
  events.committed = [this, also = also.committed](const Listing& listing, Change change) {
    if (change == Change::deleted) {
      cache_.erase(Kind::listing, listing.id);
      cache_.erase(Kind::prices, listing.id);
    } else {
      cache_.put(Kind::listing, listing.id,
                 std::make_shared<const CachedBody>(listing_to_json(listing)));
      if (change != Change::updated) cache_.erase(Kind::prices, listing.id);  // refilled on read
    }
    notify_changes();
    if (also) also(listing, change);
  };
  events.batch_committed = std::move(also.batch_committed);
  events.committed_elsewhere = [this, also = also.committed_elsewhere](int64_t id) {
    cache_.erase(Kind::listing, id);
    cache_.erase(Kind::prices, id);
    notify_changes();
    if (also) also(id);
  };
  // Other nodes' writes unheard: keep nothing (every read goes to the database) until
  // heard again; then the feed may hold what was missed meanwhile.
  events.elsewhere_live = [this, also = also.elsewhere_live](bool live) {
    if (!live) cache_.suspend(true);  // first: no fill lands after the clear
    cache_.clear();
    if (live) {
      cache_.suspend(false);
      notify_changes();
    }
    if (also) also(live);
  };
  return events;
}

Result<JsonCache::Entry> ListingService::listing(int64_t id) {
  if (auto hit = cache_.get(Kind::listing, id)) return hit;
  const uint64_t token = cache_.fill_token(Kind::listing, id);
  auto listing = store_.get(id);
  if (!listing.ok()) return listing.status();
  auto entry = std::make_shared<const CachedBody>(listing_to_json(*listing));
  cache_.fill(Kind::listing, id, token, entry);
  return JsonCache::Entry(entry);
}

Result<JsonCache::Entry> ListingService::prices(int64_t id) {
  if (auto hit = cache_.get(Kind::prices, id)) return hit;
  const uint64_t token = cache_.fill_token(Kind::prices, id);
  auto history = store_.price_history(id);
  if (!history.ok()) return history.status();
  auto entry = std::make_shared<const CachedBody>(price_history_to_json(*history));
  cache_.fill(Kind::prices, id, token, entry);
  return JsonCache::Entry(entry);
}

Result<ListingService::ListingsPage> ListingService::page(const ListingQuery& query) {
  auto page = store_.list_page(query);
  if (!page.ok()) return page.status();
  ListingsPage out{listings_to_json(page->listings), std::nullopt, page->total};
  if (page->has_more) out.next_cursor = encode_cursor(query.sort, page->last);
  return out;
}

Result<Store::Page> ListingService::listings_after(int64_t after_id, size_t count) {
  ListingQuery query;
  query.limit = count;
  query.after = PagePosition{after_id, after_id};
  return store_.list_page(query);
}

Result<std::string> ListingService::backup(const std::string& dir) {
  // A backend without file backups (PostgreSQL) says so to any name, "" included, before
  // a directory is made for nothing; SQLite refuses "" as invalid and goes on below.
  if (Status s = store_.backup_to(""); s.code() == Code::unsupported) return s;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create the backup directory " + dir);
  std::string stamp = format_time(clock_.now_ms());  // 2026-01-26T09:30:00.000Z
  stamp.erase(std::remove_if(stamp.begin(), stamp.end(), [](char c) { return c == '-' || c == ':'; }),
              stamp.end());
  stamp = stamp.substr(0, stamp.find('.')) + "Z";  // 20260126T093000Z
  const std::string file = (std::filesystem::path(dir) / ("listingd-" + stamp + ".db")).string();
  if (Status s = store_.backup_to(file); !s.ok()) return s;
  return file;
}

Result<Listing> ListingService::create(const ListingWrite& fields) {
  return store_.create(fields, clock_.now_ms());
}

namespace {

// Whether `condition` lets a write to `current` go on; Code::precondition_failed if not.
Status check(const ListingService::Precondition& condition, const Listing& current) {
  if (!condition || condition(make_etag(listing_to_json(current)))) return Status::Ok();
  return Status::PreconditionFailed(
      "listing " + std::to_string(current.id) +
      " has changed since you read it: If-Match does not match its current ETag (sent in "
      "this answer); read it again, then retry your change");
}

}  // namespace

Result<Listing> ListingService::update(int64_t id, const ListingWrite& fields,
                                       const Precondition& condition) {
  if (!condition) return store_.update(id, fields, clock_.now_ms());
  return store_.edit(
      id,
      [&](const Listing& current) -> Result<ListingWrite> {
        if (Status s = check(condition, current); !s.ok()) return s;
        return fields;
      },
      clock_.now_ms());
}

Result<Listing> ListingService::patch(int64_t id, std::string_view merge_patch,
                                      const Precondition& condition) {
  return patch_under(id, merge_patch, condition, nullptr);
}

Result<Listing> ListingService::patch_under(int64_t id, std::string_view merge_patch,
                                            const Precondition& condition,
                                            const IdempotencyKey* key) {
  if (Status s = check_listing_patch(merge_patch); !s.ok()) return s;  // before queueing
  return store_.edit(
      id,
      [&](const Listing& current) -> Result<ListingWrite> {
        if (Status s = check(condition, current); !s.ok()) return s;
        return apply_listing_patch(current, merge_patch);
      },
      clock_.now_ms(), key);
}

Result<ListingService::KeyedWrite> ListingService::create(const ListingWrite& fields,
                                                          const IdempotencyKey& key) {
  return once(key, true, [&](const IdempotencyKey* k) {
    return store_.create(fields, clock_.now_ms(), k);
  });
}

Result<ListingService::KeyedWrite> ListingService::patch(int64_t id, std::string_view merge_patch,
                                                         const Precondition& condition,
                                                         const IdempotencyKey& key) {
  return once(key, false, [&](const IdempotencyKey* k) {
    return patch_under(id, merge_patch, condition, k);
  });
}

// The kept answer is looked up first (a retry writes nothing, whatever its If-Match now
// says), and again when the write finds the key taken: by a request that committed
// between the lookup and the write.
Result<ListingService::KeyedWrite> ListingService::once(const IdempotencyKey& key, bool creates,
                                                        const KeyedOperation& write) {
  auto replay = [&]() -> std::optional<Result<KeyedWrite>> {
    auto kept = store_.kept_answer(key.scope, key.key, clock_.now_ms() - limits::idempotency_keep_ms);
    if (!kept.ok()) return Result<KeyedWrite>(kept.status());
    if (!*kept) return std::nullopt;
    if ((*kept)->request != key.request)
      return Result<KeyedWrite>(Status::Invalid(
          "header Idempotency-Key: " + key.key + " was used in the last 24 hours with another "
          "request (method, path or body); send a new key for a new request"));
    return Result<KeyedWrite>(KeyedWrite{(*kept)->listing_id, (*kept)->created,
                                         std::move((*kept)->body), true});
  };
  if (auto replayed = replay()) return std::move(*replayed);
  auto listing = write(&key);
  if (listing.ok()) return KeyedWrite{listing->id, creates, listing_to_json(*listing), false};
  if (listing.status().code() != Code::conflict) return listing.status();
  if (auto replayed = replay()) return std::move(*replayed);
  return Status::Conflict("header Idempotency-Key: " + key.key +
                          " is in use by another request; retry in a moment");
}

Status ListingService::remove(int64_t id, const Precondition& condition) {
  Store::Check in_transaction;
  if (condition) in_transaction = [&](const Listing& current) { return check(condition, current); };
  return store_.remove(id, in_transaction, clock_.now_ms());
}

}  // namespace listingd
