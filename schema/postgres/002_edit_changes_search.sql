-- What schema/sqlite/006..008 added, on PostgreSQL: deleted ids kept (never given again),
-- the change feed, and full-text search (q=, city_prefix=). See src/store/postgres/.

-- The ids of deleted listings (DELETE /listings/{id}). The id sequence never goes back,
-- so it never gives one again; the bulk loader also moves the sequence past these.
CREATE TABLE deleted_listings (
  id         bigint PRIMARY KEY,
  deleted_ms bigint NOT NULL
);

-- The change feed (GET /changes): one row per committed write, written in the write's own
-- transaction. seq comes from change_log.last_seq, whose row every writing transaction
-- locks first (src/store/postgres/pg_store.cpp): writers of every node take seqs one
-- transaction at a time, so seq order is commit order and a reader never sees a seq
-- appear below one it has already read. at_ms never goes back along the feed either.
CREATE TABLE changes (
  seq             bigint PRIMARY KEY,
  listing_id      bigint NOT NULL,
  type            text   NOT NULL CHECK (type IN ('created', 'updated', 'price_changed', 'deleted')),
  old_price_cents bigint,
  new_price_cents bigint,
  at_ms           bigint NOT NULL
);
-- ?since= and retention by age.
CREATE INDEX changes_by_time ON changes (at_ms, seq);
-- ?type=price (and direction=down|up): price changes only, in seq order.
CREATE INDEX changes_prices ON changes (seq) WHERE type = 'price_changed';
-- ?type=created|updated|deleted: that type only, in seq order.
CREATE INDEX changes_by_type ON changes (type, seq);

-- One row: the last seq given, the time of the last change, and the last seq pruned by
-- retention (a client asking for changes after an older seq must resynchronise: 410).
CREATE TABLE change_log (
  id             integer PRIMARY KEY CHECK (id = 1),
  last_seq       bigint  NOT NULL,
  last_at_ms     bigint  NOT NULL,
  pruned_through bigint  NOT NULL
);
INSERT INTO change_log VALUES (1, 0, 0, 0);

-- Full-text search, as SQLite's FTS5 index with `unicode61 remove_diacritics 2` does it:
-- a text's words are its runs of letters and digits, lower-cased (ICU, whatever the
-- database's locale), with the diacritics of Latin letters dropped (decomposed, then the
-- combining marks U+0300..U+036F removed: "Étienne" is "etienne"; "ß", "œ" stay, as in
-- SQLite). Immutable: it only uses immutable built-ins. Each function keeps the schema it
-- was made in (SET search_path): pg_restore runs with an empty search_path, and the
-- generated column and the indexes call these functions, which call each other.
CREATE FUNCTION listingd_search_words(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT AS $$
  SELECT coalesce(array_agg(m[1] ORDER BY n), '{}')
  FROM regexp_matches(lower(regexp_replace(normalize(t, NFD), '[\u0300-\u036f]', '', 'g')
                            COLLATE "und-x-icu"), '[[:alnum:]]+', 'g') WITH ORDINALITY AS r(m, n)
$$;

-- A listing's searchable words with their positions: name, description, street and city
-- in turn, one position left free between two of them, so that a phrase ("saint-e") never
-- runs from one field into the next (FTS5 phrases stay within a column). Each word is
-- weighted by its field, for the relevance score: name A, city B, street C, description D. A word is kept to
-- its first 500 letters (PostgreSQL indexes words of at most 2046 bytes): a typed word has
-- at most 200, so it matches, whole or as a prefix, exactly what it matched before.
CREATE FUNCTION listingd_search_document(name text, description text, street text, city text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT AS $$
  SELECT coalesce(string_agg('''' || left(w, 500) || ''':' || least(pos, 16383) || weight, ' '),
                  '')::tsvector
  FROM (SELECT w, row_number() OVER (ORDER BY f, n) + f AS pos, (ARRAY['A', 'D', 'C', 'B'])[f] AS weight
        FROM unnest(ARRAY[name, description, street, city]) WITH ORDINALITY AS fields(t, f),
             unnest(listingd_search_words(t)) WITH ORDINALITY AS words(w, n)) AS positioned
$$;

-- q=: `words` are the words the user typed, separated by single spaces. Every word must be
-- found, as a phrase of its own words ("saint-e": saint then e); with `prefix`, the last
-- word's last word as a prefix. A word without letters or digits is left out, as FTS5
-- leaves out an empty phrase; none left: NULL, which matches nothing.
CREATE FUNCTION listingd_search_query(words text, prefix boolean) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT AS $$
  SELECT nullif(string_agg(phrase, ' & ' ORDER BY i), '')::tsquery
  FROM (SELECT i, (SELECT string_agg('''' || w || '''' ||
                                     CASE WHEN prefix AND i = last AND n = cardinality(ws)
                                          THEN ':*' ELSE '' END, ' <-> ' ORDER BY n)
                   FROM unnest(ws) WITH ORDINALITY AS t(w, n)) AS phrase
        FROM (SELECT i, listingd_search_words(word) AS ws, count(*) OVER () AS last
              FROM unnest(string_to_array(words, ' ')) WITH ORDINALITY AS x(word, i)) AS split
       ) AS phrases
  WHERE phrase IS NOT NULL
$$;

-- city_prefix=: a city's words joined by single spaces. The city starts with the words of
-- the prefix, the last one as a prefix, exactly when this text of the city starts with
-- this text of the prefix (words hold no space). In "C" order, the texts starting with p
-- are those from p up to p || U+10FFFF: a range of the index below.
CREATE FUNCTION listingd_city_words(city text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT AS $$
  SELECT array_to_string(listingd_search_words(city), ' ')
$$;

-- sort=relevance: how well a listing matches a search, exactly as the SQLite store's
-- relevance_score (src/store/search_rank.h), from the listing alone (so cursors stay exact):
-- each word of `words` (as for listingd_search_query; at most the first 64) counts for the
-- best field it is found in, name 8, city 4, street 2, description 1; their sum times 16,
-- plus how many (word, field) pairs match (at most 15); with a `city_prefix` (not ''), that
-- times 2, plus 1 when the city's first words are the prefix's words whole.
CREATE FUNCTION listingd_relevance(doc tsvector, words text, city text, city_prefix text)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT AS $$
  WITH split AS (
    SELECT i, listingd_search_words(word) AS ws, count(*) OVER () AS last
    FROM unnest(string_to_array(coalesce(words, ''), ' ')) WITH ORDINALITY AS x(word, i)
  ), hits AS (
    SELECT i, points,
           doc @@ (SELECT string_agg('''' || w || '''' ||
                                     CASE WHEN i = last AND n = cardinality(ws) THEN ':*' ELSE ':' END ||
                                     weight, ' <-> ' ORDER BY n)
                   FROM unnest(ws) WITH ORDINALITY AS t(w, n))::tsquery AS hit
    FROM split, (VALUES ('A', 8), ('B', 4), ('C', 2), ('D', 1)) AS fields(weight, points)
    WHERE cardinality(ws) > 0 AND i <= 64
  ), per_word AS (
    SELECT max(CASE WHEN hit THEN points ELSE 0 END) AS best, count(*) FILTER (WHERE hit) AS pairs
    FROM hits GROUP BY i
  ), prefix AS (
    SELECT listingd_city_words(city) AS cw, listingd_city_words(coalesce(city_prefix, '')) AS pw
  )
  SELECT CASE WHEN coalesce(city_prefix, '') = '' THEN score
              ELSE score * 2 + CASE WHEN pw <> '' AND (cw = pw OR left(cw, length(pw) + 1) = pw || ' ')
                                    THEN 1 ELSE 0 END END
  FROM (SELECT (coalesce(sum(best), 0) * 16 + least(coalesce(sum(pairs), 0), 15))::bigint AS score
        FROM per_word) AS scored, prefix
$$;

ALTER TABLE listings ADD COLUMN search_document tsvector GENERATED ALWAYS AS
  (listingd_search_document(name, description, street_address, city)) STORED;
CREATE INDEX listings_search ON listings USING gin (search_document);
CREATE INDEX listings_by_city_words ON listings ((listingd_city_words(city) COLLATE "C"), id);
