#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller)
# on free loopback ports, for integration/chaos tests and the demo.
# There is no Kafka package in Debian and no Docker: the broker is assembled
# from its Maven Central jars (see docs and /work/shared/KAFKA.md).
#
#   kafka.sh fetch           copy the broker jars into the cache dir (idempotent;
#                            instant when the stamp matches)
#   kafka.sh start DIR       start a broker whose files live in DIR (caller made
#                            DIR, e.g. mktemp -d); prints "127.0.0.1:<port>" on
#                            stdout and writes it to DIR/bootstrap. A DIR that
#                            held a broker before keeps its ports and data.
#   kafka.sh stop DIR        TERM the broker, wait up to 30 s, then KILL (that pid
#                            only). DIR is left for the caller to delete.
#   kafka.sh restart DIR     stop, then start on the same ports and data.
#   kafka.sh kill DIR        KILL the broker at once (crash tests); start/restart
#                            bring it back.
#
# Environment:
#   STATLINE_KAFKA_LIBS       jar cache (default ~/.cache/statline/kafka-libs)
#   STATLINE_KAFKA_VERSION    force one Kafka version (default: 3.9.2, then 3.9.1,
#                             then 4.0.1 if 3.9.x will not resolve)
#   STATLINE_KAFKA_JAVA_OPTS  JVM options (default: -Xms256m -Xmx512m)
#   STATLINE_KAFKA_START_TIMEOUT  readiness timeout in seconds (default 120)
#   STATLINE_MVN_ARGS         extra Maven arguments (e.g. -Dmaven.repo.local=...)
#
# Exit status: 0 ok, 1 failure, 2 usage, 77 a required binary (java, kcat,
# mvn when jars must be fetched) is missing, so a test can skip.
# All diagnostics go to stderr; stdout carries only the bootstrap address.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # free_ports; die/log are redefined below

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$HERE/kafka/pom.xml"
LIBS=${STATLINE_KAFKA_LIBS:-${HOME:-/tmp}/.cache/statline/kafka-libs}
STAMP="$LIBS/.statline-kafka-stamp"
START_TIMEOUT=${STATLINE_KAFKA_START_TIMEOUT:-120}
JAVA_OPTS=${STATLINE_KAFKA_JAVA_OPTS:--Xms256m -Xmx512m}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || { log "missing binary: $1"; exit 77; }; }
now_ms() { date +%s%3N; }

# --- fetch ------------------------------------------------------------------

# The stamp names the pom it came from, so editing the pom refetches.
pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

stamp_ok() {
        [[ -f $STAMP ]] && grep -qx "pom=$(pom_sum)" "$STAMP" &&
                { [[ -z ${STATLINE_KAFKA_VERSION:-} ]] ||
                  grep -qx "version=$STATLINE_KAFKA_VERSION" "$STAMP"; }
}

# mvn_copy OUTDIR VERSION PROFILE: offline first (~/.m2 warm), then online.
mvn_copy() {
        local out=$1 ver=$2 prof=$3 args
        # shellcheck disable=SC2206
        args=(-B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DincludeScope=runtime
              -DoutputDirectory="$out" -Dkafka.version="$ver" -P"$prof"
              ${STATLINE_MVN_ARGS:-})
        mvn -o "${args[@]}" >/dev/null 2>&1 && return 0
        # Online: a registry hiccup (a reset connection, a 5xx) must not cost
        # the whole Kafka half of a CI run, so three tries, 5 s then 20 s apart.
        local try delay=5
        for try in 1 2 3; do
                rm -rf "$out"
                # -U: Maven caches a failed download in ~/.m2 and, without it,
                # would not ask the registry again ("not found ... during a
                # previous attempt"). -q still prints colour resets and Maven's
                # help boilerplate; keep stderr to the lines that say why.
                mvn -U "${args[@]}" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' |
                        grep -v '^\[ERROR\] *$\|-X switch\|-e switch\|^\[ERROR\] \[Help 1\]\|read the following' |
                        tail -n 8 >&2
                [[ ${PIPESTATUS[0]} -eq 0 ]] && return 0
                ((try < 3)) || break
                log "Maven fetch of Kafka $ver failed (try $try of 3); retrying in ${delay}s"
                sleep "$delay"
                delay=20
        done
        return 1
}

# Tries each candidate version; writes jars and the stamp into a temp dir
# that replaces $LIBS only when complete (a half-fetch never looks valid).
do_fetch() {
        local tmp ver prof cands
        need java
        need mvn
        tmp="$LIBS.tmp.$$"
        if [[ -n ${STATLINE_KAFKA_VERSION:-} ]]; then
                cands=("$STATLINE_KAFKA_VERSION")
        else
                cands=(3.9.2 3.9.1 4.0.1)
        fi
        for ver in "${cands[@]}"; do
                prof=kafka3
                [[ $ver == 4.* ]] && prof=kafka4
                rm -rf "$tmp"
                if mvn_copy "$tmp" "$ver" "$prof" && [[ -f $tmp/kafka_2.13-$ver.jar ]]; then
                        printf 'version=%s\nlogging=%s\npom=%s\n' "$ver" \
                                "$([[ $prof == kafka4 ]] && echo log4j2 || echo log4j1)" \
                                "$(pom_sum)" >"$tmp/.statline-kafka-stamp"
                        rm -rf "$LIBS"
                        mv "$tmp" "$LIBS"
                        log "fetched Kafka $ver jars into $LIBS"
                        return 0
                fi
                log "Kafka $ver did not resolve; trying the next version"
        done
        rm -rf "$tmp"
        die "no Kafka version could be fetched"
}

cmd_fetch() {
        stamp_ok && return 0
        mkdir -p "$(dirname "$LIBS")"
        # Parallel tests may fetch at once: one fetches, the others wait.
        exec 9>"$LIBS.lock"
        flock 9
        stamp_ok || do_fetch
        exec 9>&-
}

stamp_get() { sed -n "s/^$1=//p" "$STAMP"; }

# --- start ------------------------------------------------------------------

write_config() {
        local dir=$1 broker=$2 ctrl=$3
        cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctrl
listeners=PLAINTEXT://127.0.0.1:$broker,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$broker
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=1
log.cleaner.dedupe.buffer.size=2097152
auto.create.topics.enable=true
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2500
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
        if [[ $(stamp_get logging) == log4j2 ]]; then
                cat >"$dir/log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = info
EOF
        else
                cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
        fi
}

# JVM flag naming the logging config written by write_config.
log_flag() {
        if [[ $(stamp_get logging) == log4j2 ]]; then
                echo "-Dlog4j2.configurationFile=$1/log4j2.properties"
        else
                echo "-Dlog4j.configuration=file:$1/log4j.properties"
        fi
}

# The share.coordinator keys exist only in 4.x; 3.9 warns about them, so drop them there.
trim_config() {
        [[ $(stamp_get logging) == log4j2 ]] && return 0
        sed -i '/^share\.coordinator\./d' "$1/server.properties"
}

format_storage() {
        local dir=$1 id
        [[ -f $dir/data/meta.properties ]] && return 0
        # base64url of 16 random bytes; never starting with '-', which StorageTool's argument
        # parser reads as an option ("argument --cluster-id/-t: expected one argument"): 1 start
        # in 64 failed that way, and Kafka's own Uuid.randomUuid() avoids such ids for the same reason
        id=-
        while [[ $id == -* ]]; do
                id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        done
        # shellcheck disable=SC2086
        java $JAVA_OPTS "$(log_flag "$dir")" -cp "$LIBS/*" kafka.tools.StorageTool format \
                -t "$id" -c "$dir/server.properties" --ignore-formatted >>"$dir/kafka.log" 2>&1 || {
                tail -n 20 "$dir/kafka.log" >&2
                die "storage format failed; see $dir/kafka.log"
        }
}

# True if pid runs (a zombie counts as dead: its sockets are closed).
alive() {
        local st
        [[ -r /proc/$1/stat ]] || return 1
        st=$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)
        [[ $st != Z && $st != X ]]
}

# True if pid is our broker for DIR (guards against pid reuse).
is_our_broker() {
        alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null |
                grep -qF -- "$2/server.properties"
}

# wait_ready DIR PID PORT: 0 ready, 1 died, 2 timed out.
wait_ready() {
        local dir=$1 pid=$2 port=$3 deadline
        deadline=$(($(date +%s) + START_TIMEOUT))
        while (($(date +%s) < deadline)); do
                alive "$pid" || return 1
                if kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1; then
                        return 0
                fi
                sleep 0.2
        done
        return 2
}

# launch DIR BROKER CTRL: one attempt; 0 ready, 1 died, 2 timed out.
launch() {
        local dir=$1 broker=$2 ctrl=$3 pid rc=0
        write_config "$dir" "$broker" "$ctrl"
        trim_config "$dir"
        format_storage "$dir"
        # stdin/stdout/stderr detached, so "$(kafka.sh start DIR)" returns.
        # shellcheck disable=SC2086
        java $JAVA_OPTS "$(log_flag "$dir")" -cp "$LIBS/*" kafka.Kafka \
                "$dir/server.properties" </dev/null >>"$dir/kafka.log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/kafka.pid"
        wait_ready "$dir" "$pid" "$broker" || rc=$?
        return "$rc"
}

cmd_start() {
        local dir=$1 broker ctrl t0 rc attempt
        [[ -d $dir ]] || die "no such directory: $dir"
        dir=$(cd "$dir" && pwd)
        need java
        need kcat
        cmd_fetch
        if [[ -f $dir/kafka.pid ]] && is_our_broker "$(cat "$dir/kafka.pid")" "$dir"; then
                die "a broker already runs in $dir (pid $(cat "$dir/kafka.pid"))"
        fi
        t0=$(now_ms)
        for attempt in 1 2 3; do
                if [[ -f $dir/ports ]]; then
                        read -r broker ctrl <"$dir/ports"
                else
                        read -r broker ctrl < <(free_ports 2)
                fi
                rc=0
                launch "$dir" "$broker" "$ctrl" || rc=$?
                ((rc == 0)) && break
                kill_pid "$dir"
                if ((rc == 2)); then
                        tail -n 30 "$dir/kafka.log" >&2 || true
                        die "broker not ready after ${START_TIMEOUT}s; see $dir/kafka.log"
                fi
                # Died: a port taken since we probed is retried with new ports,
                # but only on a first start (a restart must keep its ports).
                if [[ -f $dir/ports ]] || ! grep -q 'BindException\|Address already in use' \
                        "$dir/kafka.log"; then
                        tail -n 30 "$dir/kafka.log" >&2 || true
                        die "broker exited during start; see $dir/kafka.log"
                fi
                log "port clash on attempt $attempt; retrying with new ports"
                : >"$dir/kafka.log"
        done
        ((rc == 0)) || die "broker could not bind free ports"
        echo "$broker $ctrl" >"$dir/ports"
        echo "127.0.0.1:$broker" >"$dir/bootstrap"
        log "broker pid $(cat "$dir/kafka.pid") ready on 127.0.0.1:$broker in $(($(now_ms) - t0)) ms"
        echo "127.0.0.1:$broker"
}

# --- stop -------------------------------------------------------------------

kill_pid() {
        local dir=$1 pid
        [[ -f $dir/kafka.pid ]] || return 0
        pid=$(cat "$dir/kafka.pid")
        is_our_broker "$pid" "$dir" && kill -KILL "$pid" 2>/dev/null || true
        rm -f "$dir/kafka.pid"
}

cmd_stop() {
        local dir=$1 pid i
        [[ -d $dir ]] || die "no such directory: $dir"
        dir=$(cd "$dir" && pwd)
        [[ -f $dir/kafka.pid ]] || return 0
        pid=$(cat "$dir/kafka.pid")
        if is_our_broker "$pid" "$dir"; then
                kill -TERM "$pid" 2>/dev/null || true
                for ((i = 0; i < 300; i++)); do
                        alive "$pid" || break
                        sleep 0.1
                done
                if alive "$pid"; then
                        log "broker pid $pid ignored TERM for 30 s; killing it"
                        kill -KILL "$pid" 2>/dev/null || true
                        for ((i = 0; i < 50; i++)); do
                                alive "$pid" || break
                                sleep 0.1
                        done
                fi
        fi
        rm -f "$dir/kafka.pid"
}

cmd_kill() {
        local dir=$1 pid i
        [[ -d $dir ]] || die "no such directory: $dir"
        dir=$(cd "$dir" && pwd)
        [[ -f $dir/kafka.pid ]] || return 0
        pid=$(cat "$dir/kafka.pid")
        kill_pid "$dir"
        for ((i = 0; i < 50; i++)); do
                alive "$pid" || break
                sleep 0.1
        done
}

usage() {
        echo "usage: kafka.sh fetch | start DIR | stop DIR | restart DIR | kill DIR" >&2
        exit 2
}

main() {
        (($# >= 1)) || usage
        case $1 in
        fetch) (($# == 1)) || usage; cmd_fetch ;;
        start) (($# == 2)) || usage; cmd_start "$2" ;;
        stop) (($# == 2)) || usage; cmd_stop "$2" ;;
        kill) (($# == 2)) || usage; cmd_kill "$2" ;;
        restart)
                (($# == 2)) || usage
                cmd_stop "$2"
                cmd_start "$2"
                ;;
        *) usage ;;
        esac
}

main "$@"
