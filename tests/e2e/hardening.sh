#!/usr/bin/env bash
# The real binary against what an operator can get wrong: backup and export onto what is
# not a regular file (a device like /dev/null, a pipe, a symbolic link) are refused and
# leave it as it was; import refuses NUL bytes, over-long lines and ids past 2^53 - 1,
# naming the line; serve and migrate on a read-only directory or mount say so.
# Cases that need root (a device node, a read-only bind mount) are skipped, and said so,
# where they cannot be done.
# usage: hardening.sh LISTINGD_BINARY
set -uo pipefail
bin=$1
dir=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null
  mountpoint -q "$dir/ro" && umount "$dir/ro"
  chmod -R u+w "$dir" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0 skipped=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
ok() { passed=$((passed + 1)); }
skip() { echo "SKIP: $*"; skipped=$((skipped + 1)); }

"$bin" seed --listings 20 --prices-per-listing 2 --db "$dir/a.db" >/dev/null || { echo "seed failed"; exit 1; }

# 1. Targets that are not regular files: refused, with or without --force, left alone.
mkfifo "$dir/fifo"
echo "keep me" >"$dir/target"
ln -s "$dir/target" "$dir/link"
mkdir "$dir/directory"
targets="fifo link directory"
if mknod "$dir/null" c 1 3 2>/dev/null; then targets="$targets null"; else skip "device node: mknod not permitted"; fi
for t in $targets; do
  before=$(stat -c '%F %t:%T' "$dir/$t")
  for force in "" --force; do
    if "$bin" backup --db "$dir/a.db" --to "$dir/$t" $force >"$dir/out" 2>&1; then
      fail "backup --to $t $force succeeded"
    elif ! grep -q "not a regular file" "$dir/out"; then
      fail "backup --to $t $force: no reason given: $(cat "$dir/out")"
    else ok; fi
    [ "$(stat -c '%F %t:%T' "$dir/$t")" = "$before" ] || fail "backup --to $t $force changed it"
  done
  if timeout 10 "$bin" export --db "$dir/a.db" --out "$dir/$t" >"$dir/out" 2>&1; then
    fail "export --out $t succeeded"
  elif ! grep -q "not a regular file" "$dir/out"; then
    fail "export --out $t: no reason given: $(cat "$dir/out")"
  else ok; fi
  [ "$(stat -c '%F %t:%T' "$dir/$t")" = "$before" ] || fail "export --out $t changed it"
done
[ "$(cat "$dir/target")" = "keep me" ] || fail "the file behind the link changed"
ls "$dir" | grep -q -e '\.tmp-' -e '\.partial' && fail "temporary files left: $(ls "$dir")"
"$bin" export --db "$dir/a.db" --out "$dir/export.ndjson" 2>/dev/null || fail "export to a file"
"$bin" backup --db "$dir/a.db" --to "$dir/export.ndjson" --force >/dev/null || fail "backup --force onto a regular file"

# 2. Import: the offending line is named, nothing is imported.
"$bin" export --db "$dir/a.db" --out "$dir/good.ndjson" 2>/dev/null
line=$(head -n 1 "$dir/good.ndjson")
import_refuses() {  # import_refuses WHAT FILE EXPECTED [flags...]
  local what=$1 file=$2 expected=$3; shift 3
  rm -f "$dir/b.db"*
  if "$bin" import "$file" --db "$dir/b.db" "$@" >"$dir/out" 2>&1; then
    fail "import $what succeeded"
  elif ! grep -q -- "$expected" "$dir/out"; then
    fail "import $what: said $(cat "$dir/out")"
  else ok; fi
  [ "$(sqlite3 "$dir/b.db" 'SELECT count(*) FROM listings' 2>/dev/null || echo 0)" = 0 ] ||
    fail "import $what imported something"
}
{ echo "$line"; printf '%s\0junk\n' "$(sed -n 2p "$dir/good.ndjson")"; } >"$dir/nul.ndjson"
import_refuses "a NUL byte" "$dir/nul.ndjson" "line 2: .*NUL byte"
import_refuses "a long line" "$dir/good.ndjson" "line 1: the line is longer than 100 bytes" --max-line-bytes 100
echo "$line" | sed 's/^{"id":[0-9]*/{"id":9007199254740992/' >"$dir/big.ndjson"
import_refuses "id 2^53" "$dir/big.ndjson" "line 1: id: must be an integer from 1 to 9007199254740991"

# 3. A read-only directory: the real reason, not "not a listingd database".
as=()  # the command prefix that runs listingd as another user, if any
starts_with_reason() {  # starts_with_reason WHAT DB EXPECTED
  local what=$1 db=$2 expected=$3
  if "${as[@]}" "$bin" migrate --db "$db" >"$dir/out" 2>&1; then fail "migrate $what succeeded"
  elif ! grep -q "$expected" "$dir/out" || grep -q "not a listingd database" "$dir/out"; then
    fail "migrate $what: said $(cat "$dir/out")"
  else ok; fi
  timeout 10 "${as[@]}" "$bin" serve --port 0 --db "$db" --log-level off >"$dir/out" 2>&1
  if [ $? = 0 ] || grep -q "listening on" "$dir/out"; then fail "serve $what started"
  elif ! grep -q "$expected" "$dir/out" || grep -q "not a listingd database" "$dir/out"; then
    fail "serve $what: said $(cat "$dir/out")"
  else ok; fi
}
mkdir -p "$dir/src" "$dir/ro"
"$bin" migrate --db "$dir/src/old.db" >/dev/null
sqlite3 "$dir/src/old.db" 'PRAGMA journal_mode' >/dev/null
if mount --bind "$dir/src" "$dir/ro" 2>/dev/null && mount -o remount,ro,bind "$dir/ro" 2>/dev/null; then
  starts_with_reason "a new file on a read-only mount" "$dir/ro/new.db" "cannot create .*Read-only file system"
  starts_with_reason "a database on a read-only mount" "$dir/ro/old.db" "cannot write .*old.db: Read-only file system"
  umount "$dir/ro"
else
  skip "read-only mount: mounting is not permitted here"
fi
# A directory without write permission: root writes there whatever its mode, so as root
# this runs listingd as the user nobody (when setpriv can).
mkdir -p "$dir/user"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
   setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null &&
   setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$bin"; then
  as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 755 "$dir"
  chown 65534:65534 "$dir/user"
fi
if [ "$(id -u)" != 0 ] || [ ${#as[@]} -gt 0 ]; then
  "${as[@]}" "$bin" migrate --db "$dir/user/old.db" >/dev/null || fail "migrate as $(id -un)"
  chmod a-w "$dir/user"
  starts_with_reason "a new file in a read-only directory" "$dir/user/new.db" "cannot create .*Permission denied"
  starts_with_reason "a database in a read-only directory" "$dir/user/old.db" "cannot create .*old.db-wal.*Permission denied"
  chmod u+w "$dir/user"
else
  skip "read-only directory by its mode: root writes there anyway, and setpriv cannot run listingd as nobody"
fi

echo "hardening: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
