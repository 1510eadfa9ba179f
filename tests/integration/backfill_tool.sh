#!/usr/bin/env bash
# backfill_tool.sh BACKEND (redis-streams | kafka): statline-backfill against
# the real services (tools/backfill/README.md).
#   - statline-fixtures (seed 42) and, per stack, a private database on the
#     shared cluster, a private bus prefix and consumer groups, the five
#     consuming services and statline-scraper in service mode (triggers only);
#   - stack A, the baseline: the dates scraped one after another with
#     scrape.once, waiting until the pipeline is idle after each (like
#     pipeline_week.sh): a run done uninterrupted, without the tool;
#   - stack B: --dry-run prints the plan; statline-backfill --workers 1 over
#     the same dates, SIGKILLed while a date is in flight; the checkpoint
#     shows done / in_flight / pending; --dry-run then shows the resume; the
#     same command resumes (the done dates are not scraped again, the date in
#     flight is run again under its correlation id) and exits 0;
#   - checks, recomputed by the test: every row of the raw / analytics /
#     precompute / prediction / publishing tables (timestamps and uuids left
#     out) and every published file equal stack A's; every date's correlation
#     id reached publishing or stopped with a skip reason; the data-quality
#     rows (raw vs the served documents) all passed, and their expected player
#     lines equal the lines the fixtures server serves;
#   - then --workers 3 over the next dates: at most 3 in flight at once (from
#     the checkpoint's start/finish times), more than 1 at some point;
#   - a failing date (the props endpoint answers 500 for it): exit 1, the
#     report names the date, the reason and a retry command; the retry command
#     succeeds once the fault is gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
for c in psql jq curl python3; do
        command -v $c >/dev/null || it_skip_all "$c not installed"
done
BACKEND=${1:-redis-streams}
case $BACKEND in
redis-streams) it_init backfill_tool_streams ;;
kafka) it_init backfill_tool_kafka ;;
*) it_init backfill_tool ;;
esac
it_backend "$BACKEND"

tl_bins
SCRAPER=${BIN[scraper]}
for b in "$FIXTURES" "$BACKFILL" "${BIN[@]}"; do
        [[ -x $b ]] || it_bail "not found: $b (set STATLINE_SCRAPER/FIXTURES/BACKFILL/RAWBIN/...)"
done
NDATES=${STATLINE_IT_BACKFILL_DATES:-5}
ADMIN_DSN=$STATLINE_TEST_PG_DSN
UNIQ="$$x$RANDOM"
SHM=
if [[ -d /dev/shm && -w /dev/shm ]]; then
        SHM=$(mktemp -d /dev/shm/sl-bf.XXXXXX) || SHM=
fi
PUBDIR=${SHM:-$IT_DIR}/publish # the same path for both stacks (it is in publishing rows)
BLOBS=$IT_DIR/blobs
mkdir -p "$BLOBS"
DBS=()
SVC_PIDS=()

stop_stack() {
        local pid
        for pid in "${SVC_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for pid in "${SVC_PIDS[@]}"; do
                timeout 15 tail --pid="$pid" -f /dev/null 2>/dev/null
        done
        SVC_PIDS=()
}
bf_cleanup() {
        local db
        stop_stack
        [[ -n $SHM ]] && rm -rf "$SHM"
        for db in "${DBS[@]}"; do
                psql "$ADMIN_DSN" -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
        done
}
IT_ON_EXIT=bf_cleanup

# use_stack NAME: a private database and bus prefix; exports what the tools read.
use_stack() {
        DB="sl_it_bf_${1}_$UNIQ"
        PREFIX="itbf${1}$UNIQ"
        DSN=$(it_dsn_for "$ADMIN_DSN" "$DB")
        DBS+=("$DB")
        for t in scraper raw analytics precompute prediction publishing; do
                IT_EXTRA_KEYS+=("$PREFIX.nba.$t.completed" "$PREFIX.nba.$t.completed.dlq")
        done
        IT_EXTRA_KEYS+=("$PREFIX.nba.scrape.requested" "$PREFIX.nba.scrape.requested.dlq")
        psql "$ADMIN_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null
        export STATLINE_PG_DSN=$DSN STATLINE_BUS_BACKEND=$BACKEND STATLINE_BUS_URL=$IT_URL
        export STATLINE_BUS_PREFIX=$PREFIX STATLINE_BLOB_DIR=$BLOBS STATLINE_PUBLISH_DIR=$PUBDIR
        export STATLINE_PG_MIGRATIONS=$IT_SRC/db/migrations STATLINE_LOG_LEVEL=info
        export STATLINE_RETRY_DELAYS_MS=250,1000,3000
}

# start_stack NAME: the six services on the current stack.
start_stack() {
        local s u
        rm -rf "$PUBDIR" && mkdir -p "$PUBDIR"
        for s in "${SERVICES[@]}"; do
                u=${s^^}
                export "STATLINE_${u}_BUS_GROUP=$s-$PREFIX"
        done
        for s in "${SERVICES[@]}"; do
                if [[ $s == scraper ]]; then
                        "${BIN[$s]}" --set scrape.timer=false --set "source.base_url=$FX" \
                                --set rate.interval_ms=0 --set rate.jitter_ms=0 \
                                --set fetch.retry_delays_ms=50,100 --set fetch.attempts=2 \
                                >"$IT_DIR/$1-$s.log" 2>&1 &
                else
                        "${BIN[$s]}" >"$IT_DIR/$1-$s.log" 2>&1 &
                fi
                SVC_PIDS+=($!)
                IT_PIDS+=($!)
        done
        started() {
                local x
                for x in "${SERVICES[@]}"; do
                        grep -q '"event":"svc.fatal"' "$IT_DIR/$1-$x.log" &&
                                it_bail "statline-$x did not start: $(grep -m 1 svc.fatal "$IT_DIR/$1-$x.log")"
                        grep -q '"event":"svc.start"' "$IT_DIR/$1-$x.log" || return 1
                done
        }
        it_wait_for 90 started "$1"
}

# sql, fx, day: tools_lib.sh

# The whole database idle: every scraper event handled by raw, every outbox
# event handled by the next phase, nothing unpublished (as pipeline_week.sh).
# PENDING_SQL and idle(): tools_lib.sh

# fingerprint FILE: every table of the five data schemas without its
# timestamp and uuid columns (count + md5 of the rows in text order), and
# every published file's sha256.
fingerprint() {
        local t cols
        {
        for t in $(sql "SELECT table_schema || '.' || table_name FROM information_schema.tables
                        WHERE table_schema IN ('raw', 'analytics', 'precompute', 'prediction', 'publishing')
                          AND table_type = 'BASE TABLE' ORDER BY 1"); do
                cols=$(sql "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
                            FROM information_schema.columns WHERE table_schema || '.' || table_name = '$t'
                            AND data_type NOT IN ('timestamp with time zone', 'timestamp without time zone', 'uuid')")
                echo "$t $(sql "SELECT count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), ''))
                                FROM (SELECT $cols FROM $t) x")"
        done
        (cd "$PUBDIR" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
        } >"$1"
}

# served_players DATE: player lines of the date's Final games as the
# fixtures server serves them (v2 box scores), counted with jq.
served_players() {
        local d=$1 us gid total=0 n
        us=$(date -u -d "$d" +%m/%d/%Y)
        for gid in $(fx "stats/scoreboardv2?DayOffset=0&GameDate=$us&LeagueID=00" |
                jq -r '.resultSets[] | select(.name == "GameHeader") as $s
                       | ($s.headers | index("GAME_ID")) as $g | ($s.headers | index("GAME_STATUS_ID")) as $st
                       | $s.rowSet[] | select(.[$st] == 3) | .[$g]'); do
                n=$(fx "stats/boxscoretraditionalv2?EndPeriod=10&EndRange=28800&GameID=$gid&RangeType=0&StartPeriod=1&StartRange=0" |
                        jq '.resultSets[] | select(.name == "PlayerStats") | .rowSet | length')
                total=$((total + ${n:-0}))
        done
        echo "$total"
}

# --- fixtures ---------------------------------------------------------------------------------------
"$FIXTURES" --port 0 --seed 42 --log-level warn >"$IT_DIR/fixtures.out" 2>"$IT_DIR/fixtures.err" &
IT_PIDS+=($!)
it_must "statline-fixtures is listening" it_wait_for 30 grep -q '^listening ' "$IT_DIR/fixtures.out"
FX="http://$(sed -n 's/^listening //p' "$IT_DIR/fixtures.out")"
FIRST=$(fx _info | jq -r .firstDay)
# A few days of history first, so the later dates reach publishing.
START=$(day "$FIRST" 3)
DATES=()
for ((i = 0; i < NDATES; i++)); do DATES+=("$(day "$START" $i)"); done
LAST=${DATES[-1]}
it_diag "fixtures $FX, season opens $FIRST, backfill $START..$LAST, bus $BACKEND $IT_URL"

# --- stack A: the baseline, scraped one date after another -----------------------------------------
use_stack a
it_must "stack A: the six services start" start_stack a
base_ok=1
T0=$(date +%s%3N)
for ((i = 0; i < 3; i++)); do # the history, on both stacks
        d=$(day "$FIRST" $i)
        timeout 120 "$SCRAPER" --set scrape.once=true --set "scrape.date=$d" --set "source.base_url=$FX" \
                --set rate.interval_ms=0 --set rate.jitter_ms=0 >>"$IT_DIR/a-once.out" 2>>"$IT_DIR/a-once.err" &&
                it_wait_for 120 idle || base_ok=0
done
for d in "${DATES[@]}"; do
        timeout 120 "$SCRAPER" --set scrape.once=true --set "scrape.date=$d" --set "source.base_url=$FX" \
                --set rate.interval_ms=0 --set rate.jitter_ms=0 >>"$IT_DIR/a-once.out" 2>>"$IT_DIR/a-once.err" &&
                it_wait_for 120 idle || base_ok=0
done
it_is "stack A: $((NDATES + 3)) dates scraped one after another, pipeline idle after each ($(($(date +%s%3N) - T0)) ms)" "$base_ok" 1
stop_stack
fingerprint "$IT_DIR/fp-a"
it_like "stack A: something was published" "$(find "$PUBDIR" -type f | wc -l)" '^[1-9][0-9]*$'

# --- stack B: the backfill, killed and resumed -------------------------------------------------------
use_stack b
it_must "stack B: the six services start" start_stack b
# the same history, with the tool
out=$("$BACKFILL" --sport nba --from "$FIRST" --to "$(day "$FIRST" 2)" --workers 1 --timeout 120 2>"$IT_DIR/hist.err")
rc=$?
it_diag "$(tail -n 3 <<<"$out")"
it_is "stack B: the history backfilled (exit 0)" "$rc" 0
it_is "non-interactive progress: one line per 25/50/75/100% mark (3 dates)" \
        "$(grep -o '^progress: [0-9]*%' <<<"$out" | tr '\n' ' ')" "progress: 25% progress: 50% progress: 75% progress: 100% "

out=$("$BACKFILL" --sport nba --from "$START" --to "$LAST" --workers 1 --dry-run 2>&1)
it_like "--dry-run prints the plan" "$out" "plan: backfill nba, $NDATES dates $START..$LAST, 1 worker"
it_is "--dry-run lists every date to run" "$(grep -c '^  20..-..-..  run$' <<<"$out")" "$NDATES"
it_is "--dry-run creates no run" "$(sql "SELECT count(*) FROM ops.backfill_runs WHERE date_from = '$START'")" 0

CMD=("$BACKFILL" --sport nba --from "$START" --to "$LAST" --workers 1 --timeout 120 --poll-ms 200)
T0=$(date +%s%3N)
"${CMD[@]}" >"$IT_DIR/bf1.out" 2>"$IT_DIR/bf1.err" &
BF_PID=$!
IT_PIDS+=($BF_PID)
kill_point() {
        [[ $(sql "SELECT count(*) FILTER (WHERE c.status = 'done') >= 2
                         AND count(*) FILTER (WHERE c.status = 'in_flight') = 1
                  FROM ops.backfill_checkpoint c JOIN ops.backfill_runs r USING (run_id)
                  WHERE r.date_from = '$START'" 2>/dev/null) == t ]]
}
it_must "the backfill has two dates done and one in flight" it_wait_for 120 kill_point
kill -KILL $BF_PID
wait $BF_PID 2>/dev/null
STATE=$(sql "SELECT string_agg(c.status, ',' ORDER BY seq) FROM ops.backfill_checkpoint c
             JOIN ops.backfill_runs r USING (run_id) WHERE r.date_from = '$START'")
it_diag "SIGKILLed after $(($(date +%s%3N) - T0)) ms; checkpoint: $STATE"
it_like "checkpoint after the kill: done,done,in_flight,pending..." "$STATE" '^done,done,in_flight(,pending)*$'
INFLIGHT=$(sql "SELECT game_date FROM ops.backfill_checkpoint WHERE status = 'in_flight'")
INFLIGHT_CORR=$(sql "SELECT correlation_id FROM ops.backfill_checkpoint WHERE status = 'in_flight'")

out=$("$BACKFILL" --sport nba --from "$START" --to "$LAST" --workers 1 --dry-run 2>&1)
it_like "--dry-run after the kill shows the resume" "$out" "resumes run"
it_is "--dry-run: two dates to skip" "$(grep -c 'done: skip' <<<"$out")" 2
it_is "--dry-run: the in-flight date runs again" "$(grep -c "$INFLIGHT  was in flight: run again" <<<"$out")" 1

T0=$(date +%s%3N)
"${CMD[@]}" >"$IT_DIR/bf2.out" 2>"$IT_DIR/bf2.err"
rc=$?
it_diag "resume: $(cat "$IT_DIR/bf2.out" | tr '\n' '|')"
it_is "the resumed backfill exits 0 ($(($(date +%s%3N) - T0)) ms)" "$rc" 0
it_like "it says it resumed" "$(head -n 1 "$IT_DIR/bf2.out")" '\(resumed\)$'
it_like "the report counts the dates done before" "$(cat "$IT_DIR/bf2.out")" "$NDATES done \\(2 before this session\\), 0 failed"
# 2 of 5 were done before (40%): the resumed run prints the marks still ahead
it_is "non-interactive progress: 50/75/100% lines after the resume" \
        "$(grep -o '^progress: [0-9]*%' "$IT_DIR/bf2.out" | tr '\n' ' ')" "progress: 50% progress: 75% progress: 100% "
it_is "the two dates done before the kill were not scraped again" \
        "$(sql "SELECT count(*) FROM ops.scrape_runs WHERE game_date IN ('$START', '$(day "$START" 1)')")" 2
it_is "the in-flight date ran again under the same correlation id" \
        "$(sql "SELECT count(*) FROM ops.scrape_runs WHERE game_date = '$INFLIGHT' AND correlation_id = '$INFLIGHT_CORR'")" 2
it_is "every date is done in the checkpoint" \
        "$(sql "SELECT count(*) FROM ops.backfill_checkpoint c JOIN ops.backfill_runs r USING (run_id)
                WHERE r.date_from = '$START' AND c.status = 'done'")" "$NDATES"
it_is "the run is completed" "$(sql "SELECT status FROM ops.backfill_runs WHERE date_from = '$START'")" completed

# every date's correlation id: publishing, or stopped with a skip reason (checked here, not by the tool)
reached=0
for d in "${DATES[@]}"; do
        c=$(sql "SELECT correlation_id FROM ops.backfill_checkpoint c JOIN ops.backfill_runs r USING (run_id)
                 WHERE r.date_from = '$START' AND c.game_date = '$d'")
        p=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$c'
                 AND phase = 'publishing' AND status IN ('completed', 'skipped')")
        w=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$c'
                 AND phase IN ('precompute', 'prediction') AND status = 'skipped'")
        if ((p > 0)); then
                reached=$((reached + 1))
        elif ((w > 0)); then
                it_diag "$d stopped before publishing with a reason"
                reached=$((reached + 1))
        fi
done
it_is "every date's correlation id reached publishing (or stopped with a reason)" "$reached" "$NDATES"
it_like "the last date reached publishing" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log l JOIN ops.backfill_checkpoint c USING (correlation_id)
                WHERE c.game_date = '$LAST' AND l.phase = 'publishing'")" '^[1-9][0-9]*$'

# data quality: all passed, and the expected player lines = what the server serves
it_is "data quality: every check of every date passed" \
        "$(sql "SELECT count(*) FILTER (WHERE passed) || '/' || count(*) FROM ops.data_quality q
                JOIN ops.backfill_runs r USING (run_id) WHERE r.date_from = '$START'" | cut -d/ -f1)" \
        "$(sql "SELECT count(*) FROM ops.data_quality q JOIN ops.backfill_runs r USING (run_id) WHERE r.date_from = '$START'")"
it_is "data quality: the four checks for every date" \
        "$(sql "SELECT count(DISTINCT (game_date, check_name)) FROM ops.data_quality q JOIN ops.backfill_runs r USING (run_id) WHERE r.date_from = '$START'")" \
        "$((4 * NDATES))"
exp=$(sql "SELECT expected FROM ops.data_quality WHERE game_date = '$LAST' AND check_name = 'player_rows' ORDER BY id DESC LIMIT 1")
it_is "data quality: expected player lines on $LAST = the served box scores (jq)" "$exp" "$(served_players "$LAST")"

it_wait_for 30 idle
sleep 1
stop_stack
fingerprint "$IT_DIR/fp-b"
if cmp -s "$IT_DIR/fp-a" "$IT_DIR/fp-b"; then
        it_ok "killed + resumed backfill = the uninterrupted run: every data row and published file equal ($(grep -c '^[a-z]*\.' "$IT_DIR/fp-a") tables, $(grep -vc '^[a-z]*\.' "$IT_DIR/fp-a") files)"
else
        it_not_ok "killed + resumed backfill = the uninterrupted run"
        it_diag "$(diff "$IT_DIR/fp-a" "$IT_DIR/fp-b" | head -20)"
fi

# --- workers 3 and a failing date ------------------------------------------------------------------
it_must "stack B restarts" start_stack b2
NEXT=$(day "$LAST" 1)
NEXT3=$(day "$LAST" 3)
out=$("$BACKFILL" --sport nba --from "$NEXT" --to "$NEXT3" --timeout 120 --poll-ms 200 2>"$IT_DIR/bf3.err")
rc=$?
it_diag "$(tail -n 2 <<<"$out")"
it_is "--workers 3 (the default) over 3 dates: exit 0" "$rc" 0
# the most dates in flight at once, from the checkpoint's intervals
MAXPAR=$(sql "SELECT max(n) FROM (SELECT (SELECT count(*) FROM ops.backfill_checkpoint b
              WHERE b.run_id = a.run_id AND b.started_at <= a.started_at AND b.finished_at > a.started_at) n
              FROM ops.backfill_checkpoint a JOIN ops.backfill_runs r USING (run_id) WHERE r.date_from = '$NEXT') x")
it_like "--workers 3: up to 3 dates in flight at once (seen: $MAXPAR)" "$MAXPAR" '^[23]$'

BAD=$(day "$LAST" 4)
fx "_faults?path=/props&kind=500&count=1000&match=date%3D$BAD" >/dev/null
out=$("$BACKFILL" --sport nba --from "$BAD" --to "$(day "$BAD" 1)" --workers 1 --timeout 120 --poll-ms 200 2>"$IT_DIR/bf4.err")
rc=$?
it_diag "$(tr '\n' '|' <<<"$out")"
it_is "a failing date: exit 1" "$rc" 1
it_like "the report names the failed date and why" "$out" "  $BAD  scrape failed: props $BAD: HTTP 500"
it_like "the other date is done" "$out" "2 dates, 1 done \\(0 before this session\\), 1 failed"
RETRY=$(grep -A1 '^retry them with:' <<<"$out" | tail -n 1 | sed 's/^ *//')
it_is "the retry command" "$RETRY" "statline-backfill --sport nba --dates $BAD --workers 1 --timeout 120"
fx "_faults?clear=1" >/dev/null
read -r -a RARGS <<<"${RETRY#statline-backfill }"
out=$("$BACKFILL" "${RARGS[@]}" --poll-ms 200 2>"$IT_DIR/bf5.err")
rc=$?
it_diag "$(tail -n 1 <<<"$out")"
it_is "the retry command succeeds once the source is back" "$rc" 0

# --- priority: live runs before backfill ---------------------------------------------------------
# A run somebody else triggered (the scheduler) is in flight: a backfill starts
# no new date until it settled; --yield-window 0 turns that off.
LIVE_CORR=$(sql "SELECT gen_random_uuid()")
sql "INSERT INTO ops.scrape_runs (trigger_event_id, correlation_id, sport, game_date, requested_by,
        sources, status, started_at) VALUES (gen_random_uuid(), '$LIVE_CORR', 'nba', '$(day "$BAD" 1)',
        'statline-scheduler', 'scoreboard', 'running', now())" >/dev/null
Y1=$(day "$BAD" 2)
Y2=$(day "$BAD" 3)
out=$("$BACKFILL" --sport nba --dates "$Y1" --workers 1 --timeout 120 --poll-ms 200 --yield-window 0 2>"$IT_DIR/bf6.err")
rc=$?
it_is "--yield-window 0: the backfill runs beside a live run (exit 0)" "$rc" 0
it_is "--yield-window 0: it did not yield" "$(grep -c '^yielding' <<<"$out")" 0
"$BACKFILL" --sport nba --dates "$Y2" --workers 1 --timeout 120 --poll-ms 200 >"$IT_DIR/bf7.out" 2>"$IT_DIR/bf7.err" &
BF_PID=$!
it_must "a backfill yields to the live run in flight" it_wait_for 30 grep -q "^yielding to live run $LIVE_CORR" "$IT_DIR/bf7.out"
sleep 2
it_is "while it yields, its date is not triggered" \
        "$(sql "SELECT count(*) FROM ops.scrape_runs WHERE game_date = '$Y2'")" 0
it_is "while it yields, its date is pending in the checkpoint" \
        "$(sql "SELECT c.status FROM ops.backfill_checkpoint c JOIN ops.backfill_runs r USING (run_id)
                WHERE r.date_from = '$Y2' AND c.game_date = '$Y2'")" pending
sql "UPDATE ops.scrape_runs SET status = 'completed', games = 0, games_final = 0, fetched = 1, stored = 0,
        unchanged = 1, skipped = 0, failed = 0, completed_at = now() WHERE correlation_id = '$LIVE_CORR'" >/dev/null
wait $BF_PID
rc=$?
it_is "once the live run settled, the backfill goes on (exit 0)" "$rc" 0
it_like "it says so" "$(cat "$IT_DIR/bf7.out")" "live run $LIVE_CORR settled; backfill goes on"
it_like "the report shows the wait" "$(cat "$IT_DIR/bf7.out")" "waited [0-9hms]* for live runs"
it_is "the date ran after the live run settled" \
        "$(sql "SELECT count(*) FROM ops.scrape_runs s, ops.scrape_runs l WHERE s.game_date = '$Y2'
                AND l.correlation_id = '$LIVE_CORR' AND s.started_at >= l.completed_at")" 1

# --- a date whose events are dead-lettered: failed with the reason, not waited out ----------------
# raw.player_boxscores renamed away: raw dead-letters the box scores (SQLSTATE 42P01, PERMANENT);
# the runtime records each dead letter in the run's log (processor dlq), so the date settles as
# failed at once instead of counting them "in flight" until --timeout.
DL=$(day "$BAD" 5)
sql "ALTER TABLE raw.player_boxscores RENAME TO player_boxscores_away" >/dev/null
out=$("$BACKFILL" --sport nba --dates "$DL" --workers 1 --timeout 240 --poll-ms 200 2>"$IT_DIR/bf8.err")
rc=$?
sql "ALTER TABLE raw.player_boxscores_away RENAME TO player_boxscores" >/dev/null
it_diag "$(tr '\n' '|' <<<"$out")"
it_is "dead-lettered events: the date failed (exit 1)" "$rc" 1
it_like "the report says where they went and why, not 'timeout'" "$out" \
        "  $DL  [0-9]+ failed steps?: .*/dlq: dead-lettered \\(PERMANENT\\) to [^ ]*completed.dlq: [^;]*player_boxscores[^;]* does not exist"

for s in "${SERVICES[@]}"; do
        if grep -q '"event":"svc.fatal"' "$IT_DIR"/*-$s.log; then
                it_diag "$s: $(grep -h -m 2 svc.fatal "$IT_DIR"/*-$s.log)"
        fi
done
it_done
