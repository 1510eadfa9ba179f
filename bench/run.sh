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

# rb PORT ARGS...: requests/s that redis-benchmark reports for one command.
rb() {
        local port=$1
        shift
        redis-benchmark -h 127.0.0.1 -p "$port" -c 1 -P 64 -n "$count" -q "$@" 2>/dev/null |
                tr '\r' '\n' | sed -n 's/.* \([0-9.]*\) requests per second.*/\1/p' | tail -1
}

row() {
        printf '%-14s %-34s %12s %12s %7s\n' "$1" "$2" "$3" "$4" "$5"
        results+=("{\"backend\":\"$1\",\"metric\":\"$2\",\"statline\":$3,\"baseline\":$4,\"ratio\":\"$5\"}")
}

bench_redis() {
        local port addr line base pub con lat
        mkdir -p "$run/redis"
        addr=$(tests/harness/redis.sh start "$run/redis" | tail -1) || die "redis did not start"
        port=${addr##*:}
        base=$(rb "$port" XADD bench-base '*' d "$payload")
        line=$($bench --backend redis-streams --url "$addr" --mode throughput --count "$count")
        pub=$(json publish_per_s "$line")
        con=$(json consume_per_s "$line")
        row redis-streams "publish events/s (XADD -P 64)" "$pub" "$base" "$(ratio "$pub" "$base")"
        # Consume baseline: XREADGROUP of 64 pending entries per call, as the backend reads.
        redis-cli -p "$port" XGROUP CREATE bench-base g 0 >/dev/null
        redis-cli -p "$port" XREADGROUP GROUP g c COUNT 64 STREAMS bench-base '>' >/dev/null
        base=$(redis-benchmark -h 127.0.0.1 -p "$port" -c 1 -P 1 -n $((count / 64 + 1)) -q \
                XREADGROUP GROUP g c COUNT 64 STREAMS bench-base 0 2>/dev/null | tr '\r' '\n' |
                sed -n 's/.* \([0-9.]*\) requests per second.*/\1/p' | awk '{ v = $1 } END { printf "%.0f", v * 64 }')
        row redis-streams "consume events/s (XREADGROUP x64)" "$con" "$base" "$(ratio "$con" "$base")"
        lat=$($bench --backend redis-streams --url "$addr" --mode latency --rate 1000 --seconds 10)
        row redis-streams "p99 publish-to-handle ms @1000/s" "$(json p99_ms "$lat")" 5 \
                "$(ratio "$(json p99_ms "$lat")" 5)"
        row redis-streams "p50 publish-to-handle ms @1000/s" "$(json p50_ms "$lat")" - -
        if [[ " $backends " == *" redis-pubsub "* ]]; then
                base=$(rb "$port" PUBLISH bench-pubsub "$payload")
                line=$($bench --backend redis-pubsub --url "$addr" --mode throughput --count "$count")
                pub=$(json publish_per_s "$line")
                row redis-pubsub "publish events/s (PUBLISH -P 64)" "$pub" "$base" "$(ratio "$pub" "$base")"
                row redis-pubsub "publish+deliver events/s" "$(json e2e_per_s "$line")" "$base" \
                        "$(ratio "$(json e2e_per_s "$line")" "$base")"
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
        row kafka "publish events/s (kcat -P)" "$pub" "$prod" "$(ratio "$pub" "$prod")"
        row kafka "consume events/s (kcat -C)" "$con" "$cons" "$(ratio "$con" "$cons")"
        line=$($bench --backend kafka --url "$addr" --mode latency --rate 1000 --seconds 10)
        row kafka "p99 publish-to-handle ms @1000/s" "$(json p99_ms "$line")" - -
        tests/harness/kafka.sh stop "$run/kafka"
}

echo "bench/bus: $count events of ~1 KiB per run on $(nproc) cores, $(date -u +%FT%TZ)"
printf '%-14s %-34s %12s %12s %7s\n' backend metric statline baseline ratio
[[ " $backends " == *" redis-"* ]] && bench_redis
[[ " $backends " == *" kafka "* ]] && bench_kafka
printf '[%s]\n' "$(IFS=,; echo "${results[*]}")" >"$out/bus.json"
echo "results: $out/bus.json"
