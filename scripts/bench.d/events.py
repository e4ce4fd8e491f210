#!/usr/bin/env python3
"""Live event streams (GET /events) for scripts/bench: many open streams from one process.

  events.py hold PORT N READY_FILE [one]
      opens N streams of GET /events (with `one`: of GET /listings/{i}/events, i = 1..N),
      writes READY_FILE once all answered 200, reads and drops their events until
      SIGTERM; then prints how many events came and how many streams the server closed.
  events.py latency PORT N WRITES ID_MAX
      opens N streams, then PUTs WRITES new prices one after the other (a listing drawn
      in 1..ID_MAX each time, a pause between writes); for each write, the time from
      sending the PUT to each stream receiving its event. Prints p50, p99, max (ms) and
      how many events arrived out of WRITES * N.
  events.py get-latency PORT N REQUESTS
      opens N streams, then times REQUESTS sequential GET /listings/1 on a keep-alive
      connection of its own; prints p50, p99, max (ms). N = 0: the same without streams.

One thread, non-blocking sockets and epoll, so that the client's own cost stays small next
to the server's (the latency it measures includes its own parsing, at worst ~1 us an event).
"""
import json
import os
import random
import select
import signal
import socket
import sys
import time


def open_streams(port, n, one=False):
    """N connected sockets that sent their request; returns them once all got 200."""
    socks = []
    for i in range(n):
        path = f"/listings/{i + 1}/events" if one else "/events"
        req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        s.setblocking(False)
        socks.append(s)
        if i % 500 == 499:
            time.sleep(0.05)  # the server's backlog
    ep = select.epoll()
    fd_of = {}
    pending = {}
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
        fd_of[s.fileno()] = s
        pending[s.fileno()] = b""
    deadline = time.time() + 60
    while pending and time.time() < deadline:
        for fd, _ in ep.poll(1):
            if fd not in pending:
                continue
            data = fd_of[fd].recv(65536)
            if not data:
                sys.exit(f"a stream was closed before its head: {pending[fd][:200]!r}")
            pending[fd] += data
            if b"\r\n\r\n" in pending[fd]:
                head = pending.pop(fd)
                if not head.startswith(b"HTTP/1.1 200"):
                    sys.exit(f"a stream was refused: {head[:300]!r}")
    if pending:
        sys.exit(f"{len(pending)} streams got no answer within 60 s")
    return socks, ep, fd_of


def hold(port, n, ready_file, one=False):
    socks, ep, fd_of = open_streams(port, n, one) if n else ([], select.epoll(), {})
    open(ready_file, "w").write(f"{n}\n")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    received = 0
    closed = set()
    while not stop:
        try:
            events = ep.poll(0.5)
        except InterruptedError:
            continue
        for fd, _ in events:
            try:
                data = fd_of[fd].recv(1 << 20)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if not data:  # closed by the server (a slow consumer) or failed
                ep.unregister(fd)
                closed.add(fd)
                continue
            received += data.count(b"\nid: ") + data.startswith(b"id: ")
    print(f"events_received={received} streams_closed_by_server={len(closed)} of {n}")


def listing_body(price):
    return json.dumps({
        "name": "Bench", "description": "x", "building_type": "APARTMENT",
        "postal_address": {"street_address": "1 rue X", "postal_code": "75001", "city": "Paris",
                           "country": "FR"},
        "latest_price_eur": price, "surface_area_m2": 50, "rooms_count": 2,
        "bedrooms_count": 1, "contact_phone_number": None}).encode()


def request(conn, method, path, body=b""):
    """One request on a blocking keep-alive socket; returns (status, body)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    conn.sendall(head.encode() + b"\r\n" + body)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += conn.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return int(head[9:12]), rest[:length]


def percentiles(values):
    values = sorted(values)
    if not values:
        return "n=0"
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return f"p50={pick(0.5):.2f}ms p99={pick(0.99):.2f}ms max={values[-1]:.2f}ms n={len(values)}"


def latency(port, n, writes, id_max):
    socks, ep, fd_of = open_streams(port, n)
    writer = socket.create_connection(("127.0.0.1", port))
    writer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples, firsts, lasts = [], [], []
    missing = 0
    rng = random.Random(1)
    for w in range(writes):
        listing = rng.randint(1, id_max)
        sent = time.perf_counter()
        status, body = request(writer, "PUT", f"/listings/{listing}",
                               listing_body(100000 + rng.randint(0, 10**6)))
        if status != 200:
            sys.exit(f"PUT answered {status}: {body[:200]!r}")
        # Every stream gets exactly one event for this write (seq unknown here: the next one).
        waiting = set(fd_of)
        first = len(samples)
        deadline = time.time() + 10
        while waiting and time.time() < deadline:
            for fd, _ in ep.poll(0.5):
                try:
                    data = fd_of[fd].recv(1 << 16)
                except BlockingIOError:
                    continue
                if b"\nid: " in data or data.startswith(b"id: "):
                    if fd in waiting:
                        waiting.discard(fd)
                        samples.append((time.perf_counter() - sent) * 1000)
        missing += len(waiting)
        if len(samples) > first:
            firsts.append(min(samples[first:]))
            lasts.append(max(samples[first:]))
        time.sleep(0.01)
    print(f"delivery latency (PUT sent -> event received), {n} streams, {writes} writes: "
          f"every event {percentiles(samples)}; first stream to get it {percentiles(firsts)}; "
          f"last stream {percentiles(lasts)}; missing={missing}")


def get_latency(port, n, requests):
    held = open_streams(port, n) if n else None
    samples = []
    for i in range(requests):
        if i % 500 == 0:  # within --keep-alive-max (1000 requests a connection)
            conn = socket.create_connection(("127.0.0.1", port))
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = time.perf_counter()
        status, _ = request(conn, "GET", "/listings/1")
        samples.append((time.perf_counter() - t) * 1000)
        if status != 200:
            sys.exit(f"GET answered {status}")
    print(f"GET /listings/1 with {n} open streams: {percentiles(samples)}")
    del held


def main(argv):
    mode = argv[1]
    if mode == "hold":
        hold(int(argv[2]), int(argv[3]), argv[4], len(argv) > 5 and argv[5] == "one")
    elif mode == "latency":
        latency(int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]))
    elif mode == "get-latency":
        get_latency(int(argv[2]), int(argv[3]), int(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
