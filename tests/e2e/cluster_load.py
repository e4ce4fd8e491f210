#!/usr/bin/env python3
"""The load and the checks of tests/e2e/cluster.sh (three listingd nodes on one PostgreSQL
behind nginx, with a node killed and PostgreSQL restarted under load). Standard library only.

  cluster_load.py load --lb PORT --nodes P1,P2,P3 --out FILE --running FILE --stop FILE
      Keep-alive clients through nginx, until FILE --stop exists (or --max-seconds): each
      client creates listings of its own (a unique name each) and sets their prices (PUT
      and PATCH, every price a new one), one request at a time, and reads (a listing, its
      prices, a page). Every write is recorded in order with its answer: a 2xx is an
      acknowledgement. Meanwhile one poller per node asks its /readyz directly, every
      50 ms, and records each change of answer. Writes FILE --out (JSON) at the end.

  cluster_load.py verify --load FILE --events FILE --db URL --nodes P1,P2,P3 --lb PORT
      Checks the recorded load against the database (psql) and every node's answers:
      see verify() below. Prints the figures; exits 1 naming the first failed check.
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

LISTING = {
    "description": "Calme, lumineux", "building_type": "APARTMENT",
    "postal_address": {"street_address": "1 rue A", "postal_code": "75001", "city": "Paris",
                       "country": "FR"},
    "surface_area_m2": 40, "rooms_count": 2, "bedrooms_count": 1,
}
MAX_OWN_LISTINGS = 30   # per client: few listings, long histories
TIMEOUT = 20            # a request unanswered this long is a hang: the test fails


def body(name, price):
    return json.dumps(dict(LISTING, name=name, latest_price_eur=price)).encode()


def is_json_message(data):
    try:
        return isinstance(json.loads(data).get("message"), str)
    except (ValueError, AttributeError):
        return False


class Client:
    """One sequential keep-alive client through nginx."""

    def __init__(self, n, port, stop, deadline):
        self.n, self.port, self.stop, self.deadline = n, port, stop, deadline
        self.conn = None
        self.writes = []    # in order: {kind, name, id, price, start, end, status, json}
        self.reads = {}     # status -> count
        self.bad = []       # answers that are not allowed anywhere (see verify)
        self.read503 = []   # [start, end] of each read answered 503
        self.own = []       # (id, name) of this client's acknowledged listings
        self.seq = 0
        self.rng = random.Random(n)

    def request(self, method, path, data=None, ctype="application/json"):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        headers = {"Content-Type": ctype} if data is not None else {}
        start = time.time()
        try:
            self.conn.request(method, path, data, headers)
            r = self.conn.getresponse()
            payload = r.read()
            status = r.status
            if r.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
        except Exception as e:  # a reset, a timeout: nginx must always answer
            self.conn.close()
            self.conn = None
            status, payload = "exception: " + repr(e), b""
        return start, time.time(), status, payload

    def price(self):
        self.seq += 1
        return 100000 + self.n * 1000000 + self.seq   # never the same twice

    def write(self, kind, listing_id, name, price):
        if kind == "POST":
            rec = self.request("POST", "/listings", body(name, price))
        elif kind == "PUT":
            rec = self.request("PUT", f"/listings/{listing_id}", body(name, price))
        else:
            rec = self.request("PATCH", f"/listings/{listing_id}",
                               json.dumps({"latest_price_eur": price}).encode(),
                               "application/merge-patch+json")
        start, end, status, payload = rec
        acked = isinstance(status, int) and 200 <= status < 300
        w = {"kind": kind, "name": name, "id": listing_id, "price": price, "start": start,
             "end": end, "status": status, "json": is_json_message(payload), "acked": acked}
        if not acked:  # what the node said, for a failure's report
            w["said"] = payload[:300].decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)[:300]
        if acked:
            try:
                got = json.loads(payload)
                if kind == "POST":
                    w["id"] = got["id"]
                if got.get("latest_price_eur") != price or got.get("id") != w["id"]:
                    self.bad.append(dict(w, why=f"acknowledged as {payload[:200]!r}"))
            except (ValueError, KeyError, AttributeError):
                self.bad.append(dict(w, why=f"a 2xx that is not the listing: {payload[:200]!r}"))
        self.writes.append(w)
        if status == 503:
            time.sleep(0.05)   # as a client would (Retry-After): no busy loop while it lasts
        return w

    def read(self, path):
        start, end, status, payload = self.request("GET", path)
        self.reads[str(status)] = self.reads.get(str(status), 0) + 1
        if status == 503:
            self.read503.append([start, end])
            time.sleep(0.05)
        if status != 200 and not is_json_message(payload):
            self.bad.append({"kind": "GET", "path": path, "start": start, "status": status,
                             "why": f"not a JSON error: {payload[:200]!r}"})
        elif status != 200:
            self.bad_status(status, start, "GET " + path)

    def bad_status(self, status, start, what):
        # Only 503 is expected (in the fault windows: verify checks when); any other error
        # status of a read of one's own listings is wrong.
        if status != 503:
            self.bad.append({"kind": what, "start": start, "status": status,
                             "why": "neither 200 nor 503"})

    def new_name(self):
        return f"cluster c{self.n} #{len(self.writes)}"

    def run(self):
        while not os.path.exists(self.stop) and time.time() < self.deadline:
            r = self.rng.random()
            if not self.own or (r < 0.12 and len(self.own) < MAX_OWN_LISTINGS):
                w = self.write("POST", None, self.new_name(), self.price())
                if w["status"] == 201:
                    self.own.append((w["id"], w["name"]))
                elif w["status"] != 503:
                    self.bad.append(dict(w, why="a POST answered neither 201 nor 503"))
            elif r < 0.45:
                listing_id, name = self.rng.choice(self.own)
                kind = "PUT" if self.rng.random() < 0.5 else "PATCH"
                w = self.write(kind, listing_id, name, self.price())
                if w["status"] != 200 and w["status"] != 503:
                    self.bad.append(dict(w, why=f"a {kind} answered neither 200 nor 503"))
            elif r < 0.70:
                self.read(f"/listings/{self.rng.choice(self.own)[0]}")
            elif r < 0.90:
                self.read(f"/listings/{self.rng.choice(self.own)[0]}/prices")
            else:
                self.read("/listings?limit=20&sort=-price")
        if self.conn:
            self.conn.close()


def poll_readyz(port, stop, deadline, out):
    """The node's /readyz every 50 ms, directly (a new connection each time, as a probe)."""
    last = None
    while not os.path.exists(stop) and time.time() < deadline:
        t = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            c.request("GET", "/readyz")
            r = c.getresponse()
            payload = r.read()
            c.close()
            status = r.status
            if status != 200 and not is_json_message(payload):
                status = f"{status} (not JSON)"
        except Exception:
            status = "down"   # the killed node
        if status != last:
            out.append([t, status])
            last = status
        time.sleep(0.05)
    out.append([time.time(), "end"])


def load(a):
    deadline = time.time() + a.max_seconds
    clients = [Client(n, a.lb, a.stop, deadline) for n in range(a.clients)]
    readyz = {p: [] for p in a.nodes.split(",")}
    threads = [threading.Thread(target=c.run) for c in clients]
    threads += [threading.Thread(target=poll_readyz, args=(int(p), a.stop, deadline, readyz[p]))
                for p in readyz]
    for t in threads:
        t.start()
    # Under way once every client has had a write acknowledged.
    while time.time() < deadline and not all(c.own for c in clients):
        time.sleep(0.05)
    open(a.running, "w").close()
    for t in threads:
        t.join()
    with open(a.out, "w") as f:
        json.dump({"clients": [{"writes": c.writes, "reads": c.reads, "bad": c.bad,
                                "read503": c.read503}
                               for c in clients], "readyz": readyz}, f)


# ---------------------------------------------------------------------------------------

class Failed(Exception):
    pass


def check(ok, message):
    if not ok:
        raise Failed(message)


def psql(url, sql):
    out = subprocess.run(["psql", "-qAtX", "-F", "\t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    c.request("GET", path)
    r = c.getresponse()
    payload = r.read()
    c.close()
    return r.status, payload


def cents(euros):
    return round(euros * 100)


def verify(a):
    rec = json.load(open(a.load))
    ev = {}
    for line in open(a.events):
        name, t = line.split()
        ev[name] = float(t)
    nodes = a.nodes.split(",")
    killed = nodes[int(ev["killed_node"])]
    live = [p for p in nodes if p != killed]
    writes = [w for c in rec["clients"] for w in c["writes"]]
    bad = [b for c in rec["clients"] for b in c["bad"]]
    reads = {}
    for c in rec["clients"]:
        for k, v in c["reads"].items():
            reads[k] = reads.get(k, 0) + v
    acked = [w for w in writes if w["acked"]]
    failed = [w for w in writes if not w["acked"]]
    n503 = sum(1 for w in failed if w["status"] == 503) + reads.get("503", 0)
    print(f"load: {len(writes)} writes ({len(acked)} acknowledged, {len(failed)} not), "
          f"{sum(reads.values())} reads {reads}; 503s: {n503}")

    # 1. Every answer allowed: 2xx, or a JSON 503; never a hang, a reset, a 500. But for
    # one thing: an answer the killed node was sending when SIGKILL came is cut off (nginx
    # had passed its head on, so it can neither resend the request nor answer 503 instead).
    # That is what a crash does to the requests in flight, as it may to any client's;
    # allowed only around the kill, and only as a body cut short, never a timeout.
    def cut_by_the_kill(b):
        return ("IncompleteRead" in str(b["status"]) and
                ev["kill"] - 0.5 <= b["start"] <= ev["kill"] + 3)
    cut = [b for b in bad if cut_by_the_kill(b)] + [w for w in failed if cut_by_the_kill(w)]
    bad = [b for b in bad if not cut_by_the_kill(b)]
    failed_cut = [w for w in failed if cut_by_the_kill(w)]
    if cut:
        print(f"{len(cut)} answers cut off by the kill of the node sending them: {cut[:3]}")
    check(not bad, f"{len(bad)} answers not allowed, the first: {bad[:3]}")
    for w in failed:
        if w in failed_cut:
            continue
        check(w["status"] == 503 and w["json"],
              f"a {w['kind']} answered {w['status']} (json={w['json']}), not a JSON 503: {w}")

    # 2. 503s only in the fault windows: the kill (a write in flight to the killed node),
    # and from each PostgreSQL stop until every node is ready again (and a little after).
    windows = [(ev["kill"] - 0.5, ev["kill"] + 3),
               (ev["restart_begin"] - 0.5, ev["restart_ready"] + 3),
               (ev["stop_begin"] - 0.5, ev["start_ready"] + 3)]
    def inside(start, end):
        return any(lo <= end and start <= hi for lo, hi in windows)
    outside = [w for w in failed if not inside(w["start"], w["end"])]
    check(not outside, f"{len(outside)} writes got a 503 outside the fault windows: {outside[:3]}")
    outside = [r for c in rec["clients"] for r in c["read503"] if not inside(*r)]
    check(not outside, f"{len(outside)} reads got a 503 outside the fault windows: {outside[:3]}")
    per = [sum(1 for w in failed if lo <= w["end"] and w["start"] <= hi) for lo, hi in windows]
    print(f"writes answered 503: {per[0]} around the kill, {per[1]} around PostgreSQL's "
          f"restart, {per[2]} around its stop and start")

    # 3. Served through each fault: acknowledged writes after the kill before PostgreSQL's
    # restart, between the restart and the stop, and after the start.
    def acked_between(lo, hi):
        return sum(1 for w in acked if lo <= w["start"] and w["end"] <= hi)
    phases = {"before the kill": acked_between(0, ev["kill"]),
              "after the kill (2 nodes)": acked_between(ev["kill"] + 0.5, ev["restart_begin"]),
              "after PostgreSQL's restart": acked_between(ev["restart_ready"], ev["stop_begin"]),
              "after PostgreSQL's start": acked_between(ev["start_ready"], ev["load_end"])}
    print("acknowledged writes: " + ", ".join(f"{k} {v}" for k, v in phases.items()))
    for k, v in phases.items():
        check(v >= 5, f"only {v} writes acknowledged {k}: the cluster did not keep serving")

    # 4. While PostgreSQL was down (stopped, not yet started): writes answered, each a JSON
    # 503, none acknowledged; every live node's /readyz said 503, then 200 again by itself.
    down = [w for w in writes if w["start"] >= ev["stop_end"] and w["end"] <= ev["start_begin"]]
    down_acked = [w for w in down if w["acked"]]
    check(not down_acked, f"{len(down_acked)} writes acknowledged while PostgreSQL was stopped: {down_acked[:3]}")
    check(len(down) >= 3, f"only {len(down)} writes made while PostgreSQL was stopped: not tested")
    print(f"PostgreSQL stopped {ev['start_begin'] - ev['stop_end']:.1f} s: {len(down)} writes "
          f"meanwhile, every one a JSON 503")
    for label, lo, hi, ready in (("restart -m fast", ev["restart_begin"], ev["restart_end"], ev["restart_ready"]),
                                 ("stop -m fast ... start", ev["stop_begin"], ev["start_end"], ev["start_ready"])):
        seen = []
        for p in live:
            changes = rec["readyz"][p]
            notready = [t for t, s in changes if s != 200 and lo - 0.1 <= t <= ready + 1]
            # Ready again: the first 200 after the last other answer of the outage (it may
            # come just before pg_ctl returns: pg_ctl polls the server it started).
            back = [t for t, s in changes if s == 200 and notready and t > notready[-1]]
            seen.append((p, bool(notready), back[0] - hi if back else None))
        desc = ", ".join(f"node :{p} 503 {'seen' if n else 'not seen'}, 200 again "
                         f"{'never' if b is None else f'{b:+.2f} s'}" for p, n, b in seen)
        print(f"/readyz across PostgreSQL's {label} (pg_ctl {hi - lo:.2f} s; "
              f"relative to pg_ctl's return): {desc}")
        for p, n, b in seen:
            check(not n or b is not None,
                  f"node :{p} never answered /readyz 200 after PostgreSQL's {label}")
            if label.startswith("stop"):
                check(n, f"node :{p}'s /readyz never said 503 while PostgreSQL was stopped")
        for p in live:
            other = [s for t, s in rec["readyz"][p] if s not in (200, 503, "end")]
            check(not other, f"node :{p}'s /readyz answered {other}")
    print(f"every live node ready again {ev['start_ready'] - ev['start_end']:.2f} s after "
          f"PostgreSQL started, {ev['restart_ready'] - ev['restart_end']:.2f} s after its restart")

    # The database, as it is now.
    rows = psql(a.db, "SELECT id, name, price_cents FROM listings ORDER BY id")
    listings = {int(i): (name, int(p)) for i, name, p in rows}
    history = {}
    for lid, p in psql(a.db, "SELECT listing_id, price_cents FROM price_history "
                             "ORDER BY listing_id, created_ms, id"):
        history.setdefault(int(lid), []).append(int(p))
    # 5. Every node (the restarted one too) answers the database's state, nothing stale:
    # GET /listings (every listing), and each listing and its prices.
    for p in nodes:
        status, payload = get(int(p), "/listings")
        check(status == 200, f"GET /listings on node :{p} answered {status}")
        got = {l["id"]: cents(l["latest_price_eur"]) for l in json.loads(payload)}
        want = {i: price for i, (_, price) in listings.items()}
        check(got == want, f"GET /listings on node :{p} differs from the database: "
                           f"{[(i, got.get(i), want.get(i)) for i in set(got) | set(want) if got.get(i) != want.get(i)][:5]}")
        c = http.client.HTTPConnection("127.0.0.1", int(p), timeout=TIMEOUT)
        for i in sorted(listings):
            c.request("GET", f"/listings/{i}")
            r = c.getresponse()
            one = json.loads(r.read())
            c.request("GET", f"/listings/{i}/prices")
            r2 = c.getresponse()
            prices = [cents(e["price_eur"]) for e in json.loads(r2.read())]
            check(r.status == 200 and r2.status == 200, f"node :{p}: listing {i} answered {r.status}, {r2.status}")
            check(cents(one["latest_price_eur"]) == listings[i][1],
                  f"node :{p} answers listing {i} at {one['latest_price_eur']} EUR, the database "
                  f"{listings[i][1] / 100}: stale")
            check(prices == history.get(i), f"node :{p} answers listing {i}'s prices {prices}, "
                                             f"the database {history.get(i)}")
            check(prices[-1] == cents(one["latest_price_eur"]),
                  f"node :{p}: listing {i}'s latest_price_eur is not its last price")
        c.close()
    print(f"every node answers every listing and its prices as the database has them "
          f"({len(listings)} listings x {len(nodes)} nodes)")

    # 6. The database against the acknowledgements.
    names = {}
    for i, (name, _) in listings.items():
        names.setdefault(name, []).append(i)
    dup = {n: ids for n, ids in names.items() if len(ids) > 1 and n.startswith("cluster c")}
    check(not dup, f"listings created twice: {list(dup.items())[:3]}")
    posted = {w["name"]: w for w in writes if w["kind"] == "POST"}
    # Each listing's attempted prices in order (its client is sequential), each acknowledged or not.
    attempts = {}
    for c in rec["clients"]:
        for w in c["writes"]:
            if w["kind"] == "POST" and w["acked"]:
                attempts[w["id"]] = [(cents(w["price"]), True)]
            elif w["kind"] != "POST":
                attempts[w["id"]].append((cents(w["price"]), w["acked"]))
    lost, phantom, wrong = [], [], []
    for w in acked:
        if w["kind"] == "POST" and (w["id"] not in listings or listings[w["id"]][0] != w["name"]):
            lost.append(w)
    check(not lost, f"{len(lost)} acknowledged creates are not in the database: {lost[:3]}")
    for i, (name, _) in listings.items():
        if not name.startswith("cluster c"):
            continue   # cluster.sh's own listings (a write on each node read on the others)
        w = posted.get(name)
        if w is None:
            phantom.append((i, name))
        elif not w["acked"]:
            # A create in flight when its node was killed (or PostgreSQL stopped): written
            # or not, but then never written again.
            if history.get(i) != [cents(w["price"])]:
                wrong.append((i, "an unacknowledged create", history.get(i)))
    check(not phantom, f"listings in the database that no client created: {phantom[:3]}")
    unacked_creates = sum(1 for w in posted.values() if not w["acked"] and w["name"] in names)
    for i, seq in attempts.items():
        h = history.get(i, [])
        # Exact: the history is the attempted prices in order, every acknowledged one, and
        # nothing else (an unacknowledged write may or may not have been committed).
        k = 0
        for price, ok in seq:
            if k < len(h) and h[k] == price:
                k += 1
            elif ok:
                wrong.append((i, f"acknowledged price {price} cents missing or out of order", h, seq))
                break
        else:
            if k != len(h):
                wrong.append((i, "history entries no client wrote, or twice", h, seq))
    check(not wrong, f"{len(wrong)} histories are not what was acknowledged: {wrong[:2]}")
    maybe = sum(len(h) for i, h in history.items() if i in attempts) - \
        sum(sum(1 for _, ok in seq if ok) for seq in attempts.values())
    print(f"database: {len(listings)} listings, {sum(len(h) for h in history.values())} history "
          f"entries; every acknowledged write there, in order ({maybe} unacknowledged price "
          f"writes and {unacked_creates} unacknowledged creates committed all the same)")

    # 7. Integrity: each listing's price is its history's last entry (one SQL query).
    off = psql(a.db, """
        SELECT l.id, l.price_cents, h.price_cents FROM listings l
        LEFT JOIN LATERAL (SELECT price_cents FROM price_history
                           WHERE listing_id = l.id ORDER BY created_ms DESC, id DESC LIMIT 1) h ON true
        WHERE h.price_cents IS DISTINCT FROM l.price_cents""")
    check(not off, f"{len(off)} listings whose latest_price_eur is not their history's last entry "
                   f"(id, price, last entry in cents): {off[:5]}")



def send(port, method, path, data):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    c.request(method, path, data, {"Content-Type": "application/json"})
    r = c.getresponse()
    payload = r.read()
    c.close()
    return r.status, payload


def cross(a):
    """A write on each node read back through every other node: a create, then (the
    listing now cached on the others) a PUT, which each other node must answer within
    --within seconds (the NOTIFY's delay: milliseconds, unless the machine is swamped)."""
    nodes = [int(p) for p in a.nodes.split(",")]
    waits = []
    for i, p in enumerate(nodes):
        others = [q for q in nodes if q != p]
        status, payload = send(p, "POST", "/listings", body(f"cross {i}", 1000 + i))
        check(status == 201, f"POST on node :{p} answered {status} {payload[:200]!r}")
        lid = json.loads(payload)["id"]
        for q in others:
            status, payload = get(q, f"/listings/{lid}")
            check(status == 200 and json.loads(payload)["latest_price_eur"] == 1000 + i,
                  f"node :{q} answers {status} {payload[:200]!r} for listing {lid} created on :{p}")
        status, payload = send(p, "PUT", f"/listings/{lid}", body(f"cross {i}", 2000 + i))
        check(status == 200, f"PUT on node :{p} answered {status} {payload[:200]!r}")
        done = time.time()
        for q in others:
            deadline = done + a.within
            while True:
                status, payload = get(q, f"/listings/{lid}")
                if status == 200 and json.loads(payload)["latest_price_eur"] == 2000 + i:
                    break
                check(time.time() < deadline,
                      f"node :{q} still answers {payload[:200]!r} for listing {lid} {a.within} s after a "
                      f"PUT of 2000 EUR on node :{p}: its cache is stale")
                time.sleep(0.005)
            waits.append(time.time() - done)
            status, payload = get(q, f"/listings/{lid}/prices")
            got = [e["price_eur"] for e in json.loads(payload)] if status == 200 else payload
            check(got == [1000 + i, 2000 + i],
                  f"node :{q} answers listing {lid}'s prices {got}, not [{1000 + i}, {2000 + i}]")
    print(f"a write on each node read back through each other node: {len(waits)} of "
          f"{len(waits)}, the PUT seen after at most {max(waits) * 1000:.1f} ms")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("load")
    l.add_argument("--lb", type=int, required=True)
    l.add_argument("--nodes", required=True)
    l.add_argument("--out", required=True)
    l.add_argument("--running", required=True)
    l.add_argument("--stop", required=True)
    l.add_argument("--clients", type=int, default=6)
    l.add_argument("--max-seconds", type=float, default=150)
    v = sub.add_parser("verify")
    v.add_argument("--load", required=True)
    v.add_argument("--events", required=True)
    v.add_argument("--db", required=True)
    v.add_argument("--nodes", required=True)
    x = sub.add_parser("cross")
    x.add_argument("--nodes", required=True)
    x.add_argument("--within", type=float, default=5)
    a = p.parse_args()
    if a.cmd == "load":
        load(a)
        return
    try:
        cross(a) if a.cmd == "cross" else verify(a)
    except Failed as e:
        print(f"FAIL: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
