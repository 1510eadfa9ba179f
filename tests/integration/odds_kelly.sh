#!/usr/bin/env bash
# odds_kelly.sh BACKEND: moneyline odds end to end (issue 8): statline-fixtures
# serves The Odds API v4 moneylines; the scraper fetches them (source "odds",
# opt-in through scrape.sources); statline-raw loads raw.moneyline_odds;
# statline-prediction sizes moneyline bets next to the prop bets (Elo
# probabilities shrunk toward the market, fractional Kelly, caps); statline-
# publishing lists them in predictions.json. Checks, by odds_kelly.py, from
# the served JSON and the stored Elo probabilities (not the services' SQL):
#   1. raw.moneyline_odds = the served events x books of every date;
#   2. prediction.moneyline_bets, the portfolio's moneyline totals and the
#      published moneyline_bets = recomputed (margin removal, shrinkage,
#      min_edge, quarter Kelly, per-bet / day / portfolio caps over the
#      whole slate including the date's prop bets);
#   3. the odds scraped again change no row of raw.moneyline_odds;
#   4. a bad odds payload (an unknown team) is dead-lettered with the parser's
#      reason and changes nothing;
#   5. no other failed execution-log row.
# Prints the staked counts with and without the shrinkage (the over-betting
# fix) as diagnostics.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
for c in psql jq curl python3; do
        command -v $c >/dev/null || it_skip_all "$c not installed"
done
BACKEND=${1:-redis-streams}
it_init odds_kelly
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
RAWPUB=${STATLINE_RAWPUB:-$BUILD/tests/integration/sl_rawpub}
[[ -x $RAWPUB ]] || it_bail "sl_rawpub not found: $RAWPUB (set STATLINE_RAWPUB)"
CHECK="python3 $(dirname "$0")/odds_kelly.py"
HISTORY=${STATLINE_IT_ODDS_HISTORY:-8}
WEEK=${STATLINE_IT_ODDS_DAYS:-3}
SEED=42
SOURCES=scoreboard,boxscore,injuries,props,odds

ADMIN_DSN=$STATLINE_TEST_PG_DSN
DB="sl_it_odds_$$_$RANDOM"
PREFIX="itodds$$x$RANDOM"
BLOBS=$IT_DIR/blobs
SHM=
if [[ -d /dev/shm && -w /dev/shm ]]; then
        SHM=$(mktemp -d /dev/shm/sl-odds.XXXXXX) || SHM=
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
# Moneylines are never staked at the default kelly.moneyline_market_weight 1.0
# (docs/models.md "Shrinkage"): 0.8 here, so the stakes are exercised.
export STATLINE_PREDICTION_KELLY_MONEYLINE_MARKET_WEIGHT=0.8 ODDS_IT_ML_WEIGHT=0.8
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

# --- history (Elo needs finals) and the game days -------------------------------------------------
hist_ok=1
for ((i = 0; i < HISTORY; i++)); do
        d=$(day "$FIRST" $i)
        run_day "$d" || { hist_ok=0; it_diag "history day $d failed"; break; }
done
[[ $hist_ok == 1 ]] || it_bail "the history did not go through the pipeline"
it_ok "history: $HISTORY days scraped and processed"
days_ok=1
for ((i = 0; i < WEEK; i++)); do
        d=${WDATES[$i]}
        fx "_now?date=$d" >/dev/null
        run_day "$d" --set "scrape.sources=$SOURCES" || { days_ok=0; break; }
done
[[ $days_ok == 1 ]] || it_bail "the game days did not go through the pipeline"
it_ok "game days ${WDATES[*]} scraped with odds and processed"

dump() {
        local t
        for t in raw.moneyline_odds prediction.game_win_probs prediction.prop_bets \
                prediction.moneyline_bets prediction.kelly_portfolio; do
                psql "$DSN" -X -q -v ON_ERROR_STOP=1 \
                        -c "\\copy (SELECT * FROM $t) TO '$DUMP/${t#*.}.csv' WITH (FORMAT csv, HEADER)" ||
                        return 1
        done
}
it_must "dumps the tables" dump
out=$($CHECK load "$FX" "$DUMP" "${WDATES[@]}")
rc=$?
it_diag "$out"
it_is "1. raw.moneyline_odds = the served events x books" "$rc" 0
out=$($CHECK bets "$FX" "$DUMP" "$PUBDIR" "${WDATES[@]}")
rc=$?
it_diag "$out"
it_is "2. moneyline bets, portfolio totals and predictions.json = recomputed from the served odds" "$rc" 0
n_ml=$(sql "SELECT count(*) FROM prediction.moneyline_bets")
it_like "moneyline candidates exist" "$n_ml" '^[1-9][0-9]*$'

before=$(sql "SELECT count(*), max(updated_at) FROM raw.moneyline_odds")
fx "_now?date=${WDATES[-1]}" >/dev/null
run_day "${WDATES[-1]}" --set "scrape.sources=odds"
it_is "3. the odds scraped again change no row" "$(sql "SELECT count(*), max(updated_at) FROM raw.moneyline_odds")" "$before"

# calibration (diagnostic): the game days final, how good were the probabilities?
fx "_now?date=$(day "${WDATES[-1]}" 1)" >/dev/null
final_ok=1
for d in "${WDATES[@]}"; do run_day "$d" || final_ok=0; done
if [[ $final_ok == 1 ]] && psql "$DSN" -X -q -v ON_ERROR_STOP=1 \
        -c "\\copy (SELECT game_id, player_id, pts, reb, ast FROM raw.player_boxscores) TO '$DUMP/boxscores.csv' WITH (FORMAT csv, HEADER)" &&
        psql "$DSN" -X -q -v ON_ERROR_STOP=1 \
                -c "\\copy (SELECT game_id, home_pts, away_pts, status FROM raw.games) TO '$DUMP/games.csv' WITH (FORMAT csv, HEADER)"; then
        it_diag "$($CHECK calib "$DUMP" "${WDATES[@]}")"
fi

# a bad payload through statline-raw: the served odds with one team renamed
d=${WDATES[0]}
fx "v4/sports/basketball_nba/odds?regions=us&markets=h2h&oddsFormat=american&date=$d" |
        python3 -c 'import json,sys; e=json.load(sys.stdin); t=e[0]["home_team"]; print(json.dumps(e).replace(t, "Springfield Isotopes"))' \
                >"$IT_DIR/bad_odds.json"
before=$(sql "SELECT count(*), max(updated_at) FROM raw.moneyline_odds")
DLQ_T=$PREFIX.nba.scraper.completed.dlq
n0=$(it_dlq_count "$DLQ_T")
publish_bad() { # sl_rawpub prints what it published: a diagnostic, not TAP
        timeout 60 "$RAWPUB" --backend "$BACKEND" --url "$IT_URL" \
                --prefix "$PREFIX" --blob-dir "$BLOBS" --file "$IT_DIR/bad_odds.json" --source odds \
                --kind odds --game-date "$d" \
                --correlation-id "$(python3 -c 'import uuid; print(uuid.uuid4())')" | sed 's/^/# /'
        return "${PIPESTATUS[0]}"
}
it_must "publishes a bad odds payload" publish_bad
dlq_more() { [[ $(it_dlq_count "$DLQ_T") -gt $n0 ]]; }
it_check "4. the bad odds payload is dead-lettered" it_wait_for 60 dlq_more
it_dlq_fetch "$DLQ_T" "$n0"
it_like "4. its reason names the unknown team" "$(it_hdr "$n0" dlq.error)" 'unknown team "Springfield Isotopes"'
it_is "4. and nothing of it was loaded" "$(sql "SELECT count(*), max(updated_at) FROM raw.moneyline_odds")" "$before"

it_is "4. logged as one failed raw run" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed' AND phase = 'raw' AND processor <> 'dlq' AND error_message LIKE '%Springfield Isotopes%'")" 1
it_is "4. and its dead letter in the run's log (processor dlq)" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed' AND phase = 'raw' AND processor = 'dlq' AND error_message LIKE 'dead-lettered (PERMANENT)%Springfield Isotopes%'")" 1
nfailed=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status NOT IN ('completed', 'skipped') AND coalesce(error_message, '') NOT LIKE '%Springfield Isotopes%'")
it_is "5. no other failed or running execution-log row" "$nfailed" 0
it_diag "$(sql "SELECT phase, processor, status, min(error_message) FROM ops.pipeline_execution_log WHERE status NOT IN ('completed', 'skipped') GROUP BY 1, 2, 3")"
it_done
