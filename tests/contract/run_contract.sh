#!/usr/bin/env bash
# The contract test: runs the HTTP tests while recording every exchange, then checks each
# response against schema/openapi.yaml (validate.py).
# usage: run_contract.sh HTTP_TESTS_BINARY OPENAPI_YAML VALIDATE_PY [HTTP_TESTS_ARGS...]
set -euo pipefail
http_tests=$1 openapi=$2 validate=$3
shift 3
log=$(mktemp "${TMPDIR:-/tmp}/listingd-exchanges.XXXXXX")
trap 'rm -f "$log"' EXIT
out=$(mktemp "${TMPDIR:-/tmp}/listingd-http.XXXXXX")
trap 'rm -f "$log" "$out"' EXIT
LISTINGD_EXCHANGES_LOG=$log "$http_tests" "$@" >"$out" 2>&1 || { cat "$out"; exit 1; }
/usr/bin/python3 "$validate" "$openapi" "$log" --require-via client,raw,tls
