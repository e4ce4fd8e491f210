#!/usr/bin/env bash
# The real binary under a heavy write load (durability_load: several keep-alive clients,
# thousands of writes a second, so the writer commits batches of many writes), then:
#   term       stopped with SIGTERM: exit 0, no WAL left behind;
#   kill       killed with SIGKILL at a random moment (0 to 0.6 s after the round's first
#              DURABILITY_MIN_ACKS acks), DURABILITY_ROUNDS times (20), each time
#              restarted on the same file, which must come back;
#   disk-full  its disk filled under the load: writes answer 503 saying so, reads go on,
#              /readyz says 503, and once there is room writes work again, no restart.
# After each restart, `durability_load verify` checks the file and the API against the log
# of every write's outcome since the phase began: every acknowledged write is there, in
# order; a refused (503) write left nothing; nothing is there that no write made; prices
# are their history's last; integrity_check is ok; the API serves exactly the file.
# Every round must acknowledge at least DURABILITY_MIN_ACKS writes (default 1000; 200
# under the sanitizers), and the writer must commit 1.5 writes a batch on average or more.
#
# usage: durability.sh LISTINGD_BINARY DURABILITY_LOAD [PHASE...]   (default: term kill)
# Exit 0: every check held; 1: a check failed, or a tool did (curl, the load, a file
# operation: never counted as a pass); 77: skipped (disk-full where no tmpfs can be
# mounted), which meson reports as a skip. DURABILITY_FAIL_FAST=1 stops at the first
# failure. The log of the current phase is exported as DURABILITY_LOG (the broken
# wrappers of the self-test read it: tests/e2e/broken/).
set -Eeuo pipefail
bin=$1 load=$2
shift 2
phases=(term kill)
[ $# = 0 ] || phases=("$@")
rounds=${DURABILITY_ROUNDS:-20}
min_acks=${DURABILITY_MIN_ACKS:-1000}
# A debug build under the sanitizers writes several times slower.
[ -z "${LISTINGD_SANITIZERS:-}" ] || min_acks=${DURABILITY_MIN_ACKS:-200}
seed=${DURABILITY_SEED:-$$}
RANDOM=$seed
dir=$(mktemp -d)
server="" loader=""
cleanup() {
  local status=$?
  trap - ERR
  if [ -n "$server" ]; then kill -9 "$server"; wait "$server" || true; fi 2>/dev/null
  if [ -n "$loader" ]; then kill -9 "$loader"; wait "$loader" || true; fi 2>/dev/null
  if mountpoint -q "$dir/small"; then umount "$dir/small"; fi
  rm -rf "$dir"
  exit "$status"
}
trap cleanup EXIT
# Any command that fails outside a check is a tool error: the run fails, it never passes.
trap 'echo "durability: tool error (exit $?) at line $LINENO: $BASH_COMMAND"; exit 1' ERR
passed=0 failed=0
fail() {
  echo "FAIL: $*"
  failed=$((failed + 1))
  if [ "${DURABILITY_FAIL_FAST:-}" = 1 ]; then finish; fi
}
finish() {
  echo "durability: $passed passed, $failed failed (seed $seed)"
  [ "$failed" = 0 ] && exit 0
  exit 1
}
echo "durability: seed $seed, phases ${phases[*]}, $rounds rounds, at least $min_acks acks a round"

status_of() {  # status_of PATH: the HTTP status of GET $url$PATH
  curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$url$1"
}

start() {  # start DB: serves DB; sets $server and $url. Fails if it is not ready in 30 s.
  : >"$dir/out"
  "$bin" serve --port 0 --db "$1" --write-rate 0 --read-rate 0 --log-level off \
    >"$dir/out" 2>&1 &
  server=$!
  local i
  for i in $(seq 1500); do
    grep -q "listening on" "$dir/out" && break
    if ! kill -0 "$server" 2>/dev/null || [ "$i" = 1500 ]; then
      echo "  the server's output: $(cat "$dir/out")"
      kill -9 "$server" 2>/dev/null || true
      wait "$server" 2>/dev/null || true
      server=""
      return 1
    fi
    sleep 0.02
  done
  url=$(grep -o 'http://[0-9.:]*' "$dir/out")
  [ "$(status_of /readyz)" = 200 ]
}

stop() {  # stop WHAT: SIGTERM; the server must exit 0 and leave no WAL behind
  local status=0
  kill -TERM "$server"
  wait "$server" || status=$?
  server=""
  [ "$status" = 0 ] || fail "$1: exit status $status after SIGTERM"
  [ ! -s "$db-wal" ] || fail "$1: the WAL was left behind after SIGTERM"
}

verify() {  # verify WHAT: the file and the API against the log
  local status=0
  "$load" verify --url "$url" --db "$db" --log "$DURABILITY_LOG" >"$dir/verify" || status=$?
  sed 's/^/  /' "$dir/verify"
  case $status in
    0) passed=$((passed + 1)) ;;
    1) fail "$1: the file or the API is not what the writes left" ;;
    *) echo "durability: tool error: durability_load verify exited $status"; exit 1 ;;
  esac
}

start_load() {  # start_load ROUND [load options]: the load, in the background
  local round=$1
  shift
  "$load" load --url "$url" --log "$DURABILITY_LOG" --threads 32 --seconds 30 \
    --price-base $((round * 1000000000)) "$@" >"$dir/load" &
  loader=$!
}

wait_load() {  # wait_load WHAT [MIN_ACKS]: the load's status; its figures in $acked etc.
  local status=0 min=${2:-$min_acks}
  wait "$loader" || status=$?
  loader=""
  sed 's/^/  /' "$dir/load"
  [ "$status" = 0 ] || fail "$1: the load saw an unexpected answer or failed (exit $status)"
  acked=$(sed -n 's/^load: acked=\([0-9]*\) .*/\1/p' "$dir/load")
  refused=$(sed -n 's/.* refused=\([0-9]*\) .*/\1/p' "$dir/load")
  acked_after=$(sed -n 's/.* acked_after_last_refusal=\([0-9]*\)$/\1/p' "$dir/load")
  load_seconds=$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$dir/load")
  if [ -z "$acked" ] || [ -z "$refused" ] || [ -z "$acked_after" ] || [ -z "$load_seconds" ]; then
    echo "durability: tool error: the load printed no figures"; exit 1
  fi
  [ "$acked" -ge "$min" ] || fail "$1: only $acked writes acknowledged (at least $min)"
}

wait_mark() {  # until the load has its minimum of acks (at most 30 s: then too few, a failure)
  local i
  for i in $(seq 3000); do
    [ ! -e "$dir/mark" ] && kill -0 "$loader" 2>/dev/null || break
    sleep 0.01
  done
}

random_delay() {  # 0 to 0.6 s, at random: where the kill lands, past the minimum of acks
  awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.6 * r / 32767 }'
}

term_phase() {  # SIGTERM in the middle of the load: a clean stop that keeps every acked write
  db=$dir/term.db
  export DURABILITY_LOG=$dir/term.log
  : >"$DURABILITY_LOG"
  start "$db" || { fail "SIGTERM: the server did not start"; return; }
  # A write that comes in as the store closes may be refused (503), and must leave nothing.
  rm -f "$dir/mark"
  start_load 1 --allow-refusals "shutting down" --mark-after "$min_acks" "$dir/mark"
  wait_mark
  sleep "$(random_delay)"
  # The writer commits many writes at a time under this load (the point of the load).
  local metrics count sum
  metrics=$(curl -sS --max-time 10 "$url/metrics")
  count=$(awk '$1 == "listingd_write_batch_size_count" { print $2 }' <<<"$metrics")
  sum=$(awk '$1 == "listingd_write_batch_size_sum" { print $2 }' <<<"$metrics")
  [ -n "$count" ] && [ -n "$sum" ] || { echo "durability: tool error: no batch sizes in /metrics"; exit 1; }
  echo "  $sum writes in $count batches before SIGTERM"
  awk -v s="$sum" -v c="$count" 'BEGIN { exit !(c > 0 && s / c >= 1.5) }' ||
    fail "SIGTERM: batches of $(awk -v s="$sum" -v c="$count" 'BEGIN { print s / c }') writes on average: not a batching load"
  stop "SIGTERM"
  wait_load "SIGTERM"
  start "$db" || { fail "SIGTERM: the server did not come back after SIGTERM"; return; }
  verify "SIGTERM"
  stop "SIGTERM, the restarted server"
}

kill_phase() {  # SIGKILL at random moments, each time restarted on the same file
  db=$dir/kill.db
  export DURABILITY_LOG=$dir/kill.log
  : >"$DURABILITY_LOG"
  local round total=0 delay start_s under_load=0
  start_s=$(date +%s)
  for round in $(seq "$rounds"); do
    if ! start "$db"; then
      fail "SIGKILL round $round: the server did not come back after SIGKILL"
      return
    fi

    [ "$round" = 1 ] || verify "SIGKILL round $((round - 1)), after the restart"
    rm -f "$dir/mark"
    start_load "$round" --mark-after "$min_acks" "$dir/mark"
    wait_mark
    delay=$(random_delay)
    sleep "$delay"
    kill -KILL "$server"
    wait "$server" 2>/dev/null || true
    server=""
    echo "round $round: killed $delay s after the first $min_acks acks (a $(du -sh "$db-wal" | cut -f1) WAL)"
    wait_load "SIGKILL round $round"
    total=$((total + acked))
    under_load=$(awk -v a="$under_load" -v b="$load_seconds" 'BEGIN { print a + b }')
  done
  start "$db" || { fail "SIGKILL: the server did not come back after the last SIGKILL"; return; }
  verify "SIGKILL round $rounds, after the restart"
  stop "SIGKILL, the last restart"
  echo "  $total writes acknowledged in $rounds rounds ($(awk -v n="$total" -v s="$under_load" \
    'BEGIN { printf "%d", n / s }') a second under load), $(( $(date +%s) - start_s )) s in all"
}

disk_full_phase() {  # the disk fills under the load; writes fail cleanly and come back
  mkdir -p "$dir/small"
  if ! mount -t tmpfs -o size=64m tmpfs "$dir/small" 2>"$dir/mount.err"; then
    echo "durability: SKIP disk-full: cannot mount a tmpfs here: $(cat "$dir/mount.err")"
    [ "$failed" = 0 ] && exit 77
    finish
  fi
  db=$dir/small/full.db
  export DURABILITY_LOG=$dir/full.log
  : >"$DURABILITY_LOG"
  start "$db" || { fail "disk full: the server did not start"; return; }
  # A slower load here (about 400 writes a second): at full speed the WAL alone would fill
  # the disk before the filler does.
  start_load 1 --threads 8 --pause-ms 20 --seconds 5 --allow-refusals "disk is full"
  sleep 1
  # Fill what is left of the disk: dd stops at "No space left on device", as it should.
  if dd if=/dev/zero of="$dir/small/filler" bs=64k 2>"$dir/dd.err"; then
    echo "durability: tool error: the filler never filled the disk"; exit 1
  fi
  grep -q "No space left" "$dir/dd.err" || { echo "durability: tool error: $(cat "$dir/dd.err")"; exit 1; }
  local i ready=""
  for i in $(seq 100); do
    ready=$(status_of /readyz)
    [ "$ready" = 503 ] && break
    sleep 0.05
  done
  [ "$ready" = 503 ] || fail "disk full: /readyz still says $ready"
  [ "$(status_of /listings/1)" = 200 ] || fail "disk full: reads stopped"
  sleep 1
  rm "$dir/small/filler"
  for i in $(seq 100); do
    ready=$(status_of /readyz)
    [ "$ready" = 200 ] && break
    sleep 0.05
  done
  [ "$ready" = 200 ] || fail "disk full: not ready once there was room ($ready)"
  wait_load "disk full" 200
  [ "$refused" -gt 0 ] || fail "disk full: no write was refused"
  [ "$acked_after" -gt 0 ] || fail "disk full: no write acknowledged once there was room"
  verify "disk full"
  stop "disk full"
}

for phase in "${phases[@]}"; do
  case $phase in
    term) term_phase ;;
    kill) kill_phase ;;
    disk-full) disk_full_phase ;;
    *) echo "durability: unknown phase $phase"; exit 1 ;;
  esac
done
finish
