#!/usr/bin/env bash
# chaos.sh BACKEND (redis-streams | kafka): the chaos suite (docs/reliability.md,
# "Chaos suite"). A simulated backfill of the league's first DAYS dates
# (STATLINE_CHAOS_DAYS, default 14), scraped date by date with
# statline-scraper --set scrape.once=true, runs through the six services as
# separate processes twice, on servers of its own (tests/harness/*.sh in the
# work dir, never the shared ones: this test stops and restarts them):
#   1. clean: no fault, database chaos_clean, its own bus prefix and publish dir;
#   2. chaos: the same dates, database chaos_run, while a fault driver injects,
#      spread over about the clean run's duration:
#        (a) SIGKILL of a random service 20 times: twice the scraper in the
#            middle of a run (the backfill loop reruns the date), otherwise one
#            of the five consumers (or the scraper if it happens to run),
#            restarted at once (a supervisor);
#        (b) redis-server restarted (streams run; AOF on, so the streams survive);
#        (c) the Kafka broker restarted (kafka run);
#        (d) PostgreSQL stopped for 10 s, then started again;
#        (e) statline-fixtures answering 500s and truncated bodies (/_faults);
#        (f) 1,000 poison messages (tests/chaos/chaos.py poison: truncated JSON,
#            wrong types, huge, invalid UTF-8, unknown schema version, wrong
#            sport) on the five phase input topics, in 10 bursts.
#      A date whose scrape fails (killed, fetch errors) is scraped again, as an
#      operator's backfill would (up to 16 times).
# Then asserts:
#   - every correlation id of the chaos run reached publishing, or ended with
#     a skip reason with nothing pending, or sits in a DLQ with a reason;
#   - the DLQs hold the 1,000 poison messages (matched by their marker), each
#     once (Kafka: twice at most once per SIGKILL of a consumer), and nothing
#     else; every dead letter has a dlq.error;
#   - no table of raw/analytics/precompute/prediction/publishing has a
#     duplicated natural key (GROUP BY key HAVING count(*) > 1), nor
#     ops.outbox (topic, idempotency_key);
#   - every such table holds the same rows as the clean run (count and md5 of
#     the rows without their timestamp columns);
#   - the published documents are byte-identical to the clean run's.
# Figures as TAP comments and a last "# chaos summary: ..." line.
#
# Environment: STATLINE_CHAOS_DAYS (dates, default 14), STATLINE_CHAOS_KILLS
# (default 20), STATLINE_CHAOS_POISON (default 1000), STATLINE_CHAOS_FAULTS
# (default kill,restart,pg,fixtures,poison: inject only these, to see what one
# fault costs alone), STATLINE_CHAOS_POISON_KINDS (default all six, e.g.
# wrong_sport), STATLINE_CHAOS_SEED
# (fault schedule, default: random, printed), STATLINE_CHAOS_RETRY_DELAYS_MS /
# STATLINE_CHAOS_RETRY_ATTEMPTS (the services' retry.delays_ms / retry.attempts;
# default: the services' defaults), STATLINE_BUILD or the binaries'
# STATLINE_SCRAPER / FIXTURES / RAWBIN / ANALYTICSBIN / PRECOMPUTEBIN /
# PREDBIN / PUBBIN (as pipeline_week.sh), STATLINE_IT_KEEP=1 keeps the logs.
. "$(dirname "$0")/../integration/lib.sh"

BACKEND=${1:-redis-streams}
case $BACKEND in
redis-streams) it_init chaos_streams ;;
kafka) it_init chaos_kafka ;;
*) echo "usage: chaos.sh redis-streams|kafka" >&2; exit 2 ;;
esac
for c in psql jq curl python3 redis-server redis-cli; do
        command -v $c >/dev/null || it_skip_all "$c not installed"
done
if [[ $BACKEND == kafka ]]; then
        for c in java kcat; do command -v $c >/dev/null || it_skip_all "$c not installed"; done
fi
CHAOS_SRC=$(cd "$(dirname "$0")" && pwd)
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
SCRAPER=${STATLINE_SCRAPER:-$BUILD/services/scraper/statline-scraper}
FIXTURES=${STATLINE_FIXTURES:-$BUILD/tools/fixtures/statline-fixtures}
declare -A BIN=(
        [raw]=${STATLINE_RAWBIN:-$BUILD/services/raw/statline-raw}
        [analytics]=${STATLINE_ANALYTICSBIN:-$BUILD/services/analytics/statline-analytics}
        [precompute]=${STATLINE_PRECOMPUTEBIN:-$BUILD/services/precompute/statline-precompute}
        [prediction]=${STATLINE_PREDBIN:-$BUILD/services/prediction/statline-prediction}
        [publishing]=${STATLINE_PUBBIN:-$BUILD/services/publishing/statline-publishing}
)
SERVICES=(raw analytics precompute prediction publishing)
for b in "$SCRAPER" "$FIXTURES" "${BIN[@]}"; do
        [[ -x $b ]] || it_bail "not found: $b (set STATLINE_BUILD or STATLINE_SCRAPER/FIXTURES/RAWBIN/...)"
done
DAYS=${STATLINE_CHAOS_DAYS:-14}
KILLS=${STATLINE_CHAOS_KILLS:-20}
POISON=${STATLINE_CHAOS_POISON:-1000}
POISON_BURSTS=10
# Which faults (to see what each one costs alone): kill, restart (redis-server
# or the Kafka broker), pg, fixtures, poison; and which poison kinds.
FAULT_KINDS=",${STATLINE_CHAOS_FAULTS:-kill,restart,pg,fixtures,poison},"
POISON_KINDS=${STATLINE_CHAOS_POISON_KINDS:-truncated,wrong_types,huge,invalid_utf8,schema_version,wrong_sport}
on() { [[ $FAULT_KINDS == *",$1,"* ]]; }
on kill || KILLS=0
on poison || POISON=0
SEED=${STATLINE_CHAOS_SEED:-$RANDOM}
LEAGUE_SEED=42
PY="python3 $CHAOS_SRC/chaos.py"
mkdir -p "$IT_DIR/pids" "$IT_DIR/migrations"
cp "$IT_SRC"/db/migrations/*.sql "$IT_DIR/migrations/"

# --- private servers ---------------------------------------------------------------------------------
SHM=
if [[ -d /dev/shm && -w /dev/shm ]]; then SHM=$(mktemp -d /dev/shm/sl-chaos.XXXXXX) || SHM=; fi
PGDIR=$IT_DIR/pg
KDIR=$IT_DIR/kafka
chaos_cleanup() {
        local f pid
        [[ -n ${DRIVER_PID:-} ]] && kill -TERM "$DRIVER_PID" 2>/dev/null
        for f in "$IT_DIR"/pids/*; do
                [[ -f $f ]] || continue
                pid=$(<"$f")
                [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
        done
        "$IT_HARNESS/pg.sh" stop "$PGDIR" >/dev/null 2>&1
        [[ -n $SHM ]] && rm -rf "$SHM"
        # the servers' data is not evidence worth keeping (hundreds of MB); their logs are
        rm -rf "$PGDIR/data" "$IT_DIR"/blobs-*
        if [[ $BACKEND == redis-streams ]]; then
                "$IT_HARNESS/redis.sh" stop "$IT_DIR/redis" >/dev/null 2>&1
                rm -rf "$IT_DIR/redis/appendonlydir"
        else
                "$IT_HARNESS/kafka.sh" stop "$KDIR" >/dev/null 2>&1
                rm -rf "$KDIR/data"
        fi
}
IT_ON_EXIT=chaos_cleanup

T0=$(date +%s%3N)
if [[ $BACKEND == redis-streams ]]; then
        it_start_redis redis --aof
        BUS_URL=$IT_URL
else
        mkdir -p "$KDIR"
        "$IT_HARNESS/kafka.sh" fetch >"$IT_DIR/kafka-fetch.log" 2>&1 || it_skip_all "Kafka jars not available"
        BUS_URL=$("$IT_HARNESS/kafka.sh" start "$KDIR" 2>"$IT_DIR/kafka-start.log") ||
                it_bail "private Kafka did not start: $(tail -3 "$IT_DIR/kafka-start.log")"
        IT_KAFKA_DIRS+=("$KDIR")
        IT_URL=$BUS_URL
fi
IT_BACKEND=$BACKEND
ADMIN_DSN=$("$IT_HARNESS/pg.sh" start "$PGDIR" 2>"$IT_DIR/pg-start.log") ||
        it_bail "private PostgreSQL did not start: $(tail -3 "$IT_DIR/pg-start.log")"
it_ok "private servers: $BACKEND $BUS_URL, PostgreSQL $ADMIN_DSN ($(($(date +%s%3N) - T0)) ms)"

"$FIXTURES" --port 0 --seed $LEAGUE_SEED --log-level warn >"$IT_DIR/fixtures.out" 2>"$IT_DIR/fixtures.err" &
echo $! >"$IT_DIR/pids/fixtures"
it_must "statline-fixtures is listening" it_wait_for 30 grep -q '^listening ' "$IT_DIR/fixtures.out"
FX="http://$(sed -n 's/^listening //p' "$IT_DIR/fixtures.out")"
fx() { curl -sf --max-time 10 "$FX/$1"; }
day() { date -u -d "$1 + $2 days" +%F; }
FIRST=$(fx _info | jq -r .firstDay)
DATES=()
for ((i = 0; i < DAYS; i++)); do DATES+=("$(day "$FIRST" $i)"); done
it_is "the league's now is the day after the backfill" "$(fx "_now?date=$(day "$FIRST" "$DAYS")" | jq -r .now)" \
        "$(day "$FIRST" "$DAYS")"

export STATLINE_BUS_BACKEND=$BACKEND STATLINE_BUS_URL=$BUS_URL STATLINE_LOG_LEVEL=info
export STATLINE_PG_MIGRATIONS=$IT_DIR/migrations
# The services' own retry schedule (2, 5, 10 s; 3 attempts) unless told otherwise:
# what a fault costs depends on it.
[[ -n ${STATLINE_CHAOS_RETRY_DELAYS_MS:-} ]] && export STATLINE_RETRY_DELAYS_MS=$STATLINE_CHAOS_RETRY_DELAYS_MS
[[ -n ${STATLINE_CHAOS_RETRY_ATTEMPTS:-} ]] && export STATLINE_RETRY_ATTEMPTS=$STATLINE_CHAOS_RETRY_ATTEMPTS
# Breakers: a restarted server must not keep a service paused for the default 30 s.
export STATLINE_CB_OPEN_MS=2000 STATLINE_CB_CACHE_TTL_MS=1000
# Streams: a killed consumer's pending entries are taken over after 3 s, not 30 s.
export STATLINE_BUS_CLAIM_IDLE_MS=3000
export STATLINE_PG_CONNECT_TIMEOUT_MS=2000

# run_env RUN: the per-run settings (database, bus prefix, blobs, publish dir).
declare -A R_DSN R_PREFIX R_PUB R_BLOBS
for run in clean chaos; do
        R_DSN[$run]=$(it_dsn_for "$ADMIN_DSN" "chaos_$run")
        R_PREFIX[$run]="chaos$run$$x$RANDOM"
        R_PUB[$run]=${SHM:-$IT_DIR}/publish-$run
        R_BLOBS[$run]=$IT_DIR/blobs-$run
        mkdir -p "${R_PUB[$run]}" "${R_BLOBS[$run]}"
        psql "$ADMIN_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE chaos_$run" >/dev/null ||
                it_bail "CREATE DATABASE chaos_$run failed"
done

sql() { # RUN STATEMENT
        PGOPTIONS="-c client_min_messages=warning" PGCONNECT_TIMEOUT=5 \
                psql "${R_DSN[$1]}" -X -q -t -A -v ON_ERROR_STOP=1 -c "$2"
}

alive() { [[ -e /proc/$1 && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# start_svc RUN SERVICE: the service in the background, its pid in pids/RUN-SERVICE.
start_svc() {
        local run=$1 s=$2
        env STATLINE_PG_DSN="${R_DSN[$run]}" STATLINE_BUS_PREFIX="${R_PREFIX[$run]}" \
                STATLINE_BLOB_DIR="${R_BLOBS[$run]}" STATLINE_PUBLISH_DIR="${R_PUB[$run]}" \
                "STATLINE_${s^^}_BUS_GROUP=$s-${R_PREFIX[$run]}" \
                "${BIN[$s]}" >>"$IT_DIR/$run-$s.log" 2>&1 &
        echo $! >"$IT_DIR/pids/$run-$s"
}

stop_run() { # RUN: SIGTERM (drain), then SIGKILL after 15 s
        local run=$1 s pid
        for s in "${SERVICES[@]}"; do
                pid=$(cat "$IT_DIR/pids/$run-$s" 2>/dev/null)
                [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null
        done
        for s in "${SERVICES[@]}"; do
                pid=$(cat "$IT_DIR/pids/$run-$s" 2>/dev/null)
                [[ -n $pid ]] || continue
                timeout 15 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null
                rm -f "$IT_DIR/pids/$run-$s"
        done
}

started() { # RUN
        local s
        for s in "${SERVICES[@]}"; do
                grep -q '"event":"svc.fatal"' "$IT_DIR/$1-$s.log" &&
                        it_bail "statline-$s did not start: $(grep -m 1 '"event":"svc.fatal"' "$IT_DIR/$1-$s.log")"
                grep -q '"event":"svc.start"' "$IT_DIR/$1-$s.log" || return 1
        done
}

# Events published but not handled yet by the next phase (pipeline_week.sh's
# measure; only nba topics: an event some phase wrote for another sport has no
# consumer here, and is reported by the checks, not waited for).
PENDING_SQL="
WITH s AS (SELECT correlation_id, count(*) n FROM ops.scraper_execution_log
           WHERE status = 'completed' GROUP BY 1),
     r AS (SELECT correlation_id, count(DISTINCT event_id) n FROM ops.pipeline_execution_log
           WHERE phase = 'raw' AND status IN ('completed', 'skipped') GROUP BY 1)
SELECT (SELECT coalesce(sum(greatest(s.n - coalesce(r.n, 0), 0)), 0) FROM s LEFT JOIN r USING (correlation_id))
     + (SELECT count(*) FROM ops.outbox o
        WHERE o.topic NOT LIKE '%.publishing.completed' AND o.topic LIKE '%.nba.%'
          AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log l
                          WHERE l.event_id = (convert_from(o.payload, 'UTF8')::jsonb->>'event_id')::uuid
                            AND l.status IN ('completed', 'skipped')))
     + (SELECT count(*) FROM ops.outbox WHERE published_at IS NULL)"
idle() { [[ $(sql "$1" "$PENDING_SQL" 2>/dev/null) == 0 ]]; }

# wait_idle SECONDS RUN [STALL]: polls idle every 0.3 s (a psql each, not every
# 50 ms on 2 cores). 1 after SECONDS, or once the pending count has stayed the
# same (and readable) for STALL seconds: what is stuck that long waits no more.
# Once a wait gave up at N pending, later waits accept N (STUCK): those are
# dead-lettered or lost and the checks report them.
STUCK=0
wait_idle() {
        local now deadline=$(($(date +%s%3N) + $1 * 1000)) stall=$((${3:-$1} * 1000)) p last= since
        since=$(date +%s%3N)
        while :; do
                p=$(sql "$2" "$PENDING_SQL" 2>/dev/null)
                [[ -n $p ]] && ((p <= STUCK)) && return 0
                now=$(date +%s%3N)
                ((now < deadline)) || return 1
                if [[ -z $p || $p != "$last" ]]; then
                        last=$p
                        since=$now
                elif ((now - since >= stall)); then
                        STUCK=$p
                        return 1
                fi
                sleep 0.3
        done
}

# scrape RUN DATE: one statline-scraper run (pid in pids/RUN-scraper so the
# fault driver can kill it); appends its correlation id to RUN.corrs. 0 = exit 0.
scrape() {
        local run=$1 d=$2 log pid rc t=0 corr
        SCRAPES=$((SCRAPES + 1))
        log=$IT_DIR/$run-scrape-$d-$SCRAPES
        env STATLINE_PG_DSN="${R_DSN[$run]}" STATLINE_BUS_PREFIX="${R_PREFIX[$run]}" \
                STATLINE_BLOB_DIR="${R_BLOBS[$run]}" \
                "$SCRAPER" --set scrape.once=true --set "scrape.date=$d" --set "source.base_url=$FX" \
                --set rate.interval_ms=0 --set rate.jitter_ms=0 --set fetch.retry_delays_ms=50,100 \
                >"$log.out" 2>"$log.err" &
        pid=$!
        echo "$pid" >"$IT_DIR/pids/$run-scraper"
        while alive "$pid" && ((t < 1200)); do
                sleep 0.1
                t=$((t + 1))
        done
        alive "$pid" && kill -KILL "$pid"
        wait "$pid"
        rc=$?
        rm -f "$IT_DIR/pids/$run-scraper"
        corr=$(sed -n 's/.*\bcorrelation_id=\([^ ]*\).*/\1/p' "$log.out" | head -n 1)
        [[ -n $corr ]] && echo "$corr" >>"$IT_DIR/$run.corrs"
        return $rc
}

# backfill RUN IDLE_S STALL_S: every date, scraped again until the scraper
# exits 0 (at most 16 runs, 1, 2, then 3 s apart: a 10 s database outage fits;
# the 40 fixtures faults alone can fail 10 runs, since a failing source burns 4
# attempts of them, and SIGKILLs and the outage come on top: 8 runs were seen
# to run out once in CI),
# then up to IDLE_S seconds for the pipeline to go idle (wait_idle).
backfill() {
        local run=$1 idle_s=$2 stall_s=$3 d n
        RETRIED=0
        NOT_IDLE=0
        FAILED_DATES=0
        for d in "${DATES[@]}"; do
                for ((n = 0; n < 16; n++)); do
                        scrape "$run" "$d" && break
                        RETRIED=$((RETRIED + 1))
                        sleep $((n < 3 ? n + 1 : 3))
                done
                ((n < 16)) || { FAILED_DATES=$((FAILED_DATES + 1)); it_diag "$run: $d: the scraper failed 16 times"; }
                wait_idle "$idle_s" "$run" "$stall_s" || {
                        NOT_IDLE=$((NOT_IDLE + 1))
                        it_diag "$run: not idle ${idle_s} s after $d: pending $(sql "$run" "$PENDING_SQL" 2>&1)"
                }
        done
}

# --- 1. the clean run ----------------------------------------------------------------------------------
SCRAPES=0
for s in "${SERVICES[@]}"; do start_svc clean "$s"; done
it_must "clean run: the five services start" it_wait_for 60 started clean
T_CLEAN=$(date +%s%3N)
backfill clean 120 120
CLEAN_MS=$(($(date +%s%3N) - T_CLEAN))
it_is "clean run: $DAYS dates in $CLEAN_MS ms, every scrape exited 0 and the pipeline went idle" \
        "$RETRIED/$NOT_IDLE" "0/0"
it_is "clean run: no failed execution-log row" \
        "$(sql clean "SELECT count(*) FROM ops.pipeline_execution_log WHERE status NOT IN ('completed', 'skipped')")" 0
stop_run clean
CLEAN_DLQ=$($PY dlq --backend "$BACKEND" --url "$BUS_URL" --prefix "${R_PREFIX[clean]}" \
        --poison-log /dev/null | jq -r .dlq_entries)
it_is "clean run: every DLQ empty" "$CLEAN_DLQ" 0
CLEAN_DOCS=$(find "${R_PUB[clean]}" -type f | wc -l)
it_like "clean run: documents published ($CLEAN_DOCS)" "$CLEAN_DOCS" '^[1-9][0-9]*$'

# --- 2. the chaos run ------------------------------------------------------------------------------------
FAULTS=$IT_DIR/faults.log
: >"$FAULTS"
POISON_LOG=$IT_DIR/poison.log
: >"$POISON_LOG"

# fault_driver SPAN_MS: the faults, shuffled (seed SEED), one every SPAN_MS / (n + 1).
fault_driver() {
        local span=$1 acts=() a i n gap pick pid cands s t0 rc
        RANDOM=$SEED
        # two of the kills wait for a scraper run to hit (a run lasts well under a second)
        for ((i = 0; i < KILLS; i++)); do
                if ((i < 2)); then acts+=(kill_scraper); else acts+=(kill); fi
        done
        ((POISON > 0)) && for ((i = 0; i < POISON_BURSTS; i++)); do acts+=("poison $i"); done
        on pg && acts+=(pg_stop)
        on fixtures && acts+=(fixtures)
        if on restart; then
                if [[ $BACKEND == kafka ]]; then acts+=(kafka_restart); else acts+=(redis_restart); fi
        fi
        n=${#acts[@]}
        for ((i = n - 1; i > 0; i--)); do # Fisher-Yates
                pick=$((RANDOM % (i + 1)))
                a=${acts[$i]}
                acts[$i]=${acts[$pick]}
                acts[$pick]=$a
        done
        gap=$((span / (n + 1)))
        for a in "${acts[@]}"; do
                sleep "$(awk -v g="$gap" 'BEGIN { printf "%.3f", g / 1000 }')"
                t0=$(date +%s%3N)
                case $a in
                kill_scraper)
                        for ((i = 0; i < 400; i++)); do
                                pid=$(cat "$IT_DIR/pids/chaos-scraper" 2>/dev/null)
                                [[ -n $pid ]] && alive "$pid" && break
                                pid=
                                sleep 0.05
                        done
                        if [[ -n $pid ]]; then
                                # 0-150 ms into the run: mid-fetch or mid-publish
                                sleep "$(printf '0.%03d' $((RANDOM % 150)))"
                                if kill -KILL "$pid" 2>/dev/null; then
                                        echo "kill scraper $pid $(date +%s%3N)" >>"$FAULTS"
                                else
                                        echo "kill_scraper ended before the kill" >>"$FAULTS"
                                fi
                        else
                                echo "kill_scraper none running within 20 s" >>"$FAULTS"
                        fi
                        ;;
                kill)
                        cands=("${SERVICES[@]}")
                        [[ -f $IT_DIR/pids/chaos-scraper ]] && cands+=(scraper)
                        s=${cands[$((RANDOM % ${#cands[@]}))]}
                        pid=$(cat "$IT_DIR/pids/chaos-$s" 2>/dev/null)
                        if [[ -z $pid ]] || ! alive "$pid"; then
                                s=${SERVICES[$((RANDOM % ${#SERVICES[@]}))]}
                                pid=$(<"$IT_DIR/pids/chaos-$s")
                        fi
                        kill -KILL "$pid" 2>/dev/null
                        while alive "$pid"; do sleep 0.02; done
                        # a supervisor restarts it (the backfill loop reruns a killed scraper)
                        [[ $s != scraper ]] && start_svc chaos "$s"
                        echo "kill $s $pid $(date +%s%3N)" >>"$FAULTS"
                        ;;
                poison*)
                        i=${a#poison }
                        $PY poison --backend "$BACKEND" --url "$BUS_URL" --prefix "${R_PREFIX[chaos]}" \
                                --first $((i * POISON / POISON_BURSTS)) --count $((POISON / POISON_BURSTS)) \
                                --seed "$SEED" --kinds "$POISON_KINDS" --log "$POISON_LOG" \
                                2>>"$IT_DIR/poison.err"
                        rc=$?
                        echo "poison $i rc=$rc $(($(date +%s%3N) - t0))ms" >>"$FAULTS"
                        ;;
                pg_stop)
                        "$IT_HARNESS/pg.sh" stop "$PGDIR" >>"$IT_DIR/pg-restart.log" 2>&1
                        sleep 10
                        "$IT_HARNESS/pg.sh" start "$PGDIR" >>"$IT_DIR/pg-restart.log" 2>&1
                        rc=$?
                        echo "pg_stop rc=$rc $(($(date +%s%3N) - t0))ms" >>"$FAULTS"
                        ;;
                redis_restart)
                        "$IT_HARNESS/redis.sh" restart "$IT_DIR/redis" >>"$IT_DIR/redis-restart.log" 2>&1
                        rc=$?
                        echo "redis_restart rc=$rc $(($(date +%s%3N) - t0))ms" >>"$FAULTS"
                        ;;
                kafka_restart)
                        "$IT_HARNESS/kafka.sh" restart "$KDIR" >>"$IT_DIR/kafka-restart.log" 2>&1
                        rc=$?
                        echo "kafka_restart rc=$rc $(($(date +%s%3N) - t0))ms" >>"$FAULTS"
                        ;;
                fixtures)
                        # the next 20 data requests get a 500, the 20 after them a truncated body
                        fx '_faults?path=*&kind=500&count=20' >/dev/null &&
                                fx '_faults?path=*&kind=truncate&count=20' >/dev/null
                        rc=$?
                        echo "fixtures rc=$rc" >>"$FAULTS"
                        ;;
                esac
        done
        echo "done $(date +%s%3N)" >>"$FAULTS"
}

SCRAPES=0
STUCK=0
for s in "${SERVICES[@]}"; do start_svc chaos "$s"; done
it_must "chaos run: the five services start" it_wait_for 60 started chaos
T_CHAOS=$(date +%s%3N)
it_diag "faults: ${FAULT_KINDS:1:-1}; poison kinds: $POISON_KINDS"
it_diag "fault seed $SEED (STATLINE_CHAOS_SEED=$SEED repeats the schedule); faults spread over ${CLEAN_MS} ms"
fault_driver "$CLEAN_MS" &
DRIVER_PID=$!
# Stall bound: 20 s without progress, 60 s on Kafka, where a broker restart
# makes every consumer group rejoin (one CI run saw a date catch up only after
# that: lost=0 and identical documents in the end, but counted as not idle).
backfill chaos 90 "$([[ $BACKEND == kafka ]] && echo 60 || echo 20)"
# the faults that fall after the last date still run
wait "$DRIVER_PID"
DRIVER_PID=
CHAOS_RETRIED=$RETRIED
CHAOS_NOT_IDLE=$NOT_IDLE
it_is "chaos run: every date was scraped successfully (at most 16 tries)" "$FAILED_DATES" 0
STUCK=0
wait_idle 120 chaos 30
CHAOS_MS=$(($(date +%s%3N) - T_CHAOS))
it_is "chaos run: the fault driver ran every fault" "$(tail -n 1 "$FAULTS" | cut -d' ' -f1)" done
it_is "chaos run: the pipeline is idle at the end (pending events)" "$(sql chaos "$PENDING_SQL")" 0
sleep 2 # anything still in flight (a dead letter being written) lands
stop_run chaos
# A killed service may leave a running row; it must have been retried to completion.
N_KILL=$(grep -c '^kill ' "$FAULTS")
N_KILL_SCRAPER=$(grep -c '^kill scraper ' "$FAULTS")
N_KILL_MISSED=$(grep -c '^kill_scraper ' "$FAULTS") # no scraper run to hit in time
N_POISON=$(wc -l <"$POISON_LOG")
it_is "chaos run: $KILLS SIGKILLs ($N_KILL_SCRAPER of the scraper, $N_KILL_MISSED aimed at a scraper run that ended first)" \
        "$((N_KILL + N_KILL_MISSED))" "$KILLS"
want=0
for k in restart pg fixtures; do on $k && want=$((want + 1)); done
it_is "chaos run: the server faults were injected" \
        "$(grep -c '^\(pg_stop\|redis_restart\|kafka_restart\|fixtures\) rc=0' "$FAULTS")" "$want"
it_is "chaos run: $POISON poison messages injected" "$N_POISON" "$POISON"
FX_FIRED=$(fx _faults | jq -r .fired)
it_diag "faults: $(cut -d' ' -f1 "$FAULTS" | sort | uniq -c | tr -s ' \n' ' '); fixtures faults fired: $FX_FIRED"
it_diag "chaos run: $CHAOS_MS ms, $SCRAPES scraper runs ($CHAOS_RETRIED failed and were rerun), $CHAOS_NOT_IDLE dates not idle within 90 s (or stuck 20 s)"
it_diag "poison kinds: $(awk '{print $2}' "$POISON_LOG" | sort | uniq -c | tr -s ' \n' ' ')"

# --- 3. the checks ----------------------------------------------------------------------------------------
# 3a. the dead letters
DLQ_JSON=$($PY dlq --backend "$BACKEND" --url "$BUS_URL" --prefix "${R_PREFIX[chaos]}" \
        --poison-log "$POISON_LOG" --corrs "$IT_DIR/chaos.corrs")
rc=$?
echo "$DLQ_JSON" >"$IT_DIR/dlq.json"
[[ $rc == 0 ]] || it_not_ok "reads the dead-letter topics"
dj() { jq -r "$1" <<<"$DLQ_JSON"; }
it_is "DLQ: every poison message is in a DLQ ($(dj .poison_found) of $(dj .poison_injected))" \
        "$(dj .poison_missing)" 0
[[ $(dj .poison_missing) == 0 ]] || it_diag "missing by kind: $(dj -c .poison_missing_by_kind)"
# Redis Streams: once, exactly. Kafka: the bus commits a dead-lettered input's offset
# synchronously right after the dead letter is confirmed, skips an input whose dead letter
# it saw confirmed, and never sends a second dead letter while one for the same input is in
# flight (libcommon/src/bus_kafka.c). Left: a SIGKILL of the consumer in the few ms between
# the dead letter's confirmation and the commit's answer redelivers that one input to the
# restarted process, which dead-letters it again. Consumers handle one message at a time
# and commit each dead letter before the next fetch, so each SIGKILL of a consumer can
# double at most one poison message: the bound below (0 is the usual figure).
if [[ $BACKEND == kafka ]]; then
        KILL_CONSUMERS=$((N_KILL - N_KILL_SCRAPER))
        it_diag "poison dead-lettered twice (Kafka, SIGKILL between a dead letter and its commit): $(dj .poison_duplicated)"
        it_check "DLQ: each poison message once, or twice at most once per consumer SIGKILL ($(dj .poison_duplicated) <= $KILL_CONSUMERS)" \
                test "$(dj .poison_duplicated)" -le "$KILL_CONSUMERS"
else
        it_is "DLQ: each poison message once" "$(dj .poison_duplicated)" 0
fi
it_is "DLQ: nothing but poison ($(dj .dlq_entries) dead letters)" "$(dj .not_poison)" 0
[[ $(dj .not_poison) == 0 ]] || it_diag "$(jq -c '.not_poison_entries[]' <<<"$DLQ_JSON" | head -10)"
it_is "DLQ: every dead letter has a reason (dlq.error)" "$(dj .no_reason)" 0
it_is "DLQ: every poison dead letter names its original topic" "$(dj .poison_wrong_original_topic)" 0
it_diag "dead letters by error class: $(dj -c .error_classes)"

# 3b. every correlation id: publishing, a skip with a reason, or a dead letter
LOST=0
N_PUB=0
N_SKIP=0
N_DLQ=0
N_EMPTY=0
sort -u "$IT_DIR/chaos.corrs" >"$IT_DIR/chaos.corrs.u"
while read -r c; do
        ev=$(sql chaos "SELECT count(*) FROM ops.scraper_execution_log WHERE correlation_id = '$c' AND status = 'completed'")
        pend=$(sql chaos "
WITH s AS (SELECT count(*) n FROM ops.scraper_execution_log WHERE correlation_id = '$c' AND status = 'completed'),
     r AS (SELECT count(DISTINCT event_id) n FROM ops.pipeline_execution_log
           WHERE correlation_id = '$c' AND phase = 'raw' AND status IN ('completed', 'skipped'))
SELECT greatest((SELECT n FROM s) - (SELECT n FROM r), 0)
     + (SELECT count(*) FROM ops.outbox o
        WHERE o.topic NOT LIKE '%.publishing.completed'
          AND convert_from(o.payload, 'UTF8')::jsonb->>'correlation_id' = '$c'
          AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log l
                          WHERE l.event_id = (convert_from(o.payload, 'UTF8')::jsonb->>'event_id')::uuid
                            AND l.status IN ('completed', 'skipped')))")
        pub=$(sql chaos "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$c'
                         AND phase = 'publishing' AND status IN ('completed', 'skipped')")
        skip=$(sql chaos "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$c'
                          AND status = 'skipped' AND coalesce(skip_reason, '') <> ''")
        if jq -e --arg c "$c" '.good_corrs_in_dlq | index($c)' <<<"$DLQ_JSON" >/dev/null; then
                N_DLQ=$((N_DLQ + 1))
        elif ((ev == 0)); then
                N_EMPTY=$((N_EMPTY + 1)) # a scrape run that stored nothing (killed or failed early)
        elif ((pend > 0)); then
                LOST=$((LOST + 1))
                it_diag "lost: correlation $c: $pend events never handled by the next phase"
        elif ((pub > 0)); then
                N_PUB=$((N_PUB + 1))
        elif ((skip > 0)); then
                N_SKIP=$((N_SKIP + 1))
        else
                LOST=$((LOST + 1))
                it_diag "lost: correlation $c: no publishing row, no skip reason, not in a DLQ"
        fi
done <"$IT_DIR/chaos.corrs.u"
N_CORRS=$(wc -l <"$IT_DIR/chaos.corrs.u")
it_is "every correlation id ($N_CORRS) reached publishing ($N_PUB), stopped with a skip reason ($N_SKIP), sits in a DLQ ($N_DLQ) or stored nothing ($N_EMPTY)" \
        "$LOST" 0
it_is "no execution-log row of a good event left running or failed without a later completion" "$(sql chaos "
SELECT count(*) FROM ops.pipeline_execution_log f WHERE f.status NOT IN ('completed', 'skipped')
  AND f.correlation_id::text NOT LIKE 'c4a05c4a-0000-4000-8000-%'
  AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log c WHERE c.event_id = f.event_id
                  AND c.phase = f.phase AND c.processor = f.processor
                  AND c.status IN ('completed', 'skipped') AND c.started_at > f.started_at)")" 0

# 3c. natural keys: the documented ones (docs/schema.md), the primary key for any other table
declare -A NATKEY=(
        [raw.games]=game_id [raw.player_boxscores]="game_id, player_id" [raw.team_boxscores]="game_id, team_id"
        [raw.schedule]=game_id [raw.injuries]="report_date, player_id"
        [raw.prop_lines]="game_date, player_id, market, book" [raw.league_game_log]="game_id, team_id"
        [raw.play_by_play]="game_id, event_num"
        [analytics.player_game_summary]="game_id, player_id" [analytics.team_offense_game_summary]="game_id, team_id"
        [analytics.team_defense_game_summary]="game_id, team_id"
        [analytics.upcoming_player_game_context]="game_date, player_id"
        [analytics.upcoming_team_game_context]="game_date, team_id"
        [precompute.player_daily_cache]="player_id, cache_date"
        [precompute.player_composite_factors]="player_id, game_date"
        [precompute.player_shot_zone_analysis]="player_id, analysis_date"
        [precompute.team_defense_zone_analysis]="team_id, analysis_date"
        [precompute.ml_feature_versions]=feature_version
        [precompute.ml_feature_store]="player_id, game_date, feature_version"
        [prediction.player_prop_predictions]="player_id, game_date, system_id, market"
        [prediction.system_errors]="system_id, market, as_of_date" [prediction.models]=model_version
        [publishing.documents]=doc_path [ops.outbox]="topic, idempotency_key"
)
TABLES=$(sql chaos "SELECT table_schema || '.' || table_name FROM information_schema.tables
                    WHERE table_schema IN ('raw', 'analytics', 'precompute', 'prediction', 'publishing')
                      AND table_type = 'BASE TABLE' ORDER BY 1")
DUPS=0
NTAB=0
for t in $TABLES ops.outbox; do
        key=${NATKEY[$t]:-}
        if [[ -z $key ]]; then
                key=$(sql chaos "SELECT string_agg(a.attname, ', ' ORDER BY array_position(i.indkey, a.attnum))
                                 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                                 WHERE i.indrelid = '$t'::regclass AND i.indisprimary")
                it_diag "$t: not in docs/schema.md; natural key taken from its primary key ($key)"
        fi
        [[ -n $key ]] || { it_diag "$t: no key"; continue; }
        n=$(sql chaos "SELECT count(*) FROM (SELECT 1 FROM $t GROUP BY $key HAVING count(*) > 1) x") || n=err
        NTAB=$((NTAB + 1))
        if [[ $n != 0 ]]; then
                it_diag "$t: $n duplicated natural keys ($key)"
                DUPS=$((DUPS + ${n//err/1}))
        fi
done
it_is "no duplicated natural key in $NTAB tables" "$DUPS" 0

# 3d. the same rows as the clean run (timestamps aside)
rows() { # RUN TABLE: count and md5 of the rows without their timestamp columns
        local cols
        cols=$(sql "$1" "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
                         FROM information_schema.columns WHERE table_schema || '.' || table_name = '$2'
                           AND data_type NOT LIKE 'timestamp%'")
        sql "$1" "SELECT count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), ''))
                  FROM (SELECT $cols FROM $2) x"
}
DIFF_TABLES=0
EXTRA=0
MISSING_ROWS=0
for t in $TABLES; do
        a=$(rows clean "$t")
        b=$(rows chaos "$t")
        if [[ $a != "$b" ]]; then
                DIFF_TABLES=$((DIFF_TABLES + 1))
                it_diag "$t: clean ${a/|/ rows md5 }, chaos ${b/|/ rows md5 }"
                ((${b%%|*} > ${a%%|*})) && EXTRA=$((EXTRA + ${b%%|*} - ${a%%|*}))
                ((${b%%|*} < ${a%%|*})) && MISSING_ROWS=$((MISSING_ROWS + ${a%%|*} - ${b%%|*}))
        fi
done
it_is "every data table holds the clean run's rows ($(wc -w <<<"$TABLES") tables)" "$DIFF_TABLES" 0

# 3e. the documents
CHAOS_DOCS=$(find "${R_PUB[chaos]}" -type f | wc -l)
if diff -r -q "${R_PUB[clean]}" "${R_PUB[chaos]}" >"$IT_DIR/docs.diff" 2>&1; then
        DOCS_SAME=yes
        it_ok "the $CHAOS_DOCS published documents are byte-identical to the clean run's"
else
        DOCS_SAME=no
        it_not_ok "the published documents are byte-identical to the clean run's ($CLEAN_DOCS clean, $CHAOS_DOCS chaos)"
        it_diag "$(head -10 "$IT_DIR/docs.diff")" "$(wc -l <"$IT_DIR/docs.diff") differences"
        # what differs in the first three documents (keys sorted), also kept in docs.detail
        sed -n 's/^Files \(.*\) and \(.*\) differ$/\1 \2/p' "$IT_DIR/docs.diff" | head -n 3 |
                while read -r a b; do
                        echo "--- ${a#"${R_PUB[clean]}"/}"
                        diff <(jq -S . "$a") <(jq -S . "$b") | head -n 12
                done >"$IT_DIR/docs.detail"
        it_diag "$(cat "$IT_DIR/docs.detail")"
fi
DOC_DIFFS=$(wc -l <"$IT_DIR/docs.diff")

for s in "${SERVICES[@]}"; do
        n=$(grep -c '"event":"svc.fatal"' "$IT_DIR/chaos-$s.log")
        ((n > 0)) && it_diag "chaos-$s: $n svc.fatal: $(grep -m 2 '"event":"svc.fatal"' "$IT_DIR/chaos-$s.log")"
done

EVENTS=$(sql chaos "SELECT (SELECT count(*) FROM ops.scraper_execution_log WHERE status = 'completed')
                         + (SELECT count(*) FROM ops.outbox)")
HANDLED=$(sql chaos "SELECT count(*) FROM ops.pipeline_execution_log WHERE status IN ('completed', 'skipped')")
TOTAL_LOST=$((LOST + $(dj .poison_missing) + MISSING_ROWS))
TOTAL_DUP=$((DUPS + $(dj .poison_duplicated)))
it_diag "chaos summary: backend=$BACKEND dates=$DAYS seed=$SEED clean=${CLEAN_MS}ms chaos=${CHAOS_MS}ms" \
        "faults: sigkill=$N_KILL (scraper $N_KILL_SCRAPER) broker_restart=$(grep -c '^\(redis\|kafka\)_restart rc=0' "$FAULTS") pg_stop_10s=$(grep -c '^pg_stop rc=0' "$FAULTS") fixtures_500+truncate=$FX_FIRED poison=$N_POISON scraper_reruns=$CHAOS_RETRIED" \
        "events: good=$EVENTS handled=$HANDLED correlations=$N_CORRS dlq=$(dj .dlq_entries) (poison $(dj .poison_found)/$N_POISON, other $(dj .not_poison))" \
        "result: lost=$TOTAL_LOST (correlations $LOST, poison not dead-lettered $(dj .poison_missing), rows $MISSING_ROWS) duplicated=$TOTAL_DUP (natural keys $DUPS, dead letters $(dj .poison_duplicated)) extra_rows=$EXTRA tables_differing=$DIFF_TABLES documents=$CHAOS_DOCS differing=$DOC_DIFFS identical=$DOCS_SAME"
it_done
