#!/usr/bin/env bash
# pipeline_week.sh BACKEND (redis-streams | kafka): a simulated week through
# all six services as separate processes, checked against an independent
# recomputation (tests/integration/pipeline_week.py), then the same week again.
#   - a private database on the shared cluster (STATLINE_TEST_PG_DSN), a
#     private bus prefix and consumer groups on the shared Redis / Kafka
#     (STATLINE_TEST_REDIS / STATLINE_TEST_KAFKA), statline-fixtures on port 0;
#   - the league's "now" is set to the first game day W0; the season's first
#     HISTORY days (STATLINE_IT_WEEK_HISTORY, default 6) are scraped as
#     history, then for each of 7 game days D: now = D, the day before is
#     scraped again (its box scores are Final now) and D itself (slate, props,
#     injuries); finally now = W6 + 1 and W6 again. After every scrape the test
#     waits until the pipeline is idle (every scraper / outbox event of the
#     database handled by the next phase) and checks the run reached publishing.
#   - checks (independent of the services' SQL):
#     1. raw.player_boxscores = the box scores the server serves (every player
#        line and the team sums) for every game of the week;
#     2. analytics.player_game_summary pts / minutes / ts_pct of every
#        player-game of the week = recomputed from the served JSON;
#     3. moving_average (every player predicted in the week, every market) =
#        the README's formula recomputed from raw box scores before the date;
#     4. predictions.json (and players/<id>.json) = the prediction rows; the
#        ensemble's recommendation follows value, line and edge;
#     5. no failed execution-log row, every scrape run reached publishing
#        (or stopped on purpose with a reason: a first day without history, a
#        prediction whose inputs an earlier run of the date already saw),
#        every DLQ empty;
#   - the same week again (every date scraped again): no row of any raw /
#     analytics / precompute / prediction / publishing table changed (md5 of
#     the rows, count, max updated_at), published files byte-identical and not
#     rewritten (inode, mtime).
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
for c in psql jq curl python3; do
        command -v $c >/dev/null || it_skip_all "$c not installed"
done
BACKEND=${1:-redis-streams}
case $BACKEND in
redis-streams) it_init pipeline_week_streams ;;
kafka) it_init pipeline_week_kafka ;;
*) it_init pipeline_week ;;
esac
it_backend "$BACKEND"

BUILD=${STATLINE_BUILD:-$IT_SRC/build}
SCRAPER=${STATLINE_SCRAPER:-$BUILD/services/scraper/statline-scraper}
FIXTURES=${STATLINE_FIXTURES:-$BUILD/tools/fixtures/statline-fixtures}
declare -A BIN=(
        [raw]=${STATLINE_RAWBIN:-$BUILD/services/raw/statline-raw}
        [analytics]=${STATLINE_ANALYTICSBIN:-$BUILD/services/analytics/statline-analytics}
        [precompute]=${STATLINE_PRECOMPUTEBIN:-$BUILD/services/precompute/statline-precompute}
        [prediction]=${STATLINE_PREDBIN:-$BUILD/services/prediction/statline-prediction}
        [publishing]=${STATLINE_PUBBIN:-$BUILD/services/publishing/statline-publishing}
)
SERVICES=(raw analytics precompute prediction publishing)
for b in "$SCRAPER" "$FIXTURES" "${BIN[@]}"; do
        [[ -x $b ]] || it_bail "not found: $b (set STATLINE_SCRAPER/FIXTURES/RAWBIN/...)"
done
CHECK="python3 $(dirname "$0")/pipeline_week.py"
HISTORY=${STATLINE_IT_WEEK_HISTORY:-6}
WEEK=7
SEED=42

ADMIN_DSN=$STATLINE_TEST_PG_DSN
DB="sl_it_week_$$_$RANDOM"
PREFIX="itweek$$x$RANDOM"
BLOBS=$IT_DIR/blobs
# statline-publishing fsyncs every document it writes (~2,000 in a run): on
# tmpfs when there is one, so the disk of a shared machine does not set the pace.
SHM=
if [[ -d /dev/shm && -w /dev/shm ]]; then
        SHM=$(mktemp -d /dev/shm/sl-week.XXXXXX) || SHM=
fi
PUBDIR=${SHM:-$IT_DIR}/publish
DUMP=$IT_DIR/dump
mkdir -p "$BLOBS" "$PUBDIR" "$DUMP"
TOPICS=()
for t in scraper raw analytics precompute prediction publishing; do
        TOPICS+=("$PREFIX.nba.$t.completed")
        [[ $t != publishing ]] && TOPICS+=("$PREFIX.nba.$t.completed.dlq")
done
IT_EXTRA_KEYS+=("${TOPICS[@]}")

dsn_for() {
        local base=$1 db=$2 scheme rest host query=
        if [[ $base =~ ^postgres(ql)?:// ]]; then
                scheme=${base%%://*}
                rest=${base#*://}
                [[ $rest == *\?* ]] && query="?${rest#*\?}"
                host=${rest%%\?*}
                host=${host%%/*}
                echo "$scheme://$host/$db$query"
        else
                echo "$base dbname=$db"
        fi
}
DSN=$(dsn_for "$ADMIN_DSN" "$DB")

SVC_PIDS=()
week_cleanup() {
        local pid
        # SIGTERM first (the services drain), then it_cleanup's SIGKILL.
        for pid in "${SVC_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for pid in "${SVC_PIDS[@]}"; do
                timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null
        done
        [[ -n $SHM ]] && rm -rf "$SHM"
        if [[ -n ${STATLINE_IT_KEEP_DB:-} ]]; then
                echo "# database kept: $DSN"
        else
                psql "$ADMIN_DSN" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
        fi
}
IT_ON_EXIT=week_cleanup

sql() {
        PGOPTIONS="-c client_min_messages=warning" PGCONNECT_TIMEOUT=10 \
                psql "$DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

fx() {
        curl -sf --max-time 10 "$FX/$1"
}

day() { date -u -d "$1 + $2 days" +%F; }

# scrape DATE [--set k=v]...: one scraper run (--set scrape.once=true); sets CORR.
SCRAPES=0
scrape() {
        local d=$1 log=$IT_DIR/scrape-$1-$SCRAPES rc
        shift
        SCRAPES=$((SCRAPES + 1))
        timeout -k 5 120 "$SCRAPER" --set scrape.once=true --set "scrape.date=$d" \
                --set "source.base_url=$FX" --set rate.interval_ms=0 --set rate.jitter_ms=0 \
                --set fetch.retry_delays_ms=50,100 "$@" >"$log.out" 2>"$log.err"
        rc=$?
        CORR=$(sed -n 's/.*\bcorrelation_id=\([^ ]*\).*/\1/p' "$log.out" | head -n 1)
        STORED=$(sed -n 's/.*\bstored=\([0-9]*\).*/\1/p' "$log.out" | head -n 1)
        if [[ $rc -ne 0 ]]; then
                it_diag "scrape $d exit $rc: $(cat "$log.out")"
                return 1
        fi
        return 0
}

# pending: events published but not yet handled (a completed/skipped row of
# the next phase with that event id), over the whole database.
PENDING_SQL="
WITH s AS (SELECT correlation_id, count(*) n FROM ops.scraper_execution_log
           WHERE status = 'completed' GROUP BY 1),
     r AS (SELECT correlation_id, count(DISTINCT event_id) n FROM ops.pipeline_execution_log
           WHERE phase = 'raw' AND status IN ('completed', 'skipped') GROUP BY 1)
SELECT (SELECT coalesce(sum(s.n - coalesce(r.n, 0)), 0) FROM s LEFT JOIN r USING (correlation_id))
     + (SELECT count(*) FROM ops.outbox o
        WHERE o.topic NOT LIKE '%.publishing.completed'
          AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log l
                          WHERE l.event_id = (convert_from(o.payload, 'UTF8')::jsonb->>'event_id')::uuid
                            AND l.status IN ('completed', 'skipped')))
     + (SELECT count(*) FROM ops.outbox WHERE published_at IS NULL)"
idle() {
        [[ $(sql "$PENDING_SQL" 2>/dev/null) == 0 ]]
}

# run_day DATE: scrape DATE, wait until the pipeline is idle; records the
# correlation id and the wall time.
CORRS=()
run_day() {
        local d=$1 t0=$(date +%s%3N)
        shift
        scrape "$d" "$@" || return 1
        [[ -n $CORR ]] || return 1
        CORRS+=("$CORR")
        if ! it_wait_for 120 idle; then
                it_diag "pipeline not idle 120 s after scraping $d: pending $(sql "$PENDING_SQL")"
                return 1
        fi
        DAY_MS=$(($(date +%s%3N) - t0))
        return 0
}

# fingerprint FILE: every table of the five data schemas (count, md5 of the
# rows in text order, max updated_at), plus every published file's sha256,
# inode and mtime.
fingerprint() {
        local t tables
        tables=$(sql "SELECT table_schema || '.' || table_name FROM information_schema.tables
                      WHERE table_schema IN ('raw', 'analytics', 'precompute', 'prediction', 'publishing')
                        AND table_type = 'BASE TABLE' ORDER BY 1")
        {
                for t in $tables; do
                        if [[ -n $(sql "SELECT 1 FROM information_schema.columns WHERE table_schema || '.' || table_name = '$t' AND column_name = 'updated_at'") ]]; then
                                echo "$t $(sql "SELECT count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')), max(updated_at) FROM $t x")"
                        else
                                echo "$t $(sql "SELECT count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')) FROM $t x")"
                        fi
                done
                (cd "$PUBDIR" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
                (cd "$PUBDIR" && find . -type f -printf '%p %i %T@\n' | sort)
        } >"$1"
}

dump() {
        local t
        for t in raw.player_boxscores raw.games raw.injuries analytics.player_game_summary \
                prediction.player_prop_predictions; do
                psql "$DSN" -X -q -v ON_ERROR_STOP=1 \
                        -c "\\copy (SELECT * FROM $t) TO '$DUMP/${t#*.}.csv' WITH (FORMAT csv, HEADER)" ||
                        return 1
        done
}

dlq_total() {
        local t n total=0
        for t in "${TOPICS[@]}"; do
                [[ $t == *.dlq ]] || continue
                n=$(it_dlq_count "$t")
                total=$((total + ${n:-0}))
        done
        echo "$total"
}

# --- setup -----------------------------------------------------------------------------------------
it_must "creates a private database $DB" \
        psql "$ADMIN_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
"$FIXTURES" --port 0 --seed $SEED --log-level warn >"$IT_DIR/fixtures.out" 2>"$IT_DIR/fixtures.err" &
IT_PIDS+=($!)
it_must "statline-fixtures is listening" it_wait_for 30 grep -q '^listening ' "$IT_DIR/fixtures.out"
FX="http://$(sed -n 's/^listening //p' "$IT_DIR/fixtures.out")"
FIRST=$(fx _info | jq -r .firstDay)
W0=$(day "$FIRST" "$HISTORY")
WDATES=()
for ((i = 0; i < WEEK; i++)); do WDATES+=("$(day "$W0" $i)"); done
it_is "the league's now is the first game day $W0" "$(fx "_now?date=$W0" | jq -r .now)" "$W0"
it_diag "fixtures $FX, season opens $FIRST, history $FIRST..$(day "$W0" -1), week ${WDATES[0]}..${WDATES[-1]}, bus $BACKEND $IT_URL prefix $PREFIX"

export STATLINE_PG_DSN=$DSN STATLINE_BUS_BACKEND=$BACKEND STATLINE_BUS_URL=$IT_URL
export STATLINE_BUS_PREFIX=$PREFIX STATLINE_BLOB_DIR=$BLOBS STATLINE_PUBLISH_DIR=$PUBDIR
export STATLINE_LOG_LEVEL=info
# Some services default pg.migrations to a relative db/migrations (meson runs
# tests in the build dir): name the source tree's directory.
# A snapshot: a migration file someone adds while the week runs must not reach
# the scraper processes started later.
mkdir -p "$IT_DIR/migrations"
cp "$IT_SRC"/db/migrations/*.sql "$IT_DIR/migrations/"
export STATLINE_PG_MIGRATIONS=$IT_DIR/migrations
# Shorter bus retry delays than the default 2,5,10 s: every date's scoreboard
# event is retried once by statline-analytics (see check 5).
export STATLINE_RETRY_DELAYS_MS=${STATLINE_IT_RETRY_DELAYS_MS:-250,1000,3000}
T_SETUP=$(date +%s%3N)
for s in "${SERVICES[@]}"; do
        u=${s^^}
        # private consumer groups: the shared broker may hold other tests' groups
        export "STATLINE_${u}_BUS_GROUP=$s-$PREFIX"
        "${BIN[$s]}" >"$IT_DIR/$s.log" 2>&1 &
        SVC_PIDS+=($!)
        IT_PIDS+=($!)
done
started() {
        local s
        for s in "${SERVICES[@]}"; do
                if grep -q '"event":"svc.fatal"' "$IT_DIR/$s.log"; then
                        it_diag "statline-$s: $(grep -m 1 '"event":"svc.fatal"' "$IT_DIR/$s.log")"
                        it_bail "statline-$s did not start"
                fi
                grep -q '"event":"svc.start"' "$IT_DIR/$s.log" || return 1
        done
}
it_must "the five services start (migrations under the advisory lock)" it_wait_for 60 started
it_diag "services up in $(($(date +%s%3N) - T_SETUP)) ms"

# --- the history ------------------------------------------------------------------------------------
T_HIST=$(date +%s%3N)
hist_ok=1
for ((i = 0; i < HISTORY; i++)); do
        d=$(day "$FIRST" $i)
        run_day "$d" || { hist_ok=0; it_diag "history day $d failed"; break; }
done
[[ $hist_ok == 1 ]] || it_bail "the history did not go through the pipeline"
it_ok "history: $HISTORY days scraped and processed in $(($(date +%s%3N) - T_HIST)) ms"

# --- the week ---------------------------------------------------------------------------------------
T_WEEK=$(date +%s%3N)
week_ok=1
DAY_TIMES=()
for ((i = 0; i < WEEK; i++)); do
        d=${WDATES[$i]}
        fx "_now?date=$d" >/dev/null
        if ((i > 0)); then
                run_day "${WDATES[$((i - 1))]}" || { week_ok=0; break; }
        fi
        run_day "$d" || { week_ok=0; break; }
        DAY_TIMES+=("$d=${DAY_MS}ms")
        # the game day's own run reached publishing
        n=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'
                 AND phase = 'publishing' AND status IN ('completed', 'skipped')")
        it_like "game day $d reached publishing (correlation $CORR)" "$n" '^[1-9][0-9]*$'
done
LAST_NOW=$(day "${WDATES[-1]}" 1)
if [[ $week_ok == 1 ]]; then
        fx "_now?date=$LAST_NOW" >/dev/null
        run_day "${WDATES[-1]}" || week_ok=0
fi
[[ $week_ok == 1 ]] || it_bail "the week did not go through the pipeline"
WEEK_MS=$(($(date +%s%3N) - T_WEEK))
it_ok "week: ${#WDATES[@]} game days in $WEEK_MS ms"
it_diag "game days (scrape to idle): ${DAY_TIMES[*]}"

# --- checks ------------------------------------------------------------------------------------------
it_must "dumps the tables" dump
out=$($CHECK boxscores "$FX" "$DUMP" "${WDATES[@]}")
rc=$?
it_diag "$out"
it_is "1+2. raw box scores and player_game_summary pts/minutes/ts_pct = the served JSON" "$rc" 0
out=$($CHECK moving_average "$DUMP" "${WDATES[@]}")
rc=$?
it_diag "$out"
it_is "3. moving_average = its formula over raw box scores before the date" "$rc" 0
out=$($CHECK published "$DUMP" "$PUBDIR" "${WDATES[@]}")
rc=$?
it_diag "$out"
it_is "4. predictions.json = the prediction rows; ensemble recommendation follows line and edge" "$rc" 0
# The systems' recent errors (the ensemble's weights) against a row-by-row
# recomputation: every prediction of the 30 days before each scored date with
# the player's box score of that game, avg() over the rows (the service sums
# kept per-date sums: migration 0024).
it_like "4. system_errors = count, MAE, RMSE, bias over each window's scored predictions" \
        "$(sql "WITH want AS (SELECT d.as_of_date, p.system_id, p.market, count(*) AS n,
                        round(avg(abs(p.predicted_value - g.v)), 3) AS mae,
                        round(sqrt(avg((p.predicted_value - g.v) * (p.predicted_value - g.v))), 3) AS rmse,
                        round(avg(p.predicted_value - g.v), 3) AS bias
                    FROM (SELECT DISTINCT as_of_date FROM prediction.system_errors) d
                    JOIN prediction.player_prop_predictions p
                      ON p.game_date < d.as_of_date AND p.game_date >= d.as_of_date - 30
                    JOIN (SELECT player_id, game_id, game_date, 'points' AS market, pts AS v FROM analytics.player_game_summary
                          UNION ALL SELECT player_id, game_id, game_date, 'rebounds', reb FROM analytics.player_game_summary
                          UNION ALL SELECT player_id, game_id, game_date, 'assists', ast FROM analytics.player_game_summary) g
                      ON g.player_id = p.player_id AND g.game_id = p.game_id AND g.game_date = p.game_date
                         AND g.market = p.market AND g.v IS NOT NULL
                    GROUP BY 1, 2, 3)
                SELECT count(*) || ' of ' || (SELECT count(*) FROM prediction.system_errors) FROM want w
                FULL JOIN prediction.system_errors e USING (as_of_date, system_id, market)
                WHERE (w.n, w.mae, w.rmse, w.bias) IS DISTINCT FROM (e.n_samples, e.mae, e.rmse, e.bias)")" \
        '^0 of [1-9][0-9]*$'

# No row may say failed: analytics exits early (skipped) while a date's box
# scores are not loaded yet, instead of failing and waiting for a retry.
nfailed=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status NOT IN ('completed', 'skipped')")
it_is "5. no failed or running execution-log row" "$nfailed" 0
it_diag "$(sql "SELECT phase, status, count(*) FROM ops.pipeline_execution_log GROUP BY 1, 2 ORDER BY 1, 2" | tr '\n' ' ')"
it_diag "$(sql "SELECT phase, processor, count(*), min(missing_dependencies::text), min(error_message) FROM ops.pipeline_execution_log WHERE status NOT IN ('completed', 'skipped') GROUP BY 1, 2 ORDER BY 1, 2")"
UNRESOLVED_SQL="SELECT count(*) FROM ops.pipeline_execution_log f WHERE f.status NOT IN ('completed', 'skipped')
        AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log c WHERE c.event_id = f.event_id
                        AND c.phase = f.phase AND c.processor = f.processor
                        AND c.status IN ('completed', 'skipped') AND c.started_at > f.started_at)"
it_is "5. every failed run was retried to completion (same event, phase, processor)" "$(sql "$UNRESOLVED_SQL")" 0
it_is "5. no failed scraper fetch" \
        "$(sql "SELECT count(*) FROM ops.scraper_execution_log WHERE status IN ('failed', 'running')")" 0
# Every week run reaches publishing. A history run may legitimately stop
# earlier: on the season's first days precompute has no history and
# prediction finds no target (a player without a past game has no team:
# raw.prop_lines keeps no team/game id), both logged as 'skipped'.
missing=0
stopped=0
for c in "${CORRS[@]}"; do
        stored=$(sql "SELECT count(*) FROM ops.scraper_execution_log WHERE correlation_id = '$c' AND status = 'completed'")
        ((stored > 0)) || continue
        n=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$c' AND phase = 'publishing'")
        ((n > 0)) && continue
        gd=$(sql "SELECT max(game_date) FROM ops.pipeline_execution_log WHERE correlation_id = '$c'")
        # A run whose every prediction event was skipped because an earlier committed run of the
        # date predicted the same players from the same rows is a no-op on purpose (nothing to
        # publish); any computed prediction event in it must still reach publishing.
        unchanged=$(sql "SELECT count(DISTINCT event_id) = count(DISTINCT event_id) FILTER (
                             WHERE processor = 'prediction' AND status = 'skipped'
                             AND skip_reason LIKE 'inputs unchanged%') AND count(*) > 0
                         FROM ops.pipeline_execution_log WHERE correlation_id = '$c' AND phase = 'prediction'")
        if [[ $unchanged == t ]]; then
                stopped=$((stopped + 1))
                it_diag "run $c ($gd): prediction inputs unchanged since an earlier run: nothing to publish"
                continue
        fi
        why=$(sql "SELECT string_agg(DISTINCT phase || ': ' || skip_reason, '; ') FROM ops.pipeline_execution_log
                   WHERE correlation_id = '$c' AND phase IN ('precompute', 'prediction') AND status = 'skipped'")
        if [[ $gd < $W0 && -n $why ]]; then
                stopped=$((stopped + 1))
                it_diag "history run $c ($gd) stopped before publishing: $why"
        else
                missing=$((missing + 1))
                it_diag "run $c ($gd): no publishing row${why:+ ($why)}"
        fi
done
it_is "5. every scrape run (${#CORRS[@]}) reached publishing ($stopped skipped earlier on purpose, with a reason)" "$missing" 0
it_is "5. every dead-letter topic is empty" "$(dlq_total)" 0

# --- the same week again -------------------------------------------------------------------------------
fingerprint "$IT_DIR/fp1"
T_AGAIN=$(date +%s%3N)
again_ok=1
for ((i = 0; i < HISTORY; i++)); do
        run_day "$(day "$FIRST" $i)" || again_ok=0
done
for d in "${WDATES[@]}"; do
        run_day "$d" || again_ok=0
done
it_is "the same dates scraped again ($((HISTORY + WEEK)) runs, $(($(date +%s%3N) - T_AGAIN)) ms)" "$again_ok" 1
sleep 1 # anything still in flight would show up in the fingerprint
it_wait_for 30 idle
fingerprint "$IT_DIR/fp2"
if cmp -s "$IT_DIR/fp1" "$IT_DIR/fp2"; then
        it_ok "no row of raw/analytics/precompute/prediction/publishing changed; files byte-identical, not rewritten"
else
        it_not_ok "no row of raw/analytics/precompute/prediction/publishing changed; files byte-identical, not rewritten"
        it_diag "$(diff "$IT_DIR/fp1" "$IT_DIR/fp2" | head -20)"
fi
it_diag "$(wc -l <"$IT_DIR/fp1") fingerprint lines ($(grep -c '^\(raw\|analytics\|precompute\|prediction\|publishing\)\.' "$IT_DIR/fp1") tables, $(find "$PUBDIR" -type f | wc -l) files)"
it_is "the second pass added no failed row" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status NOT IN ('completed', 'skipped')")" "$nfailed"
it_is "every failed run still retried to completion" "$(sql "$UNRESOLVED_SQL")" 0
it_is "still every dead-letter topic empty" "$(dlq_total)" 0

# Opt-in (STATLINE_IT_WEEK_V3=1): the week again from the v3 endpoints. New
# blobs with the same facts go through every phase again; still no row may change.
if [[ -n ${STATLINE_IT_WEEK_V3:-} ]]; then
        v3_ok=1
        for d in "${WDATES[@]}"; do
                run_day "$d" --set source.scoreboard=v3 --set source.boxscore=v3 || v3_ok=0
        done
        it_is "the week scraped again from the v3 endpoints" "$v3_ok" 1
        it_diag "log rows after the v3 pass: $(sql "SELECT phase, status, count(*) FROM ops.pipeline_execution_log GROUP BY 1, 2 ORDER BY 1, 2" | tr '\n' ' ')"
        fingerprint "$IT_DIR/fp3"
        if cmp -s "$IT_DIR/fp1" "$IT_DIR/fp3"; then
                it_ok "v3 replay: no row changed, files byte-identical"
        else
                it_not_ok "v3 replay: no row changed, files byte-identical"
                it_diag "$(diff "$IT_DIR/fp1" "$IT_DIR/fp3" | head -20)"
        fi
fi

# --- an injury: one player Out on the last week date, then back ------------------------------------
# Only that player's rows and documents move (entity-scoped runs in every
# phase); his published prediction says status out / NO_BET while he is Out.
PD=${WDATES[-1]}
P=$(sql "SELECT d.player_id FROM publishing.documents d WHERE d.game_date = '$PD' AND d.player_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM prediction.player_prop_predictions p WHERE p.game_date = d.game_date
                         AND p.player_id = d.player_id AND coalesce(p.player_status, 'Available') <> 'Available')
         ORDER BY d.player_id LIMIT 1")
PDOC=$PUBDIR/nba/$PD/players/$P.json
others() {
        (cd "$PUBDIR/nba/$PD/players" && find . -type f ! -name "$P.json" -printf '%p %i %T@\n' | sort | sha256sum)
        sql "SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM prediction.player_prop_predictions x
             WHERE game_date = '$PD' AND player_id <> $P"
}
recs() { jq -c '[.player.markets[] | select(.ensemble) | .ensemble.recommendation]' "$PDOC"; }
OTHERS0=$(others)
RECS0=$(recs)
it_is "injury: player $P on $PD starts available" "$(jq -r .player.status "$PDOC")" available
fx "_injury?playerId=$P&date=$PD&status=Out" >/dev/null
if run_day "$PD" --set scrape.sources=injuries; then
        it_ok "injury (Out): the injuries-only run went through ($DAY_MS ms)"
else
        it_not_ok "injury (Out): the injuries-only run went through"
fi
INJ_CORR=$CORR
it_is "injury (Out): the player's document says out" "$(jq -r .player.status "$PDOC")" out
it_is "injury (Out): every market's ensemble says NO_BET, confidence 0" \
        "$(jq -c '[.player.markets[] | select(.ensemble) | [.ensemble.recommendation, .ensemble.confidence]] | unique' "$PDOC")" \
        '[["NO_BET",0]]'
it_is "injury (Out): every system's row NO_BET / Out" \
        "$(sql "SELECT string_agg(DISTINCT recommendation || '/' || coalesce(player_status, '-'), ',')
                FROM prediction.player_prop_predictions WHERE game_date = '$PD' AND player_id = $P")" \
        "NO_BET/Out"
it_is "injury (Out): predictions.json carries the same entry" \
        "$(jq -c --argjson p "$P" '.players[] | select(.player_id == $p)' "$PUBDIR/nba/$PD/predictions.json")" \
        "$(jq -c .player "$PDOC")"
it_is "injury (Out): no other player's row or document touched" "$(others)" "$OTHERS0"
it_is "injury (Out): prediction and publishing ran for that one player" \
        "$(sql "SELECT string_agg(DISTINCT phase || ':' || jsonb_array_length(affected_entities), ' ')
                FROM ops.pipeline_execution_log WHERE correlation_id = '$INJ_CORR'
                AND phase IN ('precompute', 'prediction', 'publishing') AND status = 'completed'")" \
        "prediction:1 publishing:1"
# An injury moves nothing precompute reads (the slate row, the history before
# the date): it skips its processors for that one player and passes the event on.
it_is "injury (Out): precompute skipped that one player, inputs unchanged" \
        "$(sql "SELECT string_agg(DISTINCT jsonb_array_length(affected_entities) || ':' || split_part(skip_reason, ':', 1), ' ')
                FROM ops.pipeline_execution_log WHERE correlation_id = '$INJ_CORR' AND phase = 'precompute'")" \
        "1:inputs unchanged"
it_must "dumps the tables (Out)" dump
out=$($CHECK published "$DUMP" "$PUBDIR" "$PD")
rc=$?
it_diag "$out"
it_is "injury (Out): predictions.json = the rows; NO_BET exactly where the raw injury report says Out" "$rc" 0
# Back as Probable, not Available: a report byte-identical to an earlier one
# (the pre-injury report) is a duplicate blob for statline-raw and is not
# loaded again, and a player who drops off the report keeps his last row.
fx "_injury?playerId=$P&date=$PD&status=Probable" >/dev/null
if run_day "$PD" --set scrape.sources=injuries; then
        it_ok "injury (back): the injuries-only run went through ($DAY_MS ms)"
else
        it_not_ok "injury (back): the injuries-only run went through"
fi
it_is "injury (back): the player's document says probable" "$(jq -r .player.status "$PDOC")" probable
it_is "injury (back): the recommendations are the ones before the injury" "$(recs)" "$RECS0"
it_is "injury (back): still no other player's row or document touched" "$(others)" "$OTHERS0"

for s in "${SERVICES[@]}"; do
        if grep -q '"level":"error"\|"event":"svc.fatal"' "$IT_DIR/$s.log"; then
                it_diag "$s logged errors: $(grep -m 3 '"level":"error"\|svc.fatal' "$IT_DIR/$s.log")"
        fi
done
it_done
