#!/usr/bin/env bash
# Shared helpers for the integration test scripts (sourced, not run).
# TAP output on stdout; everything else is a "# " comment or goes to a log in
# the test's work dir. See docs/testing.md.
#
# A script sources this, calls it_init NAME, then it_backend BACKEND (or
# it_need VAR), runs steps with it_ok/it_check, and ends with it_done.

set -uo pipefail

IT_SRC=${STATLINE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
IT_HARNESS=$IT_SRC/tests/harness
IT_N=0
IT_FAILED=0
IT_PIDS=()      # background processes we started (killed by it_cleanup)
IT_REDIS_DIRS=() # private redis servers we started
IT_KAFKA_DIRS=() # private kafka brokers we started
IT_EXTRA_KEYS=() # more shared-redis keys to delete at exit
IT_ON_EXIT=      # a function it_cleanup calls first (restore a shared server)
IT_DB=           # private database (it_pg_database), dropped by it_cleanup
IT_T0=$(date +%s%3N)

# --- TAP -------------------------------------------------------------------

it_ok() {
        IT_N=$((IT_N + 1))
        echo "ok $IT_N - $*"
}

it_not_ok() {
        IT_N=$((IT_N + 1))
        IT_FAILED=$((IT_FAILED + 1))
        echo "not ok $IT_N - $*"
}

# it_todo DESC: a known gap; reported, does not fail the test (TAP TODO).
it_todo() {
        IT_N=$((IT_N + 1))
        echo "not ok $IT_N - $* # TODO"
}

# it_check DESC CMD...: ok if CMD succeeds.
it_check() {
        local desc=$1
        shift
        if "$@"; then it_ok "$desc"; else it_not_ok "$desc"; fi
}

# it_must DESC CMD...: like it_check, but a failure ends the test (Bail out!):
# for steps everything after depends on (a producer, a server start).
it_must() {
        local desc=$1
        shift
        if "$@"; then
                it_ok "$desc"
        else
                it_not_ok "$desc"
                it_bail "$desc: failed, nothing after it can pass"
        fi
}

# it_is DESC GOT WANT: ok if the strings are equal; shows both otherwise.
it_is() {
        if [[ $2 == "$3" ]]; then
                it_ok "$1"
        else
                it_not_ok "$1"
                it_diag "got '$2', want '$3'"
        fi
}

# it_like DESC GOT REGEX
it_like() {
        if [[ $2 =~ $3 ]]; then
                it_ok "$1"
        else
                it_not_ok "$1"
                it_diag "got '$2', want /$3/"
        fi
}

it_diag() {
        printf '%s\n' "$@" | sed 's/^/# /'
}

it_elapsed_ms() {
        echo $(($(date +%s%3N) - IT_T0))
}

it_skip_all() {
        # protocol: 'tap' in meson 1.0 turns exit 77 into ERROR, so a TAP skip
        # is "1..0 # SKIP" with exit 0 (meson then reports SKIP).
        echo "1..0 # SKIP $*"
        IT_SKIPPED=1
        exit 0
}

it_bail() {
        echo "Bail out! $*"
        exit 1
}

it_done() {
        it_diag "$IT_NAME: $(it_elapsed_ms) ms"
        echo "1..$IT_N"
        [[ $IT_FAILED -eq 0 ]] && exit 0
        exit 1
}

# --- setup and cleanup -------------------------------------------------------

# it_init NAME: work dir, unique names, cleanup trap.
it_init() {
        IT_NAME=$1
        IT_DIR=$(mktemp -d "/tmp/sl-integ-$IT_NAME.XXXXXX") || it_bail "mktemp failed"
        chmod 755 "$IT_DIR"
        IT_UNIQ="$$-$RANDOM$RANDOM"
        IT_TOPIC="itest.$IT_NAME.$IT_UNIQ"
        IT_GROUP="g-$IT_NAME-$IT_UNIQ"
        BUSTEST=${STATLINE_BUSTEST:-${STATLINE_BUILD:-$IT_SRC/build}/tests/integration/sl_bustest}
        [[ -x $BUSTEST ]] || it_bail "driver not found: $BUSTEST (set STATLINE_BUSTEST)"
        trap it_cleanup EXIT
        trap 'it_diag "interrupted"; exit 130' INT TERM
}

it_cleanup() {
        local rc=$? pid d
        trap - EXIT
        [[ -n ${IT_ON_EXIT:-} ]] && "$IT_ON_EXIT"
        for pid in "${IT_PIDS[@]}"; do
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        it_pg_drop
        for d in "${IT_REDIS_DIRS[@]}"; do
                "$IT_HARNESS/redis.sh" stop "$d" >/dev/null 2>&1
        done
        for d in "${IT_KAFKA_DIRS[@]}"; do
                "$IT_HARNESS/kafka.sh" stop "$d" >/dev/null 2>&1
        done
        it_drop_keys
        if [[ ${IT_SKIPPED:-0} == 0 && ($rc -ne 0 || $IT_FAILED -gt 0 || -n ${STATLINE_IT_KEEP:-}) ]]; then
                # Keep the evidence (driver and server logs) on failure, or always with STATLINE_IT_KEEP=1.
                local keep=${STATLINE_BUILD:-$IT_SRC/build}/integration-logs/$IT_NAME
                rm -rf "$keep" && mkdir -p "$keep" &&
                        cp -r "$IT_DIR"/. "$keep"/ 2>/dev/null &&
                        echo "# logs kept in $keep"
        fi
        [[ -n ${IT_DIR:-} ]] && rm -rf "$IT_DIR"
        exit "$rc"
}

# Deletes the shared-redis keys a test created (best effort).
it_drop_keys() {
        [[ ${IT_BACKEND:-} == redis-* && -n ${IT_URL:-} && -n ${IT_TOPIC:-} ]] || return 0
        it_redis DEL "$IT_TOPIC" "$IT_TOPIC.dlq" "${IT_EXTRA_KEYS[@]}" >/dev/null 2>&1
        return 0
}

# it_backend BACKEND: picks the server for BACKEND from the environment, or
# skips the whole test when run outside tests/run.sh.
it_backend() {
        IT_BACKEND=$1
        case $1 in
        redis-streams | redis-pubsub)
                [[ -n ${STATLINE_TEST_REDIS:-} ]] || it_skip_all "STATLINE_TEST_REDIS not set"
                IT_URL=$STATLINE_TEST_REDIS
                ;;
        kafka)
                [[ -n ${STATLINE_TEST_KAFKA:-} ]] || it_skip_all "STATLINE_TEST_KAFKA not set"
                command -v kcat >/dev/null || it_skip_all "kcat not installed"
                IT_URL=$STATLINE_TEST_KAFKA
                ;;
        *) it_bail "unknown backend $1" ;;
        esac
}

# --- running the driver -----------------------------------------------------

# it_run LOG ARGS...: runs sl_bustest in the foreground (bounded by timeout(1)),
# stdout+stderr to $IT_DIR/LOG; echoes the driver's result line (produce:/consume:)
# as a diag. Returns the driver's exit status.
it_run() {
        local log=$IT_DIR/$1 rc
        shift
        timeout -k 5 300 "$BUSTEST" "$@" >"$log.out" 2>"$log.err"
        rc=$?
        [[ -s $log.out ]] && it_diag "$(cat "$log.out")"
        return $rc
}

# it_spawn LOG ARGS...: same, in the background; sets IT_LAST_PID to the
# driver's own pid (no timeout(1) in between, so a SIGKILL hits the driver;
# its --timeout-s bounds it, and it_cleanup kills it on any exit).
it_spawn() {
        local log=$IT_DIR/$1
        shift
        "$BUSTEST" "$@" >"$log.out" 2>"$log.err" &
        IT_LAST_PID=$!
        IT_PIDS+=("$IT_LAST_PID")
}

# it_wait PID LOG: waits for a spawned driver; echoes its result line as a diag.
it_wait() {
        local rc
        wait "$1"
        rc=$?
        [[ -s $IT_DIR/$2.out ]] && it_diag "$(cat "$IT_DIR/$2.out")"
        return $rc
}

# it_field LOG NAME: value of NAME=... in the driver's result line.
it_field() {
        sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$IT_DIR/$1.out" | tail -n 1
}

# it_produce LOG ARGS...: publishes with the common options.
it_produce() {
        local log=$1
        shift
        it_run "$log" produce --backend "$IT_BACKEND" --url "$IT_URL" --topic "$IT_TOPIC" "$@"
}

# it_consume_args CONSUMER: the common consume options (without --out/--expect).
it_consume_args() {
        echo --backend "$IT_BACKEND" --url "$IT_URL" --topic "$IT_TOPIC" --group "$IT_GROUP" \
                --consumer "$1"
}

# it_check_out DESC ARGS...: runs `sl_bustest check`, diags its lines, TAP ok/not ok.
it_check_out() {
        local desc=$1 out rc
        shift
        out=$("$BUSTEST" check "$@")
        rc=$?
        printf '%s\n' "$out"
        if [[ $rc -eq 0 ]]; then it_ok "$desc"; else it_not_ok "$desc"; fi
}

# it_lines FILE: number of lines (0 if absent).
it_lines() {
        if [[ -f $1 ]]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# it_lines_ge FILE N: true if FILE has at least N lines.
it_lines_ge() {
        (($(it_lines "$1") >= $2))
}

# it_wait_for SECONDS CMD...: polls CMD every 0.05 s until it succeeds. 0/1.
it_wait_for() {
        local deadline=$(($(date +%s%3N) + $1 * 1000))
        shift
        until "$@"; do
                (($(date +%s%3N) < deadline)) || return 1
                sleep 0.05
        done
}

# --- redis helpers -----------------------------------------------------------

# it_redis ARGS...: redis-cli against $IT_URL (or $IT_REDIS_URL when set).
it_redis() {
        local url=${IT_REDIS_URL:-$IT_URL}
        redis-cli -h "${url%:*}" -p "${url##*:}" "$@"
}

# it_numsub CHANNEL: subscribers on a pubsub channel.
it_numsub() {
        it_redis --raw PUBSUB NUMSUB "$1" | sed -n 2p
}

# it_subscribed CHANNEL N: true if CHANNEL has exactly N subscribers now.
it_subscribed() {
        [[ $(it_numsub "$1") == "$2" ]]
}

# it_start_redis NAME [--aof]: a private redis-server; sets IT_REDIS_DIR and IT_URL.
it_start_redis() {
        local dir=$IT_DIR/$1
        shift
        mkdir -p "$dir"
        IT_URL=$("$IT_HARNESS/redis.sh" start "$dir" "$@") || it_bail "private redis did not start"
        IT_REDIS_DIRS+=("$dir")
        IT_REDIS_DIR=$dir
}

# --- phase services: private database, the service process, rows and events --

# it_dsn_for DSN DB: the same server, database DB (URI or key=value form).
it_dsn_for() {
        local base=$1 db=$2 scheme rest host query=
        if [[ $base =~ ^postgres(ql)?:// ]]; then
                scheme=${base%%://*}
                rest=${base#*://}
                [[ $rest == *\?* ]] && query="?${rest#*\?}"
                host=${rest%%\?*}
                host=${host%%/*}
                echo "$scheme://$host/$db$query"
        else
                echo "$base dbname=$db"
        fi
}

# it_pg_database NAME: names a private database sl_it_NAME_<pid>_<random> on
# the shared cluster ($STATLINE_TEST_PG_DSN): sets IT_ADMIN_DSN, IT_DB and
# IT_DSN. it_pg_create creates it; it_cleanup drops it (after IT_ON_EXIT and
# after killing IT_PIDS).
it_pg_database() {
        IT_ADMIN_DSN=$STATLINE_TEST_PG_DSN
        IT_DB="sl_it_$1_$$_$RANDOM"
        IT_DSN=$(it_dsn_for "$IT_ADMIN_DSN" "$IT_DB")
}

# it_pg_create: CREATE DATABASE $IT_DB (for it_must).
it_pg_create() {
        psql "$IT_ADMIN_DSN" -X -q -c "CREATE DATABASE $IT_DB"
}

# it_pg_drop: drops $IT_DB if named (best effort, connections forced out).
it_pg_drop() {
        [[ -n ${IT_DB:-} ]] || return 0
        psql "$IT_ADMIN_DSN" -X -q -c "DROP DATABASE IF EXISTS $IT_DB WITH (FORCE)" >/dev/null 2>&1
        return 0
}

# it_sql STATEMENT: runs it on $IT_DSN; tuples only, unaligned, '|' between columns.
it_sql() {
        PGOPTIONS="-c client_min_messages=warning" PGCONNECT_TIMEOUT=10 \
                psql "$IT_DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

# it_sql_ge STATEMENT N: the statement's single number is at least N.
it_sql_ge() {
        local v
        v=$(it_sql "$1" 2>/dev/null) || return 1
        ((${v:-0} >= $2))
}

# it_events TOPIC: the data of every entry of a stream, one JSON document a line.
it_events() {
        it_redis --raw XRANGE "$1" - + | awk 'prev == "d" { print } { prev = $0 }'
}

# it_count_events TOPIC: entries in the stream (0 if absent).
it_count_events() {
        local n
        n=$(it_redis XLEN "$1")
        echo "${n:-0}"
}

# it_events_ge TOPIC N: the stream has at least N entries.
it_events_ge() {
        (($(it_count_events "$1") >= $2))
}

# it_service SERVICE BIN PREFIX: the phase service it_start_service runs:
# statline-SERVICE at BIN, on bus topic prefix PREFIX.
it_service() {
        IT_SVC=$1
        IT_SVC_BIN=$2
        IT_SVC_PREFIX=$3
}

# it_start_service LOG PIDVAR [VAR=VALUE...]: starts the it_service binary in
# the background, stdout+stderr to $IT_DIR/LOG, with the test config
# (STATLINE_<SERVICE>_ PG_DSN=$IT_DSN, PG_MIGRATIONS of this tree, BUS_BACKEND
# $IT_BACKEND, BUS_URL $IT_URL, BUS_PREFIX, BUS_GROUP <service>-<prefix>,
# RETRY_DELAYS_MS 200,200, DRAIN_TIMEOUT_MS 3000, LOG_LEVEL info); the
# VAR=VALUE arguments come last and win. Stores the pid in PIDVAR and
# IT_PIDS; 0 once the service logged svc.start (within 60 s), else 1.
it_start_service() {
        local log=$1 pidvar=$2 v
        shift 2
        v=STATLINE_$(tr '[:lower:]' '[:upper:]' <<<"$IT_SVC")
        env "${v}_PG_DSN=$IT_DSN" \
                "${v}_PG_MIGRATIONS=$IT_SRC/db/migrations" \
                "${v}_BUS_BACKEND=$IT_BACKEND" \
                "${v}_BUS_URL=$IT_URL" \
                "${v}_BUS_PREFIX=$IT_SVC_PREFIX" \
                "${v}_BUS_GROUP=$IT_SVC-$IT_SVC_PREFIX" \
                "${v}_RETRY_DELAYS_MS=200,200" \
                "${v}_DRAIN_TIMEOUT_MS=3000" \
                "${v}_LOG_LEVEL=info" \
                "$@" "$IT_SVC_BIN" >"$IT_DIR/$log" 2>&1 &
        printf -v "$pidvar" '%s' "$!"
        IT_PIDS+=("$!")
        it_wait_for 60 grep -q '"event":"svc.start"' "$IT_DIR/$log"
}

# it_stop_service PIDVAR: SIGTERM to the service, waits for it, clears
# PIDVAR. Returns the service's exit status.
it_stop_service() {
        local pid=${!1} rc
        kill -TERM "$pid"
        wait "$pid"
        rc=$?
        printf -v "$1" '%s' ""
        return "$rc"
}

# --- dead-letter readers (independent of the bus code: redis-cli / kcat) ----

# it_dlq_count DLQ: entries in the dead-letter topic/stream DLQ.
it_dlq_count() {
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$1" -o beginning -e -q -f 'x\n' 2>/dev/null |
                        wc -l | tr -d ' '
        else
                it_redis XLEN "$1"
        fi
}

# it_dlq_fetch DLQ I: entry I (0-based) of DLQ into $IT_DIR/dlq/I.data (the
# payload bytes, exact) and $IT_DIR/dlq/I.headers ("name=value" lines).
it_dlq_fetch() {
        local dlq=$1 i=$2 d=$IT_DIR/dlq/$2 id start=- j
        mkdir -p "$IT_DIR/dlq"
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$dlq" -p 0 -o "$i" -c 1 -e -q -f '%s' >"$d.data"
                timeout 30 kcat -C -b "$IT_URL" -t "$dlq" -p 0 -o "$i" -c 1 -e -q -f '%h' |
                        sed 's/,dlq\./\ndlq./g' >"$d.headers"
                return
        fi
        # Entry fields: d <data>, k <key>, h:<name> <value> (bus_redis.c). Walk
        # to the i-th entry with exclusive ranges: an id pattern would also
        # match the dlq.original_offset values.
        for ((j = 0; j <= i; j++)); do
                id=$(it_redis XRANGE "$dlq" "$start" + COUNT 1 | head -n 1)
                start="($id"
        done
        it_redis --raw XRANGE "$dlq" "$id" "$id" >"$d.raw"
        sed -n '/^d$/{n;p;q}' "$d.raw" | head -c -1 >"$d.data"
        awk 'f { print name "=" $0; f = 0; next }
             /^h:/ { name = substr($0, 3); f = 1 }' "$d.raw" >"$d.headers" 2>/dev/null
}

# it_hdr I NAME: header NAME of the dead letter fetched as entry I.
it_hdr() {
        sed -n "s/^$2=//p" "$IT_DIR/dlq/$1.headers" | head -n 1
}

# it_original_bytes TOPIC OFFSET FILE: the message stored in TOPIC at OFFSET
# (Kafka offset in partition 0, or stream entry id) into FILE, exact bytes.
it_original_bytes() {
        if [[ $IT_BACKEND == kafka ]]; then
                timeout 30 kcat -C -b "$IT_URL" -t "$1" -p 0 -o "$2" -c 1 -e -q -f '%s' >"$3"
        else
                it_redis --raw XRANGE "$1" "$2" "$2" | sed -n '/^d$/{n;p;q}' | head -c -1 >"$3"
        fi
}
