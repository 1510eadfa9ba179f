#!/usr/bin/env bash
# alert_monitor.sh: statline-monitor --watch --alert posts pipeline alerts to
# a webhook (tools/monitor/README.md "Alerts"). A python3 receiver on a free
# loopback port records every POST. In a private database:
#   - a healthy pipeline (a finished run, a recent run, 4 failures of one
#     processor, 6 failures of another 25 min ago, outside the 20 min
#     window and not yet stuck) and 2 dead letters under
#     the threshold of 3: no alert at all;
#   - a run stuck at analytics for 45 min, 5 failed runs of
#     (raw, raw_boxscores) 5 min ago, a third dead letter: exactly
#     one alert of each kind, with the right key, severity, status and
#     details, and no second one while the conditions last;
#   - the run finishes, the failures age out of the window, the dead letters
#     are removed: exactly one "resolved" per key, nothing else.
# Also: an invalid webhook URL exits 78; bus.kafka_props is a secret (shown
# as such by --help-config, never in the logs).
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
command -v python3 >/dev/null || it_skip_all "python3 not installed"
it_init alert_monitor
it_backend redis-streams
MON=${STATLINE_MONITOR:-${STATLINE_BUILD:-$IT_SRC/build}/tools/monitor/statline-monitor}
PGTEST=${STATLINE_PGTEST:-${STATLINE_BUILD:-$IT_SRC/build}/tests/integration/sl_pgtest}
[[ -x $MON ]] || it_bail "statline-monitor not found: $MON (set STATLINE_MONITOR)"
[[ -x $PGTEST ]] || it_bail "sl_pgtest not found: $PGTEST (set STATLINE_PGTEST)"

PREFIX="italmon${IT_UNIQ//-/}"
TOPIC=$PREFIX.nba.raw.completed
DLQ_T=$TOPIC.dlq
IT_TOPIC=$TOPIC # it_drop_keys removes it and its .dlq
STUCK=0190b000-0000-7000-8000-000000000001
DONE=0190b000-0000-7000-8000-000000000002
FRESH=0190b000-0000-7000-8000-000000000003

it_pg_database alertmon
it_must "private database created" it_pg_create
migrate() { "$PGTEST" migrate "$IT_DSN" "$IT_SRC/db/migrations" >"$IT_DIR/migrate.log" 2>&1; }
it_must "migrations applied" migrate

ALERTS=$IT_DIR/alerts.jsonl
: >"$ALERTS"
python3 "$IT_SRC/tests/integration/alert_recv.py" "$ALERTS" "$IT_DIR/recv.port" &
IT_PIDS+=("$!")
it_must "the receiver listens" it_wait_for 10 test -s "$IT_DIR/recv.port"
HOOK="http://127.0.0.1:$(cat "$IT_DIR/recv.port")/hook"

MONARGS=(--set bus.backend=redis-streams --set "bus.url=$IT_URL" --set "bus.prefix=$PREFIX"
        --set "pg.dsn=$IT_DSN" --set refresh_ms=300 --set pipeline.lookback_h=1
        --set pipeline.stuck_after_min=30 --set alert.failures=5
        --set alert.failures_window_min=20 --set alert.dlq_depth=3
        --set alert.max_per_minute=100 --set log.level=info)

n_alerts() { wc -l <"$ALERTS" | tr -d ' '; }
alerts_ge() { (($(n_alerts) >= $1)); }
# failed ROWS: N failed runs of (PHASE, PROCESSOR), each its own correlation id, AGO minutes ago
failed_rows() {
        local n=$1 phase=$2 proc=$3 ago=$4 i rows=
        for ((i = 0; i < n; i++)); do
                rows+="${rows:+,}(gen_random_uuid(), gen_random_uuid(), '$phase', '$proc', 'failed',
                        now() - interval '$((ago + 1)) min', now() - interval '$ago min', 500,
                        'boom $i', '2026-11-21')"
        done
        it_sql "INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, phase,
                processor, status, started_at, completed_at, duration_ms, error_message, game_date)
                VALUES $rows"
}
dead_letter() { it_redis XADD "$DLQ_T" '*' d '{"x":1}' >/dev/null; }

# --- a healthy pipeline: nothing to say ----------------------------------------
it_must "healthy rows inserted" it_sql "
INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, phase, processor, status,
        started_at, completed_at, duration_ms, game_date) VALUES
 (gen_random_uuid(), '$DONE', 'scraper', 'scraper_boxscores', 'completed',
        now() - interval '50 min', now() - interval '49 min', 1000, '2026-11-20'),
 (gen_random_uuid(), '$DONE', 'publishing', 'publishing_docs', 'completed',
        now() - interval '41 min', now() - interval '40 min', 3000, '2026-11-20'),
 (gen_random_uuid(), '$FRESH', 'raw', 'raw_boxscores', 'completed',
        now() - interval '2 min', now() - interval '1 min', 500, '2026-11-21')"
it_must "4 recent failures of analytics_player (under the threshold of 5)" \
        failed_rows 4 analytics analytics_player 3
# (not stuck either: their last activity is 25 min old, under stuck_after_min)
it_must "6 failures of precompute_player 25 min ago (out of the 20 min window)" \
        failed_rows 6 precompute precompute_player 25
dead_letter
dead_letter

"$MON" --watch --alert "${MONARGS[@]}" --set "alert.webhook_url=$HOOK" >"$IT_DIR/mon.out" \
        2>"$IT_DIR/mon.log" &
MON_PID=$!
IT_PIDS+=("$MON_PID")
it_check "the monitor starts alerting" it_wait_for 10 grep -q '"event":"monitor.alert.start"' \
        "$IT_DIR/mon.log"
sleep 2 # about 6 refreshes
it_is "healthy pipeline: no alert" "$(n_alerts)" 0

# --- trouble on purpose -------------------------------------------------------
it_must "a run stuck at analytics for 45 min" it_sql "
INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, phase, processor, status,
        started_at, completed_at, duration_ms, game_date) VALUES
 (gen_random_uuid(), '$STUCK', 'scraper', 'scraper_boxscores', 'completed',
        now() - interval '50 min', now() - interval '49 min', 60000, '2026-11-20'),
 (gen_random_uuid(), '$STUCK', 'raw', 'raw_boxscores', 'completed',
        now() - interval '48 min', now() - interval '47 min', 60000, '2026-11-20'),
 (gen_random_uuid(), '$STUCK', 'analytics', 'analytics_player', 'running',
        now() - interval '45 min', NULL, NULL, '2026-11-20')"
it_must "5 failed runs of raw_boxscores in the last 20 min" failed_rows 5 raw raw_boxscores 5
dead_letter
it_check "three alerts arrive" it_wait_for 15 alerts_ge 3
sleep 2 # about 6 more refreshes while the conditions last
it_is "exactly three alerts while the conditions last" "$(n_alerts)" 3
by_key() { jq -c --arg k "$1" 'select(.key == $k)' "$ALERTS"; }
S=$(by_key "pipeline.stuck:$STUCK")
F=$(by_key "pipeline.failures:raw:raw_boxscores")
D=$(by_key "dlq.depth:$TOPIC")
it_is "stuck: one alert, warning, firing, from the monitor" \
        "$(jq -r '[.severity, .status, .service] | join(" ")' <<<"$S")" "warning firing monitor"
it_is "stuck: title names the run" "$(jq -r .title <<<"$S")" "pipeline stuck: $STUCK"
it_like "stuck: details: 45 min after analytics (running, analytics_player, 2026-11-20)" \
        "$(jq -r .details <<<"$S")" \
        '^no progress for 4[56] min \(threshold 30\) after phase analytics \(running, processor analytics_player, game_date 2026-11-20, 0 failed rows\)$'
it_like "stuck: Slack text" "$(jq -r .text <<<"$S")" "^\\[statline monitor\\] WARNING pipeline stuck: $STUCK: "
it_is "failures: one alert, critical, firing" "$(jq -r '[.severity, .status] | join(" ")' <<<"$F")" \
        "critical firing"
it_is "failures: title" "$(jq -r .title <<<"$F")" "repeated failures: raw/raw_boxscores"
it_like "failures: 5 runs in 60 min, last error" "$(jq -r .details <<<"$F")" \
        '^5 failed runs in the last 20 min \(threshold 5\); last error: boom [0-4]$'
it_is "dlq: one alert, warning, depth 3" "$(jq -r '[.severity, .status, .details] | join(" ")' <<<"$D")" \
        "warning firing depth 3 >= 3"
it_is "no alert for the 4 recent or the 6 old failures" \
        "$(jq -r 'select(.key | test("analytics_player|precompute")) | .key' "$ALERTS" | wc -l | tr -d ' ')" 0

# --- fixed: one resolve per key --------------------------------------------------
it_must "the stuck run finishes" it_sql "
INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, phase, processor, status,
        started_at, completed_at, duration_ms, game_date) VALUES
 (gen_random_uuid(), '$STUCK', 'publishing', 'publishing_docs', 'completed',
        now() - interval '5 s', now(), 5000, '2026-11-20');
UPDATE ops.pipeline_execution_log SET completed_at = now(), status = 'completed', duration_ms = 1
        WHERE correlation_id = '$STUCK' AND phase = 'analytics'"
# (3 hours back: out of the failure window and of the 1 h look-back, so not stuck runs either)
it_must "the failures age out of the window" it_sql "
UPDATE ops.pipeline_execution_log SET started_at = started_at - interval '3 hours',
        completed_at = completed_at - interval '3 hours' WHERE processor = 'raw_boxscores'
        AND status = 'failed'"
drop_dlq() { it_redis DEL "$DLQ_T" >/dev/null; }
it_must "the dead letters are removed" drop_dlq
it_check "three resolves arrive" it_wait_for 15 alerts_ge 6
sleep 2
it_is "exactly six posts in all" "$(n_alerts)" 6
it_is "the last three are resolves of the three keys" \
        "$(tail -n 3 "$ALERTS" | jq -r 'select(.status == "resolved" and .severity == "info") | .key' | sort | tr '\n' ' ')" \
        "dlq.depth:$TOPIC pipeline.failures:raw:raw_boxscores pipeline.stuck:$STUCK "
it_like "resolve text" "$(by_key "pipeline.stuck:$STUCK" | tail -n 1 | jq -r .text)" \
        "^\\[statline monitor\\] RESOLVED pipeline no longer stuck: $STUCK\$"
kill -TERM "$MON_PID"
wait "$MON_PID"
it_is "SIGTERM: the monitor exits 0" "$?" 0

# --- configuration ------------------------------------------------------------
"$MON" --once --alert --set "alert.webhook_url=ftp://x" --set "pg.dsn=$IT_DSN" >/dev/null 2>&1
it_is "an ftp:// webhook URL: exit 78" "$?" 78
it_like "--help documents --watch and --alert" "$("$MON" --help | grep -c -E -- '--watch|--alert')" '^[3-9]$'
it_like "--help-config: bus.kafka_props is secret" \
        "$("$MON" --help-config | grep -A1 '^bus.kafka_props$' | tail -n 1)" 'secret'
it_like "--help-config: alert.webhook_url is secret" \
        "$("$MON" --help-config | grep -A1 '^alert.webhook_url$' | tail -n 1)" 'secret'
"$MON" --once --set samples=1 --set refresh_ms=100 --set log.level=info \
        --set bus.backend=redis-streams --set "bus.url=$IT_URL" --set "bus.prefix=$PREFIX" \
        --set 'bus.kafka_props=sasl.username=u,sasl.password=hunter2' >/dev/null 2>"$IT_DIR/kp.log"
it_is "the effective configuration is logged, bus.kafka_props with it" \
        "$(grep '"event":"cfg.effective"' "$IT_DIR/kp.log" | grep -c 'bus.kafka_props')" 1
it_is "the SASL password in bus.kafka_props is never logged" "$(grep -c hunter2 "$IT_DIR/kp.log")" 0

it_done
