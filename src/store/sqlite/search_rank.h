// Internal to the store module: how well a listing matches a q= search, for
// sort=relevance (see SortOrder::relevance).
//
// The score is an FTS5 auxiliary function, relevance_score(listings_search, city_prefix)
// (city_prefix: 1 when the query's last phrase is city_prefix='s, else 0), an integer
// that depends only on the query and on the one listing it scores, never on the others
// (FTS5's bm25 weighs words by how rare they are in the whole table, so a listing's
// bm25 moves when other listings change, and a cursor would skip or repeat listings):
// - each word of the query counts for the best field it is found in: name 8, city 4,
//   street 2, description 1;
// - the sum of those, times 16, plus how many (word, field) pairs match (at most 15), so
//   that of two listings whose best fields tie, the one naming the words in more places
//   comes first;
// - with city_prefix=, that times 2, plus 1 when the city's first words are the typed
//   ones whole: "paris" ranks Paris and Paris-l'Hôpital before Parisot.
// The PostgreSQL backend computes the same score in SQL.
#pragma once

#include "listingd/status.h"

struct sqlite3;

namespace listingd::sqlite {

// Makes relevance_score() known to this connection (once per connection).
Status register_relevance_score(sqlite3* db);

}  // namespace listingd::sqlite
