#!/usr/bin/env bash
# scheduler_tool.sh BACKEND (redis-streams | kafka): statline-scheduler
# against the real services (tools/scheduler/README.md), on a fake clock.
#   - statline-fixtures (seed 42), a private database, bus prefix and groups,
#     the five consuming services and statline-scraper in service mode
#     (triggers only); three days of history through statline-backfill;
#   - --dry-run lists the next fire times and dates (worked out by hand);
#     a bad schedule file is refused with its line number (exit 78);
#   - --once --at D4T04:00 fires the nightly entry (scrape of D3); the same
#     minute again is not fired twice; with the scraper paused (SIGSTOP) the
#     next matching minute is skipped because the previous run is still
#     going; after SIGCONT the run reaches publishing under the trigger's
#     correlation id (checked in ops.pipeline_execution_log); then the entry
#     fires again;
#   - the long-running mode starts and exits 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
for c in psql jq curl; do
        command -v $c >/dev/null || it_skip_all "$c not installed"
done
BACKEND=${1:-redis-streams}
case $BACKEND in
redis-streams) it_init scheduler_tool_streams ;;
kafka) it_init scheduler_tool_kafka ;;
*) it_init scheduler_tool ;;
esac
it_backend "$BACKEND"

tl_bins
SCHEDULER=${STATLINE_SCHEDULER:-$BUILD/tools/scheduler/statline-scheduler}
for b in "$FIXTURES" "$BACKFILL" "$SCHEDULER" "${BIN[@]}"; do
        [[ -x $b ]] || it_bail "not found: $b"
done
ADMIN_DSN=$STATLINE_TEST_PG_DSN
DB="sl_it_sched_$$_$RANDOM"
PREFIX="itsched$$x$RANDOM"
DSN=$(it_dsn_for "$ADMIN_DSN" "$DB")
for t in scraper raw analytics precompute prediction publishing; do
        IT_EXTRA_KEYS+=("$PREFIX.nba.$t.completed" "$PREFIX.nba.$t.completed.dlq")
done
IT_EXTRA_KEYS+=("$PREFIX.nba.scrape.requested" "$PREFIX.nba.scrape.requested.dlq")
mkdir -p "$IT_DIR/blobs" "$IT_DIR/publish"
SVC_PIDS=()
declare -A PID_OF
sched_cleanup() {
        local pid
        for pid in "${SVC_PIDS[@]}"; do
                kill -CONT "$pid" 2>/dev/null
                kill -TERM "$pid" 2>/dev/null
        done
        for pid in "${SVC_PIDS[@]}"; do
                timeout 15 tail --pid="$pid" -f /dev/null 2>/dev/null
        done
        psql "$ADMIN_DSN" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
}
IT_ON_EXIT=sched_cleanup

# sql, fx, day: tools_lib.sh

"$FIXTURES" --port 0 --seed 42 --log-level warn >"$IT_DIR/fixtures.out" 2>"$IT_DIR/fixtures.err" &
IT_PIDS+=($!)
it_must "statline-fixtures is listening" it_wait_for 30 grep -q '^listening ' "$IT_DIR/fixtures.out"
FX="http://$(sed -n 's/^listening //p' "$IT_DIR/fixtures.out")"
FIRST=$(fx _info | jq -r .firstDay)
D3=$(day "$FIRST" 3)
D4=$(day "$FIRST" 4)
D5=$(day "$FIRST" 5)

cat >"$IT_DIR/schedule" <<EOF
# statline schedule for the test
0 4 * * *     nightly   scrape date=yesterday    # last night's box scores
30 5 * * *    sync      scrape date=today sources=schedule
15 9 * * 1-5  morning   scrape date=today sources=injuries,props
EOF

# --- dry run and bad files (no database, no bus) --------------------------------------------------
out=$("$SCHEDULER" --file "$IT_DIR/schedule" --dry-run --at "${D4}T03:59" --count 2 2>&1)
rc=$?
it_is "--dry-run exits 0" "$rc" 0
it_diag "$(tr '\n' '|' <<<"$out")"
it_is "--dry-run: nightly fires at 04:00 and scrapes yesterday" \
        "$(sed -n '/^nightly/,/^[a-z]/p' <<<"$out" | grep '^  ' | tr -s ' ' | tr '\n' '|')" \
        " ${D4}T04:00 scrape $D3| $(day "$D4" 1)T04:00 scrape $D4|"
# 2024-10-26 (first day + 4 for the 2024-25 season) is a Saturday: the weekday entry waits for Monday
if [[ $FIRST == 2024-10-22 ]]; then
        it_is "--dry-run: the weekday entry skips the weekend" \
                "$(sed -n '/^morning/,$p' <<<"$out" | sed -n 2p | tr -s ' ')" " 2024-10-28T09:15 scrape 2024-10-28"
fi
printf '0 4 * * * nightly scrape\n61 4 * * * bad scrape\n' >"$IT_DIR/bad"
out=$("$SCHEDULER" --file "$IT_DIR/bad" --dry-run 2>&1)
rc=$?
it_is "a bad schedule file: exit 78" "$rc" 78
it_like "the message names the file, line and field" "$out" "bad:2: '61 4 \\* \\* \\*': bad minute field '61'"

# --- the stack ------------------------------------------------------------------------------------
psql "$ADMIN_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null
export STATLINE_PG_DSN=$DSN STATLINE_BUS_BACKEND=$BACKEND STATLINE_BUS_URL=$IT_URL
export STATLINE_BUS_PREFIX=$PREFIX STATLINE_BLOB_DIR=$IT_DIR/blobs STATLINE_PUBLISH_DIR=$IT_DIR/publish
export STATLINE_PG_MIGRATIONS=$IT_SRC/db/migrations STATLINE_LOG_LEVEL=info
export STATLINE_RETRY_DELAYS_MS=250,1000,3000
for s in "${SERVICES[@]}"; do
        u=${s^^}
        export "STATLINE_${u}_BUS_GROUP=$s-$PREFIX"
        if [[ $s == scraper ]]; then
                "${BIN[$s]}" --set scrape.timer=false --set "source.base_url=$FX" --set rate.interval_ms=0 \
                        --set rate.jitter_ms=0 >"$IT_DIR/$s.log" 2>&1 &
        else
                "${BIN[$s]}" >"$IT_DIR/$s.log" 2>&1 &
        fi
        SVC_PIDS+=($!)
        IT_PIDS+=($!)
        PID_OF[$s]=$!
done
started() {
        local s
        for s in "${SERVICES[@]}"; do
                grep -q '"event":"svc.fatal"' "$IT_DIR/$s.log" && it_bail "statline-$s did not start"
                grep -q '"event":"svc.start"' "$IT_DIR/$s.log" || return 1
        done
}
it_must "the six services start" it_wait_for 90 started
out=$("$BACKFILL" --sport nba --from "$FIRST" --to "$(day "$FIRST" 2)" --workers 1 --timeout 120 2>"$IT_DIR/hist.err")
it_is "three days of history (statline-backfill exit 0)" "$?" 0

# --- fire, not twice, skip while running, fire again ---------------------------------------------
SCHED=("$SCHEDULER" --file "$IT_DIR/schedule" --once)
kill -STOP "${PID_OF[scraper]}" # the trigger waits: the run is "going" for sure until SIGCONT
out=$("${SCHED[@]}" --at "${D4}T04:00" 2>"$IT_DIR/s1.err")
rc=$?
it_diag "$out"
it_is "--once at 04:00: exit 0" "$rc" 0
it_like "nightly fired a scrape of yesterday ($D3)" "$out" "^${D4}T04:00 nightly: fired: scrape $D3 \\(correlation "
it_is "only the nightly entry matched 04:00" "$(grep -c . <<<"$out")" 1
CORR=$(sed -n 's/.*(correlation \([0-9a-f-]*\),.*/\1/p' <<<"$out")
it_is "the fire is recorded" "$(sql "SELECT status || ' ' || game_date || ' ' || correlation_id FROM ops.scheduler_fires WHERE entry = 'nightly'")" "fired $D3 $CORR"
out=$("${SCHED[@]}" --at "${D4}T04:00" 2>>"$IT_DIR/s1.err")
it_like "the same minute again is not fired twice" "$out" "nightly: already fired for this minute"

out=$("${SCHED[@]}" --at "${D5}T04:00" 2>>"$IT_DIR/s1.err")
it_diag "$out"
it_like "the next night is skipped: the previous run is still going" "$out" \
        "^${D5}T04:00 nightly: skipped: previous run $CORR still going \\(scrape not started\\)"
it_is "the skip is recorded with its reason" \
        "$(sql "SELECT count(*) FROM ops.scheduler_fires WHERE entry = 'nightly' AND status = 'skipped' AND reason LIKE '%still going%'")" 1
kill -CONT "${PID_OF[scraper]}"

published() {
        [[ $(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'
                  AND phase = 'publishing' AND status = 'completed'") -gt 0 ]]
}
T0=$(date +%s%3N)
if it_wait_for 120 published; then
        it_ok "the scheduled run reached publishing under correlation $CORR ($(($(date +%s%3N) - T0)) ms)"
else
        it_not_ok "the scheduled run reached publishing under correlation $CORR"
        it_diag "$(sql "SELECT phase, status, count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' GROUP BY 1, 2")"
fi
it_is "the scrape ran for $D3 under the trigger's correlation id" \
        "$(sql "SELECT status || ' ' || game_date FROM ops.scrape_runs WHERE correlation_id = '$CORR'")" "completed $D3"
it_like "raw has $D3's games" "$(sql "SELECT count(*) FROM raw.games WHERE game_date = '$D3'")" '^[1-9][0-9]*$'
it_is "every phase of the run carries the correlation id" \
        "$(sql "SELECT string_agg(DISTINCT phase::text, ',' ORDER BY phase::text) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'")" \
        "analytics,precompute,prediction,publishing,raw"
# the whole database idle (as pipeline_week.sh): nothing of the run left in flight
# PENDING_SQL and idle(): tools_lib.sh
it_wait_for 60 idle
out=$("${SCHED[@]}" --at "$(day "$D5" 1)T04:00" 2>>"$IT_DIR/s1.err")
it_like "once the run is over, the entry fires again" "$out" "nightly: fired: scrape $D5"

# --- the long-running mode -------------------------------------------------------------------------
"$SCHEDULER" --file "$IT_DIR/schedule" >"$IT_DIR/loop.out" 2>"$IT_DIR/loop.err" &
LP=$!
IT_PIDS+=($LP)
it_must "the long-running scheduler starts" it_wait_for 20 grep -q '^scheduler: 3 entries' "$IT_DIR/loop.out"
kill -TERM $LP
T0=$(date +%s%3N)
wait $LP
it_is "SIGTERM: exit 0 ($(($(date +%s%3N) - T0)) ms)" "$?" 0
it_done
