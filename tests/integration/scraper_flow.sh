#!/usr/bin/env bash
# scraper_flow.sh: statline-scraper end to end against statline-fixtures,
# PostgreSQL (a private database per run, dropped at exit) and Redis Streams.
#   1. one date, once: exit 0; every document stored as a blob whose name is
#      its sha256; one execution-log row per fetch; one scraper.completed per
#      document on the stream, all with the run's correlation id, caused by
#      the run's root event, idempotency key scraper:<source>:<sha256>, the
#      blob path pointing at the file;
#   2. the same date again: no box score is requested (fixtures /_stats), the
#      date documents are "unchanged", no new event;
#   3. faults (429 with Retry-After, 500, truncated body, a stalled response
#      that times out, garbage body) are retried and everything is still
#      stored; Retry-After is honoured;
#   4. retries that run out: exit 1, a clear summary, a 'failed' log row, no event;
#   5. rate limit: with rate.interval_ms=150 no two requests are closer than
#      150 ms (measured by the server);
#   6. service mode: scrapes the league's date (and the day before) on its
#      own; SIGTERM between runs and in the middle of one: exit 0, drained.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
it_init scraper_flow
it_backend redis-streams
SCRAPER=${STATLINE_SCRAPER:-${STATLINE_BUILD:-$IT_SRC/build}/services/scraper/statline-scraper}
FIXTURES=${STATLINE_FIXTURES:-${STATLINE_BUILD:-$IT_SRC/build}/tools/fixtures/statline-fixtures}
[[ -x $SCRAPER ]] || it_bail "not found: $SCRAPER (set STATLINE_SCRAPER)"
[[ -x $FIXTURES ]] || it_bail "not found: $FIXTURES (set STATLINE_FIXTURES)"

ADMIN_DSN=$STATLINE_TEST_PG_DSN
DB="sl_it_scraper_$$_$RANDOM"
PREFIX="it-scraper-$IT_UNIQ"
STREAM="$PREFIX.nba.scraper.completed"
IT_EXTRA_KEYS+=("$STREAM")
BLOBS=$IT_DIR/blobs

# dsn_for DSN DB: the same server, database DB (URI or key=value form).
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

scraper_cleanup() {
        psql "$ADMIN_DSN" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
}
IT_ON_EXIT=scraper_cleanup

sql() {
        PGOPTIONS="-c client_min_messages=warning" psql "$DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

# fx PATH?QUERY: GET on the fixtures server (controls: /_stats, /_faults).
fx() {
        curl -sf --max-time 10 "$FX/$1"
}

# scrape LOG DATE [--set k=v]...: one-date run; stdout (the summary) to LOG.out.
scrape() {
        local log=$IT_DIR/$1 date=$2 rc
        shift 2
        timeout -k 5 120 "$SCRAPER" --set scrape.once=true --set "scrape.date=$date" \
                --set "pg.dsn=$DSN" --set "bus.url=$IT_URL" --set "bus.prefix=$PREFIX" \
                --set "source.base_url=$FX" --set "blob.dir=$BLOBS" --set rate.interval_ms=0 \
                --set rate.jitter_ms=0 --set fetch.retry_delays_ms=50,100 \
                --set log.level=info "$@" >"$log.out" 2>"$log.err"
        rc=$?
        it_diag "$(cat "$log.out")"
        return $rc
}

# field LOG NAME: NAME=value from a run's summary.
field() {
        sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$IT_DIR/$1.out" | head -n 1
}

# events FILE: every entry of the stream as one JSON document per line.
events() {
        it_redis --raw XRANGE "$STREAM" - + | awk 'f { print; f = 0; next } $0 == "d" { f = 1 }' >"$1"
}

# --- setup ---------------------------------------------------------------------------------------
it_must "creates a private database $DB" \
        psql "$ADMIN_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
"$FIXTURES" --port 0 --now 2024-11-20 --log-level warn >"$IT_DIR/fixtures.out" 2>"$IT_DIR/fixtures.err" &
IT_PIDS+=($!)
it_must "statline-fixtures is listening" it_wait_for 30 grep -q '^listening ' "$IT_DIR/fixtures.out"
FX="http://$(sed -n 's/^listening //p' "$IT_DIR/fixtures.out")"
it_diag "fixtures at $FX, stream $STREAM"

# --- 1. one date -----------------------------------------------------------------------------------
D1=2024-11-05
fx "_stats?reset=1" >/dev/null
t0=$(date +%s%3N)
scrape run1 $D1
it_is "first run of $D1 exits 0" "$?" 0
it_diag "first run: $(($(date +%s%3N) - t0)) ms wall"
final=$(field run1 final)
stored=$(field run1 stored)
it_like "the scoreboard lists Final games" "$final" '^[1-9][0-9]*$'
it_is "stored = scoreboard + $final box scores + injuries + props" "$stored" $((final + 3))
it_is "one request per document (no retries)" "$(field run1 requests)" "$stored"
it_is "the migrations ran (0008_scraper applied)" \
        "$(sql "SELECT count(*) FROM ops.schema_migrations WHERE name = 'scraper'")" 1

nblobs=$(find "$BLOBS" -type f -name '*.json' | wc -l)
it_is "$stored blobs on disk" "$nblobs" "$stored"
bad=0
while read -r f; do
        [[ $(sha256sum "$f" | cut -c1-64) == "$(basename "$f" .json)" ]] || bad=$((bad + 1))
        [[ $(basename "$(dirname "$f")") == "$(basename "$f" | cut -c1-2)" ]] || bad=$((bad + 1))
done < <(find "$BLOBS" -type f -name '*.json')
it_is "every blob is named by its sha256, under its 2-hex-digit directory" "$bad" 0
it_is "no temp files left in the store" "$(find "$BLOBS" -name '.tmp.*' | wc -l)" 0

it_is "execution log: $stored completed rows" \
        "$(sql "SELECT count(*) FROM ops.scraper_execution_log WHERE status = 'completed' AND http_status = 200 AND attempts = 1 AND game_date = '$D1'")" \
        "$stored"
it_is "execution log: every stored blob is in the log" \
        "$(sql "SELECT count(DISTINCT blob_sha256) FROM ops.scraper_execution_log WHERE status = 'completed'")" \
        "$nblobs"
it_is "execution log: box scores keyed by game id, date documents by date" \
        "$(sql "SELECT count(*) FROM ops.scraper_execution_log WHERE (scraper = 'boxscore_v2' AND source_key ~ '^[0-9]{10}\$') OR (scraper <> 'boxscore_v2' AND source_key = '$D1')")" \
        "$stored"
bytes_ok=0
while IFS='|' read -r sha bytes; do
        f=$BLOBS/${sha:0:2}/$sha.json
        [[ -f $f && $(stat -c %s "$f") == "$bytes" ]] && bytes_ok=$((bytes_ok + 1))
done < <(sql "SELECT blob_sha256, bytes FROM ops.scraper_execution_log WHERE status = 'completed'")
it_is "execution log: bytes = blob size for every row" "$bytes_ok" "$stored"

events "$IT_DIR/ev1.jsonl"
it_is "$stored scraper.completed events on $STREAM" "$(it_redis XLEN "$STREAM")" "$stored"
it_is "all events are scraper.completed v1.0 from phase scraper for $D1" \
        "$(jq -c 'select(.type == "scraper.completed" and .phase == "scraper" and .schema_version == "1.0" and .game_date == "'$D1'" and .sport == "nba")' "$IT_DIR/ev1.jsonl" | wc -l)" \
        "$stored"
corr=$(field run1 correlation_id)
it_is "one correlation id for the run (the summary's)" \
        "$(jq -r .correlation_id "$IT_DIR/ev1.jsonl" | sort -u | tr '\n' ' ')" "$corr "
causes=$(jq -r .causation_id "$IT_DIR/ev1.jsonl" | sort -u)
it_like "every event is caused by the run's root event" "$causes" '^[0-9a-f-]{36}$'
it_is "idempotency key = scraper:<source>:<blob_sha256>" \
        "$(jq -r 'select(.idempotency_key == "scraper:" + .payload.source + ":" + .payload.blob_sha256) | 1' "$IT_DIR/ev1.jsonl" | wc -l)" \
        "$stored"
ok=0
while IFS=' ' read -r path sha bytes; do
        [[ -f $BLOBS/$path && $(sha256sum "$BLOBS/$path" | cut -c1-64) == "$sha" &&
                $(stat -c %s "$BLOBS/$path") == "$bytes" ]] && ok=$((ok + 1))
done < <(jq -r '.payload | "\(.blob_path) \(.blob_sha256) \(.bytes)"' "$IT_DIR/ev1.jsonl")
it_is "every event's blob_path names its blob (sha256 and bytes match)" "$ok" "$stored"
it_is "payload kinds are the raw parsers' kinds" \
        "$(jq -r .payload.kind "$IT_DIR/ev1.jsonl" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" \
        "boxscore_v2=$final injuries=1 props=1 scoreboard_v2=1 "
it_is "box score events name their game (payload.game_id = the entity)" \
        "$(jq -r 'select(.payload.kind == "boxscore_v2" and .payload.game_id == .affected_entities[0].id and .affected_entities[0].kind == "game") | 1' "$IT_DIR/ev1.jsonl" | wc -l)" \
        "$final"
it_like "injury and prop events list players" \
        "$(jq -r 'select(.payload.kind == "props" or .payload.kind == "injuries") | [.affected_entities[] | select(.kind == "player")] | length' "$IT_DIR/ev1.jsonl" | tr '\n' ' ')" \
        '^[1-9][0-9]* [1-9][0-9]* $'
# validates against the JSON schemas (docs/events.md), when python3-jsonschema is there
schema_check='
import json, sys
from jsonschema import Draft202012Validator, FormatChecker
src = sys.argv[1]
env = Draft202012Validator(json.load(open(src + "/proto/envelope.schema.json")), format_checker=FormatChecker())
pay = Draft202012Validator(json.load(open(src + "/proto/events/scraper.completed.v1.json")), format_checker=FormatChecker())
for line in open(sys.argv[2]):
    doc = json.loads(line)
    env.validate(doc)
    pay.validate(doc["payload"])
'
if python3 -c 'import jsonschema' 2>/dev/null; then
        it_check "every event validates against envelope.schema.json and scraper.completed.v1.json" \
                python3 -c "$schema_check" "$IT_SRC" "$IT_DIR/ev1.jsonl"
else
        it_diag "python3 jsonschema not installed: schema validation not run"
fi
it_is "no URL in an event holds credentials" \
        "$(jq -r .payload.url "$IT_DIR/ev1.jsonl" | grep -c '@')" 0

# --- 2. the same date again ------------------------------------------------------------------------
fx "_stats?reset=1" >/dev/null
scrape run2 $D1
it_is "second run of $D1 exits 0" "$?" 0
stats=$(fx _stats)
it_is "no box score requested again (fixtures /_stats)" \
        "$(jq '.paths["/stats/boxscoretraditionalv2"].count // 0' <<<"$stats")" 0
it_is "only the 3 changeable documents were requested" "$(jq .total <<<"$stats")" 3
it_is "summary: $final skipped, 3 unchanged, 0 stored" \
        "$(field run2 skipped) $(field run2 unchanged) $(field run2 stored)" "$final 3 0"
it_is "no new event" "$(it_redis XLEN "$STREAM")" "$stored"
it_is "log: skipped rows say final_already_fetched, made no request" \
        "$(sql "SELECT count(*) FROM ops.scraper_execution_log WHERE status = 'skipped' AND skip_reason = 'final_already_fetched' AND attempts = 0 AND http_status IS NULL")" \
        "$final"
it_is "log: unchanged rows carry the same digest as the stored ones" \
        "$(sql "SELECT count(*) FROM ops.scraper_execution_log u JOIN ops.scraper_execution_log c USING (source, source_key) WHERE u.status = 'unchanged' AND c.status = 'completed' AND u.blob_sha256 = c.blob_sha256")" 3

# --- 3. faults are retried ---------------------------------------------------------------------------
D2=2024-11-06
fx "_stats?reset=1" >/dev/null
fx "_faults?clear=1" >/dev/null
fx "_faults?path=/stats/boxscoretraditionalv2&kind=429&count=2&retry_after=1" >/dev/null
fx "_faults?path=/stats/scoreboardv2&kind=500&count=1&retry_after=0" >/dev/null
fx "_faults?path=/injuries&kind=truncate&count=1" >/dev/null
fx "_faults?path=/injuries&kind=stall&count=1&delay_ms=5000" >/dev/null
fx "_faults?path=/props&kind=garbage&count=1" >/dev/null
before=$(it_redis XLEN "$STREAM")
scrape run3 $D2 --set fetch.timeout_ms=1000
it_is "a run through 429, 500, truncated, stalled and garbage bodies exits 0" "$?" 0
final2=$(field run3 final)
it_is "everything stored" "$(field run3 stored) $(field run3 failed)" "$((final2 + 3)) 0"
it_is "all six faults fired" "$(fx _stats | jq .faults_fired)" 6
it_is "requests = documents + 6 retries" "$(field run3 requests)" $((final2 + 3 + 6))
it_is "one event per document" "$(it_redis XLEN "$STREAM")" $((before + final2 + 3))
it_is "log: the 429'd box score took 3 attempts" \
        "$(sql "SELECT attempts FROM ops.scraper_execution_log WHERE game_date = '$D2' AND scraper = 'boxscore_v2' AND status = 'completed' ORDER BY started_at LIMIT 1")" 3
it_like "Retry-After: 1 was honoured twice (>= 2000 ms)" \
        "$(sql "SELECT duration_ms FROM ops.scraper_execution_log WHERE game_date = '$D2' AND scraper = 'boxscore_v2' AND status = 'completed' ORDER BY started_at LIMIT 1")" \
        '^(2[0-9]{3}|[3-9][0-9]{3})$'
it_is "log: injuries (truncated, then timed out) 3 attempts, garbage props and the 500 scoreboard 2" \
        "$(sql "SELECT string_agg(scraper || '=' || attempts, ' ' ORDER BY scraper) FROM ops.scraper_execution_log WHERE game_date = '$D2' AND scraper IN ('injuries', 'props', 'scoreboard_v2')")" \
        "injuries=3 props=2 scoreboard_v2=2"
it_like "the timeout was retried" "$(grep scraper.fetch.retry "$IT_DIR/run3.err" | grep injuries | tail -n 1)" 'Timeout was reached'
it_like "the retries were logged" "$(grep -c scraper.fetch.retry "$IT_DIR/run3.err")" '^6$'

# --- 4. retries run out ------------------------------------------------------------------------------
D3=2024-11-07
fx "_faults?path=/props&kind=503&count=10&retry_after=0" >/dev/null
before=$(it_redis XLEN "$STREAM")
scrape run4 $D3 --set fetch.attempts=2
it_is "a run with a failed document exits 1" "$?" 1
it_like "the summary says FAILED and names it" "$(cat "$IT_DIR/run4.out")" "FAILED.*failed: props $D3: HTTP 503.* after 2 attempts"
it_is "log: props failed with 503 after 2 attempts" \
        "$(sql "SELECT status || ' ' || http_status || ' ' || attempts FROM ops.scraper_execution_log WHERE game_date = '$D3' AND scraper = 'props'")" \
        "failed 503 2"
final3=$(field run4 final)
it_is "the other documents were stored and published, props not" \
        "$(($(it_redis XLEN "$STREAM") - before))" $((final3 + 2))
fx "_faults?clear=1" >/dev/null

# --- 4b. a source that keeps failing opens its circuit breaker ----------------------------------------
# One attempt per fetch and a window of 2 calls: two failed box scores open the
# scraper's source:boxscore_v2 breaker (shared in ops.circuit_breakers); the
# date's other box scores are then not attempted at all (skipped, circuit_open).
D3B=2024-11-09
fx "_faults?path=/stats/boxscoretraditionalv2&kind=500&count=1000&retry_after=0" >/dev/null
fx "_stats?reset=1" >/dev/null
scrape run4b $D3B --set fetch.attempts=1 --set cb.window_size=2 --set cb.min_calls=2
it_is "a run whose box scores failed exits 1" "$?" 1
games4b=$(field run4b final)
failed4b=$(sql "SELECT count(*) FROM ops.scraper_execution_log WHERE game_date = '$D3B' AND scraper = 'boxscore_v2' AND status = 'failed'")
open4b=$(sql "SELECT count(*) FROM ops.scraper_execution_log WHERE game_date = '$D3B' AND scraper = 'boxscore_v2' AND status = 'skipped' AND skip_reason = 'circuit_open'")
it_diag "$games4b final games: $failed4b box scores failed, $open4b not attempted (breaker open)"
it_is "two box scores failed, then the breaker opened" "$failed4b" 2
it_check "the date's other box scores were not attempted ($open4b)" test "$open4b" -ge 1
it_is "every box score is either failed or skipped by the breaker" "$((failed4b + open4b))" "$games4b"
it_is "the server saw only the two attempts" \
        "$(fx _stats | jq '[.paths // {} | to_entries[] | select(.key | test("boxscoretraditionalv2")) | .value.count] | add // 0')" 2
it_is "the breaker's shared state is OPEN" \
        "$(sql "SELECT state FROM ops.circuit_breakers WHERE service = 'scraper' AND dependency = 'source:boxscore_v2'")" OPEN
sql "DELETE FROM ops.circuit_breakers WHERE service = 'scraper'" >/dev/null
fx "_faults?clear=1" >/dev/null

# --- 5. rate limit -------------------------------------------------------------------------------------
D4=2024-11-08
fx "_stats?reset=1" >/dev/null
t0=$(date +%s%3N)
scrape run5 $D4 --set rate.interval_ms=150 --set rate.jitter_ms=50
it_is "a rate-limited run exits 0" "$?" 0
ms=$(($(date +%s%3N) - t0))
stats=$(fx _stats)
n=$(jq .total <<<"$stats")
gap=$(jq .min_gap_ms <<<"$stats")
it_diag "$n requests in $ms ms, smallest gap between two request arrivals $gap ms"
it_check "no two requests closer than 150 ms (server-side)" awk -v g="$gap" 'BEGIN { exit !(g >= 150) }'
it_check "the run took at least (n-1) * 150 ms" test "$ms" -ge $(((n - 1) * 150))

# --- 6. service mode ------------------------------------------------------------------------------------------
# Without scrape.date it asks the league for its date (/_now: 2024-11-20) and
# also re-checks the day before; games of "today" are not Final yet.
"$SCRAPER" --set scrape.interval_s=1 --set "pg.dsn=$DSN" --set "bus.url=$IT_URL" \
        --set "bus.prefix=$PREFIX" --set "source.base_url=$FX" --set "blob.dir=$BLOBS" \
        --set rate.interval_ms=0 --set rate.jitter_ms=0 >"$IT_DIR/svc1.out" 2>"$IT_DIR/svc1.err" &
svc=$!
IT_PIDS+=($svc)
it_check "service mode scrapes the league's current date on its own" \
        it_wait_for 30 grep -q 'scraper.run.done.*date=2024-11-20' "$IT_DIR/svc1.err"
it_is "it scraped the day before first, then today" \
        "$(grep scraper.run.start "$IT_DIR/svc1.err" | grep -o '"msg":"date=[0-9-]*' | grep -o '20[0-9-]*' | head -n 2 | tr '\n' ' ')" \
        "2024-11-19 2024-11-20 "
it_like "today's games are not Final: no box score for 2024-11-20" \
        "$(grep 'scraper.run.done.*date=2024-11-20' "$IT_DIR/svc1.err" | head -n 1)" 'final=0 '
kill -TERM $svc
wait $svc
it_is "SIGTERM between runs: exit 0" "$?" 0

# --- 7. a long run stays healthy; SIGTERM in the middle of it --------------------------------------------------
# 700 ms between requests, 13 documents (10 games): the run takes ~8.5 s, longer
# than /healthz's 5 s staleness.
D5=2024-11-11
"$SCRAPER" --set scrape.interval_s=1 --set "scrape.date=$D5" --set "pg.dsn=$DSN" \
        --set "bus.url=$IT_URL" --set "bus.prefix=$PREFIX" --set "source.base_url=$FX" \
        --set "blob.dir=$BLOBS" --set rate.interval_ms=700 --set rate.jitter_ms=0 \
        --set drain.timeout_ms=3000 >"$IT_DIR/svc.out" 2>"$IT_DIR/svc.err" &
svc=$!
IT_PIDS+=($svc)
it_check "service mode starts scraping on its own" it_wait_for 20 grep -q scraper.run.start "$IT_DIR/svc.err"
hport=$(grep -o 'health_port=[0-9]*' "$IT_DIR/svc.err" | head -n 1 | cut -d= -f2)
sleep 6
it_is "/healthz is 200 six seconds into the run" \
        "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/healthz")" 200
it_is "the run is still going" "$(grep -c scraper.run.done "$IT_DIR/svc.err")" 0
t0=$(date +%s%3N)
kill -TERM $svc
wait $svc
rc=$?
ms=$(($(date +%s%3N) - t0))
it_is "SIGTERM mid-run: exit 0 after the drain" "$rc" 0
it_check "drained within 2 s ($ms ms)" test "$ms" -lt 2000
it_like "the cut run is reported as aborted" "$(grep scraper.run.done "$IT_DIR/svc.err")" 'aborted=1'

it_done
