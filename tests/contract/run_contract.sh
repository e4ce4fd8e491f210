#!/usr/bin/env bash
# The contract test: runs the HTTP tests while recording every exchange, then checks each
# response against schema/openapi.yaml (validate.py).
# usage: run_contract.sh HTTP_TESTS_BINARY OPENAPI_YAML VALIDATE_PY
set -euo pipefail
http_tests=$1 openapi=$2 validate=$3
log=$(mktemp "${TMPDIR:-/tmp}/listingd-exchanges.XXXXXX")
trap 'rm -f "$log"' EXIT
LISTINGD_EXCHANGES_LOG=$log "$http_tests" >/dev/null
/usr/bin/python3 "$validate" "$openapi" "$log"
