// Search as people type it (q=, city_prefix=) and the exact count (count=exact) of
// GET /listings, over HTTP.
#include <functional>

#include "api.h"
#include "listingd/database.h"
#include "listingd/store.h"

using namespace listingd;
using namespace listingd::testing;

namespace {

// Posts a listing with these texts; returns its id.
int64_t add(Api& api, const std::string& name, const std::string& description,
            const std::string& street, const std::string& city, double price = 100000) {
  json b = listing_body(price);
  b["name"] = name;
  b["description"] = description;
  b["postal_address"]["street_address"] = street;
  b["postal_address"]["city"] = city;
  auto res = api.post(b);
  REQUIRE(res.status == 201);
  return body_of(res)["id"].get<int64_t>();
}

std::vector<int64_t> ids_of(Api& api, const std::string& query) {
  auto res = api.get("/listings?" + query);
  REQUIRE_MESSAGE(res.status == 200, query << " -> " << res.body);
  std::vector<int64_t> out;
  for (const auto& l : body_of(res)) out.push_back(l["id"]);
  return out;
}

// Every listing of `url` and the pages its Link headers lead to, in order (at most 20
// pages). `between_pages` runs after each page; it sees the next page's URL.
std::vector<json> walk_pages(Api& api, std::string url,
                             const std::function<void(const std::string&)>& between_pages = {}) {
  std::vector<json> seen;
  for (int pages = 0; !url.empty() && pages < 20; ++pages) {
    auto res = api.get(url);
    REQUIRE_MESSAGE(res.status == 200, url << " -> " << res.body);
    for (const auto& l : body_of(res)) seen.push_back(l);
    const std::string link = res.get_header_value("Link");
    url = link.empty() ? "" : link.substr(1, link.find('>') - 1);
    if (between_pages) between_pages(url);
  }
  return seen;
}

std::vector<int64_t> ids_in(const std::vector<json>& listings) {
  std::vector<int64_t> out;
  for (const auto& l : listings) out.push_back(l["id"]);
  return out;
}

std::string encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') out += static_cast<char>(c);
    else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("q= finds every word in name, description, street or city, ignoring case and accents") {
  Api api;
  const auto rivoli = add(api, "Bel appartement", "Grande terrasse plein sud", "12 rue de Rivoli", "Paris");
  const auto lyon = add(api, "Maison avec jardin", "Calme", "4 rue Dumenge", "Lyon");
  const auto etienne = add(api, "Studio", "Proche gare", "1 place Jean Jaurès", "Saint-Étienne");
  const auto jardin_paris = add(api, "Duplex", "Petit JARDIN", "8 avenue Foch", "Paris");
  CHECK(ids_of(api, "q=terrasse") == std::vector{rivoli});
  CHECK(ids_of(api, "q=TERRASSE") == std::vector{rivoli});
  CHECK(ids_of(api, "q=jardin") == std::vector{lyon, jardin_paris});
  CHECK(ids_of(api, "q=jardin%20lyon") == std::vector{lyon});       // every word must match
  CHECK(ids_of(api, "q=jardin%20ly") == std::vector{lyon});         // the last one as a prefix
  CHECK(ids_of(api, "q=jaures") == std::vector{etienne});           // accents ignored
  CHECK(ids_of(api, "q=JAUR%C3%88S") == std::vector{etienne});
  CHECK(ids_of(api, "q=rivoli") == std::vector{rivoli});            // the street
  CHECK(ids_of(api, "q=etienne") == std::vector{etienne});          // the city
  CHECK(ids_of(api, "q=jar%20paris") == std::vector<int64_t>{});    // prefix only on the last word
  // With other filters, sorts and pages: every match once, in the order asked.
  CHECK(ids_of(api, "q=jardin&city=Paris") == std::vector{jardin_paris});
  CHECK(ids_of(api, "q=rue&sort=-price") == std::vector{lyon, rivoli});
  CHECK(ids_of(api, "q=rue&postal_code=75009") == std::vector{rivoli, lyon});
}

TEST_CASE("q= ranks the best matches first: a word in the name, then the city, street, description") {
  Api api;
  const auto in_description = add(api, "Duplex", "Beau jardin", "8 avenue Foch", "Paris");
  const auto in_street = add(api, "Studio", "Calme", "3 rue du Jardin", "Paris");
  const auto in_city = add(api, "Maison", "Calme", "2 rue Haute", "Jardin");
  const auto in_name = add(api, "Jardin d'hiver", "Calme", "1 rue Basse", "Lyon");
  const auto twice = add(api, "Duplex", "Un jardin", "3 rue du Jardin", "Paris");
  // Relevance is the default order of a search, and sort=relevance says it.
  const std::vector ranked{in_name, in_city, twice, in_street, in_description};
  CHECK(ids_of(api, "q=jardin") == ranked);
  CHECK(ids_of(api, "q=jardin&sort=relevance") == ranked);
  CHECK(ids_of(api, "q=jard") == ranked);  // a prefix ranks as the word
  CHECK(ids_of(api, "q=jardin&sort=id") ==
        std::vector{in_description, in_street, in_city, in_name, twice});
  // Each word counts for its best field: "jardin" in the name and "paris" in the city
  // (8 + 4) beat "jardin" in the street and "paris" in the city (2 + 4).
  const auto both = add(api, "Jardin", "x", "rue", "Paris");
  CHECK(ids_of(api, "q=jardin%20paris") == std::vector{both, twice, in_street, in_description});
  // Other filters still apply, and sort=relevance needs words to rank by.
  CHECK(ids_of(api, "q=jardin&city=Paris&limit=2") == std::vector{both, twice});
  auto res = api.get("/listings?sort=relevance");
  CHECK(res.status == 400);
  CHECK(body_of(res)["message"] ==
        "query parameter sort: relevance ranks a search; give q= or city_prefix= too");
}

TEST_CASE("city_prefix= ranks the cities whose first words are the typed ones whole first") {
  Api api;
  const auto parisot = add(api, "A", "x", "s", "Parisot");
  const auto hopital = add(api, "B", "x", "s", "Paris-l'Hôpital");
  const auto paris = add(api, "C", "x", "s", "Paris");
  const auto paris2 = add(api, "D", "x", "s", "PARIS");
  CHECK(ids_of(api, "city_prefix=paris") == std::vector{hopital, paris, paris2, parisot});
  CHECK(ids_of(api, "city_prefix=paris&sort=id") == std::vector{parisot, hopital, paris, paris2});
  // With q=, the words rank first, the city's closeness breaks their ties.
  const auto jardin_parisot = add(api, "Jardin", "x", "s", "Parisot");
  const auto jardin_paris = add(api, "Maison", "un jardin", "s", "Paris");
  const auto jardin_paris_name = add(api, "Jardin", "x", "s", "Paris");
  CHECK(ids_of(api, "q=jardin&city_prefix=paris") ==
        std::vector{jardin_paris_name, jardin_parisot, jardin_paris});
  // Pages of a ranked city prefix are exact.
  const std::vector<int64_t> seen = ids_in(walk_pages(api, "/listings?city_prefix=pa&limit=2"));
  CHECK(seen == ids_of(api, "city_prefix=pa&limit=100"));
  CHECK(seen.size() == 7);
}

TEST_CASE("relevance pages stay exact while other listings change (a listing's rank is its own)") {
  Api api;
  // Two words, each in the name of half the matches and in the description of the other
  // half. Between pages, listings naming only the first word come: a score that weighs a
  // word by its rarity in the whole table (bm25) would now rank the halves the other way
  // round, and a walk would repeat some matches and skip others.
  std::vector<int64_t> matches;
  for (int i = 0; i < 30; ++i) {
    const bool first = i % 2 == 0;
    matches.push_back(add(api, first ? "Terrasse" : "Soleil", first ? "soleil" : "terrasse",
                          i % 3 ? "rue" : "rue Haute", i % 5 ? "Lyon" : "Nice"));
  }
  const auto seen = ids_in(walk_pages(api, "/listings?q=terrasse%20soleil&limit=4",
                                     [&](const std::string& next) {
                                       for (int k = 0; k < 20; ++k) add(api, "Terrasse", "x", "x", "Nice");
                                       // Later pages keep the search's order.
                                       CHECK(next.find("sort=") == std::string::npos);
                                     }));
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == matches);  // every match exactly once
}

TEST_CASE("city_prefix= matches the start of the city, ignoring case and accents") {
  Api api;
  const auto paris = add(api, "A", "x", "s", "Paris");
  const auto etienne = add(api, "B", "x", "s", "Saint-Étienne");
  const auto emilion = add(api, "C", "x", "s", "Saint-Émilion");
  const auto parisot = add(api, "D", "x", "s", "Parisot");
  add(api, "E", "x", "s", "Cormeilles-en-Parisis");  // Paris inside the name: not a prefix
  CHECK(ids_of(api, "city_prefix=paris") == std::vector{paris, parisot});
  CHECK(ids_of(api, "city_prefix=PAR") == std::vector{paris, parisot});
  CHECK(ids_of(api, "city_prefix=saint-e&sort=id") == std::vector{etienne, emilion});
  CHECK(ids_of(api, "city_prefix=saint-et") == std::vector{etienne});
  CHECK(ids_of(api, "city_prefix=saint%20%C3%A9t") == std::vector{etienne});
  CHECK(ids_of(api, "city_prefix=SAINT-EMILION") == std::vector{emilion});
  CHECK(ids_of(api, "city_prefix=etienne").empty());
  // The exact city= filter is unchanged: case and accents as stored.
  CHECK(ids_of(api, "city=Paris") == std::vector{paris});
  CHECK(ids_of(api, "city=paris").empty());
}

TEST_CASE("search text is plain words: FTS syntax, quotes and odd bytes are never a 500") {
  Api api;
  const auto id = add(api, "Appartement NEAR gare", "vue \"dégagée\" * étoile", "1 rue", "Lyon");
  for (std::string q : {"\"", "\"\"\"", "*", "NEAR(", "NEAR(a b)", "-", "-jardin", "a -b",
                        "a OR b", "a AND", "NOT a", "^a", "{name}: x", "name:x", "(", ")",
                        "a\"b", "a*b", "+", "é", "€", "日本", "\xff\xfe", "a\tb", "x:", "'",
                        "a' OR 1=1 --", "%", "\\"}) {
    for (const char* param : {"q", "city_prefix"}) {
      CAPTURE(param);
      CAPTURE(q);
      auto res = api.get(std::string("/listings?") + param + "=" + encode(q));
      CHECK((res.status == 200 || res.status == 400));
      if (res.status == 400) CHECK(message_of(res).find(param) != std::string::npos);
    }
  }
  CHECK(ids_of(api, "q=" + encode("\"dégagée\"")) == std::vector{id});
  CHECK(ids_of(api, "q=" + encode("near(")) == std::vector{id});
  CHECK(ids_of(api, "q=" + encode("*étoile*")) == std::vector{id});
  // Bad values: empty, no word at all, too long.
  for (const std::string& query :
       std::vector<std::string>{"q=", "q=%20%20", "q=-", "q=%22*%22", "city_prefix=",
                                "q=" + std::string(201, 'a'), "q=a&q=b"}) {
    CAPTURE(query);
    auto res = api.get("/listings?" + query);
    CHECK(res.status == 400);
  }
  CHECK(api.get("/listings?q=" + std::string(200, 'a')).status == 200);
}

TEST_CASE("pages of a search are exact: every match once, in the sort asked, with cursors") {
  Api api;
  std::vector<int64_t> matches;
  for (int i = 0; i < 23; ++i) {
    api.clock.set(t0 + (i % 4) * 1000);  // ties in updated_date
    const bool match = i % 3 != 1;
    const auto id = add(api, match ? "Terrasse " + std::to_string(i) : "Balcon",
                        "x", "s", i % 2 ? "Lyon" : "Paris", 1000 + (i * 7) % 5);  // price ties
    if (match) matches.push_back(id);
  }
  for (std::string sort : {"id", "price", "-price", "updated_date", "-updated_date", "relevance"}) {
    CAPTURE(sort);
    const auto seen = ids_in(walk_pages(api, "/listings?q=terr&limit=4&sort=" + sort));
    std::vector<int64_t> all = ids_of(api, "q=terr&limit=1000&sort=" + sort);
    CHECK(seen == all);
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == matches);
  }
}

TEST_CASE("count=exact gives the number of matching listings in X-Total-Count") {
  Api api;
  for (int i = 0; i < 7; ++i) add(api, i < 3 ? "Jardin" : "Cour", "x", "s", i % 2 ? "Lyon" : "Paris");
  auto total = [&](const std::string& query) {
    auto res = api.get("/listings?" + query);
    REQUIRE_MESSAGE(res.status == 200, query << " -> " << res.body);
    return res.get_header_value("X-Total-Count");
  };
  CHECK(total("count=exact") == "7");
  CHECK(total("count=exact&limit=2") == "7");  // every page, not this one
  CHECK(total("count=exact&city=Paris") == "4");
  CHECK(total("count=exact&city=Paris&sort=-price") == "4");
  CHECK(total("count=exact&q=jardin") == "3");
  CHECK(total("count=exact&q=jardin&city_prefix=ly") == "1");
  CHECK(total("count=exact&postal_code=75009&q=cour") == "4");
  CHECK(total("count=exact&city=Nowhere") == "0");
  // Only when asked: the original answers are unchanged.
  CHECK(total("limit=2").empty());
  CHECK_FALSE(api.get("/listings").has_header("X-Total-Count"));
  // The cursor does not change the count.
  auto first = api.get("/listings?count=exact&limit=2");
  std::string link = first.get_header_value("Link");
  REQUIRE_FALSE(link.empty());
  CHECK(api.get(link.substr(1, link.find('>') - 1) + "&count=exact")
            .get_header_value("X-Total-Count") == "7");
  // A new listing is a new count, and a new ETag for the same body.
  const std::string etag = api.get("/listings?count=exact&limit=1").get_header_value("ETag");
  add(api, "Jardin", "x", "s", "Paris");
  auto after = api.get("/listings?count=exact&limit=1");
  CHECK(after.get_header_value("X-Total-Count") == "8");
  CHECK(after.get_header_value("ETag") != etag);
  CHECK(api.get("/listings?count=yes").status == 400);
  CHECK(api.get("/listings?count=exact&count=none").status == 400);  // (httplib drops an identical repeat)
}

TEST_CASE("the search index follows every write: PUT, and the bulk loader of seed and import") {
  Api api;
  const auto id = add(api, "Maison avec jardin", "Calme", "4 rue Dumenge", "Lyon");
  CHECK(ids_of(api, "q=jardin") == std::vector{id});
  // New texts: the old words are gone, the new ones found.
  json b = listing_body();
  b["name"] = "Villa avec piscine";
  b["description"] = "Vue mer";
  b["postal_address"]["street_address"] = "1 corniche";
  b["postal_address"]["city"] = "Saint-Étienne";
  REQUIRE(api.put(id, b).status == 200);
  CHECK(ids_of(api, "q=jardin").empty());
  CHECK(ids_of(api, "q=dumenge").empty());
  CHECK(ids_of(api, "city_prefix=lyon").empty());
  CHECK(ids_of(api, "q=piscine%20mer") == std::vector{id});
  CHECK(ids_of(api, "city_prefix=saint-e") == std::vector{id});
  // A new price only: still found, once.
  b["latest_price_eur"] = 123456;
  REQUIRE(api.put(id, b).status == 200);
  CHECK(ids_of(api, "q=piscine") == std::vector{id});

  // Listings written by the bulk loader (seed, import) are searchable too.
  auto loader = open_database({.path = api.database_url})->open_bulk_loader();
  REQUIRE(loader.ok());
  Listing l;
  l.fields.name = "Péniche aménagée";
  l.fields.description = "Sur le canal";
  l.fields.postal_address = {"quai de la Loire", "75019", "Paris", "FR"};
  l.fields.building_type = BuildingType::house;
  l.fields.price_cents = 50000000;
  l.fields.surface_area_m2 = 80;
  l.fields.rooms_count = 3;
  l.fields.bedrooms_count = 1;
  l.created_ms = l.updated_ms = t0;
  auto loaded = (*loader)->add(l, {PricePoint{50000000, t0}});
  REQUIRE(loaded.ok());
  REQUIRE((*loader)->finish().ok());
  CHECK(ids_of(api, "q=peniche") == std::vector{*loaded});
  CHECK(ids_of(api, "q=canal&city_prefix=PAR") == std::vector{*loaded});
}

TEST_CASE("a search of many matches pages exactly too (the sort's index walked, not a sort)") {
  Api api;
  // More matches than sqlite::k_many_matches (2000), loaded in bulk; prices and times tie.
  std::vector<int64_t> matches, paris_matches;
  {
    auto loader = open_database({.path = api.database_url})->open_bulk_loader();
    REQUIRE(loader.ok());
    for (int i = 0; i < 3000; ++i) {
      Listing l;
      const bool match = i % 5 != 0;
      l.fields.name = match ? "Appartement avec terrasse" : "Appartement sur cour";
      l.fields.description = "x";
      l.fields.postal_address = {"rue", "75001", i % 2 ? "Paris" : "Lyon", "FR"};
      l.fields.building_type = BuildingType::apartment;
      l.fields.price_cents = 100000 + (i * 7919) % 97 * 1000;
      l.fields.surface_area_m2 = 50;
      l.fields.rooms_count = 2;
      l.fields.bedrooms_count = 1;
      l.created_ms = l.updated_ms = t0 + (i % 13) * 1000;
      auto id = (*loader)->add(l, {PricePoint{l.fields.price_cents, l.created_ms}});
      REQUIRE(id.ok());
      if (match) matches.push_back(*id);
      if (match && i % 2) paris_matches.push_back(*id);
    }
    REQUIRE((*loader)->finish().ok());
  }
  for (std::string sort : {"price", "-price", "updated_date", "-updated_date", "id", "relevance"})
  for (std::string city : {"", "&city=Paris"}) {  // (a city's pages walk its index)
    CAPTURE(sort);
    CAPTURE(city);
    const auto listings = walk_pages(api, "/listings?q=terr&limit=500&sort=" + sort + city);
    // In the order asked, ties by id (every match ties on relevance here: by id).
    const char* key = sort.find("price") != std::string::npos     ? "latest_price_eur"
                      : sort.find("updated") != std::string::npos ? "updated_date"
                                                                  : "id";
    const bool desc = sort[0] == '-';
    for (size_t i = 1; i < listings.size(); ++i) {
      const json& last = listings[i - 1];
      const json& l = listings[i];
      const bool tie = last[key] == l[key];
      CHECK((tie ? (desc ? last["id"] > l["id"] : last["id"] < l["id"])
                 : (desc ? last[key] > l[key] : last[key] < l[key])));
    }
    std::vector<int64_t> seen = ids_in(listings);
    std::sort(seen.begin(), seen.end());
    CHECK(seen == (city.empty() ? matches : paris_matches));  // every match exactly once
  }
  auto counted = api.get("/listings?q=terr&count=exact&limit=1");
  CHECK(counted.get_header_value("X-Total-Count") == std::to_string(matches.size()));
  CHECK(api.get("/listings?q=terr&city=Paris&count=exact&limit=1").get_header_value(
            "X-Total-Count") == "1200");
}
