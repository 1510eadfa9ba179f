#!/usr/bin/env bash
# bus_restart.sh BACKEND: a broker restart mid-stream is survived.
#   redis-streams: a PRIVATE redis-server with AOF (appendfsync always), so the
#     shared one is untouched and the stream survives. A paced producer keeps
#     publishing across the restart (errors retried, never dropped) while a
#     consumer reads; both reconnect; nothing is lost, per-key order kept.
#   kafka: the SHARED broker ($STATLINE_TEST_RUN_DIR/kafka, so this test runs
#     alone: is_parallel false) or, outside tests/run.sh, a private one is
#     restarted with kafka.sh restart; same checks.
#   Variants (environment): STATLINE_IT_PAUSE_S=N (redis) SIGSTOPs the server for N s
#     before the restart: a hung broker, then a restart. STATLINE_IT_CRASH=1 (kafka)
#     SIGKILLs the broker and starts it again instead of a clean restart.
#   redis-pubsub: a private redis-server. Events published before the restart
#     all arrive; the subscriber reconnects and resubscribes by itself, and
#     events published after that all arrive. Events published while it was
#     away may be lost (at-most-once, documented): counted, not required;
#     the producer still confirms every one of them.
. "$(dirname "$0")/lib.sh"

KEYS=16

it_init "restart-${1:?usage: bus_restart.sh BACKEND}${STATLINE_IT_PAUSE_S:+-hung}${STATLINE_IT_CRASH:+-crash}"
it_backend "$1"
out=$IT_DIR/events.txt

# count_range LO HI: lines in $out with LO <= seq < HI (duplicates included).
count_range() {
        awk -v lo="$1" -v hi="$2" '$2 >= lo && $2 < hi' "$out" 2>/dev/null | wc -l | tr -d ' '
}

range_complete() {
        (($(count_range "$1" "$2") >= $2 - $1))
}

# check_range DESC LO HI: every seq in [LO, HI) arrived, per-key order kept.
check_range() {
        awk -v lo="$2" -v hi="$3" '$2 >= lo && $2 < hi' "$out" >"$IT_DIR/range.$2"
        it_check_out "$1" --out "$IT_DIR/range.$2" --start "$2" --count $(($3 - $2)) --keys "$KEYS"
}

# restart_broker: restarts the server under test, timed.
restart_broker() {
        local t0=$(date +%s%3N)
        # setsid: the restarted broker leaves this test's process group, so a
        # meson timeout (killpg) can't take the shared broker down with it.
        if [[ $IT_BACKEND == kafka && -n ${STATLINE_IT_CRASH:-} ]]; then
                # SIGKILL, then start on the same ports and data (log recovery).
                "$IT_HARNESS/kafka.sh" kill "$KAFKA_DIR" 2>"$IT_DIR/kafka-restart.err" &&
                        setsid -w "$IT_HARNESS/kafka.sh" start "$KAFKA_DIR" >/dev/null \
                                2>>"$IT_DIR/kafka-restart.err"
        elif [[ $IT_BACKEND == kafka ]]; then
                setsid -w "$IT_HARNESS/kafka.sh" restart "$KAFKA_DIR" >/dev/null \
                        2>"$IT_DIR/kafka-restart.err"
        else
                if ((${STATLINE_IT_PAUSE_S:-0} > 0)); then
                        # A hung broker first (SIGSTOP: sockets open, no answers).
                        "$IT_HARNESS/redis.sh" pause "$IT_REDIS_DIR" && sleep "$STATLINE_IT_PAUSE_S"
                fi
                "$IT_HARNESS/redis.sh" restart "$IT_REDIS_DIR" >/dev/null 2>"$IT_DIR/redis-restart.err"
        fi
        local rc=$?
        it_diag "broker restart took $(($(date +%s%3N) - t0)) ms"
        return $rc
}

# On exit: the shared broker must be up again for the tests after this one,
# even if this test failed or was interrupted mid-restart.
shared_kafka_up() {
        kcat -b "$IT_URL" -L -m 5 >/dev/null 2>&1 && return 0
        it_diag "the shared broker is down: starting it again"
        "$IT_HARNESS/kafka.sh" stop "$KAFKA_DIR" >/dev/null 2>&1
        setsid -w "$IT_HARNESS/kafka.sh" start "$KAFKA_DIR" >/dev/null 2>>"$IT_DIR/kafka-restart.err"
}

# --- durable backends ------------------------------------------------------

durable() {
        local count=$1 rate=$2 first=$3 cpid ppid
        # The topic exists before the consumer subscribes (Kafka needs it).
        it_must "producer: first $first events confirmed" \
                it_produce produce0 --count "$first" --keys "$KEYS"
        it_spawn consume consume $(it_consume_args c1) --expect "$count" --out "$out" \
                --timeout-s 120 --claim-idle-ms 2000
        cpid=$IT_LAST_PID
        it_spawn produce produce --backend "$IT_BACKEND" --url "$IT_URL" --topic "$IT_TOPIC" \
                --start "$first" --count $((count - first)) --keys "$KEYS" --rate "$rate" \
                --publish-timeout-s 90
        ppid=$IT_LAST_PID
        it_check "consumer is mid-stream" it_wait_for 60 it_lines_ge "$out" $((first + rate))
        it_diag "restarting with $(it_lines "$out") events consumed"
        it_check "broker restarted mid-stream" restart_broker
        it_check "producer kept publishing across the restart: all confirmed" it_wait "$ppid" produce
        it_check "consumer reconnected and got every event" it_wait "$cpid" consume
        it_check_out "no event lost across the restart, per-key order kept" --out "$out" \
                --count "$count" --keys "$KEYS"
        it_is "producer saw no non-retriable error" "$(it_field produce fatal_errors)" 0
        it_diag "producer reconnects=$(it_field produce reconnects) consumer reconnects=$(it_field consume reconnects)"
        if [[ $IT_BACKEND == redis-streams ]]; then
                it_is "nothing left pending after the restart" \
                        "$(it_redis XPENDING "$IT_TOPIC" "$IT_GROUP" | head -n 1)" 0
        fi
}

# --- pubsub ------------------------------------------------------------------

pubsub() {
        local cpid ppid lost
        it_spawn consume consume $(it_consume_args c1) --expect 2000 --out "$out" --timeout-s 60
        cpid=$IT_LAST_PID
        it_check "subscriber is subscribed" it_wait_for 10 it_subscribed "$IT_TOPIC" 1
        it_check "phase 1: 500 events confirmed" it_produce produce1 --count 500 --keys "$KEYS"
        it_check "phase 1: all arrived" it_wait_for 20 range_complete 0 500
        it_spawn produce2 produce --backend "$IT_BACKEND" --url "$IT_URL" --topic "$IT_TOPIC" \
                --start 500 --count 1000 --keys "$KEYS" --rate 500 --publish-timeout-s 60
        ppid=$IT_LAST_PID
        sleep 0.6
        it_check "broker restarted mid-stream" restart_broker
        it_check "phase 2: producer kept publishing across the restart: all confirmed" \
                it_wait "$ppid" produce2
        it_check "subscriber resubscribed by itself" it_wait_for 20 it_subscribed "$IT_TOPIC" 1
        it_check "phase 3: 500 events confirmed" \
                it_produce produce3 --start 1500 --count 500 --keys "$KEYS"
        it_check "phase 3: all arrived" it_wait_for 20 range_complete 1500 2000
        kill -TERM "$cpid" 2>/dev/null
        it_wait "$cpid" consume
        check_range "phase 1 (before the restart): none lost, order kept" 0 500
        check_range "phase 3 (after resubscribing): none lost, order kept" 1500 2000
        lost=$((1000 - $(awk '$2 >= 500 && $2 < 1500 { print $2 }' "$out" | sort -u | wc -l)))
        it_diag "phase 2: $lost of 1000 events published around the restart were lost (at-most-once)"
        it_like "subscriber reconnected" "$(it_field consume reconnects)" '^[1-9][0-9]*$'
}

case $IT_BACKEND in
redis-streams)
        it_start_redis redis --aof
        durable 3000 1000 200
        ;;
redis-pubsub)
        it_start_redis redis
        pubsub
        ;;
kafka)
        if [[ -n ${STATLINE_TEST_RUN_DIR:-} && -f $STATLINE_TEST_RUN_DIR/kafka/bootstrap &&
              $(cat "$STATLINE_TEST_RUN_DIR/kafka/bootstrap") == "$IT_URL" ]]; then
                KAFKA_DIR=$STATLINE_TEST_RUN_DIR/kafka
                it_diag "restarting the shared broker in $KAFKA_DIR"
                IT_ON_EXIT=shared_kafka_up
        else
                KAFKA_DIR=$IT_DIR/kafka
                mkdir -p "$KAFKA_DIR"
                IT_URL=$("$IT_HARNESS/kafka.sh" start "$KAFKA_DIR" 2>"$IT_DIR/kafka-start.err") ||
                        it_bail "private kafka broker did not start"
                IT_KAFKA_DIRS+=("$KAFKA_DIR")
                it_diag "private broker at $IT_URL"
        fi
        durable 2000 200 100
        ;;
esac
it_done
