// The ListingAPI use cases (see service.h): cache first for reads, store for writes.
#include "listingd/service.h"

#include <algorithm>
#include <filesystem>

namespace listingd {

using Kind = JsonCache::Kind;

ListingService::ListingService(Store& store, JsonCache& cache, const Clock& clock)
    : store_(store), cache_(cache), clock_(clock) {}

CommitListener ListingService::cache_updater(JsonCache& cache) {
  return [&cache](const Listing& listing, bool price_appended) {
    cache.put(Kind::listing, listing.id,
              std::make_shared<const CachedBody>(listing_to_json(listing)));
    if (price_appended) cache.erase(Kind::prices, listing.id);  // refilled on next read
  };
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
  if (page->has_more) out.next_cursor = encode_cursor(query.sort, page->listings.back());
  return out;
}

Result<Store::Page> ListingService::listings_after(int64_t after_id, size_t count) {
  ListingQuery query;
  query.limit = count;
  query.after = PagePosition{after_id, after_id};
  return store_.list_page(query);
}

Result<std::string> ListingService::backup(const std::string& dir) {
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

Result<Listing> ListingService::update(int64_t id, const ListingWrite& fields) {
  return store_.update(id, fields, clock_.now_ms());
}

}  // namespace listingd
