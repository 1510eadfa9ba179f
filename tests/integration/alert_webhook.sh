#!/usr/bin/env bash
# alert_webhook.sh: the runtime's alerts (sl/alert.h) reach a webhook exactly
# once per deduplication window. A one-file python3 http.server receiver on
# a free loopback port records every POST; statline-publishing runs with
# alert.webhook_url pointing at it. Then:
#   - the pg breaker is forced open (statline-cb): one "cb.open:pg" alert,
#     Slack-compatible ({"text": ...} plus fields);
#   - closed and opened again within the window: no second alert;
#   - two poison events are dead-lettered: one "dlq.growth" alert; a third
#     poison event later in the window: no new alert;
#   - the receiver holds exactly those 2 alerts, each a valid JSON body.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
command -v python3 >/dev/null || it_skip_all "python3 not installed"
it_init alert_webhook
it_backend redis-streams
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
PUB=${STATLINE_PUBBIN:-$BUILD/services/publishing/statline-publishing}
CB=${STATLINE_CBBIN:-$BUILD/tools/cb/statline-cb}
[[ -x $PUB ]] || it_bail "statline-publishing not found: $PUB (set STATLINE_PUBBIN)"
[[ -x $CB ]] || it_bail "statline-cb not found: $CB (set STATLINE_CBBIN)"

it_pg_database alert
PREFIX="italert$$p$RANDOM"
PRED_T=$PREFIX.nba.prediction.completed
DLQ_T=$PRED_T.dlq
IT_EXTRA_KEYS+=("$PRED_T" "$DLQ_T" "$PREFIX.nba.publishing.completed")
PUB_PID=
it_service publishing "$PUB" "$PREFIX"

# The receiver (alert_recv.py): appends each POST body as one line to alerts.jsonl, answers 200.
ALERTS=$IT_DIR/alerts.jsonl
: >"$ALERTS"
python3 "$IT_SRC/tests/integration/alert_recv.py" "$ALERTS" "$IT_DIR/recv.port" &
IT_PIDS+=("$!")
it_must "the receiver listens" it_wait_for 10 test -s "$IT_DIR/recv.port"
HOOK="http://127.0.0.1:$(cat "$IT_DIR/recv.port")/hook"

cbtool() {
        STATLINE_PG_DSN=$IT_DSN "$CB" "$@" >/dev/null
}

# poison: a prediction.completed without game_date (dead-lettered at once).
poison() {
        local eid
        eid=$(python3 -c 'import uuid; print(uuid.uuid4())')
        it_redis XADD "$PRED_T" '*' d "{\"schema_version\":\"1.0\",\"event_id\":\"$eid\",\"type\":\"prediction.completed\",\"phase\":\"prediction\",\"correlation_id\":\"$eid\",\"sport\":\"nba\",\"affected_entities\":[],\"idempotency_key\":\"p:$eid\",\"produced_at\":\"2025-01-01T00:00:00.000Z\",\"payload\":{}}" >/dev/null
}

n_alerts() {
        wc -l <"$ALERTS" | tr -d ' '
}

# alerts_ge N / dlq_ge N / logged_ge EVENT N: re-evaluated on every it_wait_for try.
alerts_ge() {
        (($(n_alerts) >= $1))
}
dlq_ge() {
        (($(it_dlq_count "$DLQ_T") >= $1))
}
logged_ge() {
        (($(grep -c "\"event\":\"$1\"" "$IT_DIR/pub.log") >= $2))
}

it_must "creates a private database" it_pg_create
it_must "statline-publishing starts with the webhook" it_start_service pub.log PUB_PID \
        STATLINE_PUBLISHING_PUBLISH_DIR="$IT_DIR/out" STATLINE_PUBLISHING_CB_CACHE_TTL_MS=500 \
        STATLINE_PUBLISHING_HEARTBEAT_INTERVAL_MS=300 STATLINE_PUBLISHING_ALERT_WEBHOOK_URL="$HOOK" \
        STATLINE_PUBLISHING_ALERT_DEDUP_WINDOW_MS=600000
it_is "no alert at start" "$(n_alerts)" 0

it_must "statline-cb open publishing pg" cbtool open publishing pg
it_check "one alert arrives" it_wait_for 10 alerts_ge 1
sleep 1
it_is "exactly one" "$(n_alerts)" 1
A1=$(sed -n 1p "$ALERTS")
it_is "alert 1: key, severity, service" "$(jq -r '[.key, .severity, .service] | join(" ")' <<<"$A1")" \
        "cb.open:pg critical publishing"
it_like "alert 1: Slack text" "$(jq -r .text <<<"$A1")" \
        '^\[statline publishing\] CRITICAL circuit open: pg: forced_open'
it_is "alert 1: nothing suppressed yet" "$(jq -r .suppressed <<<"$A1")" 0

it_must "statline-cb close" cbtool close publishing pg
it_check "closed (log)" it_wait_for 10 grep -q '"event":"cb.state.closed"' "$IT_DIR/pub.log"
it_must "statline-cb open again" cbtool open publishing pg
it_check "opened again (log)" it_wait_for 10 logged_ge cb.state.open 2
sleep 1
it_is "the second opening is deduplicated: still one alert" "$(n_alerts)" 1
it_must "statline-cb reset" cbtool reset publishing pg
it_check "closed again (log)" it_wait_for 10 logged_ge cb.state.closed 2

poison
poison
it_check "both poison events dead-lettered" it_wait_for 20 dlq_ge 2
it_check "a dlq.growth alert arrives" it_wait_for 10 alerts_ge 2
poison
it_check "the third one dead-lettered too" it_wait_for 20 dlq_ge 3
sleep 2
it_is "exactly 2 alerts in all" "$(n_alerts)" 2
it_is "alert 2: dlq.growth warning" "$(sed -n 2p "$ALERTS" | jq -r '[.key, .severity] | join(" ")')" \
        "dlq.growth warning"
it_is "every body is JSON with text, key, ts" \
        "$(jq -c 'select(.text != null and .key != null and (.ts | test("Z$")))' "$ALERTS" | wc -l | tr -d ' ')" 2
it_must "SIGTERM: drains and exits 0" it_stop_service PUB_PID

it_done
