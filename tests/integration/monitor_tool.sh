#!/usr/bin/env bash
# statline-monitor against a real broker and PostgreSQL (tools/monitor/README.md).
#   monitor_tool.sh redis-streams|kafka
# Creates a lag on purpose (30 events published, one group stops after 10,
# one consumes all, on Redis one group that never read), a dead-letter depth,
# and a stuck pipeline run (execution-log rows whose last activity is 45 min
# old), then checks --json, --once, /metrics, /api/status and the HTML page
# rendered by headless Chromium against numbers computed here, independently.
# Needs STATLINE_MONITOR (the binary), STATLINE_PGTEST (migrations) and the
# sl_bustest driver; chromium (Debian package) for the page check.
source "$(dirname "$0")/lib.sh"

backend=${1:?backend}
it_init "monitor_${backend//-/_}"
it_backend "$backend"
[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
MON=${STATLINE_MONITOR:-${STATLINE_BUILD:-$IT_SRC/build}/tools/monitor/statline-monitor}
PGTEST=${STATLINE_PGTEST:-${STATLINE_BUILD:-$IT_SRC/build}/tests/integration/sl_pgtest}
[[ -x $MON ]] || it_bail "statline-monitor not found: $MON (set STATLINE_MONITOR)"
[[ -x $PGTEST ]] || it_bail "sl_pgtest not found: $PGTEST (set STATLINE_PGTEST)"
command -v jq >/dev/null || it_bail "jq not installed"

PREFIX="itmon${IT_UNIQ//-/}"
TOPIC="$PREFIX.nba.raw.completed"
G_STOPPED="stopped-$PREFIX" # consumes 10 of 30, then its process is gone
G_DONE="done-$PREFIX"       # consumes all 30
G_IDLE="idle-$PREFIX"       # Redis only: created at 0, never reads
IT_TOPIC=$TOPIC             # it_drop_keys removes the stream and its .dlq
STUCK=0190a000-0000-7000-8000-000000000001
DONE=0190a000-0000-7000-8000-000000000002
FRESH=0190a000-0000-7000-8000-000000000003

# --- the stack: a private database with the schema -------------------------
it_pg_database monitor
it_must "private database created" it_pg_create
migrate() { "$PGTEST" migrate "$IT_DSN" "$IT_SRC/db/migrations" >"$IT_DIR/migrate.log" 2>&1; }
it_must "migrations applied" migrate

MONARGS=(--set "bus.backend=$backend" --set "bus.url=$IT_URL" --set "bus.prefix=$PREFIX"
        --set "pg.dsn=$IT_DSN" --set refresh_ms=400 --set samples=3 --set window=5
        --set pipeline.stuck_after_min=30 --set timeout_ms=5000)

# --- a lag on purpose --------------------------------------------------------
T_PUB0=$(date +%s%3N)
it_must "30 events published to $TOPIC" it_run produce produce --backend "$backend" \
        --url "$IT_URL" --topic "$TOPIC" --count 30 --keys 3
it_must "group $G_STOPPED consumed 10 and stopped" it_run c1 consume --backend "$backend" \
        --url "$IT_URL" --topic "$TOPIC" --group "$G_STOPPED" --consumer c1 --expect 10 \
        --out "$IT_DIR/events1.txt" --timeout-s 60
it_must "group $G_DONE consumed all 30" it_run c2 consume --backend "$backend" \
        --url "$IT_URL" --topic "$TOPIC" --group "$G_DONE" --consumer c2 --expect 30 \
        --out "$IT_DIR/events2.txt" --timeout-s 60
# Independent count of what the stopped group handled: distinct seqs it wrote.
handled=$(awk '{print $2}' "$IT_DIR/events1.txt" | sort -u | wc -l | tr -d ' ')
want_lag=$((30 - handled))
it_diag "stopped group handled $handled, expected lag $want_lag"

# A stalled group: a live consumer that makes no progress. Kafka: it handled 5,
# then a member fails on every event and waits a minute between attempts.
# Streams: a consumer that reads entries and never acks them.
G_STALL="stall-$PREFIX"
if [[ $backend == kafka ]]; then
        it_must "group $G_STALL handled 5" it_run c3 consume --backend "$backend" \
                --url "$IT_URL" --topic "$TOPIC" --group "$G_STALL" --consumer c3 --expect 5 \
                --out "$IT_DIR/events3.txt" --timeout-s 60
        want_stall=$((30 - $(awk '{print $2}' "$IT_DIR/events3.txt" | sort -u | wc -l)))
        "$BUSTEST" consume --backend "$backend" --url "$IT_URL" --topic "$TOPIC" \
                --group "$G_STALL" --consumer c4 --expect 30 --out "$IT_DIR/events4.txt" \
                --timeout-s 150 --fail-always-every 1 --retry-delays-ms 60000,60000 \
                >"$IT_DIR/c4.out" 2>"$IT_DIR/c4.err" &
        IT_PIDS+=("$!")
        it_must "stalled consumer joined and is retrying" \
                it_wait_for 60 grep -q bus.handler.retry "$IT_DIR/c4.err"
else
        it_must "group $G_STALL created" [ "$(it_redis XGROUP CREATE "$TOPIC" "$G_STALL" 0)" = OK ]
        (while :; do
                it_redis XREADGROUP GROUP "$G_STALL" c4 COUNT 1 STREAMS "$TOPIC" '>' >/dev/null
                sleep 0.1
        done) &
        IT_PIDS+=("$!")
        want_stall=30
fi

if [[ $backend == kafka ]]; then
        printf 'dead1\ndead2\n' | timeout 30 kcat -P -b "$IT_URL" -t "$TOPIC.dlq" 2>/dev/null
        it_must "2 dead letters written" [ "$(it_dlq_count "$TOPIC.dlq")" = 2 ]
else
        it_redis XADD "$TOPIC.dlq" '*' d dead1 >/dev/null
        it_redis XADD "$TOPIC.dlq" '*' d dead2 >/dev/null
        it_must "group $G_IDLE created at the start" \
                [ "$(it_redis XGROUP CREATE "$TOPIC" "$G_IDLE" 0)" = OK ]
fi

# --- a stuck pipeline on purpose ---------------------------------------------
# STUCK: scraper and raw done 50-47 min ago, analytics started 45 min ago and
# never finished. DONE: all the way to publishing 40 min ago. FRESH: raw
# failed 2 min ago (too recent to be stuck).
it_must "execution log rows inserted" it_sql "
INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, phase, processor, status,
        started_at, completed_at, duration_ms, game_date) VALUES
 (gen_random_uuid(), '$STUCK', 'scraper', 'scraper_boxscores', 'completed',
        now() - interval '50 min', now() - interval '49 min', 60000, '2026-11-20'),
 (gen_random_uuid(), '$STUCK', 'raw', 'raw_boxscores', 'completed',
        now() - interval '48 min', now() - interval '47 min', 60000, '2026-11-20'),
 (gen_random_uuid(), '$STUCK', 'analytics', 'analytics_player', 'running',
        now() - interval '45 min', NULL, NULL, '2026-11-20'),
 (gen_random_uuid(), '$DONE', 'scraper', 'scraper_boxscores', 'completed',
        now() - interval '50 min', now() - interval '49 min', 1000, '2026-11-20'),
 (gen_random_uuid(), '$DONE', 'publishing', 'publishing_docs', 'completed',
        now() - interval '41 min', now() - interval '40 min', 3000, '2026-11-20'),
 (gen_random_uuid(), '$FRESH', 'raw', 'raw_boxscores', 'failed',
        now() - interval '2 min', now() - interval '1 min', 500, '2026-11-21');
INSERT INTO ops.circuit_breakers (service, dependency, state) VALUES ('raw', 'pg', 'OPEN');
INSERT INTO ops.service_heartbeat (service, instance, host, pid, started_at, last_seen, ready)
        VALUES ('raw', 'h-1', 'h', 1, now() - interval '1 hour', now() - interval '5 s', true);"

# --- --json -----------------------------------------------------------------
"$MON" --json "${MONARGS[@]}" >"$IT_DIR/status.json" 2>"$IT_DIR/json.err"
it_is "--json exits 0" "$?" 0
J=$IT_DIR/status.json
g() { jq -r --arg g "$1" --arg t "$TOPIC" ".groups[] | select(.group == \$g and .topic == \$t) | .$2" "$J"; }
it_is "stopped group: lag" "$(g "$G_STOPPED" lag)" "$want_lag"
it_is "stopped group: status STOP (no live consumer, offset frozen, lag)" \
        "$(g "$G_STOPPED" status)" STOP
it_is "stopped group: window of 3 samples" "$(g "$G_STOPPED" window)" 3
it_is "stopped group: offset = events handled" "$(g "$G_STOPPED" offset)" "$handled"
it_is "stopped group: no live consumer" "$(g "$G_STOPPED" active_consumers)" 0
# The oldest unhandled event was published after T_PUB0 and before the report.
age_max=$(((${T_PUB0} - $(date +%s%3N)) / -1000 + 1))
lag_s=$(g "$G_STOPPED" lag_seconds)
it_like "stopped group: lag in seconds between 0 and $age_max s" "$lag_s" '^[0-9.]+$'
it_check "stopped group: lag_seconds ($lag_s) <= $age_max" \
        awk -v a="$lag_s" -v m="$age_max" 'BEGIN { exit !(a > 0 && a <= m) }'
it_is "stalled group: lag" "$(g "$G_STALL" lag)" "$want_stall"
it_is "stalled group: status STALL (live consumer, offset frozen, lag)" "$(g "$G_STALL" status)" \
        STALL
it_is "stalled group: one live consumer" "$(g "$G_STALL" active_consumers)" 1
it_is "done group: lag 0" "$(g "$G_DONE" lag)" 0
it_is "done group: status OK" "$(g "$G_DONE" status)" OK
if [[ $backend == redis-streams ]]; then
        it_is "never-read group listed: lag 30" "$(g "$G_IDLE" lag)" 30
        it_is "never-read group: status STOP" "$(g "$G_IDLE" status)" STOP
        it_is "never-read group: no consumers" "$(g "$G_IDLE" consumers)" 0
        # The driver may have read more than it handled: those entries sit in the dead
        # consumer's pending list, and they are lag too.
        xp=$(it_redis XPENDING "$TOPIC" "$G_STOPPED" | head -n 1)
        it_is "stopped group: pending = XPENDING count" "$(g "$G_STOPPED" pending)" "$xp"
        it_is "stopped group: undelivered + pending = lag" \
                "$(($(g "$G_STOPPED" undelivered) + $(g "$G_STOPPED" pending)))" "$want_lag"
fi
t() { jq -r --arg t "$TOPIC" ".topics[] | select(.topic == \$t) | .$1" "$J"; }
it_is "topic end offset 30" "$(t end_offset)" 30
it_is "dead-letter depth 2" "$(t dlq_depth)" 2
it_is "publish rate 0 while nothing is published" "$(t publish_rate)" 0
it_is "one stuck run" "$(jq -r .pipeline.stuck_total "$J")" 1
it_is "stuck run: its correlation id" "$(jq -r '.pipeline.stuck[0].correlation_id' "$J")" "$STUCK"
it_is "stuck run: stopped at analytics" "$(jq -r '.pipeline.stuck[0].phase' "$J")" analytics
it_is "stuck run: status running" "$(jq -r '.pipeline.stuck[0].status' "$J")" running
idle=$(jq -r '.pipeline.stuck[0].idle_seconds' "$J")
it_check "stuck run: idle 45 min ($idle s)" \
        awk -v i="$idle" 'BEGIN { exit !(i >= 2700 && i < 2760) }'
ph() { jq -r --arg p "$1" ".pipeline.phases[] | select(.phase == \$p) | .$2" "$J"; }
it_is "phase raw: 2 runs" "$(ph raw executions)" 2
it_is "phase raw: 1 failed" "$(ph raw failed)" 1
it_is "phase raw: average duration (60000 + 500) / 2" "$(ph raw avg_duration_ms)" 30250
it_is "phase analytics: 1 running" "$(ph analytics running)" 1
it_is "phase scraper: 2 completed" "$(ph scraper completed)" 2
it_is "breaker raw/pg OPEN" "$(jq -r '.services.breakers[0].state' "$J")" OPEN
it_is "heartbeat raw h-1 ready" "$(jq -r '.services.heartbeats[0].ready' "$J")" true

# --- --once (text) ------------------------------------------------------------
"$MON" --once "${MONARGS[@]}" --set samples=2 >"$IT_DIR/once.txt" 2>"$IT_DIR/once.err"
it_is "--once exits 0" "$?" 0
it_like "--once: stopped group line" "$(grep -F " $G_STOPPED " "$IT_DIR/once.txt")" \
        "^STOP +$G_STOPPED +$TOPIC +$want_lag "
it_like "--once: stuck run line" "$(grep -F "$STUCK" "$IT_DIR/once.txt")" \
        "^$STUCK analytics +running"

# --- HTTP: /metrics, /api/status, the page in headless Chromium ---------------
"$MON" --serve 127.0.0.1:0 "${MONARGS[@]}" --set refresh_ms=500 >"$IT_DIR/serve.out" \
        2>"$IT_DIR/serve.err" &
IT_PIDS+=("$!")
SERVE_PID=$!
it_must "--serve prints its URL" it_wait_for 20 grep -q 'serving http://' "$IT_DIR/serve.err"
PORT=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$IT_DIR/serve.err" | head -n 1)
URL="http://127.0.0.1:$PORT"
# Three refreshes, so the evaluator has a window.
it_wait_for 20 sh -c "curl -sf $URL/api/status | jq -e '.groups[] | select(.window >= 3)' >/dev/null"
metric() { curl -sf "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
it_is "/metrics: lag gauge" \
        "$(metric "sl_monitor_group_lag_messages{group=\"$G_STOPPED\",topic=\"$TOPIC\"}")" "$want_lag"
it_is "/metrics: status gauge 3 (STOP)" \
        "$(metric "sl_monitor_group_status{group=\"$G_STOPPED\",topic=\"$TOPIC\"}")" 3
it_is "/metrics: stuck runs 1" "$(metric sl_monitor_stuck_runs)" 1
it_is "/metrics: dlq depth 2" "$(metric "sl_monitor_dlq_depth{topic=\"$TOPIC\"}")" 2
it_is "/api/status has the chart history" \
        "$(curl -sf "$URL/api/status" | jq -r --arg k "$G_STOPPED $TOPIC" '.history.groups[$k] | length >= 3')" true
it_is "unknown path 404" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" 404

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $CHROMIUM ]]; then
        it_ok "page in headless Chromium # SKIP chromium not installed (scripts/deps.sh)"
else
        # --virtual-time-budget lets the page's script fetch and render before the dump.
        timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
                --user-data-dir="$IT_DIR/chromium" --virtual-time-budget=5000 --dump-dom \
                "$URL/" >"$IT_DIR/page.html" 2>"$IT_DIR/chromium.err"
        it_is "chromium dumped the page" "$?" 0
        # Read the rendered DOM (the served HTML has empty tables: only the script fills them).
        python3 - "$IT_DIR/page.html" "$G_STOPPED" "$TOPIC" "$STUCK" >"$IT_DIR/page.txt" <<'EOF'
import sys
from html.parser import HTMLParser
path, group, topic, stuck = sys.argv[1:5]
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.row = None; self.cell = None; self.out = {}; self.lines = 0
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == 'tr':
            if a.get('data-group') == group and a.get('data-topic') == topic: self.row = 'group'
            elif a.get('data-correlation-id') == stuck: self.row = 'stuck'
            elif a.get('data-topic') == topic and 'data-group' not in a: self.row = 'topic'
            else: self.row = None
        elif tag == 'td' and self.row:
            # class = [l] FIELD [STATUS]: "l" aligns, an upper-case token colours
            field = [c for c in a.get('class', '').split() if c != 'l' and not c.isupper()]
            self.cell = self.row + '.' + (field[0] if field else '')
        elif tag == 'polyline' and a.get('data-series'): self.lines += 1
    def handle_endtag(self, tag):
        if tag == 'td': self.cell = None
    def handle_data(self, d):
        if self.cell: self.out[self.cell] = self.out.get(self.cell, '') + d
p = P(); p.feed(open(path).read())
for k in ('group.lag', 'group.status', 'group.lag-seconds', 'stuck.phase', 'stuck.idle-minutes', 'topic.dlq-depth'):
    print(k, p.out.get(k, '<missing>'))
print('chart.lines', p.lines)
EOF
        pv() { sed -n "s/^$1 //p" "$IT_DIR/page.txt"; }
        it_is "page: stopped group's lag" "$(pv group.lag)" "$want_lag"
        it_is "page: stopped group's status" "$(pv group.status)" STOP
        it_like "page: lag in seconds shown" "$(pv group.lag-seconds)" '^[0-9]+\.[0-9]$'
        it_is "page: stuck run at analytics" "$(pv stuck.phase)" analytics
        it_is "page: stuck run idle 45 min" "$(pv stuck.idle-minutes)" 45
        it_is "page: dead-letter depth" "$(pv topic.dlq-depth)" 2
        it_check "page: lag and throughput charts drawn ($(pv chart.lines) lines)" \
                [ "$(pv chart.lines)" -ge 2 ]
fi
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
it_is "--serve stops cleanly on SIGTERM" "$?" 0

# --- the service tables may be missing (migration 0011 not applied) ----------
it_must "service tables dropped" it_sql "DROP TABLE ops.circuit_breakers, ops.service_heartbeat"
"$MON" --json "${MONARGS[@]}" --set samples=1 >"$IT_DIR/notables.json" 2>"$IT_DIR/notables.err"
it_is "without the tables: exit 0" "$?" 0
it_is "without the tables: breakers null" "$(jq -r .services.breakers "$IT_DIR/notables.json")" null
it_is "without the tables: no pg error" "$(jq -r .pg_error "$IT_DIR/notables.json")" null
it_is "without the tables: stuck run still reported" \
        "$(jq -r .pipeline.stuck_total "$IT_DIR/notables.json")" 1

# --- bad input -----------------------------------------------------------------
"$MON" --bogus >/dev/null 2>&1
it_is "unknown argument: exit 64" "$?" 64
"$MON" --json --set refresh_ms=5 >/dev/null 2>"$IT_DIR/badcfg.err"
it_is "refresh_ms out of range: exit 78" "$?" 78
"$MON" --json --set bus.url=127.0.0.1:1 --set bus.prefix="$PREFIX" --set samples=1 \
        --set timeout_ms=500 >"$IT_DIR/down.json" 2>/dev/null
it_is "broker down: exit 1" "$?" 1
it_like "broker down: reported in the JSON" "$(jq -r .bus_error "$IT_DIR/down.json")" '.+'

it_done
