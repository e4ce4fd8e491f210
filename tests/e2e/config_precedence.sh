#!/usr/bin/env bash
# Where a setting comes from: a flag wins over the environment (LISTINGD_<FLAG>), which
# wins over the --config file; a key the file should not have is an error. Checked on
# `listingd migrate --db`, which names the file it used, and on `serve --log-format`.
# usage: config_precedence.sh LISTINGD_BINARY
set -euo pipefail
bin=$(realpath "$1")
dir=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cd "$dir"
passed=0 failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# Runs `listingd --config config.toml migrate [ARGS]` with the environment given before
# it, and checks which database it says it used.
expect_db() {
  local want=$1 what=$2; shift 2
  local out
  out=$(env "$@" 2>&1) || { fail "$what: exit status $?: $out"; return; }
  if [[ $out == "$want: schema version "* ]]; then
    passed=$((passed + 1))
  else
    fail "$what: expected $want, got: $out"
  fi
}

printf '[migrate]\ndb = "from-file.db"\n' >config.toml
unset LISTINGD_DB
expect_db from-file.db "the file alone" "$bin" --config config.toml migrate
expect_db from-env.db "environment over file" LISTINGD_DB=from-env.db \
  "$bin" --config config.toml migrate
expect_db from-flag.db "flag over environment and file" LISTINGD_DB=from-env.db \
  "$bin" --config config.toml migrate --db from-flag.db
expect_db from-flag.db "flag over file" "$bin" --config config.toml migrate --db from-flag.db
expect_db from-file.db "an empty variable counts as unset" LISTINGD_DB= \
  "$bin" --config config.toml migrate

# Unknown keys, at the top or in a command's section, and unknown sections: refused.
for bad in 'bogus = 1' $'[migrate]\ndb = "x.db"\nport = 9' $'[migrate]\nbogus = 1' \
           $'[nosuchcommand]\ndb = "x.db"'; do
  printf '%s\n' "$bad" >bad.toml
  status=0
  out=$(LISTINGD_DB=ok.db "$bin" --config bad.toml migrate 2>&1) || status=$?
  if [ "$status" != 0 ] && grep -qi "config\|extra\|bogus\|port\|nosuchcommand" <<<"$out" &&
     [ ! -e x.db ]; then
    passed=$((passed + 1))
  else
    fail "config file $(tr '\n' ' ' <<<"$bad"): exit status $status: $out"
  fi
done

# A server setting: --log-format text from the file, json from the environment; the
# request line on stdout shows which won.
printf '[serve]\nlog-format = "text"\n' >serve.toml
log_line() {
  : >out
  env "$@" "$bin" --config serve.toml serve --port 0 --db serve.db >out 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "listening on" out && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' out)
  curl -s -o /dev/null "$url/healthz" || true
  # The line is written by the log's own thread: let it come before the stop (this test
  # is about its format; losing the last lines at a stop is another matter).
  for _ in $(seq 40); do grep -q healthz out && break; sleep 0.05; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" || true
  pid=
  grep -v "listening on\|stopping" out | grep "healthz" | head -1 || true
}
line=$(log_line LISTINGD_X=1)
[[ $line != \{* ]] && [[ $line == *healthz* ]] && passed=$((passed + 1)) ||
  fail "log-format from the file: expected a text line, got: $line"
line=$(log_line LISTINGD_LOG_FORMAT=json)
[[ $line == \{* ]] && passed=$((passed + 1)) ||
  fail "log-format from the environment over the file: expected a JSON line, got: $line"

echo "config_precedence: $passed passed, $failed failed"
[ "$failed" = 0 ]
