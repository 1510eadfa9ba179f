#!/usr/bin/env bash
# make test-containers: the docker-compose stack for real, with Podman.
#   1. bootstraps the Debian base image (base.sh; cached) and builds the
#      statline images (build.sh) plus Redis/PostgreSQL stand-ins
#      (deploy/standins/: no registry is reachable here)
#   2. podman-compose up -d of docker-compose.yml under its own project name,
#      with free host ports; waits until every container's healthcheck passes
#   3. scrapes DAYS days of history, STOPPING the analytics container (SIGTERM,
#      drain) after the first days and starting it again after the rest: the
#      events published while it was down must all be processed
#   4. scrapes one game day and waits for publishing to complete for it
#   5. checks: every scraped date's raw.games = the games the league serves;
#      every box score row with stats has its analytics.player_game_summary
#      row; the game day has predictions, publishing.documents rows whose files
#      exist in the publish volume; no dead letters; nothing pending
#   6. podman-compose down -v (also on failure; logs kept under $logs)
# TAP output, last line "# wall time N s". Exit 0 all passed, 1 failed.
# Env: STATLINE_E2E_BUS=redis (default: Redis Streams) or kafka (the kafka
# profile, with a Kafka stand-in built from the harness's broker jars),
# STATLINE_E2E_DAYS (history days, default 6), STATLINE_E2E_KEEP=1 leaves
# the stack up, STATLINE_CONTAINERS_CACHE (images, storage, rootfs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$CT_ROOT/tests/harness/lib.sh"
t_start=$(date +%s)
days=${STATLINE_E2E_DAYS:-6}
bus=${STATLINE_E2E_BUS:-redis}
case $bus in redis | kafka) ;; *) echo "STATLINE_E2E_BUS must be redis or kafka" >&2; exit 2 ;; esac
stop_after=2 # history days scraped before analytics is stopped
project=statline-e2e-$$
logs=$CT_ROOT/run/containers-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
ntest=0
nfail=0

ok() {
        ntest=$((ntest + 1))
        echo "ok $ntest - $*"
}
not_ok() {
        ntest=$((ntest + 1))
        nfail=$((nfail + 1))
        echo "not ok $ntest - $*"
}
check() { # check DESC GOT WANT
        if [ "$2" = "$3" ]; then ok "$1 ($2)"; else not_ok "$1: got '$2', want '$3'"; fi
}

for b in podman podman-compose runc debootstrap curl jq; do
        command -v "$b" >/dev/null || ct_die "missing $b: run scripts/deps.sh --containers"
done

# --- 1. images ---------------------------------------------------------------
"$CT_ROOT/tests/containers/base.sh"
t_build=$(date +%s)
"$CT_ROOT/tests/containers/build.sh" | tee "$logs/image-sizes.txt"
for s in redis postgres; do
        ct_log "podman build stand-in $s"
        podman build -q --network host --layers --pull=never --format docker -f "$CT_ROOT/deploy/standins/Dockerfile.$s" \
                --build-arg "BASE_IMAGE=$CT_BASE_IMAGE" -t "localhost/statline-standin-$s:dev" \
                "$CT_CACHE/context" >/dev/null || ct_die "stand-in $s did not build"
done
if [ "$bus" = kafka ]; then
        # The broker jars tests/harness/kafka.sh fetches (Maven Central, cached).
        "$CT_ROOT/tests/harness/kafka.sh" fetch
        kctx=$CT_CACHE/kafka-context
        rm -rf "$kctx"
        mkdir -p "$kctx"
        cp -r "${STATLINE_KAFKA_LIBS:-${HOME:-/tmp}/.cache/statline/kafka-libs}" "$kctx/libs"
        cp "$CT_ROOT"/deploy/standins/kafka-*.sh "$kctx/"
        ct_log "podman build stand-in kafka"
        podman build -q --network host --layers --pull=never --format docker -f "$CT_ROOT/deploy/standins/Dockerfile.kafka" \
                --build-arg "BASE_IMAGE=$CT_BASE_IMAGE" -t localhost/statline-standin-kafka:dev "$kctx" >/dev/null ||
                ct_die "stand-in kafka did not build"
fi
ct_log "images built in $(($(date +%s) - t_build)) s"

# --- 2. the stack ------------------------------------------------------------
read -r pg_port league_port <<<"$(free_ports 2)"
export COMPOSE_PROJECT_NAME=$project STATLINE_PG_PORT=$pg_port STATLINE_LEAGUE_PORT=$league_port
export STATLINE_REDIS_IMAGE=localhost/statline-standin-redis:dev
export STATLINE_POSTGRES_IMAGE=localhost/statline-standin-postgres:dev
export STATLINE_IMAGE_PREFIX=localhost/ STATLINE_IMAGE_TAG=${STATLINE_IMAGE_TAG:-dev}
export STATLINE_SCRAPE_INTERVAL_S=86400 # the test drives the scrapes itself
export STATLINE_SCRAPE_DATE=            # set below, before the scraper starts
export POSTGRES_PASSWORD=e2e-$RANDOM$RANDOM
unset COMPOSE_PROFILES
if [ "$bus" = kafka ]; then
        export COMPOSE_PROFILES=kafka STATLINE_KAFKA_IMAGE=localhost/statline-standin-kafka:dev
fi
compose() {
        podman-compose -p "$project" -f "$CT_ROOT/docker-compose.yml" \
                -f "$CT_ROOT/tests/containers/e2e.override.yml" "$@"
}
services=(redis postgres fixtures scraper raw analytics precompute prediction publishing)
[ "$bus" = kafka ] && services=(kafka "${services[@]}")
consumers=(raw analytics precompute prediction publishing)
ctr() { echo "${project}_$1_1"; }

teardown() {
        local rc=$?
        trap - EXIT INT TERM
        for s in "${services[@]}"; do
                podman logs "$(ctr "$s")" >"$logs/$s.log" 2>&1 || true
        done
        if [ -n "${STATLINE_E2E_KEEP:-}" ]; then
                ct_log "STATLINE_E2E_KEEP: stack $project left up (podman-compose -p $project down -v)"
        else
                ct_log "tearing down $project"
                compose down -v -t 15 >"$logs/down.log" 2>&1 || true
                podman volume ls -q | grep "^${project}_" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
                podman network rm -f "${project}_default" >/dev/null 2>&1 || true
        fi
        echo "# logs: $logs"
        echo "# wall time $(($(date +%s) - t_start)) s"
        exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

ct_log "podman-compose up -d ($project, postgres :$pg_port, league :$league_port)"
# Explicit services: podman-compose 1.0 ignores profiles (kafka would start).
# The scraper comes last: its service mode scrapes at once, so the league's
# date and the scraper's date are set first (STATLINE_SCRAPE_DATE = the first
# history day, which the test scrapes anyway: idempotent). Left to the league's
# today it would scrape other dates, before their history.
first_wave=()
for s in "${services[@]}"; do [ "$s" = scraper ] || first_wave+=("$s"); done
compose up -d "${first_wave[@]}" >"$logs/up.log" 2>&1 || { cat "$logs/up.log" >&2; ct_die "compose up failed"; }

sql() { podman exec "$(ctr postgres)" psql -X -q -A -t -v ON_ERROR_STOP=1 -U statline -d statline -c "$1"; }

# podman runs healthchecks from systemd timers, which a container host without
# systemd lacks: run each container's HEALTHCHECK command ourselves until it passes.
wait_healthy() { # SERVICE SECONDS
        local s=$1 i
        for ((i = 0; i < $2; i++)); do
                podman healthcheck run "$(ctr "$s")" >/dev/null 2>&1 && return 0
                sleep 1
        done
        return 1
}
league=http://127.0.0.1:$league_port
wait_healthy fixtures 60 || ct_die "fixtures did not become healthy"
if [ "$bus" = kafka ]; then
        # The services exit while the broker starts; restart: unless-stopped brings them back.
        wait_healthy kafka 180 || ct_die "kafka did not become healthy"
fi
first=$(curl -fsS "$league/_info" | jq -r .firstDay)
day=$(date -u -d "$first + $days days" +%F)
curl -fsS "$league/_now?date=$day" >/dev/null
ct_log "league opens $first; history $days days; game day $day"
STATLINE_SCRAPE_DATE=$first
compose up -d --no-deps scraper >>"$logs/up.log" 2>&1 ||
        { cat "$logs/up.log" >&2; ct_die "compose up scraper failed"; }
for s in "${services[@]}"; do
        if wait_healthy "$s" 120; then ok "$s healthy"; else
                not_ok "$s healthy within 120 s"
                ct_die "$s did not become healthy (see $logs after teardown)"
        fi
done
for s in "${consumers[@]}"; do
        user=$(podman exec "$(ctr "$s")" id -u)
        ro=$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$(ctr "$s")")
        check "$s runs as uid 10001 on a read-only root filesystem" "$user $ro" "10001 true"
done
ready=$(podman exec "$(ctr publishing)" statline-healthcheck /readyz 8080 && echo ready || echo not-ready)
check "publishing /readyz" "$ready" ready
metrics=$(podman exec "$(ctr raw)" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' | grep -c '^statline_' || true)
if [ "$metrics" -gt 0 ]; then ok "raw /metrics serves $metrics statline_ samples"; else not_ok "raw /metrics has no statline_ samples"; fi

# --- 3. history, with analytics stopped in the middle ------------------------
# One scrape, as the Kubernetes CronJob runs it. aardvark-dns (netavark 1.4)
# answers "no address" for a moment after a container of the network stops, so
# a failed run is retried like the CronJob's backoffLimit does; scrapes are
# idempotent. Retries are counted and reported.
scrape_retries=0
scrape() {
        local a
        for a in 1 2 3; do
                podman exec "$(ctr scraper)" statline-scraper --set scrape.once=true --set "scrape.date=$1" \
                        --set health.addr=127.0.0.1:0 --set rate.interval_ms=0 --set rate.jitter_ms=0 \
                        >>"$logs/scrape-once.log" 2>&1 && return 0
                scrape_retries=$((scrape_retries + 1))
                sleep 2
        done
        ct_die "scrape of $1 failed 3 times (see $logs/scrape-once.log)"
}
d=$first
i=0
while [ "$d" != "$day" ]; do
        if [ "$i" -eq "$stop_after" ]; then
                t0=$(date +%s.%N)
                podman stop -t 15 "$(ctr analytics)" >/dev/null
                t1=$(date +%s.%N)
                code=$(podman inspect -f '{{.State.ExitCode}}' "$(ctr analytics)")
                check "analytics stopped by SIGTERM exits 0 (drained in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)" "$code" 0
        fi
        scrape "$d"
        i=$((i + 1))
        d=$(date -u -d "$d + 1 day" +%F)
done
if [ "$bus" = redis ]; then
        backlog="raw.completed stream length $(podman exec "$(ctr redis)" redis-cli XLEN statline.nba.raw.completed)"
else
        backlog="on Kafka"
fi
ct_log "analytics down while $((days - stop_after)) days were scraped; $backlog"
podman start "$(ctr analytics)" >/dev/null
wait_healthy analytics 60 && ok "analytics back up" || not_ok "analytics back up within 60 s"

# --- 4. the game day -----------------------------------------------------------
t0=$(date +%s)
scrape "$day"
corr=
deadline=$(($(date +%s) + 60)) # each sql is a podman exec: loops are bounded by time
while [ "$(date +%s)" -lt "$deadline" ]; do
        corr=$(sql "SELECT correlation_id FROM ops.pipeline_execution_log
                    WHERE phase = 'raw' AND game_date = '$day' ORDER BY started_at DESC LIMIT 1")
        [ -n "$corr" ] && break
        sleep 0.2
done
[ -n "$corr" ] || ct_die "no raw run recorded for $day"
done_n=0
deadline=$(($(date +%s) + 120))
while [ "$(date +%s)" -lt "$deadline" ]; do
        done_n=$(sql "SELECT count(*) FROM ops.pipeline_execution_log
                      WHERE correlation_id = '$corr' AND phase = 'publishing' AND status = 'completed'")
        [ "$done_n" -gt 0 ] && break
        sleep 0.2
done
if [ "$done_n" -gt 0 ]; then ok "game day $day published in $(($(date +%s) - t0)) s (correlation id $corr)"; else
        not_ok "game day $day not published within 120 s"
fi
# Let the backlog settle: every phase of every history date done.
# XINFO GROUPS prints name/value lines: sum every group's pending and lag.
lag_redis() {
        podman exec "$(ctr redis)" bash -c '
                for s in $(redis-cli --scan --pattern "statline.*.completed"); do
                        redis-cli XINFO GROUPS "$s"
                done | paste - - | awk "\$1 == \"pending\" || \$1 == \"lag\" { n += \$2 } END { print n + 0 }"'
}
missing_summaries() { # box score rows with stats but no player_game_summary row, history dates
        sql "SELECT count(*) FROM raw.player_boxscores p JOIN raw.games g USING (game_id)
             WHERE g.game_date < '$day' AND p.team_id IN (g.home_team_id, g.away_team_id)
             AND num_nulls(p.minutes, p.pts, p.reb, p.ast, p.fgm, p.fga, p.fg3m, p.fg3a, p.ftm, p.fta) = 0
             AND NOT EXISTS (SELECT 1 FROM analytics.player_game_summary s
                             WHERE s.game_id = p.game_id AND s.player_id = p.player_id)"
}
deadline=$(($(date +%s) + 120))
while [ "$(date +%s)" -lt "$deadline" ]; do
        if [ "$bus" = redis ]; then pend=$(lag_redis); else pend=$(missing_summaries); fi
        [ "$pend" = 0 ] && break
        sleep 1
done
if [ "$bus" = redis ]; then
        check "no event pending or unread in any consumer group" "$pend" 0
fi

# --- 5. nothing lost ---------------------------------------------------------------
d=$first
bad_games=
while :; do
        served=$(curl -fsS "$league/stats/scoreboardv3?GameDate=$d&LeagueID=00" | jq '.scoreboard.games | length')
        stored=$(sql "SELECT count(*) FROM raw.games WHERE game_date = '$d'")
        [ "$served" = "$stored" ] || bad_games="$bad_games $d:served=$served,stored=$stored"
        [ "$d" = "$day" ] && break
        d=$(date -u -d "$d + 1 day" +%F)
done
check "raw.games of every date = the games the league serves" "${bad_games:-all equal}" "all equal"
hist_games=$(sql "SELECT count(*) FROM raw.games WHERE game_date >= '$first' AND game_date < '$day'")
if [ "$hist_games" -gt 0 ]; then ok "history has $hist_games games"; else not_ok "history has no games"; fi
missing=$(missing_summaries)
played=$(sql "SELECT count(*) FROM raw.player_boxscores p JOIN raw.games g USING (game_id)
              WHERE g.game_date < '$day' AND p.minutes IS NOT NULL")
check "box score rows ($played played) without a player_game_summary row, analytics was down for $((days - stop_after)) of $days days" "$missing" 0
preds=$(sql "SELECT count(*) FROM prediction.player_prop_predictions WHERE game_date = '$day'")
if [ "$preds" -gt 0 ]; then ok "$preds predictions for $day"; else not_ok "no predictions for $day"; fi
docs=$(sql "SELECT doc_path FROM publishing.documents WHERE game_date = '$day' ORDER BY doc_path")
ndocs=$(printf '%s\n' "$docs" | grep -c . || true)
nfiles=$(printf '%s\n' "$docs" | grep . | podman exec -i "$(ctr publishing)" bash -c \
        'n=0; while read -r p; do [ -s "/var/lib/statline/publish/$p" ] && n=$((n + 1)); done; echo $n')
if [ "$ndocs" -gt 0 ] && [ "$ndocs" = "$nfiles" ]; then ok "$ndocs published documents for $day, all in the publish volume"; else
        not_ok "published documents for $day: $ndocs rows, $nfiles files"
fi
if [ "$bus" = redis ]; then
        dlq=$(podman exec "$(ctr redis)" bash -c 'n=0; for s in $(redis-cli --scan --pattern "*.dlq"); do n=$((n + $(redis-cli XLEN "$s"))); done; echo $n')
        check "dead letters (XLEN of every *.dlq stream)" "$dlq" 0
else
        # No Kafka admin tool in the stand-in: count the services' bus.dlq log lines.
        dlq=0
        for s in "${consumers[@]}"; do
                n=$(podman logs "$(ctr "$s")" 2>&1 | grep -c '"event":"bus.dlq"' || true)
                dlq=$((dlq + n))
        done
        check "dead letters (bus.dlq log lines of the services)" "$dlq" 0
fi
# A failed attempt that a retry completed is fine; one never completed is lost work.
unresolved="FROM ops.pipeline_execution_log f WHERE f.status = 'failed'
            AND f.game_date BETWEEN '$first' AND '$day'
            AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log c
                            WHERE c.event_id = f.event_id AND c.phase = f.phase AND c.processor = f.processor
                            AND c.status IN ('completed', 'skipped', 'partial') AND c.started_at >= f.started_at)"
failed=$(sql "SELECT count(*) $unresolved")
retried=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed'")
check "failed runs never completed by a retry ($retried failed attempts in all)" "$failed" 0
[ "$failed" = 0 ] || sql "SELECT f.phase, f.processor, f.game_date, left(f.error_message, 200) $unresolved" | sed 's/^/# /'

echo "# scrape runs retried: $scrape_retries"
echo "1..$ntest"
[ "$nfail" -eq 0 ] || exit 1
