#!/usr/bin/env bash
# cb_shared.sh: circuit breakers shared through PostgreSQL (sl/cb.h,
# ops.circuit_breakers) and forced by statline-cb, on a private database of
# the shared cluster and a private topic prefix on the shared Redis.
#   - process A (sl_cbtest) records failures until its breaker opens; a new
#     process B (a restart, another replica) reads OPEN and refuses calls;
#   - statline-cb list/open/close/reset: the rows change as documented;
#   - a running statline-publishing (cb.cache_ttl_ms=1000): forced open ->
#     the breaker opens (log, /metrics statline_circuit_state, /readyz 503,
#     heartbeat row), events sent meanwhile are not handled and not
#     dead-lettered (they wait); close -> every one of them is handled, none
#     lost; the service drains and exits 0.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
command -v curl >/dev/null || it_skip_all "curl not installed"
it_init cb_shared
it_backend redis-streams
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
PUB=${STATLINE_PUBBIN:-$BUILD/services/publishing/statline-publishing}
CB=${STATLINE_CBBIN:-$BUILD/tools/cb/statline-cb}
CBTEST=${STATLINE_CBTEST:-$BUILD/tests/integration/sl_cbtest}
for b in "$PUB" "$CB" "$CBTEST"; do
        [[ -x $b ]] || it_bail "not found: $b (set STATLINE_PUBBIN / STATLINE_CBBIN / STATLINE_CBTEST)"
done

it_pg_database cb
PREFIX="itcb$$p$RANDOM"
PRED_T=$PREFIX.nba.prediction.completed
PUB_T=$PREFIX.nba.publishing.completed
DLQ_T=$PRED_T.dlq
IT_EXTRA_KEYS+=("$PRED_T" "$DLQ_T" "$PUB_T")
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
PUB_PID=
it_service publishing "$PUB" "$PREFIX"

cbtool() {
        STATLINE_PG_DSN=$IT_DSN "$CB" "$@"
}

# cbq ARGS: statline-cb with its output dropped (for it_must).
cbq() {
        cbtool "$@" >/dev/null
}

# emit DATE: one prediction.completed for DATE (whole date) to the stream; echoes its event id.
emit() {
        local json
        json=$(python3 - "$CORR" "$1" <<'EOF'
import json, os, sys, time
corr, date = sys.argv[1], sys.argv[2]
ms = int(time.time() * 1000)
r = int.from_bytes(os.urandom(10), "big")
eid = "%08x-%04x-7%03x-%04x-%012x" % (ms >> 16, ms & 0xffff, r & 0xfff, 0x8000 | ((r >> 12) & 0x3fff), (r >> 26) & 0xffffffffffff)
env = {"schema_version": "1.0", "event_id": eid, "type": "prediction.completed",
       "phase": "prediction", "correlation_id": corr, "causation_id": None,
       "traceparent": "00-%s-%s-01" % (os.urandom(16).hex(), os.urandom(8).hex()),
       "sport": "nba", "game_date": date, "affected_entities": [],
       "idempotency_key": "prediction:test:%s" % eid,
       "produced_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
       "payload": {"processor": "player_prop_predictions", "model_version": "test",
                   "systems": [], "tables": [], "rows": 0, "entities": {}}}
print(json.dumps(env, separators=(",", ":")))
EOF
)
        it_redis XADD "$PRED_T" '*' d "$json" >/dev/null
        jq -r .event_id <<<"$json"
}

# port: the health port of the running service (the newest log).
port() {
        local log=$IT_DIR/pub.log
        [[ -f $IT_DIR/pub2.log ]] && log=$IT_DIR/pub2.log
        sed -n 's/.*health_port=\([0-9]*\).*/\1/p' "$log" | head -n 1
}

metric() {
        curl -s -m 5 "http://127.0.0.1:$(port)/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

readyz() {
        curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port)/readyz"
}

# handled EVENT_ID...: how many of these events have an execution-log row.
handled() {
        local ids
        ids=$(printf "'%s'," "$@")
        it_sql "SELECT count(DISTINCT event_id) FROM ops.pipeline_execution_log
                WHERE event_id IN (${ids%,})"
}

# ---- two processes share one breaker -------------------------------------------------

it_must "creates a private database" it_pg_create
it_must "migrations applied" "$CBTEST" "$IT_DSN" x x migrate "$IT_SRC/db/migrations"
it_is "process A: 3 failures open its breaker" \
        "$("$CBTEST" "$IT_DSN" analytics pg fail 3)" "OPEN allow=0"
it_is "the transition was written through" \
        "$(it_sql "SELECT state, forced IS NULL, failures, calls, opened_at IS NOT NULL
                   FROM ops.circuit_breakers WHERE service = 'analytics' AND dependency = 'pg'")" \
        "OPEN|t|3|3|t"
it_is "process B (a restart / another replica) starts OPEN and refuses" \
        "$("$CBTEST" "$IT_DSN" analytics pg state)" "OPEN allow=0"
it_is "another service's breaker of the same dependency is separate" \
        "$("$CBTEST" "$IT_DSN" raw pg state)" "CLOSED allow=1"

# ---- statline-cb ------------------------------------------------------------------------

it_is "statline-cb list --json" \
        "$(cbtool list --json | jq -c '[.[] | [.service, .dependency, .state, .forced]]')" \
        '[["analytics","pg","OPEN",null],["raw","pg","CLOSED",null]]'
it_like "statline-cb list (table)" "$(cbtool list)" "analytics +pg +OPEN +OPEN +- "
it_is "statline-cb reset -> CLOSED, counts zeroed" \
        "$(cbtool reset analytics pg --json | jq -c '[.state, .forced, .failures, .calls]')" \
        '["CLOSED",null,0,0]'
it_is "process C after the reset: CLOSED" "$("$CBTEST" "$IT_DSN" analytics pg state)" \
        "CLOSED allow=1"
it_is "statline-cb close -> forced_closed" \
        "$(cbtool close analytics pg --json | jq -r .forced)" forced_closed
it_is "forced closed wins over failures" "$("$CBTEST" "$IT_DSN" analytics pg fail 3)" \
        "CLOSED allow=1"
it_is "statline-cb open -> forced_open, effective OPEN" \
        "$(cbtool open analytics pg --json | jq -r '[.forced, .effective, .state] | join(" ")')" \
        "forced_open OPEN CLOSED"
it_is "a forced-open breaker refuses" "$("$CBTEST" "$IT_DSN" analytics pg state)" "OPEN allow=0"
cbtool open 2>/dev/null
it_is "statline-cb open without DEP: usage error 64" "$?" 64
STATLINE_PG_DSN= "$CB" list >/dev/null 2>&1
it_is "statline-cb without pg.dsn: config error 78" "$?" 78

# ---- a running service stops handling while forced open, none lost -------------------

it_must "statline-publishing starts" it_start_service pub.log PUB_PID \
        STATLINE_PUBLISHING_PUBLISH_DIR="$IT_DIR/out" STATLINE_PUBLISHING_CB_CACHE_TTL_MS=1000 \
        STATLINE_PUBLISHING_HEARTBEAT_INTERVAL_MS=500
E0=$(emit 2025-01-01)
it_check "an event is handled while closed" it_wait_for 30 it_events_ge "$PUB_T" 1
it_is "statline_circuit_state{dependency=\"pg\"} is 0" \
        "$(metric 'statline_circuit_state{dependency="pg"}')" 0
it_check "heartbeat row: ready, breakers listed" it_wait_for 10 it_sql_ge \
        "SELECT count(*) FROM ops.service_heartbeat WHERE service = 'publishing'
         AND ready AND breakers->>'pg' = 'CLOSED' AND breakers->>'bus' = 'CLOSED'
         AND pid = $PUB_PID AND last_seen > now() - interval '5 seconds'" 1

it_must "statline-cb open publishing pg" cbq open publishing pg
it_check "the service adopts it within the cache TTL (log)" it_wait_for 10 \
        grep -q '"event":"cb.state.open".*dependency=pg.*forced_open' "$IT_DIR/pub.log"
it_is "statline_circuit_state{dependency=\"pg\"} is 1" \
        "$(metric 'statline_circuit_state{dependency="pg"}')" 1
it_is "/readyz is 503 while open" "$(readyz)" 503
it_check "heartbeat row: not ready, pg OPEN" it_wait_for 10 it_sql_ge \
        "SELECT count(*) FROM ops.service_heartbeat WHERE service = 'publishing'
         AND NOT ready AND breakers->>'pg' = 'OPEN'" 1
IDS=()
for d in 02 03 04 05 06; do
        IDS+=("$(emit 2025-01-$d)")
done
sleep 4
it_is "while open: none of the 5 events handled" "$(handled "${IDS[@]}")" 0
it_is "while open: nothing dead-lettered" "$(it_dlq_count "$DLQ_T")" 0
it_is "while open: no new publishing.completed" "$(it_count_events "$PUB_T")" 1
it_is "the service is still running" "$(kill -0 "$PUB_PID" 2>/dev/null && echo yes)" yes
it_must "SIGTERM while open: exits 0" it_stop_service PUB_PID
it_must "restarted" it_start_service pub2.log PUB_PID \
        STATLINE_PUBLISHING_PUBLISH_DIR="$IT_DIR/out" STATLINE_PUBLISHING_CB_CACHE_TTL_MS=1000 \
        STATLINE_PUBLISHING_HEARTBEAT_INTERVAL_MS=500
it_check "after the restart the breaker is OPEN from the start (shared row)" \
        grep -q '"event":"cb.state.open".*dependency=pg.*forced_open' "$IT_DIR/pub2.log"
sleep 2
it_is "after the restart: still none handled, none dead-lettered" \
        "$(handled "${IDS[@]}") $(it_dlq_count "$DLQ_T")" "0 0"

it_must "statline-cb close publishing pg" cbq close publishing pg
it_check "after close: all 5 handled" it_wait_for 30 it_events_ge "$PUB_T" 6
it_is "every waiting event has its execution-log row" "$(handled "${IDS[@]}")" 5
it_is "nothing dead-lettered" "$(it_dlq_count "$DLQ_T")" 0
it_is "statline_circuit_state{dependency=\"pg\"} is 0 again" \
        "$(metric 'statline_circuit_state{dependency="pg"}')" 0
it_is "transitions counted: opened once" \
        "$(metric 'statline_circuit_transitions_total{dependency="pg",to="OPEN"}')" 1
it_is "/readyz is 200 again" "$(readyz)" 200
it_must "SIGTERM: drains and exits 0" it_stop_service PUB_PID
it_is "two instances' heartbeat rows, the last ones say not ready" \
        "$(it_sql "SELECT count(*), bool_or(ready) FROM ops.service_heartbeat
                   WHERE service = 'publishing'")" "2|f"

it_done
