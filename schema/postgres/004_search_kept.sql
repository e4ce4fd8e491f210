-- Writes no longer pay for full-text search they do not change (issue 11: a PUT was three
-- times as slow as it needed to be, see scripts/bench's W4 on PostgreSQL):
--
-- 1. A listing's search document is kept by triggers instead of being a generated column.
--    PostgreSQL recomputes a stored generated column on every UPDATE, whatever it sets, so
--    a price change tokenized the name, description, street and city again. Now an update
--    recomputes it only when one of those four texts changes (as the SQLite store's FTS5
--    triggers); an insert always computes it. The values already stored stay as they are:
--    the same function computed them.
--
-- 2. The search functions of 002 are PL/pgSQL with the same statement in each, so each
--    returns exactly what it returned (the indexes built on them stay valid). A LANGUAGE sql
--    function with a SET clause is never inlined and parses and plans its body again at
--    every call, about 40 us each; a PL/pgSQL function keeps its plan for the session.
--    listings_by_city_words computes listingd_city_words for every new row version, so
--    every update paid for it.

CREATE OR REPLACE FUNCTION listingd_search_words(t text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT AS $$
BEGIN
  RETURN (
    SELECT coalesce(array_agg(m[1] ORDER BY n), '{}')
    FROM regexp_matches(lower(regexp_replace(normalize(t, NFD), '[\u0300-\u036f]', '', 'g')
                              COLLATE "und-x-icu"), '[[:alnum:]]+', 'g') WITH ORDINALITY AS r(m, n));
END
$$;

CREATE OR REPLACE FUNCTION listingd_search_document(name text, description text, street text,
                                                    city text)
RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT AS $$
BEGIN
  RETURN (
    SELECT coalesce(string_agg('''' || left(w, 500) || ''':' || least(pos, 16383) || weight, ' '),
                    '')::tsvector
    FROM (SELECT w, row_number() OVER (ORDER BY f, n) + f AS pos,
                 (ARRAY['A', 'D', 'C', 'B'])[f] AS weight
          FROM unnest(ARRAY[name, description, street, city]) WITH ORDINALITY AS fields(t, f),
               unnest(listingd_search_words(t)) WITH ORDINALITY AS words(w, n)) AS positioned);
END
$$;

CREATE OR REPLACE FUNCTION listingd_search_query(words text, prefix boolean) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT AS $$
BEGIN
  RETURN (
    SELECT nullif(string_agg(phrase, ' & ' ORDER BY i), '')::tsquery
    FROM (SELECT i, (SELECT string_agg('''' || w || '''' ||
                                       CASE WHEN prefix AND i = last AND n = cardinality(ws)
                                            THEN ':*' ELSE '' END, ' <-> ' ORDER BY n)
                     FROM unnest(ws) WITH ORDINALITY AS t(w, n)) AS phrase
          FROM (SELECT i, listingd_search_words(word) AS ws, count(*) OVER () AS last
                FROM unnest(string_to_array(words, ' ')) WITH ORDINALITY AS x(word, i)) AS split
         ) AS phrases
    WHERE phrase IS NOT NULL);
END
$$;

CREATE OR REPLACE FUNCTION listingd_city_words(city text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT AS $$
BEGIN
  RETURN array_to_string(listingd_search_words(city), ' ');
END
$$;

CREATE OR REPLACE FUNCTION listingd_relevance(doc tsvector, words text, city text,
                                              city_prefix text)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT AS $$
BEGIN
  RETURN (
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
          FROM per_word) AS scored, prefix);
END
$$;

-- The column keeps its values and becomes a plain one, written by the triggers below.
ALTER TABLE listings ALTER COLUMN search_document DROP EXPRESSION;

CREATE FUNCTION listingd_index_search() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  NEW.search_document :=
    listingd_search_document(NEW.name, NEW.description, NEW.street_address, NEW.city);
  RETURN NEW;
END
$$;

CREATE TRIGGER listings_search_insert BEFORE INSERT ON listings
FOR EACH ROW EXECUTE FUNCTION listingd_index_search();

-- Checked by the trigger's WHEN, without calling the function: a price change costs nothing.
CREATE TRIGGER listings_search_update BEFORE UPDATE ON listings
FOR EACH ROW
WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description
      OR OLD.street_address IS DISTINCT FROM NEW.street_address
      OR OLD.city IS DISTINCT FROM NEW.city
      OR OLD.search_document IS DISTINCT FROM NEW.search_document)
EXECUTE FUNCTION listingd_index_search();
