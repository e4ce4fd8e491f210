#!/usr/bin/env bash
# The Debian package, as an administrator gets it: scripts/package builds
# listingd_<version>_amd64.deb from the build's binary; `dpkg -i` installs it on this
# machine; the installed /usr/bin/listingd answers --version and a serve/POST/GET round trip
# as the system user `listingd` on a loopback port over a database in a temporary
# directory (every setting of /etc/listingd/listingd.env uncommented, so the file is known
# to be valid); `dpkg -r` then `dpkg --purge` leave nothing of it but the user (Debian's
# practice for service users), and a purge keeps a database found in /var/lib/listingd.
#
# Needs root (dpkg -i); skipped (77) otherwise, under the sanitizers (an ASan binary is
# not what anyone installs), and on a machine that has a listingd package, user or
# /var/lib/listingd of its own (this test touches only what it made). A run that was
# killed half-way is cleaned up by the next one (its state file in /var/tmp). One run at a
# time on a machine (a lock), as dpkg itself allows.
# usage: package.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$(realpath "$1")
build=$(realpath "$2")

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root: dpkg -i needs it"
[ -z "${LISTINGD_SANITIZERS:-}" ] || skip "a sanitizer build is not packaged"
for tool in dpkg dpkg-deb dpkg-shlibdeps runuser curl flock; do
  command -v "$tool" >/dev/null || skip "$tool is missing"
done

# One run at a time on this machine (parallel test runs of several worktrees).
lock=/run/lock/listingd-e2e-package.lock
[ -d /run/lock ] || lock=/tmp/listingd-e2e-package.lock
exec 9>"$lock"
flock -w 600 9 || skip "another run of this test held $lock for 10 minutes"

state=/var/tmp/listingd-e2e-package.state  # what this test made, for a later run to undo
known() { dpkg-query -W listingd >/dev/null 2>&1; }  # installed, or its conffiles left
# dpkg, waiting (up to 2 min) while another dpkg or apt holds its lock.
dpkg_() {
  local out
  for _ in $(seq 60); do
    if out=$(dpkg "$@" 2>&1); then echo "$out"; return 0; fi
    grep -qi "lock" <<<"$out" || { echo "$out"; return 1; }
    sleep 2
  done
  echo "$out"
  return 1
}
undo() {  # everything this test made, if still there
  if [ -f "$state" ]; then
    local pid
    for pid in $(sed -n 's/^server //p' "$state"); do  # a server a killed run left
      [ "$(stat -c %U /proc/"$pid" 2>/dev/null)" = listingd ] && kill -KILL "$pid" 2>/dev/null
    done
    known && dpkg_ --purge listingd >/dev/null
    rm -f /var/lib/listingd/e2e-package-kept.db
    rmdir /var/lib/listingd 2>/dev/null
    if grep -q '^made_user$' "$state" && getent passwd listingd >/dev/null; then
      userdel listingd 2>/dev/null
      getent group listingd >/dev/null && groupdel listingd 2>/dev/null
    fi
    rm -f "$state"
  fi
  return 0
}
undo  # a run killed half-way

known && skip "a listingd package is on this machine (dpkg -l listingd): not replacing it"
getent passwd listingd >/dev/null && skip "this machine has a listingd user of its own"
[ -e /var/lib/listingd ] && skip "this machine has a /var/lib/listingd of its own"

tmp=$(mktemp -d)
chmod 755 "$tmp"  # the listingd user reaches its database directory through it
server=""      # runuser's pid
server_pid=""  # the server's, as listingd
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
  undo
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failed=0
passed=0
check() {  # check NAME COMMAND...: one guarantee
  if "${@:2}"; then passed=$((passed + 1)); else echo "FAIL: $1"; failed=$((failed + 1)); fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit $?
}

# --- Build --------------------------------------------------------------------------------
version=$("$build/listingd" --version | awk '{print $NF}')
deb=$(LISTINGD_BUILD_DIR=$build "$src/scripts/package" --no-build --out "$tmp/out" 2>"$tmp/package.err")
t_built() { [ "$deb" = "$tmp/out/listingd_${version}_$(dpkg --print-architecture).deb" ] && [ -f "$deb" ] ||
  { echo "  scripts/package printed '$deb'"; cat "$tmp/package.err"; false; }; }
check "scripts/package builds listingd_<version>_<arch>.deb and prints its path" t_built
[ -f "$deb" ] || finish

dpkg-deb --field "$deb" Depends >"$tmp/depends"
dpkg-deb --contents "$deb" | awk '{print $NF}' >"$tmp/contents"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$tmp/conffiles"
has() { grep -q -- "$2" "$1" || { echo "  $1 has no '$2':"; sed 's/^/    /' "$1"; false; }; }
t_fields() { has "$tmp/depends" "libc6 (>=" && has "$tmp/depends" "libcpp-httplib" &&
  has "$tmp/depends" "adduser" && ! grep -q libsqlite3 "$tmp/depends"; }
check "Depends: the shared libraries' packages and adduser (SQLite is linked in)" t_fields
t_contents() {
  for f in ./usr/bin/listingd ./lib/systemd/system/listingd.service ./etc/listingd/listingd.env \
           ./usr/share/man/man1/listingd.1.gz ./usr/share/doc/listingd/copyright \
           ./usr/share/bash-completion/completions/listingd; do
    has "$tmp/contents" "^$f\$" || return 1
  done
  has "$tmp/conffiles" "^/etc/listingd/listingd.env$"
}
check "the package holds the binary, unit, settings (a conffile), man page, doc, completion" t_contents

# --- Install ------------------------------------------------------------------------------
echo made_package >"$state"
echo made_user >>"$state"
if ! dpkg_ -i "$deb" >"$tmp/install.out"; then
  echo "FAIL: dpkg -i"; cat "$tmp/install.out"; failed=$((failed + 1)); finish
fi
cp /var/lib/dpkg/info/listingd.list "$tmp/files"
t_version() { [ "$(/usr/bin/listingd --version)" = "listingd $version" ]; }
check "/usr/bin/listingd --version" t_version
t_user() {
  local uid shell
  uid=$(id -u listingd) && shell=$(getent passwd listingd | cut -d: -f7) &&
    [ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ] && getent group listingd >/dev/null ||
    { echo "  user: $(getent passwd listingd)"; false; }
}
check "postinst makes listingd a system user, no login shell" t_user
t_state_dir() { [ "$(stat -c '%U:%G %a' /var/lib/listingd)" = "listingd:listingd 700" ]; }
check "/var/lib/listingd is listingd's, mode 700" t_state_dir
t_unit() { local u=/lib/systemd/system/listingd.service
  has $u '^ExecStart=/usr/bin/listingd serve --db /var/lib/listingd/listingd.db$' &&
  has $u '^User=listingd$' && has $u '^EnvironmentFile=-/etc/listingd/listingd.env$'; }
check "the unit runs /usr/bin/listingd as listingd with the settings file" t_unit
t_man() { zcat /usr/share/man/man1/listingd.1.gz >"$tmp/man" && has "$tmp/man" '^\.TH LISTINGD 1' &&
  has "$tmp/man" 'listingd serve' && has "$tmp/man" '\\-\\-max\\-body\\-bytes' &&
  has "$tmp/man" 'listingd token create'; }
check "the man page has every command's flags" t_man

# --- A round trip as the listingd user ----------------------------------------------------
install -d -o listingd -g listingd -m 700 "$tmp/data"
# Every setting of the conffile, uncommented (the defaults it states must all be valid).
mapfile -t settings < <(sed -n 's/^#\(LISTINGD_[A-Z0-9_]*=.*\)$/\1/p' /etc/listingd/listingd.env)
t_settings() { [ "${#settings[@]}" -ge 20 ]; }
check "listingd.env states every serve flag (${#settings[@]})" t_settings
runuser -u listingd -- env "${settings[@]}" /usr/bin/listingd serve --port 0 \
  --db "$tmp/data/listingd.db" >"$tmp/serve.out" 2>"$tmp/serve.err" &
server=$!
for _ in $(seq 200); do grep -q "listening on" "$tmp/serve.out" && break; sleep 0.05; done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/serve.out" | head -n 1)
server_pid=$(pgrep -u listingd -f -- "--db $tmp/data/listingd.db" | head -n 1)
echo "server $server_pid" >>"$state"
if [ -z "$url" ]; then
  echo "FAIL: the installed listingd did not start as listingd"; cat "$tmp/serve.out" "$tmp/serve.err"
  failed=$((failed + 1)); finish
fi
body='{"name":"Maison du paquet","description":"Installée par dpkg.","postal_address":{"street_address":"1 rue du Port","postal_code":"69001","city":"Lyon","country":"FR"},"building_type":"HOUSE","latest_price_eur":250000,"surface_area_m2":90,"rooms_count":4,"bedrooms_count":2}'
t_post() { [ "$(curl -s -o "$tmp/post" -w '%{http_code}' -X POST "$url/listings" \
  -H 'Content-Type: application/json' -d "$body")" = 201 ] || { cat "$tmp/post"; false; }; }
check "POST /listings to the installed server: 201" t_post
# (Into files: grep -q on a pipe would stop curl mid-answer, a failure under pipefail.)
t_get() { curl -sf -o "$tmp/one" "$url/listings/1" && has "$tmp/one" '"name":"Maison du paquet"' &&
  curl -sf -o "$tmp/prices" "$url/listings/1/prices" && has "$tmp/prices" '"price_eur":250000'; }
check "GET reads the listing back" t_get
t_docs() { curl -sf -o "$tmp/docs" "$url/docs" && has "$tmp/docs" '<code class="path">/listings/{id}/prices</code>'; }
check "the installed binary serves /docs" t_docs
t_owner() { [ -n "$server_pid" ] && [ "$(stat -c %U /proc/"$server_pid")" = listingd ] &&
  [ "$(stat -c '%U %a' "$tmp/data/listingd.db")" = "listingd 600" ]; }
check "the server runs as listingd; its database is listingd's, mode 600" t_owner
kill -TERM "$server_pid" 2>/dev/null
wait "$server" 2>/dev/null
server=""

# --- Remove, then purge -------------------------------------------------------------------
dpkg_ -r listingd >"$tmp/remove.out" || { echo "FAIL: dpkg -r"; cat "$tmp/remove.out"; failed=$((failed + 1)); }
t_removed() { [ ! -e /usr/bin/listingd ] && [ ! -e /lib/systemd/system/listingd.service ] &&
  [ -f /etc/listingd/listingd.env ] && [ -d /var/lib/listingd ]; }
check "dpkg -r: the program goes; settings (conffile) and /var/lib/listingd stay" t_removed
dpkg_ --purge listingd >"$tmp/purge.out" || { echo "FAIL: dpkg --purge"; cat "$tmp/purge.out"; failed=$((failed + 1)); }
t_purged() {
  local left=()
  while read -r f; do
    [ -e "$f" ] && [ ! -d "$f" ] && left+=("$f")
  done <"$tmp/files"
  for d in /etc/listingd /var/lib/listingd /usr/share/doc/listingd; do [ -e "$d" ] && left+=("$d"); done
  for f in /etc/systemd/system/*/listingd.service /var/lib/systemd/deb-systemd-helper-enabled/*listingd* \
           /var/lib/systemd/deb-systemd-helper-masked/listingd.service; do
    [ -e "$f" ] && left+=("$f")
  done
  known && left+=("dpkg still knows listingd")
  [ ${#left[@]} = 0 ] || { echo "  left: ${left[*]}"; false; }
}
check "dpkg --purge leaves no file, directory, setting or systemd state of it" t_purged
t_user_kept() { getent passwd listingd >/dev/null; }
check "the system user stays after a purge (files it owns may remain)" t_user_kept

# A purge never deletes a database.
dpkg_ -i "$deb" >"$tmp/install2.out" || { echo "FAIL: dpkg -i again"; cat "$tmp/install2.out"; failed=$((failed + 1)); }
install -o listingd -g listingd -m 600 /dev/null /var/lib/listingd/e2e-package-kept.db
dpkg_ --purge listingd >"$tmp/purge2.out" 2>&1
t_kept() { [ -f /var/lib/listingd/e2e-package-kept.db ] && ! known &&
  has "$tmp/purge2.out" "/var/lib/listingd is not empty"; }
check "a purge keeps a database in /var/lib/listingd, and says so" t_kept

finish
