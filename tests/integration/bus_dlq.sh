#!/usr/bin/env bash
# bus_dlq.sh BACKEND: poison messages (invalid envelope bytes, with a NUL, a
# non-UTF-8 pair and a control byte) published among valid events land in
# "<topic>.dlq" byte-for-byte, with full context headers (original topic,
# partition, offset/entry id, group, service, attempts, error class PERMANENT,
# error text, first/last failure time), while every event around them is
# processed; the poison is acked, never redelivered.
# BACKEND: redis-streams, redis-pubsub (dead letters go to a durable stream),
# kafka. Reads the DLQ with redis-cli / kcat, independently of the bus code.
# Part 2: events whose handler fails on every attempt are dead-lettered once
# the retries run out (class TRANSIENT, attempts = max, original bytes).
. "$(dirname "$0")/lib.sh"

COUNT=1000
KEYS=8
EVERY=200
POISON=$(((COUNT - 1) / EVERY))
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'

it_init "dlq-${1:?usage: bus_dlq.sh BACKEND}"
it_backend "$1"
out=$IT_DIR/events.txt
mkdir -p "$IT_DIR/poison"
DLQ=$IT_TOPIC.dlq

# --- run ----------------------------------------------------------------------

t_start=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
consume=(consume $(it_consume_args c1) --expect "$COUNT" --out "$out" --timeout-s 60)
produce=(--count "$COUNT" --keys "$KEYS" --poison-every "$EVERY" --poison-dir "$IT_DIR/poison")
if [[ $IT_BACKEND == redis-pubsub ]]; then
        it_spawn consume "${consume[@]}"
        cpid=$IT_LAST_PID
        it_check "subscriber is subscribed" it_wait_for 10 it_subscribed "$IT_TOPIC" 1
        it_must "producer: $COUNT events + $POISON poison confirmed" it_produce produce "${produce[@]}"
else
        it_must "producer: $COUNT events + $POISON poison confirmed" it_produce produce "${produce[@]}"
        it_spawn consume "${consume[@]}"
        cpid=$IT_LAST_PID
fi
it_check "every valid event around the poison was handled" it_wait "$cpid" consume
t_end=$(date -u +%Y-%m-%dT%H:%M:%S.999Z)
it_check_out "no valid event lost, order kept" --out "$out" --count "$COUNT" --keys "$KEYS"
it_is "consumer dead-lettered $POISON messages" "$(it_field consume dead_lettered)" "$POISON"
it_is "$DLQ holds $POISON entries" "$(it_dlq_count "$DLQ")" "$POISON"

for ((i = 0; i < POISON; i++)); do
        it_dlq_fetch "$DLQ" "$i"
        it_check "dead letter $i: payload byte-for-byte identical to the poison published" \
                cmp -s "$IT_DIR/poison/poison.$i" "$IT_DIR/dlq/$i.data"
        it_is "dead letter $i: original topic" "$(it_hdr "$i" dlq.original_topic)" "$IT_TOPIC"
        it_is "dead letter $i: consumer group" "$(it_hdr "$i" dlq.consumer_group)" "$IT_GROUP"
        it_is "dead letter $i: service" "$(it_hdr "$i" dlq.service)" bustest
        it_is "dead letter $i: error class" "$(it_hdr "$i" dlq.error_class)" PERMANENT
        it_like "dead letter $i: error text" "$(it_hdr "$i" dlq.error)" '.{8,}'
        it_like "dead letter $i: attempts" "$(it_hdr "$i" dlq.attempts)" '^[0-9]+$'
        first=$(it_hdr "$i" dlq.first_failure_at)
        last=$(it_hdr "$i" dlq.last_failure_at)
        it_like "dead letter $i: first failure time is RFC 3339" "$first" "$RFC3339"
        it_like "dead letter $i: last failure time is RFC 3339" "$last" "$RFC3339"
        if [[ ! $first < $t_start && ! $last < $first && ! $t_end < $last ]]; then
                it_ok "dead letter $i: $t_start <= first <= last <= $t_end"
        else
                it_not_ok "dead letter $i: failure times in order and within the test"
                it_diag "start=$t_start first=$first last=$last end=$t_end"
        fi
        where=$(it_hdr "$i" dlq.original_offset)
        case $IT_BACKEND in
        kafka)
                it_is "dead letter $i: original partition" "$(it_hdr "$i" dlq.original_partition)" 0
                it_like "dead letter $i: original offset" "$where" '^[0-9]+$'
                ;;
        redis-streams)
                it_like "dead letter $i: original entry id" "$where" '^[0-9]+-[0-9]+$'
                ;;
        redis-pubsub)
                it_like "dead letter $i: original message id (local counter)" "$where" '.+'
                ;;
        esac
        if [[ $IT_BACKEND != redis-pubsub ]]; then
                it_original_bytes "$IT_TOPIC" "$where" "$IT_DIR/dlq/$i.orig"
                it_check "dead letter $i: offset/id points at the poison in $IT_TOPIC" \
                        cmp -s "$IT_DIR/poison/poison.$i" "$IT_DIR/dlq/$i.orig"
        fi
        if ((i == 0)); then
                it_diag "dead letter 0 headers:" "$(cat "$IT_DIR/dlq/0.headers")"
        fi
done

# --- part 2: a handler that always fails: retries run out, then the DLQ -------
# 20 events; seq 0, 7 and 14 fail on every attempt (-EAGAIN, 3 attempts with
# 1 ms and 2 ms waits): dead-lettered as TRANSIENT with attempts=3 and the
# original envelope bytes; the 17 others are handled.
main_topic=$IT_TOPIC
IT_TOPIC=$main_topic.x
DLQ=$IT_TOPIC.dlq
IT_EXTRA_KEYS+=("$IT_TOPIC" "$DLQ")
out2=$IT_DIR/events2.txt
rm -f "$IT_DIR"/dlq/*
consume=(consume $(it_consume_args c1) --expect 17 --out "$out2" --timeout-s 30
         --fail-always-every 7 --retry-delays-ms 1,2)
if [[ $IT_BACKEND == redis-pubsub ]]; then
        it_spawn consumex "${consume[@]}"
        cpid=$IT_LAST_PID
        it_check "retry part: subscriber is subscribed" it_wait_for 10 it_subscribed "$IT_TOPIC" 1
        it_must "retry part: 20 events confirmed" it_produce producex --count 20 --keys "$KEYS"
else
        it_must "retry part: 20 events confirmed" it_produce producex --count 20 --keys "$KEYS"
        it_spawn consumex "${consume[@]}"
        cpid=$IT_LAST_PID
fi
it_check "retry part: the 17 other events were handled" it_wait "$cpid" consumex
it_is "retry part: 3 events dead-lettered" "$(it_field consumex dead_lettered)" 3
it_is "retry part: $DLQ holds 3 entries" "$(it_dlq_count "$DLQ")" 3
for ((i = 0; i < 3; i++)); do
        it_dlq_fetch "$DLQ" "$i"
        it_is "retry dead letter $i: error class" "$(it_hdr "$i" dlq.error_class)" TRANSIENT
        it_is "retry dead letter $i: attempts" "$(it_hdr "$i" dlq.attempts)" 3
        it_like "retry dead letter $i: error text says it gave up" "$(it_hdr "$i" dlq.error)" \
                'gave up after 3 attempts'
        seq=$(grep -ao '"seq":[0-9]*' "$IT_DIR/dlq/$i.data" | cut -d: -f2)
        it_is "retry dead letter $i: carries the failing event" "$seq" $((i * 7))
        if [[ $IT_BACKEND != redis-pubsub ]]; then
                it_original_bytes "$IT_TOPIC" "$(it_hdr "$i" dlq.original_offset)" "$IT_DIR/dlq/$i.orig"
                it_check "retry dead letter $i: byte-for-byte the original message" \
                        cmp -s "$IT_DIR/dlq/$i.orig" "$IT_DIR/dlq/$i.data"
        fi
        if ((i == 0)); then
                it_diag "retry dead letter 0 headers:" "$(cat "$IT_DIR/dlq/0.headers")"
        fi
done
IT_TOPIC=$main_topic
DLQ=$IT_TOPIC.dlq

case $IT_BACKEND in
redis-streams)
        it_is "poison and events all acked (nothing pending)" \
                "$(it_redis XPENDING "$IT_TOPIC" "$IT_GROUP" | head -n 1)" 0
        ;;
kafka)
        # Offsets were committed past the poison: a new member of the group gets nothing.
        it_check "a restarted consumer in the group gets nothing again" \
                it_run consume2 consume $(it_consume_args c2) --expect 0 --out "$out" --timeout-s 8
        it_is "restarted consumer handled no event" "$(it_field consume2 handled)" 0
        it_is "restarted consumer dead-lettered nothing" "$(it_field consume2 dead_lettered)" 0
        it_is "$DLQ still holds $POISON entries" "$(it_dlq_count "$DLQ")" "$POISON"
        ;;
esac
it_done
