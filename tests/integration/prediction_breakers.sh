#!/usr/bin/env bash
# prediction_breakers.sh: the system-level circuit breakers of statline-prediction
# ("system:<name>", services/prediction/README.md "System breakers") on a private
# database of the shared cluster and a private topic prefix on the shared Redis.
#   - the simulated league of prediction_service.sh and a trained xgboost_v1 model;
#   - zone_matchup_v1 made to fail for real: the column it alone reads
#     (analytics.player_game_summary.fg3m) renamed; cb.min_calls=2,
#     cb.half_open_calls=1, cb.open_ms=8000;
#   - run 1: the run completes and publishes; zone's execution-log row is
#     skipped "system failed: ...column...fg3m..."; moving_average, similarity,
#     xgboost and the ensemble wrote their rows; the ensemble (equal weights: no
#     system_errors yet) equals the mean of the systems that ran, recomputed
#     here from the stored rows;
#   - run 2 (same inputs, new event: a degraded run is not "inputs unchanged"):
#     zone fails again, its breaker opens (log, ops.circuit_breakers,
#     statline-cb list, statline_circuit_state{dependency="system:zone..."} 1);
#   - run 3: zone skipped "circuit open", nothing attempted (no new failure
#     logged though the column is still missing), the others still run;
#   - fixed (column renamed back), open time passed: run 4 is the half-open
#     probe, zone writes its 48 rows, the breaker closes (row, metric 0);
#   - a lost connection inside zone's statement (backend killed while the
#     statement sleeps in a function behind fg3m): the whole run fails, no
#     system failure is counted, the message waits and the run completes
#     after the reconnect with every system;
#   - the pg breaker never opened, nothing dead-lettered, SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
command -v curl >/dev/null || it_skip_all "curl not installed"
it_init prediction_breakers
it_backend redis-streams
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
PRED=${STATLINE_PREDBIN:-$BUILD/services/prediction/statline-prediction}
TRAIN=${STATLINE_TRAINBIN:-$BUILD/services/prediction/statline-train}
CB=${STATLINE_CBBIN:-$BUILD/tools/cb/statline-cb}
for b in "$PRED" "$TRAIN" "$CB"; do
        [[ -x $b ]] || it_bail "not found: $b (set STATLINE_PREDBIN / STATLINE_TRAINBIN / STATLINE_CBBIN)"
done

it_pg_database predcb
PREFIX="itpcb$$r$RANDOM"
IN_T=$PREFIX.nba.precompute.completed
OUT_T=$PREFIX.nba.prediction.completed
IT_EXTRA_KEYS+=("$IN_T" "$IN_T.dlq" "$OUT_T")
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
PID=
OPEN_MS=8000
DEP=system:zone_matchup_v1

it_service prediction "$PRED" "$PREFIX"

# send EVENT_ID DATE: one whole-date precompute.completed.
send() {
        local ev
        ev=$(jq -cn --arg id "$1" --arg d "$2" --arg c "$CORR" \
                '{schema_version:"1.0", event_id:$id, type:"precompute.completed", phase:"precompute",
                  correlation_id:$c, causation_id:null,
                  traceparent:"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                  sport:"nba", game_date:$d, affected_entities:[], idempotency_key:("precompute:" + $id),
                  produced_at:"2025-01-10T10:00:00.000Z",
                  payload:{processors:["ml_feature_store"], game_date:$d, feature_version:"v1"}}')
        it_redis XADD "$IN_T" '*' d "$ev" >/dev/null
}
uuid7ish() {
        python3 -c 'import uuid,time; u=uuid.uuid4().hex; t=format(int(time.time()*1000),"012x"); print(f"{t[:8]}-{t[8:12]}-7{u[13:16]}-8{u[17:20]}-{u[20:32]}")'
}
port() {
        sed -n 's/.*health_port=\([0-9]*\).*/\1/p' "$IT_DIR/pred.log" | head -n 1
}
metric() {
        curl -s -m 5 "http://127.0.0.1:$(port)/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
cbtool() {
        STATLINE_PG_DSN=$IT_DSN "$CB" "$@"
}
# status EVENT_ID: processor:status of the run's systems, sorted.
systems() {
        it_sql "SELECT string_agg(processor || ':' || status, ',' ORDER BY processor) FROM ops.pipeline_execution_log
                WHERE event_id = '$1' AND processor IN ('moving_average', 'zone_matchup_v1',
                'similarity_balanced_v1', 'xgboost_v1', 'ensemble_v1')"
}
zone_row() {
        it_sql "SELECT status || '|' || coalesce(skip_reason, '') FROM ops.pipeline_execution_log
                WHERE event_id = '$1' AND processor = 'zone_matchup_v1'"
}
failures_logged() {
        grep -c '"event":"prediction.system.failed"' "$IT_DIR/pred.log"
}

it_must "creates a private database" it_pg_create
it_must "statline-prediction starts (cb.min_calls=2, half_open_calls=1, open_ms=$OPEN_MS)" \
        it_start_service pred.log PID STATLINE_PREDICTION_RETRY_DELAYS_MS=100,100 \
        STATLINE_PREDICTION_CB_MIN_CALLS=2 STATLINE_PREDICTION_CB_HALF_OPEN_CALLS=1 \
        STATLINE_PREDICTION_CB_OPEN_MS=$OPEN_MS
it_must "simulated league generated" python3 "$IT_SRC/tests/integration/prediction_sim.py" \
        "$IT_DIR/seed.sql" "$IT_DIR/target"
DATE=$(cat "$IT_DIR/target")
it_must "simulated league seeded" psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/seed.sql"
mkdir -p "$IT_DIR/models"
train() {
        "$TRAIN" --pg-dsn "$IT_DSN" --model-dir "$IT_DIR/models" >"$IT_DIR/train.out" 2>&1
}
it_must "statline-train (no breakers there) trains xgboost_v1" train

# ---- zone_matchup_v1 broken -------------------------------------------------------------

it_must "break zone_matchup_v1: rename the column only it reads" it_sql \
        "ALTER TABLE analytics.player_game_summary RENAME COLUMN fg3m TO fg3m_gone"
E1=$(uuid7ish)
send "$E1" "$DATE"
it_check "run 1 completes and publishes" it_wait_for 30 it_events_ge "$OUT_T" 1
it_like "run 1: zone skipped, system failed with the SQL error" "$(zone_row "$E1")" \
        '^skipped\|system failed: .*fg3m.*'
it_is "run 1: the other systems completed" "$(systems "$E1")" \
        "ensemble_v1:completed,moving_average:completed,similarity_balanced_v1:completed,xgboost_v1:completed,zone_matchup_v1:skipped"
it_is "run 1: rows of the 4 other systems, none of zone" \
        "$(it_sql "SELECT string_agg(system_id || '=' || n, ',' ORDER BY system_id) FROM (SELECT system_id, count(*) n
                   FROM prediction.player_prop_predictions GROUP BY 1) x")" \
        "ensemble_v1=72,moving_average=72,similarity_balanced_v1=72,xgboost_v1=48"
it_is "run 1: prediction.completed names zone's skip reason" \
        "$(it_events "$OUT_T" | head -n 1 | jq -r '.payload.systems[] | select(.name == "zone_matchup_v1") | .skip_reason | startswith("system failed: ")')" \
        true
# No system_errors yet: equal weights over the systems that produced a value.
it_is "run 1: ensemble = mean of the systems that ran (each player and market)" \
        "$(it_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE abs(e.predicted_value - c.m) > 0.011)
                   FROM prediction.player_prop_predictions e JOIN (SELECT player_id, market, avg(predicted_value) m
                   FROM prediction.player_prop_predictions WHERE system_id <> 'ensemble_v1' GROUP BY 1, 2) c
                   USING (player_id, market) WHERE e.system_id = 'ensemble_v1'")" "72/0"
it_is "run 1: breaker still CLOSED (1 failure < min_calls 2)" \
        "$(it_sql "SELECT state FROM ops.circuit_breakers WHERE service = 'prediction' AND dependency = '$DEP'")" CLOSED

E2=$(uuid7ish)
send "$E2" "$DATE"
it_check "run 2 (same inputs: a degraded run is not 'seen') completes" it_wait_for 30 it_events_ge "$OUT_T" 2
it_like "run 2: zone failed again" "$(zone_row "$E2")" '^skipped\|system failed: .*fg3m.*'
it_check "run 2: the breaker opened (log)" \
        grep -q "\"event\":\"cb.state.open\".*dependency=$DEP" "$IT_DIR/pred.log"
it_is "run 2: ops.circuit_breakers row OPEN" \
        "$(it_sql "SELECT state || '|' || failures || '|' || calls FROM ops.circuit_breakers
                   WHERE service = 'prediction' AND dependency = '$DEP'")" "OPEN|2|2"
it_like "statline-cb list shows it" "$(cbtool list)" "prediction +$DEP +OPEN"
it_is "statline_circuit_state{dependency=\"$DEP\"} is 1" \
        "$(metric "statline_circuit_state{dependency=\"$DEP\"}")" 1
it_diag "/readyz while $DEP is open: $(curl -s -m 5 "http://127.0.0.1:$(port)/readyz")"
n_fail=$(failures_logged)
it_is "two system failures logged" "$n_fail" 2

E3=$(uuid7ish)
send "$E3" "$DATE"
it_check "run 3 completes" it_wait_for 30 it_events_ge "$OUT_T" 3
it_is "run 3: zone skipped 'circuit open'" "$(zone_row "$E3")" "skipped|circuit open"
it_is "run 3: nothing attempted (no new failure though the column is still gone)" \
        "$(failures_logged)" "$n_fail"
it_is "run 3: the other systems completed" "$(systems "$E3")" \
        "ensemble_v1:completed,moving_average:completed,similarity_balanced_v1:completed,xgboost_v1:completed,zone_matchup_v1:skipped"
it_is "run 3 still OPEN" \
        "$(it_sql "SELECT state FROM ops.circuit_breakers WHERE service = 'prediction' AND dependency = '$DEP'")" OPEN

# ---- fixed: the half-open probe closes it -------------------------------------------------

it_must "fix zone_matchup_v1: column back" it_sql \
        "ALTER TABLE analytics.player_game_summary RENAME COLUMN fg3m_gone TO fg3m"
opened=$(it_sql "SELECT (extract(epoch FROM now() - opened_at) * 1000)::bigint FROM ops.circuit_breakers
                 WHERE service = 'prediction' AND dependency = '$DEP'")
wait_ms=$((OPEN_MS - opened + 500))
((wait_ms > 0)) && sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
E4=$(uuid7ish)
send "$E4" "$DATE"
it_check "run 4 completes" it_wait_for 30 it_events_ge "$OUT_T" 4
it_is "run 4: every system completed (zone was the probe)" "$(systems "$E4")" \
        "ensemble_v1:completed,moving_average:completed,similarity_balanced_v1:completed,xgboost_v1:completed,zone_matchup_v1:completed"
it_is "run 4: zone wrote its 48 points rows" \
        "$(it_sql "SELECT count(*) FROM prediction.player_prop_predictions WHERE system_id = 'zone_matchup_v1'")" 48
it_check "log: half-open then closed" \
        grep -q "\"event\":\"cb.state.closed\".*dependency=$DEP" "$IT_DIR/pred.log"
it_is "log: one half-open transition" \
        "$(grep -c "\"event\":\"cb.state.half_open\".*dependency=$DEP" "$IT_DIR/pred.log")" 1
it_is "ops.circuit_breakers row CLOSED" \
        "$(it_sql "SELECT state FROM ops.circuit_breakers WHERE service = 'prediction' AND dependency = '$DEP'")" CLOSED
it_is "statline_circuit_state{dependency=\"$DEP\"} is 0" \
        "$(metric "statline_circuit_state{dependency=\"$DEP\"}")" 0
it_is "the other systems' breakers never opened" \
        "$(it_sql "SELECT string_agg(dependency || '=' || state, ',' ORDER BY dependency) FROM ops.circuit_breakers
                   WHERE service = 'prediction' AND dependency LIKE 'system:%' AND dependency <> '$DEP'")" \
        "system:ensemble_v1=CLOSED,system:moving_average=CLOSED,system:similarity_balanced_v1=CLOSED,system:xgboost_v1=CLOSED"

# ---- a lost connection inside a system fails the whole run (not the system) -----------------
# zone_matchup_v1 is the only reader of fg3m: behind a view, fg3m goes through a function that
# sleeps while a flag row exists; the test kills the backend during that sleep.
it_must "fg3m behind a view that sleeps while flagged" it_sql "
        CREATE TABLE analytics.brk_flag (x int); INSERT INTO analytics.brk_flag VALUES (1);
        CREATE FUNCTION analytics.brk_slow(v int) RETURNS int LANGUAGE plpgsql AS
        \$\$ BEGIN IF EXISTS (SELECT 1 FROM analytics.brk_flag) THEN PERFORM pg_sleep(60); END IF;
        RETURN v; END \$\$;
        ALTER TABLE analytics.player_game_summary RENAME TO player_game_summary_t;
        DO \$\$ BEGIN EXECUTE (SELECT 'CREATE VIEW analytics.player_game_summary AS SELECT ' ||
                string_agg(CASE WHEN attname = 'fg3m' THEN 'analytics.brk_slow(fg3m) AS fg3m'
                ELSE quote_ident(attname) END, ', ' ORDER BY attnum) || ' FROM analytics.player_game_summary_t'
                FROM pg_attribute WHERE attrelid = 'analytics.player_game_summary_t'::regclass
                AND attnum > 0 AND NOT attisdropped); END \$\$"
# new inputs (one line moved), else the run is skipped as "inputs unchanged"
it_must "one prop line moved" it_sql "UPDATE raw.prop_lines SET line = line + 1
        WHERE player_id = (SELECT min(player_id) FROM raw.prop_lines WHERE game_date = '$DATE') AND market = 'points'"
E5=$(uuid7ish)
send "$E5" "$DATE"
sleeping() {
        it_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'" |
                grep -qx 1
}
it_check "run 5: zone's statement is running (sleeping in fg3m)" it_wait_for 30 sleeping
kill_sleeper() { # prints pg_terminate_backend's "t": keep it out of the TAP stream
        it_sql "DELETE FROM analytics.brk_flag;
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
        AND wait_event = 'PgSleep'" >/dev/null
}
it_must "connection killed during zone_matchup_v1" kill_sleeper
it_check "run 5 completes after the reconnect (the message waited)" it_wait_for 60 it_events_ge "$OUT_T" 5
it_is "run 5: every system completed" "$(systems "$E5")" \
        "ensemble_v1:completed,moving_average:completed,similarity_balanced_v1:completed,xgboost_v1:completed,zone_matchup_v1:completed"
it_is "run 5: the lost connection was no system failure (none logged)" "$(failures_logged)" "$n_fail"
it_check "run 5: the first attempt failed as a whole (connection lost)" \
        grep -q '"event":"prediction.error".*ECONNRESET\|"event":"prediction.error".*onnection' "$IT_DIR/pred.log"
it_is "run 5: zone's breaker still CLOSED" \
        "$(it_sql "SELECT state FROM ops.circuit_breakers WHERE service = 'prediction' AND dependency = '$DEP'")" CLOSED
it_is "the pg breaker never opened" \
        "$(grep -c '"event":"cb.state.open".*dependency=pg' "$IT_DIR/pred.log")" 0
it_is "nothing dead-lettered" "$(it_redis XLEN "$IN_T.dlq")" 0
it_stop_service PID
it_is "SIGTERM: exit 0" "$?" 0

it_done
