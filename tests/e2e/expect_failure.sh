#!/usr/bin/env bash
# Runs a test that must fail, and passes only when it does, for the reason given: exit
# status 1 (not 0, not 77, not a crash) and a line of its output matching PATTERN. Proves
# a test can fail (tests/meson.build runs durability.sh against broken builds with it).
# usage: expect_failure.sh PATTERN COMMAND [ARGS...]
set -uo pipefail
pattern=$1
shift
if [ -n "${LISTINGD_SANITIZERS:-}" ]; then
  echo "skipped under the sanitizers: this checks the test, not the build"
  exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
status=$?
cat "$out"
echo "----"
if [ "$status" != 1 ]; then
  echo "expect_failure: exit status $status, not 1: the test did not fail as it should"
  exit 1
fi
if ! grep -qE -- "$pattern" "$out"; then
  echo "expect_failure: it failed, but no line says /$pattern/"
  exit 1
fi
echo "expect_failure: failed as it should (/$pattern/)"
