#!/usr/bin/env bash
# bus_kill.sh BACKEND: a consumer SIGKILLed mid-stream and restarted loses
# nothing (BACKEND: redis-streams or kafka).
#   redis-streams: the restart uses a NEW consumer name, so the entries the
#     dead consumer left pending are only saved by XAUTOCLAIM (claim idle
#     500 ms); the test checks they were claimed and that nothing stays pending.
#   kafka: restarted in the same group; it resumes from the committed offsets.
# Duplicates (handled, then killed before the ack/commit) are allowed and
# counted: that is at-least-once.
. "$(dirname "$0")/lib.sh"

COUNT=${STATLINE_IT_KILL_COUNT:-10000}
KEYS=16

it_init "kill-${1:?usage: bus_kill.sh BACKEND}"
it_backend "$1"
[[ $IT_BACKEND != redis-pubsub ]] || it_bail "pubsub is at-most-once: no kill test"
out=$IT_DIR/events.txt

it_must "producer: $COUNT published and confirmed" \
        it_produce produce --count "$COUNT" --keys "$KEYS"

# The first consumer is slowed (0.4 ms per event) so the kill lands mid-stream.
it_spawn consume1 consume $(it_consume_args c1) --expect "$COUNT" --out "$out" \
        --timeout-s 60 --delay-us 400 --claim-idle-ms 500
c1=$IT_LAST_PID
kill_at=$((COUNT / 4))
if it_wait_for 60 it_lines_ge "$out" "$kill_at"; then
        kill -KILL "$c1"
        wait "$c1" 2>/dev/null
        it_ok "consumer 1 killed with SIGKILL after $(it_lines "$out") events"
else
        it_not_ok "consumer 1 reached $kill_at events"
fi

pending_dead=0
if [[ $IT_BACKEND == redis-streams ]]; then
        # XPENDING summary: count, min, max, then per-consumer pairs.
        pending_dead=$(it_redis XPENDING "$IT_TOPIC" "$IT_GROUP" - + 1000 c1 | grep -c '^[0-9]*-[0-9]*$')
        it_diag "entries pending on the dead consumer: $pending_dead"
fi

before=$(it_lines "$out")
it_spawn consume2 consume $(it_consume_args c2) --expect "$COUNT" --out "$out" \
        --timeout-s 60 --claim-idle-ms 500
it_check "restarted consumer completes the stream" it_wait "$IT_LAST_PID" consume2

if [[ $IT_BACKEND == redis-streams ]]; then
        # A new consumer name: reading order between claimed and new entries is
        # the backend's choice, so per-key order is reported, not required.
        it_check_out "no event lost across the kill" --out "$out" --count "$COUNT" --keys "$KEYS" \
                --allow-reorder
        if ((pending_dead > 0)); then
                it_like "the dead consumer's pending entries were claimed (XAUTOCLAIM)" \
                        "$(it_field consume2 claimed)" '^[1-9][0-9]*$'
        else
                it_diag "the dead consumer held no pending entries at the kill: claim not exercised"
        fi
        it_is "no entry left pending (all acked)" \
                "$(it_redis XPENDING "$IT_TOPIC" "$IT_GROUP" | head -n 1)" 0
else
        it_check_out "no event lost across the kill, per-key order kept" --out "$out" \
                --count "$COUNT" --keys "$KEYS"
fi
it_diag "lines before restart: $before, after: $(it_lines "$out") (duplicates = redelivered after the kill)"
it_done
