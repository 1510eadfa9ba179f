#!/usr/bin/env bash
# The whole test run behind `make test` and CI:
#   1. build (warnings are errors)
#   2. start a private redis-server, PostgreSQL 15 cluster and Kafka broker on
#      free loopback ports (always stopped again, even on failure or Ctrl-C)
#   3. unit + integration suites against them, then the pipeline suite (a
#      simulated week through all six services, on Redis Streams and Kafka)
#      and the chaos suite (faults injected into a backfill, per backend)
#   4. the unit suite under valgrind, then unit + integration under ASan/UBSan,
#      then a short libFuzzer run of every fuzz target
# and prints, as its very last line: tests: N passed, N failed
# Each meson test (one TAP program or script) counts as one test per run.
# Under CI (CI=true) a skipped test counts as failed: nothing may skip there.
#
# Environment: STATLINE_TEST_FAST=1 skips the chaos suite and step 4 (quick local loop).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/harness/lib.sh

run=$(mktemp -d /tmp/statline-test.XXXXXX)
chmod 755 "$run" # the PostgreSQL cluster runs as user postgres when we are root
pass=0
fail=0
skip=0
failed=() # names of what failed (or skipped under CI), printed before the last line
diag=     # why a server would not start, printed again before the last line
started=$(date +%s)

cleanup() {
        trap - EXIT INT TERM
        tests/harness/kafka.sh stop "$run/kafka" >/dev/null 2>&1
        tests/harness/pg.sh stop "$run/pg" >/dev/null 2>&1
        tests/harness/redis.sh stop "$run/redis" >/dev/null 2>&1
        rm -rf "$run"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

say() {
        printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - started))"
}

# count NAME LOGJSON: adds a meson testlog's results to the totals.
count() {
        local log=$1 tag=$2 p f s bad name
        [ -n "$log" ] && [ -f "$log" ] || { fail=$((fail + 1)); failed+=("$tag: no test log"); return; }
        p=$(grep -c '"result": "OK"\|"result": "EXPECTEDFAIL"' "$log")
        f=$(grep -c '"result": "\(FAIL\|TIMEOUT\|ERROR\|UNEXPECTEDPASS\)"' "$log")
        s=$(grep -c '"result": "SKIP"' "$log")
        pass=$((pass + p))
        fail=$((fail + f))
        bad='"result": "\(FAIL\|TIMEOUT\|ERROR\|UNEXPECTEDPASS\)"'
        if [ -n "${CI:-}" ]; then
                fail=$((fail + s))
                bad='"result": "\(FAIL\|TIMEOUT\|ERROR\|UNEXPECTEDPASS\|SKIP\)"'
        else
                skip=$((skip + s))
        fi
        while IFS= read -r name; do
                failed+=("$tag: $name")
        done < <(grep "$bad" "$log" | sed -n 's/^{"name": "\([^"]*\)".*"result": "\([A-Z]*\)".*/\1 (\2)/p')
}

# suite LOGBASE BUILDDIR MESON-TEST-ARGS...: runs meson test and counts its results.
suite() {
        local base=$1 dir=$2
        shift 2
        say "$base"
        rm -f "$dir/meson-logs/$base"*.json
        meson test -C "$dir" --no-rebuild --print-errorlogs --logbase "$base" "$@"
        # meson appends the setup name ("-valgrind") to the log base
        count "$(ls "$dir/meson-logs/$base"*.json 2>/dev/null | head -n 1)" "$base"
}

# harness NAME: starts one server and sets $addr to its address (last line
# printed by the script); a server that won't start counts as one failed test.
harness() {
        local name=$1 out try
        say "start $name"
        # Two tries: a server that fails once (a slow first JVM start, a
        # registry hiccup while fetching Kafka's jars) would otherwise turn
        # every test of that backend into a failure.
        for try in 1 2; do
                rm -rf "${run:?}/$name" && mkdir -p "$run/$name"
                if out=$(tests/harness/"$name".sh start "$run/$name" 2>"$run/$name.err"); then
                        cat "$run/$name.err" >&2
                        addr=$(tail -n 1 <<<"$out")
                        echo "$name: $addr"
                        return 0
                fi
                cat "$run/$name.err" >&2
                # kept for the summary: CI logs often show only their end
                diag+=$(printf '\n-- start %s, try %s: last lines of its stderr:\n%s' "$name" "$try" \
                        "$(tail -n 12 "$run/$name.err")")
                tests/harness/"$name".sh stop "$run/$name" >/dev/null 2>&1
                echo "$name: failed to start (try $try of 2)" >&2
                [ "$try" -eq 1 ] && sleep 10
        done
        fail=$((fail + 1))
        failed+=("start $name: the server would not start (its log is above)")
        addr=
        return 1
}

summary() {
        say "done"
        if [ "$fail" -gt 0 ] && [ -d build ]; then
                rm -rf build/test-servers && mkdir -p build/test-servers
                cp -r "$run"/*/ build/test-servers/ 2>/dev/null
                echo "server logs kept in build/test-servers/"
        fi
        [ -n "$diag" ] && printf '%s\n' "$diag"
        if [ "${#failed[@]}" -gt 0 ]; then
                echo "failed:"
                printf '  %s\n' "${failed[@]}"
        fi
        if [ "$skip" -gt 0 ]; then
                echo "tests: $pass passed, $fail failed, $skip skipped"
        else
                echo "tests: $pass passed, $fail failed"
        fi
        [ "$fail" -eq 0 ]
        exit
}

# check NAME CMD...: a source check that counts as one test.
check() {
        local name=$1
        shift
        say "$name"
        if "$@"; then
                pass=$((pass + 1))
        else
                echo "$name: FAILED" >&2
                fail=$((fail + 1))
                failed+=("$name")
        fi
}

check "checksrc (banned calls)" scripts/checksrc.sh
check "format (clang-format 14)" scripts/format.sh --check

say "build"
if [ ! -f build/build.ninja ]; then
        meson setup build -Dchaos_tests=true >/dev/null || { fail=$((fail + 1)); failed+=("meson setup"); summary; }
else
        meson configure build -Dchaos_tests=true >/dev/null || { fail=$((fail + 1)); failed+=("meson configure"); summary; }
fi
ninja -C build || { fail=$((fail + 1)); failed+=("build (ninja)"); summary; }
check "config docs match the option tables" scripts/gen-config-docs.sh --check build

tests/harness/kafka.sh fetch || echo "kafka: jars could not be fetched" >&2
harness redis && export STATLINE_TEST_REDIS=$addr
harness pg && export STATLINE_TEST_PG_DSN=$addr
harness kafka && export STATLINE_TEST_KAFKA=$addr
export STATLINE_TEST_RUN_DIR=$run

suite unit build --suite unit
suite integration build --suite integration
suite pipeline build --suite pipeline
# The chaos suite (tests/chaos/README.md): a two-week backfill through the six
# services under kills, server restarts, a PostgreSQL stop, data-server faults
# and 1,000 poison events, per backend; private servers, one test at a time.
[ -z "${STATLINE_TEST_FAST:-}" ] && suite chaos build --suite chaos
# bench/backfill.sh's own test: 3 dates and a 1/2/4-date growth on private
# servers, its JSON checked against recomputed figures (bench/README: make bench).
[ -z "${STATLINE_TEST_FAST:-}" ] && suite bench build --suite bench

if [ -z "${STATLINE_TEST_FAST:-}" ]; then
        suite valgrind-unit build --setup valgrind --suite unit
        say "build asan+ubsan"
        if [ ! -f build-asan/build.ninja ]; then
                meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
                        -Dc_args=-Wno-error=format-truncation >/dev/null
        fi
        if ninja -C build-asan; then
                export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
                export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
                suite asan-unit build-asan --suite unit
                suite asan-integration build-asan --suite integration
        else
                fail=$((fail + 1))
                failed+=("build asan+ubsan (ninja)")
        fi
        # Fuzz smoke (tests/fuzz/README.md): each libFuzzer target ~12 s in build-fuzz/ (clang).
        check "fuzz smoke (libFuzzer, 5 targets)" scripts/fuzz.sh --smoke
fi
summary
