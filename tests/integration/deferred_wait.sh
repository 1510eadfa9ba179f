#!/usr/bin/env bash
# deferred_wait.sh [BACKEND]: "not ready yet" is parked, not dead-lettered (issue 5 item 4).
#   - statline-analytics gets a raw.completed whose critical dependency (game 3's
#     raw.games row) is absent: 'waiting' rows, the event parked in
#     ops.deferred_events, NOT in the DLQ long after the old retry window
#     (retry.delays_ms 200,200 = 0.4 s), handed back with growing waits;
#   - the service is SIGKILLed while the event is parked and restarted: nothing lost;
#   - the dependency arrives: the event completes exactly once (one 'completed'
#     row per processor, one analytics.completed), the parked row is gone;
#   - with retry.not_ready_max_ms = 1500 a never-satisfied event ends in the DLQ
#     with "dependency not ready after N s: <what is missing>".
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
it_init deferred_wait
it_backend "${1:-redis-streams}"
[[ $IT_BACKEND == redis-streams ]] || it_skip_all "this test writes and reads topics with redis-cli"
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
AN=${STATLINE_ANALYTICSBIN:-$BUILD/services/analytics/statline-analytics}
[[ -x $AN ]] || it_bail "statline-analytics not found: $AN (set STATLINE_ANALYTICSBIN)"

it_pg_database dw
PREFIX="itdw$$r$RANDOM"
RAW_T=$PREFIX.nba.raw.completed
AN_T=$PREFIX.nba.analytics.completed
DLQ_T=$RAW_T.dlq
IT_EXTRA_KEYS+=("$RAW_T" "$AN_T" "$DLQ_T")
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
AN_PID=
it_service analytics "$AN" "$PREFIX"

# start_an LOG [VAR=VALUE...]: old retry window 0.4 s; parked events come back after 0.3, 0.6, 1 s...
start_an() {
        it_start_service "$1" AN_PID STATLINE_ANALYTICS_RETRY_DELAYS_MS=200,200 \
                STATLINE_ANALYTICS_RETRY_ATTEMPTS=3 \
                STATLINE_ANALYTICS_RETRY_NOT_READY_DELAYS_MS=300,600,1000 "${@:2}"
}

# publish TABLES DATE ENTITIES: one raw.completed on the stream; echoes its event id.
publish() {
        local ev
        ev=$(python3 - "$1" "$2" "$3" "$CORR" <<'PY'
import json, os, sys, uuid, time
tables, date, ents, corr = sys.argv[1:5]
ms = int(time.time() * 1000)
r = bytearray(os.urandom(16)); r[0:6] = ms.to_bytes(6, "big"); r[6] = 0x70 | (r[6] & 0x0F); r[8] = 0x80 | (r[8] & 0x3F)
up = os.urandom(32).hex()
env = {"schema_version": "1.0", "event_id": str(uuid.UUID(bytes=bytes(r))), "type": "raw.completed",
       "phase": "raw", "correlation_id": corr, "causation_id": str(uuid.uuid4()),
       "traceparent": "00-" + os.urandom(16).hex() + "-" + os.urandom(8).hex() + "-01",
       "sport": "nba", "game_date": date,
       "affected_entities": [{"kind": e.split(":")[0], "id": e.split(":")[1]} for e in ents.split(",") if e],
       "idempotency_key": "raw:it:" + up,
       "produced_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
       "payload": {"kind": "it", "blob_sha256": up,
                   "tables": [{"name": t, "rows": 1, "inserted": 1, "updated": 0} for t in tables.split(",") if t]}}
print(json.dumps(env))
PY
)
        it_redis XADD "$RAW_T" '*' d "$ev" >/dev/null
        jq -r .event_id <<<"$ev"
}

python3 "$IT_SRC/tests/integration/analytics_seed.py" "$IT_DIR" || it_bail "seed generator failed"
it_must "creates a private database" it_pg_create
it_must "statline-analytics starts (migration 0016 applied)" start_an an.1.log
it_must "raw tables seeded (without game 3's raw.games row)" \
        psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/seed.sql"

# ---- 1. critical dependency absent: parked, not dead-lettered ---------------------------------
t0=$(date +%s%3N)
e3=$(publish raw.player_boxscores,raw.team_boxscores 2024-01-11 "game:0022300003")
it_check "parked in ops.deferred_events" it_wait_for 20 it_sql_ge \
        "SELECT count(*) FROM ops.deferred_events WHERE event_id = '$e3'" 1
it_check "'waiting' rows (not 'failed'), dependencies_met = false, raw.games missing" it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$e3'
         AND status = 'waiting' AND dependencies_met = false AND 'raw.games' = ANY(missing_dependencies)" 3
it_is "no 'failed' rows" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$e3' AND status = 'failed'")" 0
it_check "handed back with growing waits (waits >= 3 within 6 s)" it_wait_for 6 it_sql_ge \
        "SELECT waits FROM ops.deferred_events WHERE event_id = '$e3'" 3
it_diag "parked: $(it_sql "SELECT waits, reason, round(extract(epoch FROM due_at - first_seen)::numeric, 1)
        FROM ops.deferred_events WHERE event_id = '$e3'")"
waited=$(($(date +%s%3N) - t0))
it_is "not in the DLQ after ${waited} ms (old retry window: 400 ms)" "$(it_count_events "$DLQ_T")" 0
it_is "acked on the bus (nothing pending for the group)" \
        "$(it_redis XPENDING "$RAW_T" "analytics-$PREFIX" | head -n 1)" 0
it_is "no analytics.completed yet" "$(it_count_events "$AN_T")" 0

# ---- 2. a crash while parked loses nothing ------------------------------------------------------
kill -KILL "$AN_PID"
wait "$AN_PID" 2>/dev/null
it_must "restarts after SIGKILL" start_an an.2.log
it_is "still parked after the restart" \
        "$(it_sql "SELECT count(*) FROM ops.deferred_events WHERE event_id = '$e3'")" 1

# ---- 3. the dependency arrives: completes exactly once -------------------------------------------
it_must "game 3's raw.games row inserted" psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/games3.sql"
it_check "analytics.completed within 15 s" it_wait_for 15 it_events_ge "$AN_T" 1
sleep 2.5 # time for a second (wrong) run to show up
it_is "exactly one analytics.completed" "$(it_count_events "$AN_T")" 1
it_is "one 'completed' row per processor (3 processors, 3 rows)" \
        "$(it_sql "SELECT count(*) || '/' || count(DISTINCT processor) FROM ops.pipeline_execution_log
                WHERE event_id = '$e3' AND status = 'completed'")" "3/3"
it_is "parked row deleted" "$(it_sql "SELECT count(*) FROM ops.deferred_events")" 0
it_is "game 3 summaries written (10 players)" \
        "$(it_sql "SELECT count(*) FROM analytics.player_game_summary WHERE game_id = '0022300003'")" 10
it_is "nothing dead-lettered" "$(it_count_events "$DLQ_T")" 0
it_check "exit 0 on SIGTERM" it_stop_service AN_PID

# ---- 4. never ready, not_ready_max_ms = 1500: the DLQ with the reason ----------------------------
it_must "restart with retry.not_ready_max_ms = 1500" start_an an.3.log \
        STATLINE_ANALYTICS_RETRY_NOT_READY_MAX_MS=1500
e9=$(publish raw.player_boxscores,raw.team_boxscores 2024-02-01 "game:0022300099")
it_check "dead-lettered within 10 s" it_wait_for 10 it_events_ge "$DLQ_T" 1
it_dlq_fetch "$DLQ_T" 0
it_like "dlq.error: dependency not ready after N s: what is missing" "$(it_hdr 0 dlq.error)" \
        "^dependency not ready after [12] s: critical dependency missing: .*raw.games"
it_is "dlq.error_class TRANSIENT" "$(it_hdr 0 dlq.error_class)" TRANSIENT
it_is "the dead letter is the original event" "$(jq -r .event_id "$IT_DIR/dlq/0.data")" "$e9"
it_check "its parked row is gone" it_wait_for 5 test \
        "$(it_sql "SELECT count(*) FROM ops.deferred_events")" = 0
it_is "waited at least 1.5 s before the DLQ (parked waits >= 2)" \
        "$(grep -c "\"event\":\"bus.handler.parked\".*$e9" "$IT_DIR/an.3.log" | awk '{print ($1 >= 2)}')" 1
it_check "exit 0 on SIGTERM" it_stop_service AN_PID
it_done
