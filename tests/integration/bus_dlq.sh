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
mkdir -p "$IT_DIR/poison" "$IT_DIR/dlq"
DLQ=$IT_TOPIC.dlq

# --- DLQ readers (one entry i, 0-based, into $IT_DIR/dlq/i.{data,headers}) ---

dlq_count() {
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$DLQ" -o beginning -e -q -f 'x\n' 2>/dev/null |
                        wc -l | tr -d ' '
        else
                it_redis XLEN "$DLQ"
        fi
}

# Writes headers as "name=value" lines and the payload bytes (exact).
dlq_fetch() {
        local i=$1 d=$IT_DIR/dlq/$1 id
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$DLQ" -p 0 -o "$i" -c 1 -e -q -f '%s' >"$d.data"
                timeout 30 kcat -C -b "$IT_URL" -t "$DLQ" -p 0 -o "$i" -c 1 -e -q -f '%h' |
                        sed 's/,dlq\./\ndlq./g' >"$d.headers"
        else
                # Entry fields: d <data>, k <key>, h:<name> <value> (bus_redis.c).
                # Walk to the i-th entry with exclusive ranges: an id pattern
                # would also match the dlq.original_offset values.
                local start=- j
                for ((j = 0; j <= i; j++)); do
                        id=$(it_redis XRANGE "$DLQ" "$start" + COUNT 1 | head -n 1)
                        start="($id"
                done
                it_redis --raw XRANGE "$DLQ" "$id" "$id" >"$d.raw"
                sed -n '/^d$/{n;p;q}' "$d.raw" | head -c -1 >"$d.data"
                awk 'f { print name "=" $0; f = 0; next }
                     /^h:/ { name = substr($0, 3); f = 1 }' "$d.raw" >"$d.headers" 2>/dev/null
        fi
}

# hdr I NAME: value of header NAME of DLQ entry I.
hdr() {
        sed -n "s/^$2=//p" "$IT_DIR/dlq/$1.headers" | head -n 1
}

# original_bytes OFFSET FILE: the poison as stored in the ORIGINAL topic at OFFSET.
original_bytes() {
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$IT_TOPIC" -p 0 -o "$1" -c 1 -e -q -f '%s' >"$2"
        else
                it_redis --raw XRANGE "$IT_TOPIC" "$1" "$1" | sed -n '/^d$/{n;p;q}' | head -c -1 >"$2"
        fi
}

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
it_is "$DLQ holds $POISON entries" "$(dlq_count)" "$POISON"

for ((i = 0; i < POISON; i++)); do
        dlq_fetch "$i"
        it_check "dead letter $i: payload byte-for-byte identical to the poison published" \
                cmp -s "$IT_DIR/poison/poison.$i" "$IT_DIR/dlq/$i.data"
        it_is "dead letter $i: original topic" "$(hdr "$i" dlq.original_topic)" "$IT_TOPIC"
        it_is "dead letter $i: consumer group" "$(hdr "$i" dlq.consumer_group)" "$IT_GROUP"
        it_is "dead letter $i: service" "$(hdr "$i" dlq.service)" bustest
        it_is "dead letter $i: error class" "$(hdr "$i" dlq.error_class)" PERMANENT
        it_like "dead letter $i: error text" "$(hdr "$i" dlq.error)" '.{8,}'
        it_like "dead letter $i: attempts" "$(hdr "$i" dlq.attempts)" '^[0-9]+$'
        first=$(hdr "$i" dlq.first_failure_at)
        last=$(hdr "$i" dlq.last_failure_at)
        it_like "dead letter $i: first failure time is RFC 3339" "$first" "$RFC3339"
        it_like "dead letter $i: last failure time is RFC 3339" "$last" "$RFC3339"
        if [[ ! $first < $t_start && ! $last < $first && ! $t_end < $last ]]; then
                it_ok "dead letter $i: $t_start <= first <= last <= $t_end"
        else
                it_not_ok "dead letter $i: failure times in order and within the test"
                it_diag "start=$t_start first=$first last=$last end=$t_end"
        fi
        where=$(hdr "$i" dlq.original_offset)
        case $IT_BACKEND in
        kafka)
                it_is "dead letter $i: original partition" "$(hdr "$i" dlq.original_partition)" 0
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
                original_bytes "$where" "$IT_DIR/dlq/$i.orig"
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
it_is "retry part: $DLQ holds 3 entries" "$(dlq_count)" 3
for ((i = 0; i < 3; i++)); do
        dlq_fetch "$i"
        it_is "retry dead letter $i: error class" "$(hdr "$i" dlq.error_class)" TRANSIENT
        it_is "retry dead letter $i: attempts" "$(hdr "$i" dlq.attempts)" 3
        it_like "retry dead letter $i: error text says it gave up" "$(hdr "$i" dlq.error)" \
                'gave up after 3 attempts'
        seq=$(grep -ao '"seq":[0-9]*' "$IT_DIR/dlq/$i.data" | cut -d: -f2)
        it_is "retry dead letter $i: carries the failing event" "$seq" $((i * 7))
        if [[ $IT_BACKEND != redis-pubsub ]]; then
                original_bytes "$(hdr "$i" dlq.original_offset)" "$IT_DIR/dlq/$i.orig"
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
        it_is "$DLQ still holds $POISON entries" "$(dlq_count)" "$POISON"
        ;;
esac
it_done
