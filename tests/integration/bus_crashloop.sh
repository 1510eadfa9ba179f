#!/usr/bin/env bash
# bus_crashloop.sh redis-streams: a message that kills its consumer every time
# (SIGKILL inside the handler) is dead-lettered as SYSTEM once it was
# delivered more than max_deliveries (3) times, so the consumer, restarted by
# its supervisor (this loop), gets past it; every other event is handled,
# none of them dead-lettered for being in the same batch as the killer.
# Kafka keeps no delivery count (bus_kafka.c sets deliveries = 1), so there a
# crash loop never ends: not tested here (see docs/testing.md).
. "$(dirname "$0")/lib.sh"

COUNT=50
KILLER=10
MAXD=3

it_init "crashloop-${1:?usage: bus_crashloop.sh redis-streams}${STATLINE_IT_NEW_NAME:+-claim}"
it_backend "$1"
[[ $IT_BACKEND == redis-streams ]] || it_bail "only redis-streams counts deliveries"
out=$IT_DIR/events.txt
DLQ=$IT_TOPIC.dlq

it_must "producer: $COUNT events confirmed" it_produce produce --count "$COUNT" --keys 4

# The supervisor: restart the consumer until it finishes; at most MAXD + 3
# runs. Same consumer name each time (its own PEL is re-read), or with
# STATLINE_IT_NEW_NAME=1 a new name per run, like the default
# "<hostname>-<pid>" of a restarted container (XAUTOCLAIM takes the entries).
runs=0
codes=()
while ((runs < MAXD + 3)); do
        runs=$((runs + 1))
        name=c1
        [[ -n ${STATLINE_IT_NEW_NAME:-} ]] && name=c$runs
        it_run "consume$runs" consume $(it_consume_args "$name") --expect $((COUNT - 1)) --out "$out" \
                --timeout-s 8 --crash-on-seq "$KILLER" --max-deliveries "$MAXD" --claim-idle-ms 200
        rc=$?
        codes+=("$rc")
        ((rc == 137)) || break # 128 + SIGKILL: it died on the killer again
done
it_diag "consumer exit codes: ${codes[*]}"
it_is "consumer ended cleanly after the crash loop" "$rc" 0
it_is "it crashed $MAXD times (deliveries 1..$MAXD), then got past the killer" "$runs" $((MAXD + 1))
it_check_out "every other event handled, none lost" --out "$out" --count "$COUNT" --keys 4 \
        --except "$KILLER"
it_is "exactly one dead letter" "$(it_dlq_count "$DLQ")" 1
it_dlq_fetch "$DLQ" 0
it_diag "dead letter headers:" "$(cat "$IT_DIR/dlq/0.headers")"
it_is "dead letter: error class" "$(it_hdr 0 dlq.error_class)" SYSTEM
it_is "dead letter: attempts = deliveries" "$(it_hdr 0 dlq.attempts)" $((MAXD + 1))
it_like "dead letter: error text" "$(it_hdr 0 dlq.error)" "delivered $((MAXD + 1)) times"
it_like "dead letter: it is the killer event" "$(tr -d '\0' <"$IT_DIR/dlq/0.data")" "\"seq\":$KILLER[,}]"
it_original_bytes "$IT_TOPIC" "$(it_hdr 0 dlq.original_offset)" "$IT_DIR/dlq/0.orig"
it_check "dead letter: byte-for-byte the original entry" \
        cmp -s "$IT_DIR/dlq/0.orig" "$IT_DIR/dlq/0.data"
it_is "nothing left pending" "$(it_redis XPENDING "$IT_TOPIC" "$IT_GROUP" | head -n 1)" 0
it_done
