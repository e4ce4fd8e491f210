#!/usr/bin/env bash
# deploy/k8s/: every manifest parses (python3-yaml), the required fields are there and agree
# with each other (selectors, ports, the Secret's keys, the autoscaler's target, grace period
# > preStop sleep + LISTINGD_SHUTDOWN_TIMEOUT, a non-root read-only sandbox), and the binary
# itself, started with the manifests' settings, answers the probes' paths on their port
# (tests/e2e/deploy_check.py). No Kubernetes cluster runs here: this is what can be checked
# without one.
# usage: deploy_k8s.sh LISTINGD_BINARY
# DEPLOY_K8S_SED=EXPR breaks a copy of deploy/ with sed (on every k8s/*.yaml) first.
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${LISTINGD_SANITIZERS:-}" ]; then
  echo "skipped under the sanitizers: this checks deployment files, not the build"
  exit 77
fi
"$root/scripts/install-deps"   # python3-yaml, curl
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
deploy=$root/deploy
if [ -n "${DEPLOY_K8S_SED:-}" ]; then
  cp -r "$deploy" "$dir/deploy"
  sed -i -e "$DEPLOY_K8S_SED" "$dir"/deploy/k8s/*.yaml
  deploy=$dir/deploy
fi
python3 "$root/tests/e2e/deploy_check.py" k8s "$deploy" "$bin"
echo "deploy_k8s: 1 passed, 0 failed"
