#!/usr/bin/env bash
# make bench: bus throughput and latency per backend, each next to a baseline
# measured on the same server in the same run, printed as a ratio.
#   Redis:  redis-benchmark with the same commands (XADD / XREADGROUP / PUBLISH),
#           one connection, pipelined like libcommon's publisher (-P 64).
#   Kafka:  kcat producing, then consuming, the same 1 KiB messages.
# Results: a table on stdout and build/bench/bus.json.
# Env: BENCH_COUNT (default 20000 events), BENCH_BACKENDS (default all three).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/harness/lib.sh

count=${BENCH_COUNT:-20000}
backends=${BENCH_BACKENDS:-"redis-streams redis-pubsub kafka"}
bench=build/bench/bus_bench
out=build/bench
run=$(mktemp -d /tmp/statline-bench.XXXXXX)
chmod 755 "$run"
trap 'tests/harness/kafka.sh stop "$run/kafka" >/dev/null 2>&1; tests/harness/redis.sh stop "$run/redis" >/dev/null 2>&1; rm -rf "$run"' EXIT
mkdir -p "$out"
[ -x "$bench" ] || die "build first (make build)"

payload=$(head -c 1000 /dev/zero | tr '\0' 'x') # ~1 KiB field value, as in the envelopes
results=()

# ratio A B: A/B with two decimals.
ratio() {
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# json FIELD LINE: a number from bus_bench's one-line JSON.
json() {
        sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"
}

# rps PORT PIPELINE N ARGS...: requests/s that redis-benchmark reports for one
# command sent N times over one connection.
rps() {
        local port=$1 pipe=$2 n=$3
        shift 3
        redis-benchmark -h 127.0.0.1 -p "$port" -c 1 -P "$pipe" -n "$n" -q "$@" 2>/dev/null |
                tr '\r' '\n' | sed -n 's/.* \([0-9.]*\) requests per second.*/\1/p' | tail -1
}

# e2e A B: events/s of publishing then consuming each event once, from the two rates.
e2e() {
        awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.0f", 1 / (1 / a + 1 / b); else print 0 }'
}

row() {
        printf '%-14s %-40s %10s %10s %7s\n' "$1" "$2" "$3" "$4" "$5"
        results+=("{\"backend\":\"$1\",\"metric\":\"$2\",\"statline\":\"$3\",\"baseline\":\"$4\",\"ratio\":\"$5\"}")
}

bench_redis() {
        local port addr line xadd xadd1 xread pub con lat
        mkdir -p "$run/redis"
        addr=$(tests/harness/redis.sh start "$run/redis" | tail -1) || die "redis did not start"
        port=${addr##*:}
        # Baselines: the commands the backend sends, on the same server, one connection.
        xadd=$(rps "$port" 64 "$count" XADD bench-base '*' d "$payload")
        xadd1=$(rps "$port" 1 "$count" XADD bench-base1 '*' d "$payload")
        redis-cli -p "$port" XGROUP CREATE bench-base g 0 >/dev/null
        # XREADGROUP ... > hands out the next 64 new entries per call: a real consume.
        xread=$(rps "$port" 1 $((count / 64)) XREADGROUP GROUP g c COUNT 64 STREAMS bench-base '>')
        xread=$(awk -v r="$xread" 'BEGIN { printf "%.0f", r * 64 }')
        line=$($bench --backend redis-streams --url "$addr" --mode throughput --count "$count")
        pub=$(json publish_per_s "$line")
        con=$(json consume_per_s "$line")
        row redis-streams "publish ev/s vs XADD -P 64" "$pub" "$xadd" "$(ratio "$pub" "$xadd")"
        row redis-streams "publish ev/s vs XADD -P 1" "$pub" "$xadd1" "$(ratio "$pub" "$xadd1")"
        row redis-streams "consume ev/s vs XREADGROUP COUNT 64" "$con" "$xread" "$(ratio "$con" "$xread")"
        row redis-streams "publish+consume ev/s (pipelined base)" "$(e2e "$pub" "$con")" \
                "$(e2e "$xadd" "$xread")" "$(ratio "$(e2e "$pub" "$con")" "$(e2e "$xadd" "$xread")")"
        row redis-streams "publish+consume ev/s (unpipelined base)" "$(e2e "$pub" "$con")" \
                "$(e2e "$xadd1" "$xread")" "$(ratio "$(e2e "$pub" "$con")" "$(e2e "$xadd1" "$xread")")"
        lat=$($bench --backend redis-streams --url "$addr" --mode latency --rate 1000 --seconds 10)
        row redis-streams "p50 publish-to-handle ms @1000/s" "$(json p50_ms "$lat")" - -
        row redis-streams "p99 publish-to-handle ms @1000/s" "$(json p99_ms "$lat")" "target 5" \
                "$(awk -v p="$(json p99_ms "$lat")" 'BEGIN { print (p < 5) ? "met" : "MISSED" }')"
        if [[ " $backends " == *" redis-pubsub "* ]]; then
                # A subscriber must be connected, or PUBLISH delivers to nobody.
                redis-cli -p "$port" SUBSCRIBE bench-pubsub >/dev/null &
                local sub=$!
                sleep 0.3
                xadd=$(rps "$port" 64 "$count" PUBLISH bench-pubsub "$payload")
                kill "$sub" 2>/dev/null
                wait "$sub" 2>/dev/null
                line=$($bench --backend redis-pubsub --url "$addr" --mode throughput --count "$count")
                pub=$(json publish_per_s "$line")
                row redis-pubsub "publish ev/s vs PUBLISH -P 64" "$pub" "$xadd" "$(ratio "$pub" "$xadd")"
                row redis-pubsub "delivered ev/s (concurrent)" "$(json e2e_per_s "$line")" "$xadd" \
                        "$(ratio "$(json e2e_per_s "$line")" "$xadd")"
        fi
        tests/harness/redis.sh stop "$run/redis"
}

bench_kafka() {
        local addr line t0 t1 t2 prod cons pub con msgs
        mkdir -p "$run/kafka"
        addr=$(tests/harness/kafka.sh start "$run/kafka" | tail -1) || die "kafka did not start"
        msgs=$run/msgs.txt
        for ((i = 0; i < count; i++)); do echo "$payload"; done >"$msgs"
        t0=$(date +%s%N)
        kcat -P -b "$addr" -t bench-base -X enable.idempotence=true -X acks=all -X linger.ms=5 -l "$msgs" || die "kcat produce failed"
        t1=$(date +%s%N)
        kcat -C -b "$addr" -t bench-base -o beginning -e -q -c "$count" >/dev/null || die "kcat consume failed"
        t2=$(date +%s%N)
        prod=$(awk -v n="$count" -v d=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1e9 / d }')
        cons=$(awk -v n="$count" -v d=$((t2 - t1)) 'BEGIN { printf "%.0f", n * 1e9 / d }')
        line=$($bench --backend kafka --url "$addr" --mode throughput --count "$count")
        pub=$(json publish_per_s "$line")
        con=$(json consume_per_s "$line")
        row kafka "publish ev/s vs kcat -P" "$pub" "$prod" "$(ratio "$pub" "$prod")"
        row kafka "consume ev/s vs kcat -C" "$con" "$cons" "$(ratio "$con" "$cons")"
        row kafka "publish+consume ev/s" "$(e2e "$pub" "$con")" "$(e2e "$prod" "$cons")" \
                "$(ratio "$(e2e "$pub" "$con")" "$(e2e "$prod" "$cons")")"
        line=$($bench --backend kafka --url "$addr" --mode latency --rate 1000 --seconds 10)
        row kafka "p50 publish-to-handle ms @1000/s" "$(json p50_ms "$line")" - -
        row kafka "p99 publish-to-handle ms @1000/s" "$(json p99_ms "$line")" - -
        tests/harness/kafka.sh stop "$run/kafka"
}

echo "bench/bus: $count events of ~1 KiB per run on $(nproc) cores, $(date -u +%FT%TZ)"
codec=$($bench --mode codec --count "$count")
echo "envelope codec per event: build+serialize $(json build_serialize_us "$codec") us, strict parse $(json parse_us "$codec") us"
printf '%-14s %-40s %10s %10s %7s\n' backend metric statline baseline ratio
[[ " $backends " == *" redis-"* ]] && bench_redis
[[ " $backends " == *" kafka "* ]] && bench_kafka
printf '[%s]\n' "$(IFS=,; echo "${results[*]}")" >"$out/bus.json"
echo "results: $out/bus.json"
