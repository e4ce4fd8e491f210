#!/usr/bin/env bash
# The command line's defaults, on the real binary: usage errors (exit 2) that say what was
# meant and where a bad value came from, failures (exit 1), database files created 0600 by
# every command and none left by a failed start, what --help promises, export's --force,
# import's error list and --renumber, the start banner, the request log's format, and the
# completion scripts.
# usage: cli_defaults.sh LISTINGD_BINARY
set -uo pipefail
bin=$1
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
cd "$dir" || exit 1
umask 022  # what a login shell has: files would be 0644 unless listingd says otherwise
failed=0
passed=0
check() {  # check NAME COMMAND...: one guarantee
  if "${@:2}"; then passed=$((passed + 1)); else echo "FAIL: $1"; failed=$((failed + 1)); fi
}
has() { grep -q -- "$2" "$1" || { echo "  $1 does not say '$2':"; sed 's/^/    /' "$1"; false; }; }
mode() { stat -c %a "$1"; }
# run CODE CMD...: runs CMD (stdout to out, stderr to err) and checks its exit status.
run() {
  local want=$1
  shift
  "$@" >out 2>err
  local got=$?
  [ "$got" = "$want" ] || { echo "  $* exited $got, not $want"; sed 's/^/    /' err; false; }
}
# start NAME ARGS...: a server on a free port, its output in NAME.out; sets url.
start() {
  local name=$1
  shift
  "$bin" serve --port 0 "$@" >"$name.out" 2>"$name.err" &
  pids+=($!)
  for _ in $(seq 200); do grep -q "listening on" "$name.out" && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' "$name.out")
}
stop_last() { kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null; }

# --- Usage errors: exit 2, and what was meant --------------------------------------------
t_no_command() { run 2 "$bin" && has out "Subcommands:" && has out "serve"; }
check "no command prints the help, exit 2" t_no_command
t_typo() { run 2 "$bin" serv && has err "did you mean serve?"; }
check "a misspelt command: did you mean serve?" t_typo
t_typo_nested() { run 2 "$bin" token crate && has err "did you mean create?"; }
check "a misspelt token subcommand" t_typo_nested
t_env() { LISTINGD_PORT=abc run 2 "$bin" serve --db env.db && has err "LISTINGD_PORT=abc" &&
  [ ! -e env.db ]; }
check "a bad LISTINGD_PORT names the variable" t_env
printf '[serve]\nprot = 9000\n' >typo.toml
t_config_key() { run 2 "$bin" --config typo.toml serve --db k.db && has err "typo.toml" &&
  has err "'prot'" && has err "did you mean port?"; }
check "an unknown config key names the key and the file" t_config_key
t_bad_flag() { run 2 "$bin" serve --port 99999 --db f.db && [ ! -e f.db ]; }
check "a bad flag value: exit 2, no database file" t_bad_flag
t_failure() { run 1 "$bin" backup --db missing.db --to copy.db && [ ! -e missing.db ]; }
check "a failure exits 1" t_failure

# --- --help says what they do with a missing database; they do as it says ---------------
t_help_db() { run 0 "$bin" export --help && has out "must exist" &&
  run 0 "$bin" serve --help && has out "created with its schema if missing"; }
check "--help: export needs an existing database, serve creates one" t_help_db
t_token_missing() { run 1 "$bin" token list --db none.db && has err "no database at none.db" &&
  [ ! -e none.db ] && run 1 "$bin" token create --name a --db none.db && [ ! -e none.db ]; }
check "token commands do not create a missing database" t_token_missing
t_export_missing() { run 1 "$bin" export --db none.db --out none.ndjson && [ ! -e none.db ]; }
check "export does not create a missing database" t_export_missing

# --- Files made by every command are 0600 ------------------------------------------------
t_modes() {
  "$bin" seed --listings 50 --db seeded.db >/dev/null 2>&1 &&
    "$bin" migrate --db migrated.db >/dev/null 2>&1 &&
    "$bin" export --db seeded.db --out all.ndjson 2>/dev/null &&
    "$bin" import all.ndjson --db imported.db 2>/dev/null || return 1
  local f
  for f in seeded.db migrated.db imported.db; do
    [ "$(mode $f)" = 600 ] || { echo "  $f is $(mode $f)"; return 1; }
  done
}
check "seed, migrate and import create the database 0600" t_modes

# --- Failed starts leave no database; an open one is warned of ---------------------------
start first --db first.db
port=${url##*:}
t_port_taken() { run 1 "$bin" serve --port "$port" --db second.db && has err "$port" &&
  for f in second.db second.db-wal second.db-shm; do [ ! -e $f ] || return 1; done; }
check "a start on a port taken leaves no database file" t_port_taken
t_banner() { has first.out "  UI        /" && has first.out "  API       /listings" && has first.out "  docs      /docs" &&
  has first.out "  database  $dir/first.db" && has first.out "protected: writes from this machine only" &&
  [ "$(grep -c 'http://' first.out)" = 1 ]; }
check "the banner: UI, API, docs, database, access mode (one URL, for scripts)" t_banner
t_log_json() { curl -s "$url/healthz" >/dev/null; sleep 0.3; grep -q '^{"time":' first.out; }
check "request lines are JSON when stdout is not a terminal" t_log_json
stop_last
"$bin" token create --name ops --db first.db >/dev/null 2>&1
chmod 644 first.db
start open --db first.db
t_warn_open() { has open.err "readable by other users (mode 644)" && has open.err "chmod 600" &&
  has open.out "tokens: 1 exists" && [ "$(mode first.db)" = 644 ]; }
check "serve warns of a database others can read, and leaves its mode" t_warn_open
stop_last
t_config_after() {
  printf '[serve]\ndb = "after.db"\n' >after.toml
  start after --config after.toml && has after.out "(database after.db)"
}
check "--config after the command" t_config_after
stop_last
t_log_text() {
  # a terminal: script(1) gives the server one
  script -qfec "'$bin' serve --port 0 --db tty.db" tty.out >/dev/null 2>&1 </dev/null &
  local spid=$!
  pids+=($spid)
  for _ in $(seq 200); do grep -q "listening on" tty.out 2>/dev/null && break; sleep 0.05; done
  local turl
  turl=$(grep -o 'http://[0-9.:]*' tty.out | tr -d '\r')
  curl -s "$turl/healthz" >/dev/null
  sleep 0.3
  pkill -TERM -P "$spid" 2>/dev/null  # the server is script's child
  wait "$spid" 2>/dev/null
  grep -q '"GET /healthz" 200' tty.out || { sed 's/^/    /' tty.out; false; }
}
check "request lines are text on a terminal" t_log_text

# --- export --force; import's error list and --renumber ----------------------------------
t_export_force() {
  run 1 "$bin" export --db seeded.db --out all.ndjson && has err "already exists; give --force" &&
    run 0 "$bin" export --db seeded.db --out all.ndjson --force
}
check "export --out does not replace a file without --force" t_export_force
t_import_errors() {
  for i in $(seq 2001); do echo '{"id":'; done >bad.ndjson
  run 1 "$bin" import bad.ndjson --db bad.db &&
    [ "$(grep -c '^line ' err)" = 20 ] && has err "and 1 981 more invalid lines" &&
    has err "2001 of 2001 records are invalid"
}
check "import lists 20 errors, then how many more" t_import_errors
t_renumber() {
  run 1 "$bin" import all.ndjson --db seeded.db && has err "already in the database" &&
    run 0 "$bin" import all.ndjson --db seeded.db --renumber &&
    [ "$(sqlite3 seeded.db 'SELECT count(*) FROM listings')" = 100 ] &&
    [ "$(sqlite3 seeded.db 'SELECT count(*) FROM price_history WHERE listing_id > 50')" = \
      "$(sqlite3 seeded.db 'SELECT count(*) FROM price_history WHERE listing_id <= 50')" ]
}
check "import --renumber merges with new ids, histories kept" t_renumber

# --- completion ---------------------------------------------------------------------------
t_bash() {
  run 0 "$bin" completion bash || return 1
  local got
  got=$(bash -c 'source out; COMP_WORDS=(listingd se); COMP_CWORD=1; _listingd
    echo "${COMPREPLY[*]}"; COMP_WORDS=(listingd serve --po); COMP_CWORD=2; _listingd
    echo "${COMPREPLY[*]}"; COMP_WORDS=(listingd token cr); COMP_CWORD=2; _listingd
    echo "${COMPREPLY[*]}"')
  [ "$got" = $'serve seed\n--port\ncreate' ] || { echo "  completions: $got"; false; }
}
check "bash completion: commands, flags, subcommands" t_bash
t_zsh() {
  run 0 "$bin" completion zsh && has out "#compdef listingd" || return 1
  if command -v zsh >/dev/null; then zsh -n out; fi
}
check "zsh completion" t_zsh
t_bad_shell() { run 2 "$bin" completion fish; }
check "completion of an unknown shell is a usage error" t_bad_shell

echo "cli_defaults: $passed passed, $failed failed"
[ "$failed" = 0 ]
