#!/usr/bin/env bash
# analytics_coalesce.sh [BACKEND]: batch coalescing in statline-analytics
# (coalesce.window_ms; services/analytics/README.md "Coalescing").
#   - the same burst of 5 box-score raw.completed events of one date and one
#     correlation id (per game and team, plus two whole-game ones) goes to
#     three private databases, each with its own service and topic prefix:
#       REF  coalesce.window_ms = 0: 5 runs, 5 analytics.completed;
#       CO   window 2000 ms: exactly ONE run / analytics.completed whose
#            entities are the union (2 games, 20 players, 4 teams), one
#            'completed' log row per processor, analytics rows identical to
#            REF (every column but updated_at); a redelivered member is a
#            duplicate (no second run);
#       KILL window 4000 ms, SIGKILLed once the batch row holds all 5 members
#            (acked, nothing run yet) and restarted: still exactly one run,
#            rows identical to REF, the batch row gone;
#       FAIL (same database) a new burst whose batch run fails for good (its
#            table renamed away: SQLSTATE 42P01, PERMANENT): all 5 members in
#            the DLQ with the batch's error, batch and member rows gone, the
#            service alive; statline-dlq replays them (table back): ONE run;
#   - two events of the same date with different correlation ids: two runs;
#   - LONE / JOIN: an event naming no game (an injury-like player update)
#     runs at once when no batch is open, and joins the one that is.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
it_init analytics_coalesce
it_backend "${1:-redis-streams}"
[[ $IT_BACKEND == redis-streams ]] || it_skip_all "this test writes and reads topics with redis-cli"
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
AN=${STATLINE_ANALYTICSBIN:-$BUILD/services/analytics/statline-analytics}
[[ -x $AN ]] || it_bail "statline-analytics not found: $AN (set STATLINE_ANALYTICSBIN)"
DLQBIN=${STATLINE_DLQBIN:-$BUILD/tools/dlq/statline-dlq}
[[ -x $DLQBIN ]] || it_bail "statline-dlq not found: $DLQBIN (set STATLINE_DLQBIN)"

# Three private databases: REF (the one lib.sh drops), CO and KILL (dropped here).
it_pg_database co
DB_REF=$IT_DB DSN_REF=$IT_DSN
DB_CO="${IT_DB}_c" DSN_CO=$(it_dsn_for "$IT_ADMIN_DSN" "${IT_DB}_c")
DB_KILL="${IT_DB}_k" DSN_KILL=$(it_dsn_for "$IT_ADMIN_DSN" "${IT_DB}_k")
drop_extra() {
        local d
        for d in "$DB_CO" "$DB_KILL"; do
                psql "$IT_ADMIN_DSN" -X -q -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
        done
        return 0
}
IT_ON_EXIT=drop_extra
BASE="itco$$r$RANDOM"
for p in ref co kill; do
        IT_EXTRA_KEYS+=("$BASE$p.nba.raw.completed" "$BASE$p.nba.analytics.completed"
                "$BASE$p.nba.raw.completed.dlq")
done
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
AN_PID=

python3 "$IT_SRC/tests/integration/analytics_seed.py" "$IT_DIR" || it_bail "seed generator failed"
. "$IT_DIR/facts.txt"
G1=0022300001 G2=0022300002

# use NAME: points it_sql / it_start_service at database NAME (ref|co|kill) and its prefix.
use() {
        case $1 in
        ref) IT_DSN=$DSN_REF ;;
        co) IT_DSN=$DSN_CO ;;
        kill) IT_DSN=$DSN_KILL ;;
        esac
        PREFIX=$BASE$1
        RAW_T=$PREFIX.nba.raw.completed
        AN_T=$PREFIX.nba.analytics.completed
        it_service analytics "$AN" "$PREFIX"
}

start_an() {
        it_start_service "$1" AN_PID STATLINE_ANALYTICS_RETRY_NOT_READY_DELAYS_MS=500 "${@:2}"
}

# events CORR SPEC...: one raw.completed JSON a line; SPEC = TABLES@ENTITIES (kind:id,...).
events() {
        python3 - "$@" <<'EOF'
import json, os, sys, uuid, time
corr = sys.argv[1]
for spec in sys.argv[2:]:
    tables, ents = spec.split("@")
    ms = int(time.time() * 1000)
    r = bytearray(os.urandom(16)); r[0:6] = ms.to_bytes(6, "big"); r[6] = 0x70 | (r[6] & 0x0F); r[8] = 0x80 | (r[8] & 0x3F)
    up = os.urandom(32).hex()
    print(json.dumps({"schema_version": "1.0", "event_id": str(uuid.UUID(bytes=bytes(r))),
        "type": "raw.completed", "phase": "raw", "correlation_id": corr,
        "causation_id": str(uuid.uuid4()),
        "traceparent": "00-" + os.urandom(16).hex() + "-" + os.urandom(8).hex() + "-01",
        "sport": "nba", "game_date": "2024-01-10",
        "affected_entities": [{"kind": e.split(":")[0], "id": e.split(":")[1]} for e in ents.split(",") if e],
        "idempotency_key": "raw:it:" + up,
        "produced_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "payload": {"kind": "it", "blob_sha256": up,
                    "tables": [{"name": t, "rows": 1, "inserted": 1, "updated": 0} for t in tables.split(",")]}}))
EOF
}

# xadd FILE: every line of FILE onto $RAW_T, back to back.
xadd() {
        local ev
        while IFS= read -r ev; do
                it_redis XADD "$RAW_T" '*' d "$ev" >/dev/null
        done <"$1"
}

team_ents() { # GAME TEAM_ID FIRST_PLAYER: game, team and its 5 players
        local e="game:$1,team:$2" k
        for k in 0 1 2 3 4; do e+=",player:$(($3 + k))"; done
        echo "$e"
}
BOX=raw.player_boxscores,raw.team_boxscores
events "$CORR" "$BOX@$(team_ents $G1 "$TA" 1001)" "$BOX@$(team_ents $G1 "$TB" 1011)" \
        "$BOX@$(team_ents $G2 "$TC" 1021)" "$BOX@$(team_ents $G2 "$TD" 1031)" \
        "raw.team_boxscores@game:$G2" >"$IT_DIR/burst.jsonl"
it_is "the burst: 5 events" "$(wc -l <"$IT_DIR/burst.jsonl")" 5

fingerprint() {
        it_sql "SELECT count(*) FILTER (WHERE t = 'p') || '/' || count(*) FILTER (WHERE t = 'o') || '/' ||
               count(*) FILTER (WHERE t = 'd') || ' ' || md5(string_agg(x, '' ORDER BY x)) FROM (
               SELECT 'p' AS t, (to_jsonb(p) - 'updated_at')::text AS x FROM analytics.player_game_summary p
               UNION ALL SELECT 'o', (to_jsonb(o) - 'updated_at')::text FROM analytics.team_offense_game_summary o
               UNION ALL SELECT 'd', (to_jsonb(d) - 'updated_at')::text FROM analytics.team_defense_game_summary d) s"
}

completed_rows() { # 'completed' execution-log rows of analytics (one per processor per run)
        it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE phase = 'analytics' AND status = 'completed'"
}

seed() {
        psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/seed.sql" >/dev/null
}

for db in "$DB_REF" "$DB_CO" "$DB_KILL"; do
        it_must "creates private database $db" psql "$IT_ADMIN_DSN" -X -q -c "CREATE DATABASE $db"
done

# ---- REF: window 0, one run per event ------------------------------------------------------------

use ref
it_must "REF: statline-analytics starts with coalesce.window_ms=0" start_an ref.log \
        STATLINE_ANALYTICS_COALESCE_WINDOW_MS=0
it_must "REF: raw seeded" seed
xadd "$IT_DIR/burst.jsonl"
it_check "REF: 5 analytics.completed (one per event)" it_wait_for 40 it_events_ge "$AN_T" 5
sleep 1
it_is "REF: exactly 5" "$(it_count_events "$AN_T")" 5
REF_FP=$(fingerprint)
it_like "REF: 20 player / 4 offense / 4 defense rows" "$REF_FP" "^20/4/4 [0-9a-f]{32}$"
it_is "REF: nothing batched" "$(it_sql "SELECT count(*) FROM ops.analytics_batch_members")" 0
it_stop_service AN_PID

# ---- CO: window 2000 ms, one run ------------------------------------------------------------------

use co
it_must "CO: statline-analytics starts with coalesce.window_ms=2000" start_an co.log \
        STATLINE_ANALYTICS_COALESCE_WINDOW_MS=2000
it_must "CO: raw seeded" seed
t0=$(date +%s%3N)
xadd "$IT_DIR/burst.jsonl"
it_check "CO: an analytics.completed" it_wait_for 40 it_events_ge "$AN_T" 1
t1=$(date +%s%3N)
sleep 3 # a second batch would be due within the window
it_is "CO: exactly ONE analytics.completed for the 5 events" "$(it_count_events "$AN_T")" 1
ev=$(it_events "$AN_T" | tail -n 1)
it_is "CO: its entities are the union: 2 games, 20 players, 4 teams" \
        "$(jq -c '[.affected_entities[] | .kind] | group_by(.) | map([.[0], length])' <<<"$ev")" \
        '[["game",2],["player",20],["team",4]]'
it_is "CO: processors and rows of the one run" \
        "$(jq -c '[.payload.processors[] | [.name, .rows]]' <<<"$ev")" \
        '[["player_game_summary",20],["team_offense_game_summary",4],["team_defense_game_summary",4]]'
it_is "CO: correlation id kept, child of the first event" \
        "$(jq -r '[.correlation_id, .causation_id] | join(" ")' <<<"$ev")" \
        "$CORR $(head -n 1 "$IT_DIR/burst.jsonl" | jq -r .event_id)"
it_is "CO: one 'completed' log row per processor (3), not per event" "$(completed_rows)" 3
it_is "CO: rows identical to the one-by-one run (REF)" "$(fingerprint)" "$REF_FP"
it_is "CO: every other member has a 'skipped' coalesce row naming the batch (4 distinct events)" \
        "$(it_sql "SELECT count(DISTINCT event_id) FROM ops.pipeline_execution_log WHERE phase = 'analytics'
                AND processor = 'coalesce' AND status = 'skipped' AND skip_reason LIKE 'coalesced: ran in batch %'
                AND event_id::text <> '$(head -n 1 "$IT_DIR/burst.jsonl" | jq -r .event_id)'")" 4
it_is "CO: batch row gone, 5 members recorded" \
        "$(it_sql "SELECT (SELECT count(*) FROM ops.analytics_batches) || '/' ||
                (SELECT count(*) FROM ops.analytics_batch_members)")" "0/5"
it_diag "CO: burst to analytics.completed: $((t1 - t0)) ms (window 2000 ms)"

# a redelivered member (same event id) after its batch ran: a duplicate, no second run
head -n 2 "$IT_DIR/burst.jsonl" | tail -n 1 >"$IT_DIR/redeliver.jsonl"
xadd "$IT_DIR/redeliver.jsonl"
it_check "CO: redelivered member skipped as a duplicate" it_wait_for 20 grep -q \
        'already merged into a coalesced batch' "$IT_DIR/co.log"
sleep 2.5
it_is "CO: still one analytics.completed and 3 completed rows" \
        "$(it_count_events "$AN_T")/$(completed_rows)" "1/3"

# ---- different correlation ids are not merged ------------------------------------------------------

C2=$(python3 -c 'import uuid; print(uuid.uuid4())')
C3=$(python3 -c 'import uuid; print(uuid.uuid4())')
{
        events "$C2" "$BOX@$(team_ents $G1 "$TA" 1001)"
        events "$C3" "$BOX@$(team_ents $G1 "$TB" 1011)"
} >"$IT_DIR/corrs.jsonl"
xadd "$IT_DIR/corrs.jsonl"
it_check "two correlation ids: two more analytics.completed" it_wait_for 30 it_events_ge "$AN_T" 3
sleep 3
it_is "two correlation ids: exactly two runs, one per correlation id" \
        "$(it_events "$AN_T" | tail -n +2 | jq -r .correlation_id | sort | tr '\n' ' ')" \
        "$(printf '%s\n' "$C2" "$C3" | sort | tr '\n' ' ')"
it_is "two correlation ids: 3 analytics.completed in all" "$(it_count_events "$AN_T")" 3

# ---- an event that names no game opens no batch: alone it runs at once, else it joins -------------

C5=$(python3 -c 'import uuid; print(uuid.uuid4())')
C6=$(python3 -c 'import uuid; print(uuid.uuid4())')
events "$C5" "raw.player_boxscores@player:1001" >"$IT_DIR/lone.jsonl"
xadd "$IT_DIR/lone.jsonl"
it_check "LONE: a player-only event runs" it_wait_for 20 it_events_ge "$AN_T" 4
it_is "LONE: not merged into a batch (no member row: it did not wait out the window)" \
        "$(it_sql "SELECT count(*) FROM ops.analytics_batch_members WHERE correlation_id = '$C5'")" 0
it_is "LONE: its analytics.completed" "$(it_events "$AN_T" | jq -r .correlation_id | grep -c "$C5")" 1
events "$C6" "$BOX@$(team_ents $G1 "$TA" 1001)" "raw.player_boxscores@player:1002" >"$IT_DIR/join.jsonl"
xadd "$IT_DIR/join.jsonl"
it_check "JOIN: a box score and a player-only event of one run" it_wait_for 20 it_events_ge "$AN_T" 5
sleep 3
it_is "JOIN: the player-only event joined the open batch: both members, ONE run" \
        "$(it_sql "SELECT count(*) FROM ops.analytics_batch_members WHERE correlation_id = '$C6'")/$(
                it_events "$AN_T" | jq -r .correlation_id | grep -c "$C6")" "2/1"
it_stop_service AN_PID

# ---- KILL: SIGKILL after the batch row committed, restart -----------------------------------------

use kill
it_must "KILL: statline-analytics starts with coalesce.window_ms=4000" start_an kill.1.log \
        STATLINE_ANALYTICS_COALESCE_WINDOW_MS=4000
it_must "KILL: raw seeded" seed
xadd "$IT_DIR/burst.jsonl"
it_check "KILL: the batch row holds all 5 members" it_wait_for 10 it_sql_ge \
        "SELECT coalesce(max(cardinality(members)), 0) FROM ops.analytics_batches" 5
kill -KILL "$AN_PID"
wait "$AN_PID" 2>/dev/null
AN_PID=
it_is "KILL: killed before the batch ran (no analytics.completed, no summary row)" \
        "$(it_count_events "$AN_T")/$(it_sql "SELECT count(*) FROM analytics.player_game_summary")" "0/0"
it_must "KILL: restarted" start_an kill.2.log STATLINE_ANALYTICS_COALESCE_WINDOW_MS=4000
it_check "KILL: the batch runs after the restart" it_wait_for 30 it_events_ge "$AN_T" 1
sleep 3
it_is "KILL: exactly ONE analytics.completed" "$(it_count_events "$AN_T")" 1
it_is "KILL: 3 completed log rows (one run)" "$(completed_rows)" 3
it_is "KILL: its entities are the union" \
        "$(it_events "$AN_T" | tail -n 1 | jq -c '[.affected_entities[] | .kind] | group_by(.) | map([.[0], length])')" \
        '[["game",2],["player",20],["team",4]]'
it_is "KILL: rows identical to the one-by-one run (REF)" "$(fingerprint)" "$REF_FP"
it_is "KILL: batch row gone" "$(it_sql "SELECT count(*) FROM ops.analytics_batches")" 0
it_is "KILL: nothing dead-lettered" "$(it_count_events "$RAW_T.dlq")" 0

# ---- FAIL: a batch that fails for good (same database and service) ---------------------------------
# A new burst (fresh event ids and data versions, correlation id C4) is merged; before its
# batch runs the summary table is renamed away, so the run fails with SQLSTATE 42P01
# (PERMANENT). Every member must then sit in the DLQ with that error (not retried forever),
# be forgotten by the batch tables, and replay through statline-dlq once the table is back.
C4=$(python3 -c 'import uuid; print(uuid.uuid4())')
events "$C4" "$BOX@$(team_ents $G1 "$TA" 1001)" "$BOX@$(team_ents $G1 "$TB" 1011)" \
        "$BOX@$(team_ents $G2 "$TC" 1021)" "$BOX@$(team_ents $G2 "$TD" 1031)" \
        "raw.team_boxscores@game:$G2" >"$IT_DIR/fail.jsonl"
xadd "$IT_DIR/fail.jsonl"
it_check "FAIL: the batch row holds all 5 members" it_wait_for 10 it_sql_ge \
        "SELECT coalesce(max(cardinality(members)), 0) FROM ops.analytics_batches" 5
it_sql "ALTER TABLE analytics.player_game_summary RENAME TO player_game_summary_away" >/dev/null
it_check "FAIL: all 5 members dead-lettered" it_wait_for 30 it_events_ge "$RAW_T.dlq" 5
sleep 1
it_is "FAIL: exactly 5 dead letters, the burst's events in arrival order" \
        "$(it_events "$RAW_T.dlq" | jq -r .event_id | tr '\n' ' ')" \
        "$(jq -r .event_id "$IT_DIR/fail.jsonl" | tr '\n' ' ')"
it_dlq() { # the 5 dead letters as statline-dlq sees them
        env STATLINE_BUS_BACKEND="$IT_BACKEND" STATLINE_BUS_URL="$IT_URL" STATLINE_BUS_PREFIX="$PREFIX" \
                STATLINE_PG_DSN="$IT_DSN" STATLINE_PG_MIGRATIONS="$IT_SRC/db/migrations" \
                timeout -k 5 120 "$DLQBIN" "$@"
}
it_dlq list --json >"$IT_DIR/fail.dlq.json" 2>"$IT_DIR/fail.dlq.err"
it_is "FAIL: each says why: PERMANENT, the batch and the missing table" \
        "$(jq -r '[.[] | select(.headers["dlq.error_class"] == "PERMANENT" and
                (.headers["dlq.error"] | test("analytics batch [0-9]+ failed: .*player_game_summary.*does not exist")) and
                .headers["dlq.service"] == "analytics" and .original_topic == "'"$RAW_T"'")] | length' \
                "$IT_DIR/fail.dlq.json")" 5
it_is "FAIL: batch and member rows of C4 gone (a replay is merged anew)" \
        "$(it_sql "SELECT (SELECT count(*) FROM ops.analytics_batches) || '/' ||
                (SELECT count(*) FROM ops.analytics_batch_members WHERE correlation_id = '$C4')")" "0/0"
it_is "FAIL: one 'failed' dlq log row per member, saying where it went and why" \
        "$(it_sql "SELECT count(DISTINCT event_id) FROM ops.pipeline_execution_log WHERE phase = 'analytics'
                AND processor = 'dlq' AND status = 'failed' AND correlation_id = '$C4'
                AND error_message LIKE 'dead-lettered (PERMANENT) to $RAW_T.dlq: analytics batch % failed: %'")" 5
it_is "FAIL: no analytics.completed for C4" \
        "$(it_events "$AN_T" | jq -r .correlation_id | grep -c "$C4")" 0
it_check "FAIL: the service still runs" kill -0 "$AN_PID"
it_sql "ALTER TABLE analytics.player_game_summary_away RENAME TO player_game_summary" >/dev/null
replay_c4() { it_dlq replay --correlation-id "$C4" --rate 50 >"$IT_DIR/replay.txt" 2>&1; }
it_check "FAIL: statline-dlq replays the 5 (table back)" replay_c4
it_like "FAIL: replay summary" "$(tail -n 1 "$IT_DIR/replay.txt")" 'matched=5 done=5 skipped=0 failed=0'
it_is "FAIL: DLQ entries replayed out (statline-dlq list)" "$(it_dlq list --json | jq length)" 0
it_check "FAIL: replayed, they run as ONE coalesced batch" it_wait_for 30 it_events_ge "$AN_T" 2
sleep 5
it_is "FAIL: exactly one analytics.completed for C4 (the rows were equal already: no new entities)" \
        "$(it_events "$AN_T" | jq -r .correlation_id | grep -c "$C4")" 1
it_is "FAIL: one run: 3 'completed' log rows for C4" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE phase = 'analytics'
                AND status = 'completed' AND correlation_id = '$C4'")" 3
it_is "FAIL: rows identical to the one-by-one run (REF)" "$(fingerprint)" "$REF_FP"
it_is "FAIL: no batch left" "$(it_sql "SELECT count(*) FROM ops.analytics_batches")" 0
it_check "KILL: SIGTERM exits 0" it_stop_service AN_PID
it_done
