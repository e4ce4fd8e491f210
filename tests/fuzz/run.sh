#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with AddressSanitizer and UndefinedBehaviorSanitizer)
# from the sources they exercise, then runs each for a bounded time on the committed seed
# corpus (tests/fuzz/corpus/<target>). New inputs go to OUT_DIR/corpus, never into the
# repository. A crash, leak or failed check stops the run: the input that did it is saved
# as OUT_DIR/crash-<target>-*, and the script exits 1. Turn it into a regression test in
# tests/unit, fix the bug, and add the input to the corpus.
#
# usage: tests/fuzz/run.sh [SECONDS_EACH (default 30)] [OUT_DIR (default build-fuzz)]
# Targets: fuzz_body, fuzz_query, fuzz_request (parsers), fuzz_paging (paging on the real
# store against a model). Reproduce one input: OUT_DIR/fuzz_body FILE
# Writes OUT_DIR/fuzz-results.json (one {"name", "result"} line per target) for scripts/test.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-30}
out=${2:-$root/build-fuzz}
mkdir -p "$out"
out=$(cd "$out" && pwd)
results="$out/fuzz-results.json"
rm -f "$results"  # none, unless the targets build and run

"$root/scripts/install-deps" clang-14 libclang-rt-14-dev
cxx=$(command -v clang++-14 || command -v clang++)
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root/include" -I"$root/src" -I"$root/tests" $(pkg-config --cflags libpq))

# What each target is built from: its own file and the sources it exercises.
# The whole domain module (pure functions, no I/O), so a new source of it is never missed.
domain=($(cd "$root" && ls src/domain/*.cpp))
# fuzz_paging runs the real SQLite store: the whole store module, so a new source of it is
# never missed either (with the auth module its token store uses, and libcrypto), its
# migrations (embedded.cpp, generated here as meson does) and the system's libsqlite3
# (and, for open_database(), the PostgreSQL backend with libpq: linked, never run here).
store=($(cd "$root" && ls src/store/*.cpp src/store/sqlite/*.cpp src/store/postgres/*.cpp src/auth/*.cpp))
declare -A sources=(
  [fuzz_body]="tests/fuzz/fuzz_body.cpp ${domain[*]} src/transfer/ndjson.cpp"
  [fuzz_query]="tests/fuzz/fuzz_query.cpp ${domain[*]}"
  [fuzz_request]="tests/fuzz/fuzz_request.cpp src/http/request_reader.cpp"
  [fuzz_paging]="tests/fuzz/fuzz_paging.cpp ${domain[*]} ${store[*]}"
)
declare -A libs=([fuzz_paging]="$out/obj/embedded.o -lsqlite3 -lpq -lcrypto -lpthread")
declare -A max_len=([fuzz_paging]=4096)

# Objects are rebuilt only when their source or a header changed (a header changes all).
newest_header=$(find "$root/include" "$root/src" "$root/tests/support" -name '*.h' -printf '%T@\n' |
                sort -n | tail -1)
compile() {  # compile SOURCE → prints the object's path
  local src=$1 obj="$out/obj/${1//\//_}.o"
  mkdir -p "$out/obj"
  if [ ! -f "$obj" ] || [ "$root/$src" -nt "$obj" ] ||
     [ "$(stat -c %Y "$obj")" -lt "${newest_header%.*}" ]; then
    "$cxx" "${flags[@]}" -c "$root/$src" -o "$obj"
  fi
}
all_sources=$(for t in "${!sources[@]}"; do echo ${sources[$t]}; done | tr ' ' '\n' | sort -u)
pids=()
for src in $all_sources; do compile "$src" & pids+=($!); done
mkdir -p "$out/obj"
python3 "$root/scripts/embed.py" "$out/embedded.cpp" openapi_yaml="$root/schema/openapi.yaml" \
  --migrations "$root"/schema/sqlite/*.sql --pg-migrations "$root"/schema/postgres/*.sql
"$cxx" "${flags[@]}" -c "$out/embedded.cpp" -o "$out/obj/embedded.o" & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
for target in "${!sources[@]}"; do
  objs=()
  for src in ${sources[$target]}; do objs+=("$out/obj/${src//\//_}.o"); done
  # shellcheck disable=SC2086  # the libraries are words
  "$cxx" "${flags[@]}" "${objs[@]}" ${libs[$target]:-} -o "$out/$target"
done

: >"$results"
failed=0
for target in fuzz_body fuzz_query fuzz_request fuzz_paging; do
  corpus=${target#fuzz_}
  dict=()
  [ -f "$root/tests/fuzz/$corpus.dict" ] && dict=(-dict="$root/tests/fuzz/$corpus.dict")
  mkdir -p "$out/corpus/$corpus"
  log="$out/$target.log"
  start=$(date +%s)
  status=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len="${max_len[$target]:-65536}" "${dict[@]}" -print_final_stats=1 \
    -artifact_prefix="$out/crash-$target-" \
    "$out/corpus/$corpus" "$root/tests/fuzz/corpus/$corpus" >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  if [ "$status" = 0 ]; then
    echo "$target: OK, $runs inputs in $(( $(date +%s) - start )) s, corpus $(ls "$out/corpus/$corpus" | wc -l) new"
    echo "{\"name\": \"$target\", \"result\": \"OK\"}" >>"$results"
  else
    failed=1
    echo "$target: FAILED (exit $status); the input: $(ls "$out"/crash-"$target"-* 2>/dev/null | head -1)"
    grep -E 'ERROR|SUMMARY|fuzz_(body|query|request|paging):|#[0-9]+ 0x' "$log" | head -30
    echo "{\"name\": \"$target\", \"result\": \"FAIL\"}" >>"$results"
  fi
done
exit $failed
