#!/usr/bin/env bash
# raw_service.sh BACKEND: statline-raw end to end on real servers.
#   - a private database on the shared cluster (STATLINE_TEST_PG_DSN,
#     created and dropped here), a private topic prefix on the shared broker;
#   - blobs made from the REAL payloads in ../shared/data/nba (box score v2
#     and v3, the 2018-19 league game log) stored the way the scraper stores
#     them, and one scraper.completed event each (driver: sl_rawpub), all with
#     one correlation id;
#   - rows in raw.*: 1,230 games and 2,460 team rows from the game log, team
#     points = sum of player points in both box scores; one execution log row
#     per load; one raw.completed per blob, a child of its scraper event;
#   - load speed of the season game log (rows/s, from the service's own log);
#   - the same events again: no row changes, no new raw.completed, 'skipped'
#     rows in the execution log; an event whose raw.completed was never
#     published (crash between COMMIT and publish) is published on replay,
#     with the original bytes;
#   - a corrected box score (new blob, one player's stats changed) writes and
#     announces only the changed rows and entities;
#   - poison (bad JSON, a payload that fails validation, a digest mismatch, a
#     path escaping blob.dir) is dead-lettered with the reason and loads
#     nothing; a missing blob is retried, then dead-lettered;
#   - SIGTERM: exit 0 within drain.timeout_ms;
#   - PostgreSQL stopped (a private cluster): /readyz 503, the event is
#     retried and loaded once the server is back, /readyz 200 again.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
command -v curl >/dev/null || it_skip_all "curl not installed"
it_init raw_service
it_backend "${1:-redis-streams}"
[[ $IT_BACKEND == redis-streams ]] || it_skip_all "this test reads topics with redis-cli"
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
RAW=${STATLINE_RAWBIN:-$BUILD/services/raw/statline-raw}
RAWPUB=${STATLINE_RAWPUB:-$BUILD/tests/integration/sl_rawpub}
DATA=${STATLINE_SHARED:-$IT_SRC/../shared}/data/nba
[[ -x $RAW ]] || it_bail "statline-raw not found: $RAW (set STATLINE_RAWBIN)"
[[ -x $RAWPUB ]] || it_bail "sl_rawpub not found: $RAWPUB (set STATLINE_RAWPUB)"
[[ -f $DATA/leaguegamelog_T_2018-19_regular_season.json ]] || it_bail "real payloads not found in $DATA"

it_pg_database raw
PREFIX="itraw$$r$RANDOM"
SCRAPER_T=$PREFIX.nba.scraper.completed
RAW_T=$PREFIX.nba.raw.completed
DLQ_T=$SCRAPER_T.dlq
IT_EXTRA_KEYS+=("$SCRAPER_T" "$DLQ_T" "$RAW_T")
BLOBS=$IT_DIR/blobs
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
RAW_PID=
mkdir -p "$BLOBS"

it_service raw "$RAW" "$PREFIX"

# start_raw LOG [VAR=VALUE...]: runs statline-raw in the background with the
# test's config (the VAR=VALUE arguments override it).
start_raw() {
        it_start_service "$1" RAW_PID STATLINE_RAW_BLOB_DIR="$BLOBS" "${@:2}"
}

# readyz LOG: /readyz status code of the instance that wrote LOG.
readyz() {
        local port
        port=$(sed -n 's/.*health_port=\([0-9]*\).*/\1/p' "$IT_DIR/$1" | head -n 1)
        curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/readyz"
}

# readyz_is LOG CODE
readyz_is() {
        [[ $(readyz "$1") == "$2" ]]
}

# publish FILE SOURCE KIND DATE [more sl_rawpub args]: one scraper.completed; echoes its line.
publish() {
        local file=$1 source=$2 kind=$3 date=$4
        shift 4
        local args=(--backend "$IT_BACKEND" --url "$IT_URL" --prefix "$PREFIX" --blob-dir "$BLOBS"
                --file "$file" --source "$source" --kind "$kind" --correlation-id "$CORR" "$@")
        [[ -n $date ]] && args+=(--game-date "$date")
        timeout 60 "$RAWPUB" "${args[@]}" 2>>"$IT_DIR/rawpub.err"
}

# pubfield LINE NAME: NAME=value from a publish line.
pubfield() {
        sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}

# fingerprint: every raw row's content and updated_at, hashed (a replay must not change it).
fingerprint() {
        it_sql "SELECT md5(string_agg(x, '' ORDER BY x)) FROM (
               SELECT g::text AS x FROM raw.games g UNION ALL
               SELECT p::text FROM raw.player_boxscores p UNION ALL
               SELECT t::text FROM raw.team_boxscores t UNION ALL
               SELECT l::text FROM raw.league_game_log l) s"
}

# ---- start -------------------------------------------------------------------

it_must "creates a private database" it_pg_create
it_must "statline-raw starts (migrations applied)" start_raw raw.1.log
it_is "/readyz answers 200" "$(readyz raw.1.log)" 200

BOX2=$DATA/boxscoretraditionalv2_0021600270.json
BOX3=$DATA/boxscoretraditionalv3_0022500165.json
GLOG=$DATA/leaguegamelog_T_2018-19_regular_season.json
p1=$(publish "$BOX2" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --game-id 0021600270)
p2=$(publish "$BOX3" nba.stats.boxscoretraditionalv3 boxscore 2025-11-03 --game-id 0022500165)
p3=$(publish "$GLOG" nba.stats.leaguegamelog gamelog "")
it_diag "$p1" "$p2" "$p3"
it_must "three scraper.completed events published" test -n "$p1" -a -n "$p2" -a -n "$p3"

it_check "three raw.completed events within 60 s" it_wait_for 60 it_events_ge "$RAW_T" 3

# ---- rows ----------------------------------------------------------------------

it_is "game log: 2,460 team rows" "$(it_sql 'SELECT count(*) FROM raw.league_game_log')" 2460
it_is "game log: 1,230 distinct games" \
        "$(it_sql 'SELECT count(DISTINCT game_id) FROM raw.league_game_log')" 1230
it_is "raw.games: 1,230 games from the game log" "$(it_sql 'SELECT count(*) FROM raw.games')" 1230
it_is "game log: every game has two teams, one W and one L" \
        "$(it_sql "SELECT count(*) FROM (SELECT game_id FROM raw.league_game_log GROUP BY game_id
                HAVING count(*) <> 2 OR count(*) FILTER (WHERE wl = 'W') <> 1) x")" 0
it_is "raw.games scores equal the game log's team points" \
        "$(it_sql "SELECT count(*) FROM raw.games g WHERE g.home_pts + g.away_pts <>
                (SELECT sum(pts) FROM raw.league_game_log l WHERE l.game_id = g.game_id)")" 0
it_is "box score v2: 19 player rows, 2 team rows" \
        "$(it_sql "SELECT (SELECT count(*) FROM raw.player_boxscores WHERE game_id = '0021600270')
                || ',' || (SELECT count(*) FROM raw.team_boxscores WHERE game_id = '0021600270')")" "19,2"
it_is "box score v2: OKC 126, WAS 115" \
        "$(it_sql "SELECT string_agg(team_abbr || '=' || pts, ',' ORDER BY team_abbr)
                FROM raw.team_boxscores WHERE game_id = '0021600270'")" "OKC=126,WAS=115"
it_is "box score v3: 2 team rows" \
        "$(it_sql "SELECT count(*) FROM raw.team_boxscores WHERE game_id = '0022500165'")" 2
it_is "both box scores: team points = sum of player points" \
        "$(it_sql "SELECT count(*) FROM raw.team_boxscores t WHERE t.pts IS DISTINCT FROM
                (SELECT sum(p.pts) FROM raw.player_boxscores p
                 WHERE p.game_id = t.game_id AND p.team_id = t.team_id)")" 0
sha3=$(pubfield "$p3" sha)
it_is "rows name the blob they came from" \
        "$(it_sql "SELECT count(*) FROM raw.league_game_log WHERE payload_sha256 = '$sha3'
                AND source = 'nba.stats.leaguegamelog'")" 2460

# ---- execution log -------------------------------------------------------------

it_is "execution log: three completed raw runs for the correlation id" \
        "$(it_sql "SELECT string_agg(processor || ':' || status || ':' || rows_written, ',' ORDER BY processor)
                FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND phase = 'raw'")" \
        "boxscore_v2:completed:21,boxscore_v3:completed:31,league_game_log:completed:3690"
it_is "execution log: durations and dates filled in" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'
                AND duration_ms >= 0 AND completed_at >= started_at AND sport = 'nba'
                AND (processor = 'league_game_log' OR game_date IS NOT NULL)")" 3
it_is "execution log: box score v2 names its game and players" \
        "$(it_sql "SELECT jsonb_array_length(affected_entities) FROM ops.pipeline_execution_log
                WHERE correlation_id = '$CORR' AND processor = 'boxscore_v2'")" 20

# ---- raw.completed events -------------------------------------------------------

it_events "$RAW_T" >"$IT_DIR/raw_completed.1.jsonl"
it_is "raw.completed: same correlation id, one per blob" \
        "$(jq -r '.correlation_id' "$IT_DIR/raw_completed.1.jsonl" | sort -u)" "$CORR"
it_is "raw.completed: caused by the scraper events" \
        "$(jq -r '.causation_id' "$IT_DIR/raw_completed.1.jsonl" | sort | tr '\n' ' ')" \
        "$(printf '%s\n' "$(pubfield "$p1" event_id)" "$(pubfield "$p2" event_id)" \
                "$(pubfield "$p3" event_id)" | sort | tr '\n' ' ')"
it_events "$SCRAPER_T" | head -n 1 >"$IT_DIR/scraper.first.json"
it_is "raw.completed: continues the scraper event's trace" \
        "$(jq -r 'select(.causation_id == "'"$(pubfield "$p1" event_id)"'") | .traceparent[3:35]' \
                "$IT_DIR/raw_completed.1.jsonl")" \
        "$(jq -r '.traceparent[3:35]' "$IT_DIR/scraper.first.json")"
it_is "raw.completed: idempotency keys raw:<kind>:<sha>" \
        "$(jq -r '.idempotency_key' "$IT_DIR/raw_completed.1.jsonl" | sort | tr '\n' ' ')" \
        "$(printf '%s\n' "raw:boxscore_v2:$(pubfield "$p1" sha)" "raw:boxscore_v3:$(pubfield "$p2" sha)" \
                "raw:league_game_log:$sha3" | sort | tr '\n' ' ')"
it_is "raw.completed (v2 box score): tables and counts" \
        "$(jq -c 'select(.payload.processor == "boxscore_v2") | [.payload.rows, (.payload.tables[] | [.table, .rows, .inserted, .updated])]' \
                "$IT_DIR/raw_completed.1.jsonl")" \
        '[21,["raw.player_boxscores",19,19,0],["raw.team_boxscores",2,2,0]]'
it_is "raw.completed (v2 box score): game + 19 players affected" \
        "$(jq -c 'select(.payload.processor == "boxscore_v2") | [(.affected_entities | length), .affected_entities[0]]' \
                "$IT_DIR/raw_completed.1.jsonl")" '[20,{"kind":"game","id":"0021600270"}]'
it_is "raw.completed (game log): over entities.max, so the list is empty (whole date)" \
        "$(jq -c 'select(.payload.processor == "league_game_log") | [(.affected_entities | length), .payload.rows, .payload.source_blob_sha256 == "'"$sha3"'"]' \
                "$IT_DIR/raw_completed.1.jsonl")" '[0,3690,true]'

# ---- load speed ------------------------------------------------------------------

line=$(grep '"event":"raw.load.ok"' "$IT_DIR/raw.1.log" | grep 'processor=league_game_log' | head -n 1)
ms=$(sed -n 's/.*duration_ms=\([0-9]*\).*/\1/p' <<<"$line")
if [[ -n $ms ]]; then
        it_ok "game log load timed"
        it_diag "load speed: league game log 3,690 rows (2,460 team rows + 1,230 games) in $ms ms" \
                "= $((3690 * 1000 / (ms > 0 ? ms : 1))) rows/s (blob read + sha256 + parse + COPY + upsert + commit + publish)"
else
        it_not_ok "game log load timed"
fi

# ---- replay ----------------------------------------------------------------------

fp1=$(fingerprint)
r1=$(publish "$BOX2" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --game-id 0021600270)
r2=$(publish "$BOX3" nba.stats.boxscoretraditionalv3 boxscore 2025-11-03 --game-id 0022500165)
r3=$(publish "$GLOG" nba.stats.leaguegamelog gamelog "")
it_check "replay: three skipped runs logged" it_wait_for 60 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND status = 'skipped'" 3
it_is "replay: no row changed (content and updated_at)" "$(fingerprint)" "$fp1"
it_is "replay: no new raw.completed" "$(it_count_events "$RAW_T")" 3
it_is "replay: the skips say why" \
        "$(it_sql "SELECT DISTINCT skip_reason FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND status = 'skipped'")" \
        "duplicate: already loaded and published"

# A crash between COMMIT and the broker's confirmation leaves the outbox row
# unpublished: the redelivered event must publish it (the same bytes).
key2="raw:boxscore_v3:$(pubfield "$p2" sha)"
orig=$(jq -c 'select(.idempotency_key == "'"$key2"'")' "$IT_DIR/raw_completed.1.jsonl")
it_sql "UPDATE ops.outbox SET published_at = NULL WHERE idempotency_key = '$key2'" >/dev/null
r4=$(publish "$BOX3" nba.stats.boxscoretraditionalv3 boxscore 2025-11-03 --game-id 0022500165)
it_check "unpublished event: re-published on replay" it_wait_for 30 it_events_ge "$RAW_T" 4
it_is "unpublished event: the original bytes (same event id)" \
        "$(it_events "$RAW_T" | tail -n 1 | jq -c .)" "$orig"
it_is "unpublished event: outbox row marked published again" \
        "$(it_sql "SELECT published_at IS NOT NULL FROM ops.outbox WHERE idempotency_key = '$key2'")" t
it_is "unpublished event: still no row changed" "$(fingerprint)" "$fp1"

# ---- a correction: only the changed rows are written and announced ---------------

# The v2 box score again with one player's assists (and his team's) one higher:
# a new blob for the same game, as a stats correction would arrive.
corr_player=$(python3 - "$BOX2" "$IT_DIR/corrected.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
sets = {rs["name"]: rs for rs in d["resultSets"]}
ps, ts = sets["PlayerStats"], sets["TeamStats"]
row = ps["rowSet"][0]
row[ps["headers"].index("AST")] += 1
team = row[ps["headers"].index("TEAM_ID")]
for t in ts["rowSet"]:
    if t[ts["headers"].index("TEAM_ID")] == team:
        t[ts["headers"].index("AST")] += 1
print(row[ps["headers"].index("PLAYER_ID")])
json.dump(d, open(sys.argv[2], "w"))
EOF
)
c1=$(publish "$IT_DIR/corrected.json" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --game-id 0021600270)
it_check "correction: one more raw.completed" it_wait_for 30 it_events_ge "$RAW_T" 5
ev=$(it_events "$RAW_T" | tail -n 1)
it_is "correction: one player row and one team row updated, nothing inserted" \
        "$(jq -c '[.payload.rows, (.payload.tables[] | [.table, .rows, .parsed, .inserted, .updated])]' <<<"$ev")" \
        '[2,["raw.player_boxscores",1,19,0,1],["raw.team_boxscores",1,2,0,1]]'
it_is "correction: affected entities are the game and that one player" \
        "$(jq -c '[.affected_entities[] | .kind + ":" + .id]' <<<"$ev")" \
        "[\"game:0021600270\",\"player:$corr_player\"]"
it_is "correction: only those two rows have a new updated_at and the new blob" \
        "$(it_sql "SELECT (SELECT count(*) FROM raw.player_boxscores WHERE updated_at > loaded_at
                        AND payload_sha256 = '$(pubfield "$c1" sha)')
                || ',' || (SELECT count(*) FROM raw.team_boxscores WHERE updated_at > loaded_at
                        AND payload_sha256 = '$(pubfield "$c1" sha)')")" "1,1"
fp2=$(fingerprint)
publish "$IT_DIR/corrected.json" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --game-id 0021600270 >/dev/null
it_check "correction replayed: skipped" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND status = 'skipped'" 5
it_is "correction replayed: nothing changed, no new event" "$(fingerprint)/$(it_count_events "$RAW_T")" "$fp2/5"

# ---- poison ------------------------------------------------------------------------

rows_before=$(it_sql "SELECT (SELECT count(*) FROM raw.player_boxscores) + (SELECT count(*) FROM raw.team_boxscores)")
printf '{"resource":"boxscore","resultSets":[{"name":"PlayerStats","headers":["GAME_ID"' >"$IT_DIR/bad.json"
publish "$IT_DIR/bad.json" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 >/dev/null
# The same real box score for another game id with one player's points changed:
# valid JSON that fails validation (the parser's totals checks).
python3 - "$BOX2" "$IT_DIR/tampered.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for rs in d["resultSets"]:
    h = rs["headers"]
    for row in rs["rowSet"]:
        if "GAME_ID" in h:
            row[h.index("GAME_ID")] = "0021699999"
ps = next(rs for rs in d["resultSets"] if rs["name"] == "PlayerStats")
i = ps["headers"].index("PTS")
ps["rowSet"][0][i] += 1
json.dump(d, open(sys.argv[2], "w"))
EOF
publish "$IT_DIR/tampered.json" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 >/dev/null
publish "$BOX2" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 \
        --sha 0000000000000000000000000000000000000000000000000000000000000000 >/dev/null
publish "$BOX2" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --blob-path ../../etc/passwd >/dev/null
ln -s /etc "$BLOBS/escape"
publish "$BOX2" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --blob-path escape/hostname >/dev/null
it_check "poison: five dead letters" it_wait_for 30 it_events_ge "$DLQ_T" 5
for i in 0 1 2 3 4; do
        it_dlq_fetch "$DLQ_T" "$i"
        it_diag "dead letter $i: class=$(it_hdr "$i" dlq.error_class) error=$(it_hdr "$i" dlq.error)"
done
it_is "poison: all PERMANENT, first attempt" \
        "$(for i in 0 1 2 3 4; do echo "$(it_hdr "$i" dlq.error_class)/$(it_hdr "$i" dlq.attempts)"; done | sort -u)" \
        "PERMANENT/1"
it_like "poison: the dead letter carries the loader's reason (sha mismatch)" \
        "$(for i in 0 1 2 3 4; do it_hdr "$i" dlq.error; echo; done)" "sha256 is [0-9a-f]*, the event says 0000"
it_like "poison: the dead letter carries the loader's reason (path)" \
        "$(for i in 0 1 2 3 4; do it_hdr "$i" dlq.error; echo; done)" "blob_path: "
it_is "poison: nothing loaded" \
        "$(it_sql "SELECT (SELECT count(*) FROM raw.player_boxscores) + (SELECT count(*) FROM raw.team_boxscores)")" \
        "$rows_before"
it_is "poison: the tampered game left no rows" \
        "$(it_sql "SELECT count(*) FROM raw.player_boxscores WHERE game_id = '0021699999'")" 0
it_is "poison: five failed runs logged with their reasons" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'
                AND status = 'failed' AND processor <> 'dlq' AND error_message <> ''")" 5
it_is "poison: and each dead letter recorded in the run's log (processor dlq, PERMANENT)" \
        "$(it_sql "SELECT count(DISTINCT event_id) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'
                AND phase = 'raw' AND processor = 'dlq' AND status = 'failed'
                AND error_message LIKE 'dead-lettered (PERMANENT) to $SCRAPER_T.dlq: %'")" 5
reasons=$(it_sql "SELECT string_agg(error_message, ' | ' ORDER BY started_at) FROM ops.pipeline_execution_log
               WHERE correlation_id = '$CORR' AND status = 'failed'")
it_diag "reasons: $reasons"
it_like "poison: bad JSON reason" "$reasons" "boxscore|JSON|json"
it_like "poison: digest mismatch reason" "$reasons" "sha256 is [0-9a-f]{64}, the event says 0{64}"
it_like "poison: path escape reasons" "$reasons" "'\\.' or '\\.\\.' component refused.*resolves outside blob.dir"
it_is "poison: the reasons are logged as warnings" \
        "$(grep -c '"event":"raw.load.poison"' "$IT_DIR/raw.1.log")" 5

# A blob that never arrives: retried (TRANSIENT), then dead-lettered.
echo '{"never": "stored"}' >"$IT_DIR/missing.json"
publish "$IT_DIR/missing.json" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --no-store >/dev/null
it_check "missing blob: dead-lettered after the retries" it_wait_for 30 it_events_ge "$DLQ_T" 6
it_dlq_fetch "$DLQ_T" 5
it_is "missing blob: TRANSIENT after 3 attempts" \
        "$(it_hdr 5 dlq.error_class)/$(it_hdr 5 dlq.attempts)" "TRANSIENT/3"
it_check "missing blob: the dead letter is in the run's log (TRANSIENT, gave up after 3)" it_wait_for 10 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE processor = 'dlq'
         AND error_message LIKE 'dead-lettered (TRANSIENT)%gave up after 3 attempts%'" 1
it_is "no raw.completed for any of them" "$(it_count_events "$RAW_T")" 5

# ---- SIGTERM ----------------------------------------------------------------------

t0=$(date +%s%3N)
it_stop_service RAW_PID
rc=$?
t1=$(date +%s%3N)
it_is "SIGTERM: exit 0" "$rc" 0
it_check "SIGTERM: gone within drain.timeout_ms (3000 ms; took $((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000
it_check "SIGTERM: drain logged" grep -q '"event":"svc.drain"' "$IT_DIR/raw.1.log"

# A restart with everything handled: migrations are a no-op, nothing is redelivered.
it_check "restart: starts again" start_raw raw.2.log
sleep 1
it_is "restart: no migration applied" \
        "$(grep -o 'migrations applied=[0-9]*' "$IT_DIR/raw.2.log" | head -n 1)" "migrations applied=0"
it_is "restart: nothing redelivered" "$(it_count_events "$RAW_T")" 5
it_stop_service RAW_PID

# ---- PostgreSQL outage (a private cluster: the shared one must stay up) ----------

PRIV=$IT_DIR/pg
PRIV_DSN=$("$IT_HARNESS/pg.sh" start "$PRIV" 2>"$IT_DIR/pg.start.err" | tail -n 1)
raw_cleanup_priv() {
        "$IT_HARNESS/pg.sh" stop "$PRIV" >/dev/null 2>&1
        cp "$PRIV/postgres.log" "$IT_DIR/pg.postgres.log" 2>/dev/null
        rm -rf "$PRIV" # 40 MB of cluster and a socket: not worth keeping as evidence
}
IT_ON_EXIT=raw_cleanup_priv
PREFIX2=${PREFIX}pg
IT_EXTRA_KEYS+=("$PREFIX2.nba.scraper.completed" "$PREFIX2.nba.scraper.completed.dlq" "$PREFIX2.nba.raw.completed")
if [[ -z $PRIV_DSN ]]; then
        it_not_ok "outage: private PostgreSQL started"
        it_diag "$(cat "$IT_DIR/pg.start.err")"
        it_done
fi
it_must "outage: statline-raw on a private cluster starts" start_raw raw.3.log \
        STATLINE_RAW_PG_DSN="$PRIV_DSN" STATLINE_RAW_BUS_PREFIX="$PREFIX2" \
        STATLINE_RAW_RETRY_DELAYS_MS=3000,5000 STATLINE_RAW_RETRY_ATTEMPTS=3 \
        STATLINE_RAW_CB_OPEN_MS=3000
it_is "outage: /readyz 200 before" "$(readyz raw.3.log)" 200
"$IT_HARNESS/pg.sh" stop "$PRIV" >/dev/null 2>&1
it_check "outage: /readyz 503 within 10 s of the stop" it_wait_for 10 readyz_is raw.3.log 503
PREFIX_SAVE=$PREFIX
PREFIX=$PREFIX2
o1=$(publish "$BOX2" nba.stats.boxscoretraditionalv2 boxscore 2016-11-30 --game-id 0021600270)
PREFIX=$PREFIX_SAVE
# A lost connection is not the event's fault: it waits for PostgreSQL (the pg
# breaker opens and retries after cb.open_ms) instead of using up its retries.
it_check "outage: the event waits for the connection" \
        it_wait_for 10 grep -q '"event":"svc.dependency.down"' "$IT_DIR/raw.3.log"
"$IT_HARNESS/pg.sh" start "$PRIV" >/dev/null 2>&1
it_check "outage: loaded after PostgreSQL came back" it_wait_for 20 it_events_ge "$PREFIX2.nba.raw.completed" 1
it_check "outage: /readyz 200 again" it_wait_for 10 readyz_is raw.3.log 200
it_is "outage: nothing dead-lettered" "$(it_count_events "$PREFIX2.nba.scraper.completed.dlq")" 0
it_is "outage: the rows are there once" \
        "$(PGCONNECT_TIMEOUT=10 psql "$PRIV_DSN" -X -q -t -A -c "SELECT count(*) FROM raw.player_boxscores")" 19
it_stop_service RAW_PID

it_done
