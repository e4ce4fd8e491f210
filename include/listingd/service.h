// listingd/service.h — the ListingAPI's use cases, between the HTTP layer and storage:
// reads go through the JSON cache, writes through the store, whose commits keep the cache
// in step (see cache.h). Answers are ready-to-send JSON bodies with their ETags.
//
// Thread-safe. The Store, cache and clock are not owned and must outlive the service.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "listingd/cache.h"
#include "listingd/clock.h"
#include "listingd/listing.h"
#include "listingd/listing_query.h"
#include "listingd/database.h"
#include "listingd/store.h"

namespace listingd {

class ListingService {
 public:
  // Subscribes to the store's events (Store::subscribe) until destroyed, and tells them to
  // `also` too, after itself (metrics count the batches).
  ListingService(Store& store, JsonCache& cache, const Clock& clock, StoreEvents also = {});
  ~ListingService();
  ListingService(const ListingService&) = delete;
  ListingService& operator=(const ListingService&) = delete;

  Result<JsonCache::Entry> listing(int64_t id);
  Result<JsonCache::Entry> prices(int64_t id);
  // One page of GET /listings as a JSON array, and the cursor of the next page if any.
  struct ListingsPage {
    std::string body;
    std::optional<std::string> next_cursor;
    std::optional<int64_t> total;  // with query.count_total (see Store::Page)
  };
  Result<ListingsPage> page(const ListingQuery& query);

  // The listings after id `after_id`, at most `count`, by id: the pieces in which every
  // listing is streamed, each read in a short transaction of its own.
  Result<Store::Page> listings_after(int64_t after_id, size_t count);

  // A backup of the database into `dir` (created if missing), named after the time:
  // listingd-20260126T093000Z.db. Returns the file's path.
  Result<std::string> backup(const std::string& dir);

  // A page of the change feed (see Store::changes).
  Result<ChangePage> changes(const ChangeQuery& query) { return store_.changes(query); }

  // Wakes the reader of the change feed that serves live event streams: an eventfd (see
  // eventfd(2)), readable once a write was committed since it was last read, by this
  // process or, on a shared store, by another node (as soon as the store hears of it).
  // notify_changes() makes it readable too.
  int change_signal_fd() const { return change_signal_; }
  void notify_changes();

  // Whether the database answers reads and takes writes (see Store::check_ready).
  Status ready() { return store_.check_ready(); }

  // The condition a write is made under (If-Match): given the ETag the listing has, read
  // inside the write's transaction, whether the write may go on. Empty: always.
  using Precondition = std::function<bool(const std::string& current_etag)>;

  // A write made with an Idempotency-Key: the written listing's JSON as answered (the
  // first answer, when `replayed`).
  struct KeyedWrite {
    int64_t id = 0;
    bool created = false;  // a creation: 201 with a Location, else 200
    std::string body;
    bool replayed = false;
  };
  // create() and patch() under `key` (see Store::create): the first request with a key
  // writes; a later one with the same request replays the first answer, writing nothing;
  // one with another request is refused (Code::invalid naming the header), as is, with
  // Code::conflict, one that races a first request that has not finished.
  Result<KeyedWrite> create(const ListingWrite& fields, const IdempotencyKey& key);
  Result<KeyedWrite> patch(int64_t id, std::string_view merge_patch, const Precondition& condition,
                           const IdempotencyKey& key);

  // Writes stamp the time with the clock's now. When a precondition does not hold they
  // change nothing and return Code::precondition_failed.
  Result<Listing> create(const ListingWrite& fields);
  Result<Listing> update(int64_t id, const ListingWrite& fields, const Precondition& condition = {});
  // Applies a JSON merge patch (see apply_listing_patch) to the listing as it is.
  Result<Listing> patch(int64_t id, std::string_view merge_patch, const Precondition& condition = {});
  // Deletes the listing and its price history; they leave the cache at once.
  Status remove(int64_t id, const Precondition& condition = {});

 private:
  using KeyedOperation = std::function<Result<Listing>(const IdempotencyKey* key)>;
  Result<KeyedWrite> once(const IdempotencyKey& key, bool creates, const KeyedOperation& write);
  Result<Listing> patch_under(int64_t id, std::string_view merge_patch,
                              const Precondition& condition, const IdempotencyKey* key);

  StoreEvents store_events(StoreEvents also);

  Store& store_;
  JsonCache& cache_;
  const Clock& clock_;
  const int change_signal_;
};

}  // namespace listingd
