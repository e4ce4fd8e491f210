-- wrk script for scripts/bench: one file for every workload, chosen by environment
-- variables (wrk passes only its own flags through, so the driver sets these):
--
--   BENCH_MODE    get      GET /listings/{id}                       (W1)
--                 prices   GET /listings/{id}/prices                (W2)
--                 search   GET /listings?city=..&building_type=..&limit=50&sort=-price (W3)
--                 put      PUT /listings/{id}: the listing as it is, new price (W4)
--                 post     POST /listings                           (W5)
--                 mixed    45% get, 45% prices, 10% put             (W6)
--                 text     GET /listings?q=..&limit=24 (ranked by relevance), BENCH_TEXTS
--                          in turn, with &sort=-price every other time   (W10)
--                 count    GET /listings?..&limit=24&count=exact: W3's and W10's pages
--                          with their exact count                        (W11)
--                 static   GET BENCH_PATH, always the same           (the nginx baseline)
--   BENCH_ID_MAX  ids are drawn uniformly from 1..BENCH_ID_MAX
--   BENCH_CITIES  cities for `search`, separated by "|" (rotated in turn)
--   BENCH_PATH    the path for `static`
--   BENCH_LISTINGS  for `put`: a file of lines "id<TAB>listing as JSON, without its
--                 price"; each PUT takes one at random and sends it with a new price
--
-- Every mode builds its request in request(), so the client does the same work per request
-- for listingd and for nginx. There is no response() callback (it slows wrk a lot); wrk
-- counts answers with a status >= 400 itself (summary.errors.status). done() prints one
-- line "BENCH_JSON {...}" that the driver's summarizer reads.

local mode = os.getenv("BENCH_MODE") or "get"
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "1000")
local static_path = os.getenv("BENCH_PATH") or "/"
local cities = {}
for c in string.gmatch(os.getenv("BENCH_CITIES") or "Paris", "[^|]+") do
  cities[#cities + 1] = c
end
local types = { "APARTMENT", "HOUSE", "STUDIO" }
local json_headers = { ["Content-Type"] = "application/json" }

-- Percent-encodes a query value (cities have spaces, hyphens, accents).
local function encode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

-- The search paths, built once: every city with every building type.
local searches = {}
for _, c in ipairs(cities) do
  for _, t in ipairs(types) do
    searches[#searches + 1] = "/listings?city=" .. encode(c) .. "&building_type=" .. t ..
                              "&limit=50&sort=-price"
  end
end
local search_next = 0

-- W10's searches: words as people type them (BENCH_TEXTS, "|"-separated), the last one
-- often cut short; each by relevance (a search's default order) and by -price. W11: W3's and W10's pages with count=exact.
local texts = {}
for t in string.gmatch(os.getenv("BENCH_TEXTS") or "terrasse|jardin|lumineux paris|maison avec jard|balkon|studio meubl|garage|dachterrasse|tuin|cave",
                       "[^|]+") do
  texts[#texts + 1] = "/listings?q=" .. encode(t) .. "&limit=24"
  texts[#texts + 1] = "/listings?q=" .. encode(t) .. "&limit=24&sort=-price"
end
local text_next = 0
local counts = {}
for _, p in ipairs(texts) do counts[#counts + 1] = p .. "&count=exact" end
for _, c in ipairs(cities) do
  counts[#counts + 1] = "/listings?city=" .. encode(c) .. "&limit=24&count=exact"
  counts[#counts + 1] = "/listings?city_prefix=" .. encode(string.lower(string.sub(c, 1, 3))) ..
                        "&limit=24&count=exact"
end
counts[#counts + 1] = "/listings?limit=24&count=exact"
counts[#counts + 1] = "/listings?min_rooms=3&limit=24&count=exact"
local count_next = 0

local function random_id()
  return math.random(1, id_max)
end

local function random_price()
  return string.format("%d.%02d", math.random(50000, 2000000), math.random(0, 99))
end

-- A full, valid listing for POST; only the price changes from one request to the next.
local function listing_body()
  return string.format([[{"name":"Appartement lumineux, benchmark",]] ..
    [["postal_address":{"street_address":"12 rue de Rivoli","postal_code":"75004",]] ..
    [["city":"Paris","country":"FR"},]] ..
    [["description":"Séjour traversant, cuisine équipée, cave.\nProche métro.",]] ..
    [["building_type":"APARTMENT","latest_price_eur":%s,"surface_area_m2":67.5,]] ..
    [["rooms_count":3,"bedrooms_count":2,"contact_phone_number":"+33612345678"}]],
    random_price())
end

-- The listings `put` changes (BENCH_LISTINGS), read once per wrk thread.
local put_ids, put_rest = {}, {}
local function load_put_listings()
  local path = os.getenv("BENCH_LISTINGS")
  if not path then return end
  local file = io.open(path, "r")
  if not file then return end
  for line in file:lines() do
    local id, json = string.match(line, "^(%d+)\t{(.*)$")
    if id then
      put_ids[#put_ids + 1] = id
      put_rest[#put_rest + 1] = json
    end
  end
  file:close()
end

local function get()
  return wrk.format("GET", "/listings/" .. random_id())
end

local function prices()
  return wrk.format("GET", "/listings/" .. random_id() .. "/prices")
end

-- A listing as it is, with a new price: one price-history entry per PUT, and no other
-- field changes (a client PUTs back what it read, with the price it changed).
local function put()
  local k = math.random(1, #put_ids)
  return wrk.format("PUT", "/listings/" .. put_ids[k], json_headers,
                    '{"latest_price_eur":' .. random_price() .. "," .. put_rest[k])
end

local function post()
  return wrk.format("POST", "/listings", json_headers, listing_body())
end

local function search()
  search_next = search_next % #searches + 1
  return wrk.format("GET", searches[search_next])
end

local function text()
  text_next = text_next % #texts + 1
  return wrk.format("GET", texts[text_next])
end

local function count()
  count_next = count_next % #counts + 1
  return wrk.format("GET", counts[count_next])
end

local function mixed()
  local r = math.random()
  if r < 0.45 then return get() end
  if r < 0.90 then return prices() end
  return put()
end

local function static()
  return wrk.format("GET", static_path)
end

local modes = { get = get, prices = prices, put = put, post = post, search = search,
                text = text, count = count, mixed = mixed, static = static }
local make = modes[mode] or error("unknown BENCH_MODE " .. mode)

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  if mode == "put" or mode == "mixed" then
    load_put_listings()
    if #put_ids == 0 then error("BENCH_LISTINGS names no readable listings") end
  end
end

request = make

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
