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
python3 "$root/tests/e2e/deploy_check.py" compose "$dir/config.yaml" "$deploy" "$bin"
echo "deploy_compose: 2 passed, 0 failed"
