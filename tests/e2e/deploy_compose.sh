#!/usr/bin/env bash
# deploy/compose.yaml, validated by Debian's docker-compose (`docker-compose config`: the
# file's schema, the anchors merged, env_file read; it needs no container engine), then its
# result checked (tests/e2e/deploy_check.py): PostgreSQL 15 with a health check and its
# password from a secret; each listingd node on a password-less postgres:// URL, the
# password a secret file, waiting for the database, a /readyz health check on its port, a
# stop grace period above its --shutdown-timeout, trusting nginx's address; nginx mounting
# deploy/nginx-cluster.conf, whose nodes are the compose nodes; and the binary answering
# the health checks' paths. Skips (77) when docker-compose cannot be installed.
# usage: deploy_compose.sh LISTINGD_BINARY
# DEPLOY_COMPOSE_SED=EXPR breaks a copy of deploy/ with sed (on compose.yaml, compose.env).
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${LISTINGD_SANITIZERS:-}" ]; then
  echo "skipped under the sanitizers: this checks deployment files, not the build"
  exit 77
fi
"$root/scripts/install-deps"   # python3-yaml, curl
if ! command -v docker-compose >/dev/null; then
  "$root/scripts/install-deps" docker-compose >/dev/null 2>&1 || true
fi
if ! command -v docker-compose >/dev/null; then
  echo "skipped: Debian's docker-compose could not be installed"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
deploy=$root/deploy
if [ -n "${DEPLOY_COMPOSE_SED:-}" ]; then
  cp -r "$deploy" "$dir/deploy"
  sed -i -e "$DEPLOY_COMPOSE_SED" "$dir/deploy/compose.yaml" "$dir/deploy/compose.env"
  deploy=$dir/deploy
fi
# No engine is asked anything: config only reads and merges the files.
if ! (cd "$deploy" && DOCKER_HOST=unix://$dir/no-engine.sock docker-compose -f compose.yaml config) \
     >"$dir/config.yaml" 2>"$dir/config.err"; then
  cat "$dir/config.err"
  echo "FAIL: docker-compose config refused deploy/compose.yaml"
  exit 1
fi
echo "docker-compose config: $(docker-compose version --short) accepted deploy/compose.yaml"

# nginx -t on the site file as the nginx container has it (conf.d/default.conf, inside the
# http {} block), its node names resolving as compose's DNS would (a private /etc/hosts in
# a mount namespace of its own). `nginx -t` binds no port.
"$root/scripts/install-deps" nginx
nodes=$(grep -E '#\s*node\s*$' "$deploy/nginx-cluster.conf" | awk '{print $2}' | cut -d: -f1)
{ cat /etc/hosts; i=11; for n in $nodes; do echo "172.28.0.$i $n"; i=$((i + 1)); done; } >"$dir/hosts"
mkdir -p "$dir/nginx/conf.d"
cp "$deploy/nginx-cluster.conf" "$dir/nginx/conf.d/default.conf"
printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp { include %s/conf.d/*.conf; }\n' \
  "$dir/nginx" "$dir/nginx" >"$dir/nginx/nginx.conf"
if unshare -m true 2>/dev/null; then
  unshare -m sh -c 'mount --bind "$1" /etc/hosts && exec nginx -t -q -c "$2" -p "$3"' sh \
    "$dir/hosts" "$dir/nginx/nginx.conf" "$dir/nginx" >"$dir/nginx-t.log" 2>&1 || {
    cat "$dir/nginx-t.log"
    echo "FAIL: nginx -t refused deploy/nginx-cluster.conf as compose.yaml mounts it"
    exit 1
  }
  echo "nginx -t: deploy/nginx-cluster.conf as compose.yaml mounts it (nodes $(echo $nodes)) is valid"
else
  echo "note: no mount namespace here: nginx -t of the site file as compose.yaml mounts it not run"
fi
python3 "$root/tests/e2e/deploy_check.py" compose "$dir/config.yaml" "$deploy" "$bin"
echo "deploy_compose: 3 passed, 0 failed"
