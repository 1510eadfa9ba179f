#!/usr/bin/env bash
# bus_flow.sh BACKEND: 10,000 events published and consumed through BACKEND
# (redis-streams, redis-pubsub, kafka) on the shared test server: none lost,
# per-key order kept, every entry acked. Every 97th event fails its first
# handler attempt (-EAGAIN), so handler retries run too.
# Pub/Sub is at-most-once, so there the subscriber is started (and seen
# subscribed) before the first publish.
. "$(dirname "$0")/lib.sh"

COUNT=${STATLINE_IT_FLOW_COUNT:-10000}
KEYS=16

it_init "flow-${1:?usage: bus_flow.sh BACKEND}"
it_backend "$1"
out=$IT_DIR/events.txt
consume=(consume $(it_consume_args c1) --expect "$COUNT" --out "$out" --timeout-s 60
         --fail-every 97 --retry-delays-ms 1,2)

if [[ $IT_BACKEND == redis-pubsub ]]; then
        # At-most-once: only a live subscriber gets events.
        it_spawn consume "${consume[@]}"
        cpid=$IT_LAST_PID
        it_check "subscriber is subscribed before publishing" \
                it_wait_for 10 it_subscribed "$IT_TOPIC" 1
        t0=$(date +%s%3N)
        it_must "producer: $COUNT published and confirmed" \
                it_produce produce --count "$COUNT" --keys "$KEYS"
        it_check "consumer got all $COUNT events" it_wait "$cpid" consume
else
        t0=$(date +%s%3N)
        it_must "producer: $COUNT published and confirmed" \
                it_produce produce --count "$COUNT" --keys "$KEYS"
        it_spawn consume "${consume[@]}"
        it_check "consumer got all $COUNT events" it_wait "$IT_LAST_PID" consume
fi
it_diag "publish+consume: $(($(date +%s%3N) - t0)) ms"

it_check_out "no event lost, per-key order kept" --out "$out" --count "$COUNT" --keys "$KEYS"
it_is "injected failures were retried, not dead-lettered" "$(it_field consume dead_lettered)" 0
it_like "handler retries happened" "$(it_field consume retries)" '^[1-9][0-9]*$'
if [[ $IT_BACKEND == redis-streams ]]; then
        it_is "no entry left pending (all acked)" \
                "$(it_redis XPENDING "$IT_TOPIC" "$IT_GROUP" | head -n 1)" 0
fi
it_done
