#!/usr/bin/env bash
# Request smuggling through a real reverse proxy: nginx with keep-alive connections to the
# real binary, which trusts it (--trusted-proxy) and takes writes only from 127.0.0.1
# (protected mode). A client at 127.0.0.2 hides a POST inside the body of a GET; nginx passes
# the body on. If listingd read past the GET's end, the hidden POST would run as nginx's own
# local request (201), and answers on the shared upstream connections would go to the wrong
# clients. Checks: no hidden write ever runs, and under concurrent load every client gets
# the answer to its own request.
# usage: proxy_smuggling.sh LISTINGD_BINARY
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/install-deps" nginx
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
proxy_port=$(free_port)

"$bin" serve --port "$api_port" --db "$dir/e2e.db" --local-clients 127.0.0.1/32 \
  --trusted-proxy 127.0.0.1/32 --read-rate 0 --write-rate 0 --log-level error >"$dir/out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$dir/out" && break; sleep 0.05; done

mkdir -p "$dir/nginx"
cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  upstream listingd {
    server 127.0.0.1:$api_port;
    keepalive 4;
  }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://listingd;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
nginx -t -c "$dir/nginx.conf" -p "$dir/nginx" 2>"$dir/nginx-t.log" || { cat "$dir/nginx-t.log"; exit 1; }
nginx -c "$dir/nginx.conf" -p "$dir/nginx" &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$proxy_port/healthz" && break; sleep 0.05; done

python3 - "$api_port" "$proxy_port" <<'PY'
import json, random, socket, sys, threading

api_port, proxy_port = int(sys.argv[1]), int(sys.argv[2])
listing = {"name": "Studio", "description": "Calme", "postal_address": {
    "street_address": "1 rue A", "postal_code": "75001", "city": "Paris", "country": "FR"},
    "building_type": "STUDIO", "latest_price_eur": 150000, "surface_area_m2": 20,
    "rooms_count": 1, "bedrooms_count": 0}
failures = []

def exchange(port, data, source="127.0.0.1", timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out

def post(body, close=False):
    b = json.dumps(body).encode()
    return (b"POST /listings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
            (b"Connection: close\r\n" if close else b"") +
            b"Content-Length: %d\r\n\r\n" % len(b)) + b

# Ten listings, written directly by a local client.
for i in range(10):
    answer = exchange(api_port, post(listing, close=True))
    if not answer.startswith(b"HTTP/1.1 201"):
        sys.exit("setup: POST answered %r" % answer[:80])

# A remote client cannot write through the proxy (protected mode): the set-up is right.
answer = exchange(proxy_port, post(listing, close=True), "127.0.0.2")
if not answer.startswith(b"HTTP/1.1 403"):
    failures.append("a remote POST through the proxy answered %r, not 403" % answer[:40])

def smuggle(path, chunked):
    hidden = post(listing)
    body = b"x" * 4096 + hidden
    head = b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if chunked:
        data = head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    else:
        data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return exchange(proxy_port, data, "127.0.0.2")

def reader(n, seed):
    rng = random.Random(seed)
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=5, source_address=("127.0.0.3", 0))
    f = s.makefile("rb")
    for _ in range(n):
        want = rng.randint(1, 10)
        s.sendall(b"GET /listings/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % want)
        status = f.readline()
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = f.read(length)
        if not status.startswith(b"HTTP/1.1 200") or json.loads(body)["id"] != want:
            failures.append("asked for listing %d, got %r %r" % (want, status, body[:60]))
            return
    s.close()

threads = [threading.Thread(target=reader, args=(300, i)) for i in range(4)]
for t in threads:
    t.start()
attempts = 0
for round in range(25):
    for path in (b"/listings/1", b"/", b"/healthz", b"/openapi.yaml"):
        for chunked in (False, True):
            attempts += 1
            answer = smuggle(path, chunked)
            head, _, body = answer.partition(b"\r\n\r\n")
            length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            # One answer, the GET's, and nothing after its body.
            if not head.startswith(b"HTTP/1.1 ") or head.startswith(b"HTTP/1.1 201") or length != [len(body)]:
                failures.append("smuggling through %s (chunked=%s) answered %r" % (path, chunked, answer[:120]))
for t in threads:
    t.join()

count = len(json.loads(exchange(api_port, b"GET /listings?limit=1000 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").split(b"\r\n\r\n", 1)[1]))
if count != 10:
    failures.append("%d listings after the attacks, not 10: a hidden POST ran" % count)
for f in failures[:10]:
    print("FAIL:", f)
print("proxy_smuggling: %d attempts, 1200 proxied reads; %s" % (attempts, "FAILED" if failures else "ok"))
sys.exit(1 if failures else 0)
PY
echo "proxy_smuggling: 1 passed, 0 failed"
