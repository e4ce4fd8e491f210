#!/usr/bin/env bash
# What the README promises an operator, on the real binary:
#  - SIGTERM stops accepting connections but lets requests in flight finish (exit 0): a
#    write whose body is still arriving, and a streamed GET /listings still being sent;
#  - --shutdown-timeout bounds that wait (exit 1, the slow request left unanswered);
#  - --busy-timeout-ms: a write that waits longer for a lock is a JSON 503, and
#    --log-level error --log-format text logs that 503 alone, as a line of text;
#  - a database file the server cannot write: writes are 503, /readyz is 503, reads work;
#  - slow clients: --read-timeout closes a connection whose request stalls, and
#    --write-timeout one that stops reading its answer.
# "In flight" is a POST whose body a client trickles over seconds, or a GET /listings of
# 60 000 listings (about 27 MB) read at 5 MB/s, well past what socket buffers hold.
# usage: operations.sh LISTINGD_BINARY
set -euo pipefail
bin=$(realpath "$1")
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$@"; }

# start NAME ARGS...: serves in the background; sets $pid and $url.
start() {
  local name=$1; shift
  : >"$dir/$name.out"
  "$@" >"$dir/$name.out" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do grep -q "listening on" "$dir/$name.out" && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' "$dir/$name.out") || { cat "$dir/$name.out"; exit 1; }
}
listing='{"name":"Studio","description":"Calme","postal_address":{"street_address":"1 rue A",
"postal_code":"75001","city":"Paris","country":"FR"},"building_type":"STUDIO",
"latest_price_eur":150000,"surface_area_m2":20,"rooms_count":1,"bedrooms_count":0}'

# slow_post PORT SECONDS: a POST /listings whose body takes SECONDS to arrive (a request in
# flight that long); prints the status of its answer, or "none". $dir/posting exists once
# its head is sent.
slow_post() {
  rm -f "$dir/posting"
  /usr/bin/python3 -c '
import socket, sys, time
port, seconds, body = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3].encode()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /listings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
open(sys.argv[4], "w").close()
pieces = 20
try:
    for i in range(pieces):
        s.sendall(body[i * len(body) // pieces:(i + 1) * len(body) // pieces])
        time.sleep(seconds / pieces)
    s.settimeout(10)
    answer = s.recv(65536)
except OSError:
    answer = b""
print(answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/1.1 ") else "none")
' "$1" "$2" "$listing" "$dir/posting"
}
wait_posting() {
  for _ in $(seq 500); do [ -e "$dir/posting" ] && return; sleep 0.02; done
  fail "the slow POST never connected"
}

"$bin" seed --listings 60000 --prices-per-listing 1 --seed 7 --db "$dir/big.db" >/dev/null 2>&1

# --- SIGTERM: requests in flight finish, nothing new is accepted, exit 0 ----------------
"$bin" migrate --db "$dir/term.db" >/dev/null
start term "$bin" serve --port 0 --db "$dir/term.db"
slow_post "${url##*:}" 3 >"$dir/post.status" &
poster=$!
wait_posting
sleep 0.5
kill -TERM "$pid"
sleep 0.3
new_code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/readyz" || true)
status=0
wait "$pid" || status=$?
wait "$poster" || true
count=$(sqlite3 "$dir/term.db" "SELECT count(*) FROM listings")
if [ "$status" = 0 ] && [ "$(cat "$dir/post.status")" = 201 ] && [ "$count" = 1 ]; then
  pass
else
  fail "SIGTERM during a slow POST: server exit $status, the POST got $(cat "$dir/post.status"), \
$count listings written (expected exit 0, 201, 1)"
  tail -3 "$dir/term.out"
fi
# While it drains, a new connection gets no answer (not a 200 from a stopping server).
[ "$new_code" = 000 ] && pass || fail "SIGTERM: a new request while draining got HTTP $new_code"

start stream "$bin" serve --port 0 --db "$dir/big.db"
curl -s --limit-rate 5M -o "$dir/all.json" "$url/listings" &
download=$!
sleep 0.7
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
download_status=0
wait "$download" || download_status=$?
if [ "$status" = 0 ] && [ "$download_status" = 0 ] &&
   python3 -c "import json,sys; assert len(json.load(open(sys.argv[1]))) == 60000" "$dir/all.json" \
     2>/dev/null; then
  pass
else
  fail "SIGTERM during a streamed GET /listings: server exit $status, curl exit \
$download_status, $(wc -c <"$dir/all.json") bytes (expected the whole list of 60000)"
fi

# --- --shutdown-timeout 1: the stop waits a second for the slow request, then exits 1 ---
start timeout "$bin" serve --port 0 --db "$dir/term.db" --shutdown-timeout 1
slow_post "${url##*:}" 5 >"$dir/post.status" &
poster=$!
wait_posting
sleep 0.5
t0=$(now)
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
took=$(elapsed "$t0" "$(now)")
wait "$poster" || true
count=$(sqlite3 "$dir/term.db" "SELECT count(*) FROM listings")
if [ "$status" = 1 ] && python3 -c "import sys; sys.exit(0 if 0.8 <= $took <= 4 else 1)" &&
   grep -q "still running after 1 s" "$dir/timeout.out" &&
   [ "$(cat "$dir/post.status")" = none ] && [ "$count" = 1 ]; then
  pass
else
  fail "--shutdown-timeout 1: exit $status after $took s, the POST got \
$(cat "$dir/post.status"), $count listings (expected exit 1 after about 1 s, none, 1)"
  tail -3 "$dir/timeout.out"
fi

# --- --busy-timeout-ms: a write held up by another process's lock is a 503 -------------
"$bin" migrate --db "$dir/busy.db" >/dev/null
start busy "$bin" serve --port 0 --db "$dir/busy.db" --busy-timeout-ms 200 --log-level error \
  --log-format text
# Another process holds the write lock for 3 s.
/usr/bin/python3 - "$dir/busy.db" <<'EOF' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[1] + ".locked", "w").close()
time.sleep(3)
db.execute("ROLLBACK")
EOF
locker=$!
for _ in $(seq 100); do [ -e "$dir/busy.db.locked" ] && break; sleep 0.05; done
t0=$(now)
answer=$(curl -s -w ' %{http_code}' -X POST "$url/listings" -H 'Content-Type: application/json' \
         -d "$listing")
took=$(elapsed "$t0" "$(now)")
if [[ $answer == '{"message":"the database is busy; try again"} 503' ]] &&
   python3 -c "import sys; sys.exit(0 if $took < 2.5 else 1)"; then
  pass
else
  fail "--busy-timeout-ms 200 under a held lock: got '$answer' after $took s"
fi
wait "$locker"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/listings" \
       -H 'Content-Type: application/json' -d "$listing")
[ "$code" = 201 ] && pass || fail "after the lock was released a write got $code"
kill -TERM "$pid"; wait "$pid" || true
# --log-level error --log-format text: the 503 alone, as a line for people.
lines=$(grep '"POST /listings"' "$dir/busy.out" || true)
[[ $(wc -l <<<"$lines") = 1 && $lines == *' 503 '* && $lines != \{* ]] && pass ||
  fail "--log-level error --log-format text: expected one text line for the 503, got: $lines"

# --- a database file the server cannot write: 503 for writes and /readyz -------------
# As root every file is writable, so the server runs as nobody over a file it may only read.
ro=$dir/ro
mkdir "$ro"
"$bin" migrate --db "$ro/ro.db" >/dev/null
sqlite3 "$ro/ro.db" "INSERT INTO listings VALUES (1,'Studio','1 rue A','75001','Paris','FR','Calme',
  'STUDIO',15000000,20,1,0,NULL,1673515416000,1673515416000);
  INSERT INTO price_history (listing_id, price_cents, created_ms) VALUES (1,15000000,1673515416000);"
as_user=()
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$ro"
  chmod 755 "$dir"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
chmod 0444 "$ro/ro.db"
if ! "${as_user[@]}" "$bin" --version >/dev/null 2>&1; then
  # e.g. the build directory under a home nobody may enter
  echo "SKIP: read-only database: cannot run $bin as nobody here"; skipped=$((skipped + 1))
else
  start ro "${as_user[@]}" "$bin" serve --port 0 --db "$ro/ro.db"
  read_code=$(curl -s -o /dev/null -w '%{http_code}' "$url/listings/1")
  write=$(curl -s -w ' %{http_code}' -X POST "$url/listings" -H 'Content-Type: application/json' \
          -d "$listing")
  ready=$(curl -s -w ' %{http_code}' "$url/readyz")
  [ "$read_code" = 200 ] && pass || fail "read-only database: a read got $read_code"
  [[ $write == '{"message":'*'read-only'*'} 503' ]] && pass ||
    fail "read-only database: a write got '$write'"
  [[ $ready == '{"message":'*'} 503' ]] && pass || fail "read-only database: /readyz got '$ready'"
  kill -TERM "$pid"; wait "$pid" || true
fi

# --- slow clients -----------------------------------------------------------------------
start slow "$bin" serve --port 0 --db "$dir/big.db" --read-timeout 1 --write-timeout 1
port=${url##*:}
/usr/bin/python3 - "$port" <<'EOF' && pass || fail "slow clients (see above)"
import socket, sys, time
port = int(sys.argv[1])
ok = True

def closed_within(sock, seconds):
    """Whether the server ends the connection (or answers it) within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(65536) is not None
    except socket.timeout:
        return False

# A request head that stalls: closed within about --read-timeout, long before 5 s.
for stalled in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                b"POST /listings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{\"name\":"):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(stalled)
    if not closed_within(s, 3.0):
        print(f"FAIL: a stalled request {stalled[:20]!r}... was still open after 3 s "
              f"with --read-timeout 1")
        ok = False
    s.close()

# A client that asks for the whole list and stops reading: after --write-timeout the
# server gives up on it, so what the client finally reads is cut short.
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /listings HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(4)
s.settimeout(10)
got = b""
while True:
    try:
        piece = s.recv(1 << 20)
    except socket.timeout:
        break
    if not piece:
        break
    got += piece
if got.rstrip().endswith(b"0\r\n\r\n".rstrip()) and b"]" in got[-64:]:
    print(f"FAIL: a client that stopped reading for 4 s still got the whole answer "
          f"({len(got)} bytes) with --write-timeout 1")
    ok = False
sys.exit(0 if ok else 1)
EOF
kill -TERM "$pid"; wait "$pid" || true

echo "operations: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
