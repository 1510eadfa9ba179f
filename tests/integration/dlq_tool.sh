#!/usr/bin/env bash
# dlq_tool.sh BACKEND: statline-dlq against a real broker and PostgreSQL.
# BACKEND: redis-streams or kafka (the whole run), or redis-pubsub (a short
# run: a replay refuses to publish while nobody is subscribed, then delivers).
#
#  1. Dead letters are made the way services make them (sl_bustest through the
#     bus library): 2 poison messages (PERMANENT) on topic P, and 10 events
#     whose handler fails on every attempt (TRANSIENT, seq 0,5,..,45) on A.
#  2. list / filters / show / stats agree with what was produced.
#  3. replay --dry-run changes nothing (DLQ, original topic, resolution marks).
#  4. replay --limit 4 --rate 5/s takes >= 600 ms ((4-1)/5 s); an interrupted
#     replay (SIGINT) stops cleanly and a rerun resumes: A receives exactly 10
#     replayed messages in total, same event_ids, replay_count 1.
#  5. The consumer group handles each replayed event exactly once (50 distinct
#     seqs, 0 duplicates).
#  6. purge asks (refuses without a terminal unless --yes), then removes poison.
#  7. Every replay/purge run is a row in ops.dlq_audit with the right counts.
#  8. replay-from-phase re-emits stored ops.outbox events as fresh events.
# The broker is read independently with redis-cli / kcat.
. "$(dirname "$0")/lib.sh"

DLQBIN=${STATLINE_DLQBIN:-${STATLINE_BUILD:-$IT_SRC/build}/tools/dlq/statline-dlq}
it_init "dlqtool-${1:?usage: dlq_tool.sh BACKEND}"
it_backend "$1"
[[ -x $DLQBIN ]] || it_bail "statline-dlq not found: $DLQBIN (set STATLINE_DLQBIN)"
[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
it_pg_database dlqtool
it_must "private database $IT_DB created" it_pg_create

PREFIX=$IT_TOPIC
TA=$PREFIX.a
TP=$PREFIX.p
RERUN_TOPIC=$PREFIX.nba.raw.completed
IT_EXTRA_KEYS+=("$TA" "$TA.dlq" "$TP" "$TP.dlq" "$RERUN_TOPIC")
OUT=$IT_DIR/events.txt

# dlq ARGS...: statline-dlq with the test config (environment, as in production).
dlq() {
        env STATLINE_BUS_BACKEND="$IT_BACKEND" STATLINE_BUS_URL="$IT_URL" \
                STATLINE_BUS_PREFIX="$PREFIX" STATLINE_PG_DSN="$IT_DSN" \
                STATLINE_PG_MIGRATIONS="$IT_SRC/db/migrations" \
                timeout -k 5 120 "$DLQBIN" "$@"
}

# dlq_to FILE ARGS...: statline-dlq with stdout into FILE (for it_check).
dlq_to() {
        local f=$1
        shift
        dlq "$@" >"$f"
}

# topic_count TOPIC: messages in TOPIC (stream entries / Kafka records).
topic_count() {
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$1" -o beginning -e -q -f 'x\n' 2>/dev/null |
                        wc -l | tr -d ' '
        else
                it_count_events "$1"
        fi
}

# topic_data TOPIC: every message of TOPIC, one per line.
topic_data() {
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$1" -o beginning -e -q -f '%s\n' 2>/dev/null
        else
                it_events "$1"
        fi
}

# live_count [FILTERS...]: dead letters statline-dlq still lists.
live_count() {
        dlq list --json "$@" | jq length
}

# --- redis-pubsub: dead letters are durable streams; a replay needs a subscriber
if [[ $IT_BACKEND == redis-pubsub ]]; then
        IT_TOPIC=$TA
        it_spawn consumea consume $(it_consume_args c1) --expect 16 --out "$OUT" --timeout-s 30 \
                --fail-always-every 5 --retry-delays-ms 1,2
        cpid=$IT_LAST_PID
        it_check "subscriber is subscribed" it_wait_for 10 it_subscribed "$TA" 1
        it_must "20 events confirmed" it_produce producea --count 20 --keys 4
        it_check "16 handled, 4 failed on every attempt" it_wait "$cpid" consumea
        IT_TOPIC=$PREFIX
        it_is "A.dlq (a stream) holds 4 (independent read)" "$(it_dlq_count "$TA.dlq")" 4
        it_is "list: 4" "$(live_count)" 4
        it_check "nobody subscribed now" it_wait_for 10 it_subscribed "$TA" 0
        dlq replay >"$IT_DIR/ps1.txt" 2>"$IT_DIR/ps1.err"
        it_is "replay with no subscriber: refused (exit 1)" "$?" 1
        it_check "the refusal says why" grep -q 'no subscriber' "$IT_DIR/ps1.err"
        it_is "nothing lost: A.dlq still holds 4" "$(it_dlq_count "$TA.dlq")" 4
        IT_TOPIC=$TA
        it_spawn consume2 consume $(it_consume_args c2) --expect 20 --out "$OUT" --timeout-s 30
        cpid=$IT_LAST_PID
        it_check "subscriber 2 is subscribed" it_wait_for 10 it_subscribed "$TA" 1
        IT_TOPIC=$PREFIX
        it_check "replay with a subscriber" dlq_to "$IT_DIR/ps2.txt" replay --rate 20
        it_like "replayed 4" "$(tail -n 1 "$IT_DIR/ps2.txt")" 'matched=4 done=4 skipped=0 failed=0'
        it_check "subscriber 2 got the 4 replayed events" it_wait "$cpid" consume2
        it_check_out "all 20 seqs handled" --out "$OUT" --count 20 --keys 4 --allow-reorder
        it_is "exactly once: 20 lines" "$(it_lines "$OUT")" 20
        it_is "A.dlq is empty" "$(it_dlq_count "$TA.dlq")" 0
        it_is "audit: refused run failed, then ok" \
                "$(it_sql "SELECT string_agg(result || ':' || succeeded, ',' ORDER BY id) FROM ops.dlq_audit")" \
                'failed:0,ok:4'
        it_done
fi

# --- 1. dead letters, made by the bus library --------------------------------

IT_TOPIC=$TP
it_must "P: 30 events + 2 poison confirmed" \
        it_produce producep --count 30 --keys 3 --poison-every 10 --poison-dir "$IT_DIR/poison"
it_check "P: the 30 valid events were handled" \
        it_run consumep consume $(it_consume_args c1) --expect 30 --out "$IT_DIR/p.txt" --timeout-s 60
IT_TOPIC=$TA
it_must "A: 50 events confirmed" it_produce producea --count 50 --keys 5
it_check "A: 40 events handled, 10 failed on every attempt" \
        it_run consumea consume $(it_consume_args c1) --expect 40 --out "$OUT" --timeout-s 60 \
        --fail-always-every 5 --retry-delays-ms 1,2
IT_TOPIC=$PREFIX
it_is "A.dlq holds 10 dead letters (independent read)" "$(it_dlq_count "$TA.dlq")" 10
it_is "P.dlq holds 2 dead letters (independent read)" "$(it_dlq_count "$TP.dlq")" 2

# --- 2. list, filters, show, stats -------------------------------------------

dlq list --json >"$IT_DIR/all.json" 2>"$IT_DIR/list.err"
it_is "list --json: 12 dead letters" "$(jq length "$IT_DIR/all.json")" 12
it_is "list --topic A: 10" "$(live_count --topic "$TA")" 10
it_is "list --topic '*.p' (glob): 2" "$(live_count --topic '*.p')" 2
it_is "list --error-class TRANSIENT: 10" "$(live_count --error-class TRANSIENT)" 10
it_is "list --error-class permanent: 2" "$(live_count --error-class permanent)" 2
it_is "list --service bustest: 12" "$(live_count --service bustest)" 12
it_is "list --service raw: 0" "$(live_count --service raw)" 0
it_is "list --type ops.bustest: 10 (poison has no type)" "$(live_count --type ops.bustest)" 10
it_is "list --sport nba: 10" "$(live_count --sport nba)" 10
it_is "list --sport nhl: 0" "$(live_count --sport nhl)" 0
today=$(date -u +%F)
tomorrow=$(date -u -d tomorrow +%F)
yesterday=$(date -u -d yesterday +%F)
it_is "list --since today --until today: 12" "$(live_count --since "$today" --until "$today")" 12
it_is "list --since tomorrow: 0" "$(live_count --since "$tomorrow")" 0
it_is "list --until yesterday: 0" "$(live_count --until "$yesterday")" 0
it_is "list --limit 3: 3" "$(live_count --limit 3)" 3
corr=$(jq -r '[.[] | select(.event_id != null)][0].correlation_id' "$IT_DIR/all.json")
it_is "list --correlation-id: exactly 1" "$(live_count --correlation-id "$corr")" 1
seqs=$(jq -r --arg t "$TA" '[.[] | select(.original_topic == $t) | .event_id] | length' \
        "$IT_DIR/all.json")
it_is "A's letters carry event ids" "$seqs" 10
jq -r --arg t "$TA" '.[] | select(.original_topic == $t) | .event_id' "$IT_DIR/all.json" |
        sort >"$IT_DIR/dlq_event_ids"
it_like "list (table) ends with the count" "$(dlq list | tail -n 1)" '^12 dead letter\(s\)$'
dlq list --since nope >/dev/null 2>&1
it_is "bad --since is a usage error (exit 64)" "$?" 64

aid=$(jq -r --arg t "$TA" '[.[] | select(.original_topic == $t)][0].id' "$IT_DIR/all.json")
pid=$(jq -r '[.[] | select(.event_id == null)][0].id' "$IT_DIR/all.json")
dlq show "$aid" >"$IT_DIR/show.txt"
it_check "show: error class TRANSIENT" grep -q 'dlq.error_class *TRANSIENT' "$IT_DIR/show.txt"
it_check "show: the handler's reason (gave up after 3 attempts)" \
        grep -q 'gave up after 3 attempts' "$IT_DIR/show.txt"
it_check "show: the envelope's payload" grep -q '"seq"' "$IT_DIR/show.txt"
it_is "show --json: the envelope event_id" \
        "$(dlq show --json "$aid" | jq -r .envelope.event_id)" \
        "$(jq -r --arg id "$aid" '.[] | select(.id == $id) | .event_id' "$IT_DIR/all.json")"
it_is "show --json: original topic" "$(dlq show --json "$aid" | jq -r .original_topic)" "$TA"
dlq show "$pid" >"$IT_DIR/showp.txt"
it_check "show poison: says it is poison" grep -q '^poison' "$IT_DIR/showp.txt"
it_check "show poison: error class PERMANENT" grep -q 'dlq.error_class *PERMANENT' "$IT_DIR/showp.txt"
dlq show "$TA.dlq/999:999" >/dev/null 2>&1
it_is "show of an unknown id fails (exit 1)" "$?" 1
dlq stats --json >"$IT_DIR/stats.json"
it_is "stats: total 12" "$(jq .total "$IT_DIR/stats.json")" 12
it_is "stats: TRANSIENT 10" "$(jq .by_error_class.TRANSIENT "$IT_DIR/stats.json")" 10
it_is "stats: PERMANENT 2" "$(jq .by_error_class.PERMANENT "$IT_DIR/stats.json")" 2
it_is "stats: topic A 10" "$(jq --arg t "$TA" '.by_topic[$t]' "$IT_DIR/stats.json")" 10
it_is "stats: all younger than 1 h" "$(jq '.by_age["<1h"]' "$IT_DIR/stats.json")" 12

# --- 3. dry run ---------------------------------------------------------------

it_check "replay --dry-run succeeds" dlq_to "$IT_DIR/dry.txt" replay --dry-run
it_like "dry run: would replay 10, skip 2 poison" "$(tail -n 1 "$IT_DIR/dry.txt")" \
        'matched=12 would=10 skipped=2 failed=0 .* result=dry-run'
it_is "dry run: A.dlq unchanged (independent read)" "$(it_dlq_count "$TA.dlq")" 10
it_is "dry run: A unchanged (50 messages)" "$(topic_count "$TA")" 50
it_is "dry run: still 12 live dead letters" "$(live_count)" 12
dlq_to "$IT_DIR/to.txt" replay --dry-run --to elsewhere --limit 1
it_check "dry run --to: names the other topic" grep -q -- '^would replay .* -> elsewhere ' "$IT_DIR/to.txt"
it_is "dry run: no resolution marks" "$(it_sql 'SELECT count(*) FROM ops.dlq_resolved')" 0

# --- 4. replay at a rate, interrupted, resumed --------------------------------

t0=$(date +%s%3N)
it_check "replay --limit 4 --rate 5/s" dlq_to "$IT_DIR/replay1.txt" replay --topic "$TA" --limit 4 --rate 5/s
t1=$(date +%s%3N)
it_diag "replay of 4 at 5/s took $((t1 - t0)) ms"
it_check "rate respected: 4 messages at 5/s took >= 600 ms" test $((t1 - t0)) -ge 600
it_check "rate: and not absurdly long (< 15 s)" test $((t1 - t0)) -lt 15000
it_like "replay 1: 4 replayed" "$(tail -n 1 "$IT_DIR/replay1.txt")" 'matched=4 done=4 skipped=0 failed=0'
it_is "replay 1: 4 lines 'replayed ... -> A'" "$(grep -c "^replayed .* -> $TA " "$IT_DIR/replay1.txt")" 4
it_is "after replay 1: 6 live letters on A" "$(live_count --topic "$TA")" 6
it_is "after replay 1: A holds 54 messages" "$(topic_count "$TA")" 54

env STATLINE_BUS_BACKEND="$IT_BACKEND" STATLINE_BUS_URL="$IT_URL" STATLINE_BUS_PREFIX="$PREFIX" \
        STATLINE_PG_DSN="$IT_DSN" STATLINE_PG_MIGRATIONS="$IT_SRC/db/migrations" \
        "$DLQBIN" replay --topic "$TA" --rate 2 >"$IT_DIR/replay2.txt" 2>"$IT_DIR/replay2.err" &
rpid=$!
IT_PIDS+=("$rpid")
# Ctrl-C once the first letter went out (the tool prints a line per letter).
it_check "interrupted replay: the first letter went out" \
        it_wait_for 30 grep -q '^replayed ' "$IT_DIR/replay2.txt"
kill -INT "$rpid"
wait "$rpid"
it_is "Ctrl-C: replay exits 130" "$?" 130
k=$(grep -c '^replayed ' "$IT_DIR/replay2.txt")
it_diag "interrupted replay moved $k letters"
it_check "Ctrl-C: stopped part-way (1..5 of 6 replayed)" test "$k" -ge 1 -a "$k" -le 5
it_like "Ctrl-C: result=interrupted" "$(tail -n 1 "$IT_DIR/replay2.txt")" 'result=interrupted'
it_is "Ctrl-C: A holds 54 + $k" "$(topic_count "$TA")" $((54 + k))
it_is "Ctrl-C: $((6 - k)) live letters left on A" "$(live_count --topic "$TA")" $((6 - k))

it_check "rerun resumes" dlq_to "$IT_DIR/replay3.txt" replay --topic "$TA"
it_like "rerun: replays only the rest" "$(tail -n 1 "$IT_DIR/replay3.txt")" \
        "matched=$((6 - k)) done=$((6 - k)) skipped=0 failed=0"
it_is "A received exactly 10 replayed messages in total" "$(topic_count "$TA")" 60
it_is "no live letters left on A" "$(live_count --topic "$TA")" 0
if [[ $IT_BACKEND == redis-streams ]]; then
        it_is "A.dlq is empty (XDEL after confirmation)" "$(it_dlq_count "$TA.dlq")" 0
else
        it_is "Kafka: 10 resolution marks (replayed)" \
                "$(it_sql "SELECT count(*) FROM ops.dlq_resolved WHERE action = 'replayed'")" 10
fi
topic_data "$TA" | tail -n 10 >"$IT_DIR/replayed.json"
it_is "replayed messages: replay_count 1" "$(jq -s 'map(select(.replay_count == 1)) | length' \
        "$IT_DIR/replayed.json")" 10
jq -r .event_id "$IT_DIR/replayed.json" | sort >"$IT_DIR/replayed_ids"
it_check "replayed messages keep their event_ids" cmp -s "$IT_DIR/dlq_event_ids" "$IT_DIR/replayed_ids"

# --- 5. the consumer handles each replayed event exactly once ----------------

IT_TOPIC=$TA
it_check "consumer group picks up the replayed events" \
        it_run consume2 consume $(it_consume_args c2) --expect 50 --out "$OUT" --timeout-s 60
IT_TOPIC=$PREFIX
it_check_out "all 50 seqs handled" --out "$OUT" --count 50 --keys 5 --allow-reorder
it_is "exactly once: 50 lines, no duplicates" "$(it_lines "$OUT")" 50
it_is "exactly once: 50 distinct event ids" "$(awk '{print $3}' "$OUT" | sort -u | wc -l)" 50

# --- 6. purge -----------------------------------------------------------------

dlq purge --error-class PERMANENT </dev/null >"$IT_DIR/purge0.txt" 2>"$IT_DIR/purge0.err"
it_is "purge without --yes and no terminal: refused (exit 1)" "$?" 1
it_check "purge refusal says why" grep -q 'without --yes' "$IT_DIR/purge0.err"
it_is "refused purge removed nothing" "$(live_count --error-class PERMANENT)" 2
it_check "purge --yes" dlq_to "$IT_DIR/purge1.txt" purge --error-class PERMANENT --yes
it_like "purge: 2 purged" "$(tail -n 1 "$IT_DIR/purge1.txt")" 'matched=2 done=2 .* result=ok'
it_is "after purge: no live dead letters" "$(live_count)" 0
if [[ $IT_BACKEND == redis-streams ]]; then
        it_is "P.dlq is empty" "$(it_dlq_count "$TP.dlq")" 0
else
        it_is "Kafka: 2 resolution marks (purged)" \
                "$(it_sql "SELECT count(*) FROM ops.dlq_resolved WHERE action = 'purged'")" 2
fi

# --- 7. audit -----------------------------------------------------------------

it_is "audit: 5 replay runs (dry, dry --to, rate, interrupted, resume)" \
        "$(it_sql "SELECT count(*) FROM ops.dlq_audit WHERE command = 'replay'")" 5
it_is "audit: replay results in order" \
        "$(it_sql "SELECT string_agg(result, ',' ORDER BY id) FROM ops.dlq_audit WHERE command = 'replay'")" \
        'dry-run,dry-run,ok,interrupted,ok'
it_is "audit: 10 replayed in total (not dry)" \
        "$(it_sql "SELECT sum(succeeded) FROM ops.dlq_audit WHERE command = 'replay' AND NOT dry_run")" 10
it_is "audit: the dry run matched 12, skipped 2" \
        "$(it_sql "SELECT matched || '/' || skipped FROM ops.dlq_audit WHERE dry_run AND NOT filter ? 'to'")" 12/2
it_is "audit: rate and filter recorded" \
        "$(it_sql "SELECT filter->>'rate_per_s' || ' ' || (filter->>'topic') FROM ops.dlq_audit WHERE filter ? 'limit' AND NOT filter ? 'to'")" \
        "5 $TA"
it_is "audit: purge runs aborted, ok" \
        "$(it_sql "SELECT string_agg(result || ':' || succeeded, ',' ORDER BY id) FROM ops.dlq_audit WHERE command = 'purge'")" \
        'aborted:0,ok:2'
it_is "audit: every run finished" \
        "$(it_sql "SELECT count(*) FROM ops.dlq_audit WHERE finished_at IS NULL")" 0

# --- 8. replay-from-phase -----------------------------------------------------

c1=$(python3 -c 'import uuid; print(uuid.uuid4())')
c2=$(python3 -c 'import uuid; print(uuid.uuid4())')
python3 - "$RERUN_TOPIC" "$c1" "$c2" >"$IT_DIR/outbox.sql" <<'EOF'
import json, os, sys, time, uuid
topic, c1, c2 = sys.argv[1:4]
def uuid7():
    ms = int(time.time() * 1000)
    b = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))
for i, (corr, date) in enumerate([(c1, "2026-11-20"), (c1, "2026-11-20"), (c2, "2026-11-20"),
                                  (c1, "2026-11-21")]):
    ev = {"schema_version": "1.0", "event_id": uuid7(), "type": "raw.completed", "phase": "raw",
          "correlation_id": corr, "causation_id": None,
          "traceparent": "00-" + os.urandom(16).hex() + "-" + os.urandom(8).hex() + "-01",
          "sport": "nba", "game_date": date, "affected_entities": [],
          "idempotency_key": "raw:test:%d" % i, "produced_at": "2026-11-21T06:00:00.000Z",
          "payload": {"n": i}}
    s = json.dumps(ev).replace("'", "''")
    print("INSERT INTO ops.outbox (topic, key, idempotency_key, payload, published_at) VALUES "
          "('%s', '%s', 'raw:test:%d', convert_to('%s', 'UTF8'), now());" % (topic, date, i, s))
EOF
it_check "outbox seeded with 4 stored raw.completed events" \
        psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/outbox.sql"
it_check "replay-from-phase analytics --dry-run" \
        dlq_to "$IT_DIR/rfp0.txt" replay-from-phase analytics --date 2026-11-20 --dry-run
it_like "dry run: would emit 3" "$(tail -n 1 "$IT_DIR/rfp0.txt")" 'matched=3 would=3 .*result=dry-run'
it_is "dry run: nothing published" "$(topic_count "$RERUN_TOPIC")" 0
it_check "replay-from-phase analytics --correlation-id C1" \
        dlq_to "$IT_DIR/rfp1.txt" replay-from-phase analytics --date 2026-11-20 --correlation-id "$c1"
it_like "re-emitted 2" "$(tail -n 1 "$IT_DIR/rfp1.txt")" 'matched=2 done=2 .*result=ok'
newcorr=$(sed -n 's/.*rerun correlation_id=\([0-9a-f-]*\).*/\1/p' "$IT_DIR/rfp1.txt")
topic_data "$RERUN_TOPIC" >"$IT_DIR/rerun.json"
it_is "2 events on $RERUN_TOPIC" "$(jq -s length "$IT_DIR/rerun.json")" 2
it_is "fresh events: the new correlation id" \
        "$(jq -r .correlation_id "$IT_DIR/rerun.json" | sort -u)" "$newcorr"
it_is "fresh events: caused by the stored events" \
        "$(jq -r .causation_id "$IT_DIR/rerun.json" | sort | tr '\n' ' ')" \
        "$(it_sql "SELECT convert_from(payload, 'UTF8')::jsonb->>'event_id' FROM ops.outbox WHERE idempotency_key IN ('raw:test:0', 'raw:test:1') ORDER BY 1" | tr '\n' ' ')"
it_is "fresh events: idempotency keys marked as a rerun" \
        "$(jq -r .idempotency_key "$IT_DIR/rerun.json" | tr '\n' ' ')" \
        "raw:test:0:rerun:$newcorr raw:test:1:rerun:$newcorr "
it_is "fresh events: new event ids" \
        "$(jq -r .event_id "$IT_DIR/rerun.json" | grep -c -F -f <(it_sql "SELECT convert_from(payload, 'UTF8')::jsonb->>'event_id' FROM ops.outbox"))" 0
dlq replay-from-phase scraper --date 2026-11-20 >/dev/null 2>"$IT_DIR/rfp2.err"
it_is "replay-from-phase scraper: refused (exit 1)" "$?" 1
it_is "audit: 2 replay-from-phase runs" \
        "$(it_sql "SELECT string_agg(result || ':' || succeeded, ',' ORDER BY id) FROM ops.dlq_audit WHERE command = 'replay-from-phase'")" \
        'dry-run:3,ok:2'
it_done
