#!/usr/bin/env bash
# The browser UI end to end: installs what is missing (Debian's chromium, nodejs and npm;
# playwright-core as package-lock.json pins it, into the build directory), starts the real
# `listingd serve` on a free port over a fresh database, seeds it through the API
# (seed.js), runs ui.test.js and docs.test.js in headless Chromium, and stops the server. Screenshots of
# each page land in BUILD_DIR/screenshots/browser/.
# usage: run.sh LISTINGD_BINARY BUILD_DIR
set -euo pipefail
bin=$(realpath "$1")
build=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)

# What the tests need from Debian, when missing (first run: about a minute).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "run as root, or install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# playwright-core in the build directory, so the source tree stays clean; installed again
# only when package-lock.json changes.
modules=$build/e2e-browser
mkdir -p "$modules"
if ! cmp -s "$here/package-lock.json" "$modules/installed-package-lock.json"; then
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$modules/installed-package-lock.json"
fi
export NODE_PATH=$modules/node_modules

# The real server, on a free port, over a database of its own.
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
"$bin" serve --port 0 --db "$tmp/ui.db" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "listening on" "$tmp/server.log" && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$tmp/server.log" | head -n 1 || true)
[ -n "$url" ] || { echo "FAIL: listingd did not start"; cat "$tmp/server.log"; exit 1; }

node "$here/seed.js" "$url"

shots=$build/screenshots/browser
rm -rf "$shots"
mkdir -p "$shots"
status=0
LISTINGD_URL=$url SCREENSHOT_DIR=$shots LISTINGD_BIN=$bin LISTINGD_DB=$tmp/ui.db \
  node --test --test-concurrency=1 "$here/ui.test.js" "$here/docs.test.js" || status=$?
echo "screenshots: $shots"
if [ "$status" -ne 0 ]; then
  echo "--- listingd's log:"
  tail -n 50 "$tmp/server.log"
fi
exit "$status"
