#!/usr/bin/env bash
# Builds the container image of deploy/Dockerfile with Debian's buildah, and runs the image's
# binary. No container engine runs here and Docker Hub is out of reach, so the base images
# the Dockerfile names (debian:bookworm, debian:bookworm-slim) are made from the Debian
# mirror with mmdebstrap (minbase; both names, one image), once, and kept for the next run.
# Then, in a container of the built image (buildah run --isolation chroot, the host's
# network): `listingd --version`; the user is 10001, not root; every shared library is
# found; `serve` with the image's own settings but a loopback address and port answers
# /healthz (also through the image's HEALTHCHECK command), a POST (201) and its prices,
# writes its database on the image's volume as that user, and stops by itself on SIGTERM
# with status 0.
# usage: tests/e2e/deploy_image.sh   (exit 77 = skipped: not root, under the sanitizers
#        (the image does not hold the binary under test), or buildah cannot work here)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "deploy_image: $*: skipped" >&2; exit 77; }
fail() { echo "deploy_image: FAILED: $*" >&2; exit 1; }

[ "${LISTINGD_SANITIZERS:-}" != 1 ] || skip "under the sanitizers"
[ "$(id -u)" -eq 0 ] || skip "needs root (buildah, mmdebstrap)"
if ! command -v buildah >/dev/null || ! command -v mmdebstrap >/dev/null; then
  apt-get install -y -qq --no-install-recommends buildah mmdebstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      apt-get install -y -qq --no-install-recommends buildah mmdebstrap >/dev/null 2>&1; } ||
    skip "buildah and mmdebstrap could not be installed"
fi

work=$(mktemp -d /tmp/listingd-image.XXXXXX)
image=localhost/listingd-test:$$
ctr=""
server=""
cleanup() {
  [ -z "$server" ] || kill -KILL "$server" 2>/dev/null || true
  [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
  buildah rmi "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

base=docker.io/library/debian
if ! buildah inspect --type image "$base:bookworm" >/dev/null 2>&1; then
  echo "deploy_image: making $base:bookworm from the Debian mirror (mmdebstrap)"
  mmdebstrap --quiet --variant=minbase bookworm "$work/rootfs.tar" http://deb.debian.org/debian \
    >"$work/mmdebstrap.log" 2>&1 || { cat "$work/mmdebstrap.log" >&2; skip "mmdebstrap failed"; }
  scratch=$(buildah from scratch) || skip "buildah cannot make a container here"
  mnt=$(buildah mount "$scratch") || { buildah rm "$scratch" >/dev/null; skip "buildah cannot mount"; }
  tar -C "$mnt" -xf "$work/rootfs.tar"
  buildah umount "$scratch" >/dev/null
  buildah config --cmd /bin/bash "$scratch"
  buildah commit -q "$scratch" "$base:bookworm" >/dev/null
  buildah rm "$scratch" >/dev/null
  rm -f "$work/rootfs.tar"
fi
buildah inspect --type image "$base:bookworm-slim" >/dev/null 2>&1 ||
  buildah tag "$base:bookworm" "$base:bookworm-slim"

echo "deploy_image: buildah bud -f deploy/Dockerfile (the build compiles listingd: minutes)"
started=$(date +%s)
# No --layers: its cached build stage (800 MB) would stay behind after every run.
if ! buildah bud --isolation chroot --pull-never \
       --ignorefile "$root/deploy/Dockerfile.dockerignore" -f "$root/deploy/Dockerfile" \
       -t "$image" "$root" >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log" >&2
  fail "the image did not build"
fi
echo "deploy_image: built $image in $(( $(date +%s) - started )) s"

ctr=$(buildah from "$image")
in_image() { buildah run --isolation chroot "$@"; }

version=$(in_image "$ctr" -- listingd --version) || fail "listingd --version did not run"
[[ "$version" == "listingd "* ]] || fail "listingd --version said '$version'"
uid=$(in_image "$ctr" -- id -u)
[ "$uid" = 10001 ] || fail "the image runs as uid $uid, not 10001"
missing=$(in_image "$ctr" -- sh -c 'ldd /usr/local/bin/listingd | grep "not found" || true')
[ -z "$missing" ] || fail "shared libraries missing in the image: $missing"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# Loopback only: the image's LISTINGD_HOST (0.0.0.0) would expose the test on every address.
in_image --env LISTINGD_HOST=127.0.0.1 --env LISTINGD_PORT="$port" "$ctr" -- listingd serve \
  >"$work/serve.log" 2>&1 &
runner=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
  kill -0 "$runner" 2>/dev/null || { cat "$work/serve.log" >&2; fail "serve exited"; }
  sleep 0.2
done
server=$(pgrep -n -f "^/usr/local/bin/listingd serve" || true)
[ -n "$server" ] || { cat "$work/serve.log" >&2; fail "serve did not start"; }
curl -fsS -o /dev/null "$url/healthz" || fail "/healthz did not answer"
in_image --env LISTINGD_PORT="$port" "$ctr" -- sh -c \
  'curl -fsS -o /dev/null "http://127.0.0.1:${LISTINGD_PORT}/healthz"' ||
  fail "the image's HEALTHCHECK command failed"
status=$(curl -sS -o "$work/created.json" -w '%{http_code}' -X POST "$url/listings" \
  -H 'Content-Type: application/json' \
  -d '{"name":"Studio","postal_address":{"street_address":"1 rue A","postal_code":"75001",
       "city":"Paris","country":"FR"},"description":"d","building_type":"STUDIO",
       "latest_price_eur":100000,"surface_area_m2":20,"rooms_count":1,"bedrooms_count":0}')
[ "$status" = 201 ] || fail "POST /listings answered $status: $(cat "$work/created.json")"
id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$work/created.json")
prices=$(curl -fsS "$url/listings/$id/prices") || fail "GET /listings/$id/prices failed"
[[ "$prices" == '[{"price_eur":100000,'* ]] || fail "the prices were $prices"
owner=$(in_image "$ctr" -- stat -c %u /var/lib/listingd/listingd.db) ||
  fail "no database on the image's volume"
[ "$owner" = 10001 ] || fail "the database belongs to uid $owner"

kill -TERM "$server"
code=0
wait "$runner" || code=$?
server=""
[ "$code" = 0 ] || { cat "$work/serve.log" >&2; fail "serve ended with status $code on SIGTERM"; }
grep -q "stopping (SIGTERM)" "$work/serve.log" || fail "serve did not say it was stopping"
echo "deploy_image: OK ($version, uid 10001, every library found, serve answered and stopped)"
