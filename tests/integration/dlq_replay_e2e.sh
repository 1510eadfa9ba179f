#!/usr/bin/env bash
# dlq_replay_e2e.sh BACKEND (redis-streams | kafka): dead letters made by the
# real statline-publishing, replayed with statline-dlq, handled exactly once.
#   1. A private database and bus prefix; the tables publishing reads seeded
#      for N game dates (one prediction.completed per date, so every event has
#      its own documents and idempotency key).
#   2. statline-publishing runs with a publish dir it cannot write (a regular
#      file where the <sport> directory must go): each of the N events fails
#      on every attempt (retry.attempts 3, retry.delays_ms 100,100) and is
#      dead-lettered with the handler's reason.
#   3. statline-dlq list --json shows exactly those N event ids with the
#      error; replay --dry-run changes nothing (independent reads).
#   4. The cause is fixed, publishing started normally, replay --rate R/s: at
#      least (N-1)/R s; every event then has exactly one completed publishing
#      row, its documents exist once, N publishing.completed events (one per
#      replayed event: causation_id), the DLQ is empty (Kafka: resolved), the
#      audit row says replayed N.
#   5. The same replay again finds nothing; one replayed event published again
#      by hand is skipped as a duplicate: no file rewritten, no row changed,
#      no new publishing.completed.
# Topics are read independently with redis-cli / kcat, the database with psql.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
for c in psql jq python3; do
        command -v $c >/dev/null || it_skip_all "$c not installed"
done
it_init "dlq_replay_e2e-${1:?usage: dlq_replay_e2e.sh BACKEND}"
it_backend "$1"
[[ $IT_BACKEND == redis-streams || $IT_BACKEND == kafka ]] || it_bail "backend must be redis-streams or kafka"
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
PUB=${STATLINE_PUBBIN:-$BUILD/services/publishing/statline-publishing}
DLQBIN=${STATLINE_DLQBIN:-$BUILD/tools/dlq/statline-dlq}
[[ -x $PUB ]] || it_bail "statline-publishing not found: $PUB (set STATLINE_PUBBIN)"
[[ -x $DLQBIN ]] || it_bail "statline-dlq not found: $DLQBIN (set STATLINE_DLQBIN)"

it_pg_database dlqe2e
PREFIX="itdlqe$$x$RANDOM"
PRED_T=$PREFIX.nba.prediction.completed
PUB_T=$PREFIX.nba.publishing.completed
DLQ_T=$PRED_T.dlq
IT_EXTRA_KEYS+=("$PRED_T" "$DLQ_T" "$PUB_T")
OUT=$IT_DIR/publish
N=5
RATE=5
DATES=(2025-02-01 2025-02-02 2025-02-03 2025-02-04 2025-02-05)
PLAYERS=(2544 201939 1628378 203999 1629029)
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
PUB_PID=

it_service publishing "$PUB" "$PREFIX"

# start_pub LOG: statline-publishing on $OUT, 3 attempts 100 ms apart.
start_pub() {
        it_start_service "$1" PUB_PID STATLINE_PUBLISHING_PUBLISH_DIR="$OUT" \
                STATLINE_PUBLISHING_RETRY_DELAYS_MS=100,100 STATLINE_PUBLISHING_RETRY_ATTEMPTS=3
}

# dlq ARGS...: statline-dlq with the test config (environment, as in production).
dlq() {
        env STATLINE_BUS_BACKEND="$IT_BACKEND" STATLINE_BUS_URL="$IT_URL" \
                STATLINE_BUS_PREFIX="$PREFIX" STATLINE_PG_DSN="$IT_DSN" \
                STATLINE_PG_MIGRATIONS="$IT_SRC/db/migrations" \
                timeout -k 5 60 "$DLQBIN" "$@"
}

dlq_to() {
        local f=$1
        shift
        dlq "$@" >"$f"
}

# topic_data TOPIC: every message of TOPIC, one per line (independent read).
topic_data() {
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$1" -o beginning -e -q -f '%s\n' 2>/dev/null
        else
                it_events "$1"
        fi
}

topic_count() {
        topic_data "$1" | grep -c .
}

topic_count_ge() {
        (($(topic_count "$1") >= $2))
}

# send JSON: one message to the prediction topic, key sport:date (as the services do).
send() {
        local key
        key="nba:$(jq -r .game_date <<<"$1")"
        if [[ $IT_BACKEND == kafka ]]; then
                printf '%s\n' "$1" | timeout 30 kcat -P -b "$IT_URL" -t "$PRED_T" -k "$key"
        else
                it_redis XADD "$PRED_T" '*' d "$1" k "$key" >/dev/null
        fi
}

# envelope DATE: a prediction.completed for the whole DATE (new event id).
envelope() {
        python3 - "$CORR" "$1" <<'EOF'
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
                   "systems": [{"name": "ensemble_v1", "rows": 1}], "tables": [], "rows": 0,
                   "entities": {}}}
print(json.dumps(env, separators=(",", ":")))
EOF
}

# files_state: inode and mtime (ns) of every published file (a rewrite changes both).
files_state() {
        (cd "$OUT" && find . -type f -printf '%p %i %T@\n' | sort)
}

rows_state() {
        it_sql "SELECT string_agg(d::text, E'\n' ORDER BY doc_path) FROM publishing.documents d"
}

# completed_ids: event ids with a completed publishing row, one per row (sorted).
completed_ids() {
        it_sql "SELECT event_id FROM ops.pipeline_execution_log
                WHERE phase = 'publishing' AND status = 'completed' ORDER BY 1"
}

# ---- 1. database, seed ----------------------------------------------------------------

it_must "creates a private database" it_pg_create
# The sport directory is a regular file: every document write fails (ENOTDIR),
# also for root (a read-only mode would not stop root).
mkdir -p "$OUT" && : >"$OUT/nba"
it_must "statline-publishing starts with an unwritable publish dir (migrations applied)" start_pub pub.1.log
seed="INSERT INTO prediction.player_prop_predictions (player_id, game_date, system_id, market,
        game_id, predicted_value, line, recommendation, confidence, model_version) VALUES "
for ((i = 0; i < N; i++)); do
        ((i > 0)) && seed+=","
        seed+="(${PLAYERS[i]}, '${DATES[i]}', 'ensemble_v1', 'points', '00224006$((10 + i))',
                $((20 + i)).5, $((19 + i)).5, 'OVER', 0.6, 'e2e')"
done
it_must "seeds predictions for $N dates" it_sql "$seed"

# ---- 2. real events dead-lettered by publishing ----------------------------------------

: >"$IT_DIR/emitted.jsonl"
for d in "${DATES[@]}"; do
        e=$(envelope "$d")
        echo "$e" >>"$IT_DIR/emitted.jsonl"
        send "$e"
done
jq -r .event_id "$IT_DIR/emitted.jsonl" | sort >"$IT_DIR/emitted_ids"
it_check "$N dead letters within 60 s" it_wait_for 60 topic_count_ge "$DLQ_T" "$N"
it_check "every event failed 3 times (execution log: 3 failed rows each) and was dead-lettered (a dlq row)" \
        it_wait_for 10 it_sql_ge "SELECT count(*) FROM ops.pipeline_execution_log
                WHERE phase = 'publishing' AND status = 'failed'" $((4 * N))
it_is "per event: 3 failed attempts" \
        "$(it_sql "SELECT string_agg(DISTINCT n::text, ',') FROM (SELECT count(*) n FROM ops.pipeline_execution_log
                WHERE phase = 'publishing' AND status = 'failed' AND processor <> 'dlq' GROUP BY event_id) x")" 3
it_is "per event: one dlq row saying where it went (TRANSIENT, gave up after 3)" \
        "$(it_sql "SELECT count(DISTINCT event_id) || '/' || count(*) FROM ops.pipeline_execution_log
                WHERE phase = 'publishing' AND processor = 'dlq'
                AND error_message LIKE 'dead-lettered (%) to %.dlq: %gave up after 3 attempts%'")" "$N/$N"
it_stop_service PUB_PID
it_is "nothing published while broken" "$(topic_count "$PUB_T")" 0
it_is "no completed publishing row while broken" "$(completed_ids | grep -c .)" 0
it_is "DLQ holds exactly $N (independent read)" "$(topic_count "$DLQ_T")" "$N"

# ---- 3. list, dry run -------------------------------------------------------------------

dlq list --json >"$IT_DIR/list.json" 2>"$IT_DIR/list.err"
it_is "list --json: $N letters" "$(jq length "$IT_DIR/list.json")" "$N"
it_is "list: exactly the emitted event ids" "$(jq -r '.[].event_id' "$IT_DIR/list.json" | sort)" \
        "$(cat "$IT_DIR/emitted_ids")"
it_is "list: all from the prediction topic, service publishing" \
        "$(jq -r '[.[] | [.original_topic, .headers["dlq.service"]] | join(" ")] | unique | join(",")' "$IT_DIR/list.json")" \
        "$PRED_T publishing"
it_is "list: 3 attempts each" "$(jq -r '[.[].headers["dlq.attempts"]] | unique | join(",")' "$IT_DIR/list.json")" 3
it_like "list: the handler's reason (not a directory)" \
        "$(jq -r '.[0].headers["dlq.error"]' "$IT_DIR/list.json")" '[Nn]ot a directory'
cls=$(jq -r '.[0].headers["dlq.error_class"]' "$IT_DIR/list.json")
it_diag "error class: $cls; error: $(jq -r '.[0].headers["dlq.error"]' "$IT_DIR/list.json")"
it_is "list --error-class $cls --service publishing: $N" \
        "$(dlq list --json --error-class "$cls" --service publishing | jq length)" "$N"
it_is "list --correlation-id: $N" "$(dlq list --json --correlation-id "$CORR" | jq length)" "$N"
it_is "list --type prediction.completed --sport nba: $N" \
        "$(dlq list --json --type prediction.completed --sport nba | jq length)" "$N"

pred0=$(topic_count "$PRED_T")
it_check "replay --dry-run" dlq_to "$IT_DIR/dry.txt" replay --dry-run --rate "$RATE/s"
it_like "dry run: would replay $N" "$(tail -n 1 "$IT_DIR/dry.txt")" \
        "matched=$N would=$N skipped=0 failed=0 .*result=dry-run"
it_is "dry run: DLQ unchanged (independent read)" "$(topic_count "$DLQ_T")" "$N"
it_is "dry run: prediction topic unchanged" "$(topic_count "$PRED_T")" "$pred0"
it_is "dry run: still $N live letters" "$(dlq list --json | jq length)" "$N"
it_is "dry run: no resolution marks" "$(it_sql 'SELECT count(*) FROM ops.dlq_resolved')" 0

# ---- 4. fix, publishing normally, replay at a rate ------------------------------------

rm -f "$OUT/nba"
it_must "cause fixed: statline-publishing starts normally" start_pub pub.2.log
t0=$(date +%s%3N)
it_check "replay --rate $RATE/s" dlq_to "$IT_DIR/replay.txt" replay --correlation-id "$CORR" --rate "$RATE/s"
t1=$(date +%s%3N)
min=$(((N - 1) * 1000 / RATE))
it_diag "replay of $N at $RATE/s took $((t1 - t0)) ms (lower bound $min ms)"
it_check "rate respected: >= $min ms" test $((t1 - t0)) -ge "$min"
it_check "rate: not absurdly slow (< 20 s)" test $((t1 - t0)) -lt 20000
it_like "replay: $N done" "$(tail -n 1 "$IT_DIR/replay.txt")" "matched=$N done=$N skipped=0 failed=0 .*result=ok"
it_is "replay: $N lines 'replayed ... -> prediction topic'" \
        "$(grep -c "^replayed .* -> $PRED_T " "$IT_DIR/replay.txt")" "$N"

it_check "$N publishing.completed within 60 s" it_wait_for 60 topic_count_ge "$PUB_T" "$N"
it_check "every replayed event completed (execution log)" \
        it_wait_for 10 it_sql_ge "SELECT count(DISTINCT event_id) FROM ops.pipeline_execution_log
                WHERE phase = 'publishing' AND status = 'completed'" "$N"
sleep 1 # anything extra (a second run of an event) would show up now
it_is "exactly once: one completed publishing row per replayed event" \
        "$(completed_ids)" "$(cat "$IT_DIR/emitted_ids")"
it_is "exactly once: $N publishing.completed events" "$(topic_count "$PUB_T")" "$N"
it_is "publishing.completed: one child per replayed event (causation_id)" \
        "$(topic_data "$PUB_T" | jq -r .causation_id | sort)" "$(cat "$IT_DIR/emitted_ids")"
it_is "publishing.completed: same correlation" "$(topic_data "$PUB_T" | jq -r .correlation_id | sort -u)" "$CORR"
want=""
for ((i = 0; i < N; i++)); do
        want+="nba/${DATES[i]}/games.json nba/${DATES[i]}/players/${PLAYERS[i]}.json nba/${DATES[i]}/predictions.json "
done
it_is "documents: 3 per date, once each (files)" \
        "$(cd "$OUT" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')" "$want"
it_is "documents: one publishing.documents row per file" \
        "$(it_sql "SELECT count(*) || ':' || count(DISTINCT doc_path) FROM publishing.documents")" "$((3 * N)):$((3 * N))"
bad=0
for ((i = 0; i < N; i++)); do
        v=$(jq -c '[.players[] | [.player_id, .markets[0].ensemble.value]]' "$OUT/nba/${DATES[i]}/predictions.json")
        [[ $v == "[[${PLAYERS[i]},$((20 + i)).5]]" ]] || {
                bad=$((bad + 1))
                it_diag "${DATES[i]}: $v"
        }
done
it_is "predictions.json of each date: its seeded player and value" "$bad" 0
it_is "DLQ: no live letters" "$(dlq list --json | jq length)" 0
if [[ $IT_BACKEND == redis-streams ]]; then
        it_is "DLQ stream empty (XDEL after confirmation)" "$(it_count_events "$DLQ_T")" 0
else
        it_is "Kafka: $N resolution marks (replayed), the replayed event ids" \
                "$(it_sql "SELECT string_agg(event_id::text, ' ' ORDER BY event_id::text) FROM ops.dlq_resolved WHERE action = 'replayed'")" \
                "$(tr '\n' ' ' <"$IT_DIR/emitted_ids" | sed 's/ $//')"
fi
# audit(): every replay run: result:dry_run:matched:succeeded:failed (a dry run's "would" is succeeded).
audit() {
        it_sql "SELECT string_agg(result || ':' || dry_run || ':' || matched || ':' || succeeded || ':' || failed, ','
                ORDER BY id) FROM ops.dlq_audit WHERE command = 'replay'"
}
it_is "audit: dry run, then replayed $N" "$(audit)" "dry-run:true:$N:$N:0,ok:false:$N:$N:0"
it_is "audit: the rate is recorded" \
        "$(it_sql "SELECT filter->>'rate_per_s' FROM ops.dlq_audit WHERE command = 'replay' AND NOT dry_run")" "$RATE"

# ---- 5. nothing left; a replayed event again by hand ---------------------------------

it_check "the same replay again" dlq_to "$IT_DIR/replay2.txt" replay --correlation-id "$CORR" --rate "$RATE/s"
it_like "again: nothing matched" "$(tail -n 1 "$IT_DIR/replay2.txt")" 'matched=0 done=0 skipped=0 failed=0 .*result=ok'
it_is "again: audited as an empty run" "$(audit)" "dry-run:true:$N:$N:0,ok:false:$N:$N:0,ok:false:0:0:0"
fs1=$(files_state)
rs1=$(rows_state)
pub1=$(topic_count "$PUB_T")
topic_data "$PRED_T" | jq -c 'select(.replay_count == 1)' >"$IT_DIR/replayed.jsonl"
it_is "prediction topic: $N replayed messages (replay_count 1, same event ids)" \
        "$(jq -r .event_id "$IT_DIR/replayed.jsonl" | sort)" "$(cat "$IT_DIR/emitted_ids")"
again=$(head -n 1 "$IT_DIR/replayed.jsonl")
again_id=$(jq -r .event_id <<<"$again")
send "$again"
it_check "by hand: publishing logs a skipped (duplicate) run" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$again_id' AND status = 'skipped'" 1
sleep 1
it_is "by hand: still one completed row for the event" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$again_id' AND status = 'completed'")" 1
it_like "by hand: the skip says duplicate" \
        "$(it_sql "SELECT string_agg(skip_reason, ',') FROM ops.pipeline_execution_log
                WHERE event_id = '$again_id' AND status = 'skipped'" 2>&1)" 'duplicate'
it_is "by hand: no new publishing.completed" "$(topic_count "$PUB_T")" "$pub1"
it_is "by hand: no file rewritten (inode, mtime)" "$(files_state)" "$fs1"
it_is "by hand: no row changed" "$(rows_state)" "$rs1"
it_is "by hand: nothing dead-lettered" "$(dlq list --json | jq length)" 0

it_stop_service PUB_PID
it_is "SIGTERM: publishing exits 0" "$?" 0
it_done
