#!/usr/bin/env bash
# bench/injury_probe.sh RUN_DIR [REPS]: the injury updates of bench/pipeline.sh
# again, against the database a `BENCH_KEEP=1 bench/pipeline.sh` run kept in
# RUN_DIR (a minute per try instead of a whole bench), and where their time
# goes in PostgreSQL. Starts the kept PostgreSQL (if it is not running), its
# own Redis, statline-fixtures and the six services from $STATLINE_BUILD
# (default build) under a temp dir; sets REPS players of the last published
# date to another injury status, one at a time, each through a triggered
# scraper run; prints each update's trigger-to-published time and phase ends,
# then, per service connection, the statements that took the most time over
# all updates (PostgreSQL's statement log, switched on for the probe and off
# after it). Everything it started is stopped at the end; the kept PostgreSQL
# too, unless it was already running. Used for docs/performance.md "pass 4".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/harness/lib.sh

run=${1:-}
reps=${2:-10}
[ -n "$run" ] && [ -d "$run/pg" ] || die "usage: bench/injury_probe.sh RUN_DIR [REPS] (a BENCH_KEEP=1 run dir)"
bin=$(cd "${STATLINE_BUILD:-build}" 2>/dev/null && pwd) || die "build first (make build)"
for c in psql jq curl redis-cli python3; do command -v "$c" >/dev/null || die "$c not installed"; done

pg_was_up=0
if dsn=$(cat "$run/pg/dsn" 2>/dev/null) && psql "$dsn" -XAtqc 'SELECT 1' >/dev/null 2>&1; then
        pg_was_up=1
else
        dsn=$(tests/harness/pg.sh start "$run/pg" | tail -n 1) || die "the kept PostgreSQL did not start"
fi
export STATLINE_PG_DSN=$dsn
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$STATLINE_PG_DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }
now_ms() { date +%s%3N; }

tmp=$(mktemp -d /tmp/statline-injprobe.XXXXXX)
chmod 755 "$tmp"
mkdir -p "$tmp/redis" "$tmp/logs"
pids=()
cleanup() {
        local pid
        trap - EXIT INT TERM
        sql "ALTER SYSTEM RESET log_min_duration_statement" >/dev/null 2>&1
        sql "ALTER SYSTEM RESET log_line_prefix" >/dev/null 2>&1
        sql "SELECT pg_reload_conf()" >/dev/null 2>&1
        for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for pid in "${pids[@]}"; do
                wait_pid_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        tests/harness/redis.sh stop "$tmp/redis" >/dev/null 2>&1
        [ "$pg_was_up" = 1 ] || tests/harness/pg.sh stop "$run/pg" >/dev/null 2>&1
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STATLINE_BUS_URL=$(tests/harness/redis.sh start "$tmp/redis" | tail -n 1) || die "redis did not start"
export STATLINE_BUS_BACKEND=redis-streams STATLINE_BUS_URL STATLINE_PG_MIGRATIONS=$run/migrations
export STATLINE_BLOB_DIR=$run/blobs STATLINE_PUBLISH_DIR=$run/publish STATLINE_LOG_LEVEL=info

start_fixtures "$bin" "$tmp/logs" "${BENCH_SEED:-42}"
pids+=("$FIXTURES_PID")
league=http://$FIXTURES_ADDR
curl -fsS "$league/_info" >/dev/null || die "statline-fixtures did not start"
for s in raw analytics precompute prediction publishing; do
        "$bin/services/$s/statline-$s" >"$tmp/logs/$s.log" 2>&1 &
        pids+=($!)
done
"$bin/services/scraper/statline-scraper" --set scrape.timer=false --set poll.timeout_ms=10 \
        --set "source.base_url=$league" --set rate.interval_ms=0 --set rate.jitter_ms=0 \
        >"$tmp/logs/scraper.log" 2>&1 &
pids+=($!)
for s in raw analytics precompute prediction publishing scraper; do
        for _ in $(seq 300); do
                grep -q '"event":"svc.start"' "$tmp/logs/$s.log" && break
                sleep 0.1
        done
        grep -q '"event":"svc.start"' "$tmp/logs/$s.log" || die "statline-$s did not start"
done

date=$(sql "SELECT max(game_date) FROM publishing.documents")
mapfile -t players < <(sql "SELECT player_id FROM publishing.documents WHERE game_date = '$date'
                             AND player_id IS NOT NULL ORDER BY player_id LIMIT $reps")
[ "${#players[@]}" -gt 0 ] || die "no published player document in $run"
sql "ALTER SYSTEM SET log_min_duration_statement = 0" >/dev/null
sql "ALTER SYSTEM SET log_line_prefix = '%m [%p] '" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
log0=$(wc -c <"$run/pg/postgres.log")

uuid7() {
        python3 -c 'import os, time, uuid
b = bytearray(int(time.time() * 1000).to_bytes(6, "big") + os.urandom(10))
b[6] = (b[6] & 0x0F) | 0x70
b[8] = (b[8] & 0x3F) | 0x80
print(uuid.UUID(bytes=bytes(b)))'
}
statuses=(Out Questionable Doubtful Probable)
: >"$tmp/ms"
echo "injury_probe: $run, date $date, ${#players[@]} updates"
for ((i = 0; i < ${#players[@]}; i++)); do
        p=${players[$i]}
        # a status other than the player's current one (a byte-identical report is a duplicate)
        cur=$(sql "SELECT coalesce(injury_status, '') FROM analytics.upcoming_player_game_context
                   WHERE game_date = '$date' AND player_id = $p")
        st=${statuses[$((i % 4))]}
        [ "$st" = "$cur" ] && st=${statuses[$(((i + 1) % 4))]}
        # a reason of its own: the report is never byte-identical to one loaded before (a duplicate)
        curl -fsS "$league/_injury?playerId=$p&date=$date&status=$st&reason=probe-$i-$(now_ms)" \
                >/dev/null || die "/_injury failed"
        corr=$(uuid7)
        env=$(jq -cn --arg c "$corr" --arg d "$date" --arg at "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" \
                '{schema_version: "1.0", event_id: $c, type: "scrape.requested", phase: "ops",
                  correlation_id: $c, causation_id: null,
                  traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
                  sport: "nba", game_date: $d, affected_entities: [], idempotency_key: null,
                  produced_at: $at,
                  payload: {game_date: $d, requested_by: "bench/injury_probe", sources: "injuries"}}')
        t0=$(now_ms)
        redis-cli -u "redis://$STATLINE_BUS_URL" XADD statline.nba.scrape.requested '*' d "$env" >/dev/null
        # done: published, or stopped at raw (skipped), at most 10 s
        for _ in $(seq 1000); do
                [ "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$corr'
                          AND (phase = 'publishing' OR (phase = 'raw' AND status = 'skipped'))")" -gt 0 ] && break
                sleep 0.01
        done
        e=$(sql "SELECT (extract(epoch FROM max(completed_at)) * 1000)::bigint - $t0
                 FROM ops.pipeline_execution_log WHERE correlation_id = '$corr'
                 HAVING bool_or(phase = 'publishing')")
        [ -n "$e" ] && echo "$e" >>"$tmp/ms"
        echo "  update $i: player $p $st: ${e:-not published (not counted)} ms; phase ends $(sql "SELECT string_agg(phase || '=' ||
                ((extract(epoch FROM m) * 1000)::bigint - $t0), ' ' ORDER BY m) FROM (SELECT phase,
                max(completed_at) m FROM ops.pipeline_execution_log WHERE correlation_id = '$corr'
                GROUP BY phase) x")"
done
[ -s "$tmp/ms" ] || die "no update was published"
echo "trigger to published: p50 $(sort -n "$tmp/ms" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}') ms, max $(sort -n "$tmp/ms" | tail -n 1) ms (the first update after a start is cold)"

# The statements of the probe, per backend: the services each hold one connection.
tail -c +"$((log0 + 1))" "$run/pg/postgres.log" | python3 -c '
import re, sys, collections
tot = collections.defaultdict(lambda: collections.Counter())
cnt = collections.defaultdict(lambda: collections.Counter())
# parse and bind count too: an unnamed statement is planned at bind, which
# the execute line does not include (a third of the time on this path)
for line in sys.stdin:
    m = re.search(r"\[(\d+)\] LOG:  duration: ([0-9.]+) ms  (parse|bind|execute|statement)[^:]*: (.{0,64})", line)
    if m:
        tot[m.group(1)][m.group(4)] += float(m.group(2))
        if m.group(3) in ("execute", "statement"):
            cnt[m.group(1)][m.group(4)] += 1
for pid, c in sorted(tot.items(), key=lambda kv: -sum(kv[1].values()))[:5]:
    print("backend %s: %.1f ms in %d statements; the most:" % (pid, sum(c.values()), sum(cnt[pid].values())))
    for stmt, ms in c.most_common(6):
        print("  %8.1f ms %5d x  %s" % (ms, cnt[pid][stmt], stmt))
'
