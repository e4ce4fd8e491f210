#!/usr/bin/env python3
"""W8: a normal request's latency while 2 000 slow or idle connections are held open.

Opens N connections to a running listingd (half idle, half sending a request head one byte
every half second; from 127.0.0.1 and from 100 other loopback addresses), then times
GET /healthz on fresh connections, and again with none held, and prints one JSON object:
{"held": N, "open": ..., "p50_ms", "p99_ms", "max_ms", "baseline_p50_ms", "baseline_p99_ms"}.

usage: slow_clients.py PORT [CONNECTIONS (2000)] [SAMPLES (200)]
"""
import json
import resource
import socket
import sys
import threading
import time

port = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
samples = int(sys.argv[3]) if len(sys.argv) > 3 else 200
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def timed_get():
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise SystemExit("healthz answered %r" % data[:60])
    return (time.monotonic() - start) * 1000


def percentiles(values):
    values = sorted(values)
    return values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))], values[-1]


baseline = [timed_get() for _ in range(samples)]

held = []
for i in range(count):
    source = "127.0.0.1" if i % 2 else "127.0.4.%d" % (1 + i % 100)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    except OSError:
        break
    if i % 4 < 2:
        s.sendall(b"GET /listings HTTP/1.1\r\nHo")
    held.append(s)

stop = threading.Event()


def trickle():
    while not stop.is_set():
        for i, s in enumerate(held):
            if i % 4 < 2:
                try:
                    s.sendall(b"s")
                except OSError:
                    pass
        stop.wait(0.5)


t = threading.Thread(target=trickle)
t.start()
loaded = []
for _ in range(samples):
    loaded.append(timed_get())
    time.sleep(0.005)
stop.set()
t.join()
for s in held:
    s.close()
p50, p99, worst = percentiles(loaded)
b50, b99, _ = percentiles(baseline)
print(json.dumps({"held": count, "open": len(held), "p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                  "max_ms": round(worst, 2), "baseline_p50_ms": round(b50, 2),
                  "baseline_p99_ms": round(b99, 2)}))
