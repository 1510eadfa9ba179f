#!/usr/bin/env bash
# make bench, part 3 (issue 9): a full-season backfill and cost growth, the way
# production backfills: statline-backfill publishes one scrape.requested trigger
# per date, statline-scraper in service mode (scrape.timer=false) scrapes it, the
# five consuming services carry it to publishing, the tool waits for the date's
# correlation id to settle, validates it against raw and goes on (--workers 1).
# Everything runs on its own Redis (Streams), PostgreSQL and statline-fixtures
# ("now" after the season: every game Final) in a mktemp -d dir; a trap stops it.
#   1. season: every game date of the simulated season (166 dates, 1,230 games;
#      BENCH_ALL_DATES=1: every calendar date firstDay..lastDay, the 8 dates
#      without games too, see docs/performance.md) in one backfill, to completion. Prints the wall time,
#      games/s, the phases' totals from ops.pipeline_execution_log (plus the
#      scrapes from ops.scrape_runs), failed phase runs, DLQ entries, raw.games
#      against the schedule, peak RSS (VmHWM) per service, CPU time (services,
#      PostgreSQL), each processor's ms per game in the first and last eighth
#      of the games. Baseline from the same
#      run: the season's first eighth of games, its per-game cost extrapolated
#      linearly to all the games (what the season would cost if a game cost the
#      same late as early); ratio = measured / baseline (1.0 = linear).
#   2. cost growth: the season's first N, 2N and 4N (game) dates,
#      each on a fresh database, bus prefix, blob and publish dir and freshly
#      started services. Time per run, t2x/t1x and t4x/t1x next to the linear
#      expectation (2.0 / 4.0 by dates; by games too, the dates differ in games),
#      the same for CPU time, per-game cost, and the phase / processor whose
#      time grows the most.
# Results: the tables on stdout and <build>/bench/backfill.json.
# Env: STATLINE_BUILD (default build), BENCH_BACKFILL_DATES (default: the whole
#      season; N = the first N dates), BENCH_GROWTH_DATES (N, default 8;
#      0 = skip the growth part), BENCH_SEED (42), BENCH_POLL_MS (the tool's
#      --poll-ms, default 100), BENCH_DATE_TIMEOUT (its --timeout per date, 300),
#      BENCH_BACKFILL_TIMEOUT (seconds for one backfill command, default 3600),
#      BENCH_ALL_DATES (0; 1 = calendar dates, --from/--to), BENCH_MIGRATIONS (db/migrations, copied at start),
#      BENCH_OUT (the results dir, default <build>/bench), BENCH_KEEP=1 keeps
#      the run dir. bench/backfill_check.sh is its test (meson suite bench).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/harness/lib.sh

usage() {
        sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}
case "${1:-}" in
-h | --help)
        usage
        exit 0
        ;;
"") ;;
*)
        usage >&2
        exit 2
        ;;
esac

bin=${STATLINE_BUILD:-build}
bin=$(cd "$bin" 2>/dev/null && pwd) || die "build first (make build)"
seed=${BENCH_SEED:-42}
cap=${BENCH_BACKFILL_DATES:-}
gn=${BENCH_GROWTH_DATES:-8}
poll=${BENCH_POLL_MS:-100}
bf_timeout=${BENCH_BACKFILL_TIMEOUT:-3600}
date_timeout=${BENCH_DATE_TIMEOUT:-300}
all_dates=${BENCH_ALL_DATES:-0}
[[ $all_dates =~ ^[01]$ ]] || die "BENCH_ALL_DATES is 0 or 1, not '$all_dates'"
for v in "$seed" "$gn" "$poll" "$bf_timeout" "$date_timeout" ${cap:+"$cap"}; do
        [[ $v =~ ^[0-9]+$ ]] || die "not a number: '$v' (BENCH_* settings are whole numbers)"
done
[ -z "$cap" ] || [ "$cap" -gt 0 ] || die "BENCH_BACKFILL_DATES must be at least 1"
out=${BENCH_OUT:-$bin/bench}
services=(scraper raw analytics precompute prediction publishing)
for s in "${services[@]}"; do
        [ -x "$bin/services/$s/statline-$s" ] || die "not built: statline-$s (make build)"
done
for b in tools/fixtures/statline-fixtures tools/backfill/statline-backfill; do
        [ -x "$bin/$b" ] || die "not built: $bin/$b (make build)"
done
for c in psql jq curl redis-cli; do
        command -v "$c" >/dev/null || die "$c not installed"
done
mkdir -p "$out"
run=$(mktemp -d /tmp/statline-bfbench.XXXXXX)
chmod 755 "$run" # PostgreSQL runs as user postgres when we are root
mkdir -p "$run/logs" "$run/redis" "$run/pg"
pids=()     # fixtures + load sampler
svc_pids=() # the current stack

stop_stack() {
        local pid
        for pid in "${svc_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for pid in "${svc_pids[@]}"; do
                wait_pid_gone "$pid" 15 || kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        svc_pids=()
}

cleanup() {
        local rc=$? pid
        trap - EXIT INT TERM
        stop_stack
        for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for pid in "${pids[@]}"; do
                wait_pid_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        tests/harness/redis.sh stop "$run/redis" >/dev/null 2>&1
        tests/harness/pg.sh stop "$run/pg" >/dev/null 2>&1
        if [ -n "${BENCH_KEEP:-}" ]; then
                echo "run dir kept: $run" >&2
        elif [ "$rc" -ne 0 ]; then
                rm -rf "$run/pg" "$run/redis" "$run"/stack-*/blobs "$run"/stack-*/publish
                echo "bench/backfill failed (exit $rc); logs kept in $run" >&2
        else
                rm -rf "$run"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
sql() {
        PGOPTIONS="-c client_min_messages=warning" psql "$STATLINE_PG_DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}
day() { date -u -d "$1 + $2 days" +%F; }
sec() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# ---------------------------------------------------------------- servers
bus_url=$(tests/harness/redis.sh start "$run/redis" | tail -n 1) || die "redis did not start"
admin_dsn=$(tests/harness/pg.sh start "$run/pg" | tail -n 1) || die "PostgreSQL did not start"
mkdir -p "$run/migrations"
cp "${BENCH_MIGRATIONS:-db/migrations}"/*.sql "$run/migrations/" || die "cannot copy the migrations"
export STATLINE_BUS_BACKEND=redis-streams STATLINE_BUS_URL=$bus_url
export STATLINE_PG_MIGRATIONS=$run/migrations
export STATLINE_LOG_LEVEL=${STATLINE_LOG_LEVEL:-info}

# The load average every 5 s while the bench runs (the machine is shared).
(while :; do
        cut -d' ' -f1 /proc/loadavg >>"$run/load"
        sleep 5
done) &
pids+=($!)

start_fixtures "$bin" "$run/logs" "$seed"
pids+=("$FIXTURES_PID")
league=http://$FIXTURES_ADDR
info=$(curl -fsS "$league/_info") || die "statline-fixtures did not start"
season=$(jq -r .season <<<"$info")
first=$(jq -r .firstDay <<<"$info")
last=$(jq -r .lastDay <<<"$info")

# Games per date, from the league's team game log (two rows a game): "DATE GAMES".
curl -fsS "$league/stats/leaguegamelog?PlayerOrTeam=T&Season=$season&Direction=ASC" |
        jq -r '.resultSets[0] as $r | ($r.headers | index("GAME_DATE")) as $d
               | [$r.rowSet[] | .[$d][0:10]] | group_by(.) | .[] | "\(.[0]) \(length / 2)"' >"$run/slate" ||
        die "cannot read the season's schedule from the league server"
[ -s "$run/slate" ] || die "the league server has no games"
# games FROM TO: games scheduled in FROM..TO.
games() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { g += $2 } END { print g + 0 }' "$run/slate"; }
ndays=$((($(date -u -d "$last" +%s) - $(date -u -d "$first" +%s)) / 86400 + 1))
# The dates a backfill covers, in order: the game dates, or every calendar date.
if [ "$all_dates" = 1 ]; then
        for ((i = 0; i < ndays; i++)); do day "$first" "$i"; done >"$run/dates"
else
        cut -d' ' -f1 "$run/slate" >"$run/dates"
fi
nall=$(wc -l <"$run/dates")

# start_stack NAME: a fresh database, bus prefix, blob and publish dir, and the
# six services (the scraper on triggers only). Exports what they and the tool read.
start_stack() {
        local name=$1 s dir=$run/stack-$1
        mkdir -p "$dir/blobs" "$dir/publish" "$dir/logs"
        psql "$admin_dsn" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE bf_$name" >/dev/null ||
                die "cannot create database bf_$name"
        export STATLINE_PG_DSN=${admin_dsn%/*}/bf_$name STATLINE_BUS_PREFIX=bf$name
        export STATLINE_BLOB_DIR=$dir/blobs STATLINE_PUBLISH_DIR=$dir/publish
        for s in "${services[@]}"; do
                if [ "$s" = scraper ]; then
                        "$bin/services/scraper/statline-scraper" --set scrape.timer=false \
                                --set "source.base_url=$league" --set rate.interval_ms=0 \
                                --set rate.jitter_ms=0 >"$dir/logs/$s.log" 2>&1 &
                else
                        "$bin/services/$s/statline-$s" >"$dir/logs/$s.log" 2>&1 &
                fi
                svc_pids+=($!)
        done
        for s in "${services[@]}"; do
                for _ in $(seq 300); do
                        grep -q '"event":"svc.start"' "$dir/logs/$s.log" && break
                        grep -q '"event":"svc.fatal"' "$dir/logs/$s.log" &&
                                die "statline-$s failed: $(grep -m 1 svc.fatal "$dir/logs/$s.log")"
                        sleep 0.1
                done
                grep -q '"event":"svc.start"' "$dir/logs/$s.log" || die "statline-$s did not start"
        done
}

# backfill NAME N: one statline-backfill (--workers 1) over the first N dates of
# the list on stack NAME (--dates, or --from/--to for calendar dates); sets
# BF_FROM, BF_TO, BF_MS (wall) and BF_RC.
backfill() {
        local dir=$run/stack-$1 t0 sel
        BF_FROM=$(head -n 1 "$run/dates") BF_TO=$(head -n "$2" "$run/dates" | tail -n 1)
        if [ "$all_dates" = 1 ]; then
                sel=(--from "$BF_FROM" --to "$BF_TO")
        else
                sel=(--dates "$(head -n "$2" "$run/dates" | paste -sd,)")
        fi
        t0=$(now_ms)
        timeout -k 10 "$bf_timeout" "$bin/tools/backfill/statline-backfill" --sport nba "${sel[@]}" \
                --workers 1 --timeout "$date_timeout" --poll-ms "$poll" >"$dir/logs/backfill.out" \
                2>"$dir/logs/backfill.err"
        BF_RC=$?
        BF_MS=$(($(now_ms) - t0))
        [ "$BF_RC" = 0 ] || echo "  statline-backfill exit $BF_RC: $(tail -n 5 "$dir/logs/backfill.out" | tr '\n' '|')" >&2
}

# rss_json: {"scraper": KB, ...} VmHWM of the current stack's services (alive).
rss_json() {
        local i kb args=()
        for i in "${!services[@]}"; do
                kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/${svc_pids[$i]}/status" 2>/dev/null)
                [ -n "$kb" ] || die "statline-${services[$i]} is not running any more"
                args+=(--argjson "${services[$i]}" "$kb")
        done
        jq -cn "${args[@]}" '$ARGS.named'
}

# phases_json: per phase (the scrapes from ops.scrape_runs, then the five
# phases from the execution log): runs, failed, skipped, summed run time ms.
phases_json() {
        sql "SELECT coalesce(json_agg(x ORDER BY o), '[]') FROM (
               SELECT 0 AS o, 'scrape' AS phase, count(*) AS runs,
                      count(*) FILTER (WHERE status <> 'completed') AS failed, 0 AS skipped,
                      coalesce(sum(extract(epoch FROM completed_at - started_at) * 1000), 0)::bigint AS ms
               FROM ops.scrape_runs
               UNION ALL
               SELECT array_position(ARRAY['raw','analytics','precompute','prediction','publishing'], phase::text),
                      phase::text, count(*), count(*) FILTER (WHERE status = 'failed'),
                      count(*) FILTER (WHERE status = 'skipped'), coalesce(sum(duration_ms), 0)
               FROM ops.pipeline_execution_log GROUP BY phase) x"
}

# processors_json: the same per phase/processor, the costliest first.
processors_json() {
        sql "SELECT coalesce(json_agg(x ORDER BY ms DESC), '[]') FROM (
               SELECT phase::text || '/' || processor AS processor, count(*) AS runs,
                      coalesce(sum(duration_ms), 0) AS ms
               FROM ops.pipeline_execution_log GROUP BY 1) x"
}

# dlq_count: entries in the current prefix's dead-letter streams.
dlq_count() {
        local k n=0
        for k in $(redis-cli -u "redis://$bus_url" --scan --pattern "$STATLINE_BUS_PREFIX.*dlq*" 2>/dev/null); do
                n=$((n + $(redis-cli -u "redis://$bus_url" XLEN "$k" 2>/dev/null || echo 0)))
        done
        echo "$n"
}

# failed_json: phase runs that failed, and those no later run made good.
failed_json() {
        sql "SELECT json_build_object('failed', count(*), 'never_made_good', count(*) FILTER (WHERE NOT EXISTS (
                     SELECT 1 FROM ops.pipeline_execution_log l WHERE l.event_id = f.event_id
                       AND l.phase = f.phase AND l.processor = f.processor
                       AND l.status IN ('completed', 'skipped'))))
             FROM ops.pipeline_execution_log f WHERE f.status = 'failed'"
}

load_now() { cut -d' ' -f1 /proc/loadavg; }

# CPU time (ms) as the kernel counts it: less sensitive to the machine's load
# than wall time. svc_cpu_ms: user+system of the current stack's six services.
# pg_cpu_ms: the private PostgreSQL's postmaster plus its reaped children (the
# backends of connections closed so far, autovacuum workers); read it before
# and after a run whose services were stopped (their backends exit then).
hz=$(getconf CLK_TCK)
stat_ticks() { # stat_ticks PID FIELDS...: the sum of those fields of /proc/PID/stat (after "comm")
        local pid=$1
        shift
        sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk -v f="$*" '
                BEGIN { n = split(f, k, " ") } { for (i = 1; i <= n; i++) t += $(k[i] - 2) } END { print t + 0 }'
}
svc_cpu_ms() {
        local pid t=0
        for pid in "${svc_pids[@]}"; do t=$((t + $(stat_ticks "$pid" 14 15))); done
        echo $((t * 1000 / hz))
}
pg_cpu_ms() {
        local pm
        pm=$(head -n 1 "$run/pg/data/postmaster.pid" 2>/dev/null) || {
                echo 0
                return
        }
        echo $(($(stat_ticks "$pm" 14 15 16 17) * 1000 / hz))
}
t_start=$(now_ms)
load_start=$(load_now)
echo "bench/backfill: statline-backfill --workers 1 on Redis Streams, $(nproc) cores, $(date -u +%FT%TZ)," \
        "load $load_start, seed $seed, $season: $ndays calendar dates $first..$last, $(wc -l <"$run/slate") with games," \
        "$(games "$first" "$last") games; backfilling $([ "$all_dates" = 1 ] && echo "every calendar date" || echo "the game dates")"

# ---------------------------------------------------------------- 2: cost growth
growth='null'
if [ "$gn" -gt 0 ]; then
        sizes=()
        for m in 1 2 4; do
                nd=$((gn * m))
                [ "$nd" -le "$nall" ] || die "BENCH_GROWTH_DATES=$gn: 4N = $((4 * gn)) dates is more than the season's $nall"
                start_stack "g$m"
                pg0=$(pg_cpu_ms)
                backfill "g$m" "$nd"
                svc_cpu=$(svc_cpu_ms)
                to=$BF_TO
                [ "$BF_RC" = 0 ] || die "growth ${m}x: statline-backfill failed (exit $BF_RC), see $run/stack-g$m/logs"
                g=$(games "$first" "$to")
                rawg=$(sql "SELECT count(*) FROM raw.games")
                [ "$rawg" = "$g" ] || die "growth ${m}x: raw.games has $rawg rows, the schedule $g games"
                ph=$(phases_json) pr=$(processors_json) dl=$(dlq_count) fl=$(failed_json) ld=$(load_now)
                stop_stack
                pg_cpu=$(($(pg_cpu_ms) - pg0))
                sizes+=("$(jq -cn --argjson mult "$m" --argjson dates "$nd" --arg from "$first" --arg to "$to" \
                        --argjson games "$g" --argjson ms "$BF_MS" --argjson phases "$ph" \
                        --argjson processors "$pr" --argjson dlq "$dl" --argjson failed "$fl" --arg load "$ld" \
                        --argjson svc_cpu "$svc_cpu" --argjson pg_cpu "$pg_cpu" \
                        '{mult: $mult, dates: $dates, from: $from, to: $to, games: $games, wall_ms: $ms,
                          ms_per_game: ($ms / $games), cpu_ms: ($svc_cpu + $pg_cpu), svc_cpu_ms: $svc_cpu,
                          pg_cpu_ms: $pg_cpu, cpu_ms_per_game: (($svc_cpu + $pg_cpu) / $games),
                          phases: $phases, processors: $processors,
                          dlq: $dlq, failed: $failed, load_avg: ($load | tonumber)}')")
                printf '  growth %dx: %d dates, %d games, %.1f s wall, %.1f s CPU\n' "$m" "$nd" "$g" "$(sec "$BF_MS")" \
                        "$(sec $((svc_cpu + pg_cpu)))" >&2
        done
        # Ratios, and per phase / processor how its time grew from 1x to 4x.
        growth=$(jq -cs --argjson n "$gn" '
                def r(a; b): if b > 0 then ((a / b) * 100 | round) / 100 else null end;
                . as $s | $s[0] as $a |
                {n: $n, sizes: $s,
                 t2_t1: r($s[1].wall_ms; $a.wall_ms), t4_t1: r($s[2].wall_ms; $a.wall_ms),
                 cpu2_cpu1: r($s[1].cpu_ms; $a.cpu_ms), cpu4_cpu1: r($s[2].cpu_ms; $a.cpu_ms),
                 games2_games1: r($s[1].games; $a.games), games4_games1: r($s[2].games; $a.games),
                 phase_growth_4x: [$s[2].phases[] as $p
                        | ([$a.phases[] | select(.phase == $p.phase) | .ms] | first // 0) as $m1
                        | {phase: $p.phase, ms_1x: $m1, ms_4x: $p.ms, ratio: r($p.ms; $m1)}],
                 processor_growth_4x: [$s[2].processors[] as $p
                        | ([$a.processors[] | select(.processor == $p.processor) | .ms] | first // 0) as $m1
                        | {processor: $p.processor, ms_1x: $m1, ms_4x: $p.ms, ratio: r($p.ms; $m1),
                           added_ms: ($p.ms - $m1)}] | sort_by(-.added_ms)}' <<<"${sizes[*]}") ||
                die "cannot compute the growth ratios"
fi

# ---------------------------------------------------------------- 1: season
sd=$nall
[ -n "$cap" ] && [ "$cap" -lt "$nall" ] && sd=$cap
to=$(head -n "$sd" "$run/dates" | tail -n 1)
sg=$(games "$first" "$to")
start_stack season
pg0=$(pg_cpu_ms)
echo "  season backfill: $sd dates $first..$to, $sg games (progress: $run/stack-season/logs/backfill.out)" >&2
backfill season "$sd"
season_rc=$BF_RC season_ms=$BF_MS
rss=$(rss_json)
season_svc_cpu=$(svc_cpu_ms)
season_rawg=$(sql "SELECT count(*) FROM raw.games")
# Per date, in order: date, games (schedule), ms (the checkpoint's duration), status.
sql "SELECT c.game_date, coalesce(c.duration_ms, 0), c.status, coalesce(c.reached, '')
     FROM ops.backfill_checkpoint c ORDER BY c.seq" | while IFS='|' read -r d ms st re; do
        echo "$d $(games "$d" "$d") $ms $st $re"
done >"$run/season_days"
season_phases=$(phases_json)
season_procs=$(processors_json)
season_failed=$(failed_json)
season_dlq=$(dlq_count)
dates_done=$(awk '$4 == "done"' "$run/season_days" | wc -l)
stop_stack
season_pg_cpu=$(($(pg_cpu_ms) - pg0))
load_end=$(load_now)
read -r load_mean load_max < <(awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%.2f %.2f\n", s / NR, m }' "$run/load")

# Baseline: the per-game cost of the dates holding the season's first eighth
# of its games (their checkpoint durations), times all the games.
read -r base_dates base_games base_ms < <(awk -v total="$sg" '
        { n++; g += $2; ms += $3; if (g * 8 >= total) { print n, g, ms; exit } }' "$run/season_days")
base_proj=$(awk -v ms="$base_ms" -v g="$base_games" -v t="$sg" 'BEGIN { printf "%.0f", ms / g * t }')
# The same cost for the last eighth of the games, per game.
read -r tail_dates tail_games tail_ms < <(tac "$run/season_days" | awk -v total="$sg" '
        { n++; g += $2; ms += $3; if (g * 8 >= total) { print n, g, ms; exit } }')
sum_days=$(awk '{ s += $3 } END { print s + 0 }' "$run/season_days")
# Which phase grows: each phase's / processor's run time per game in the first
# and in the last eighth of the games (the database is still there).
base_to=$(sed -n "${base_dates}p" "$run/season_days" | cut -d' ' -f1)
tail_from=$(tac "$run/season_days" | sed -n "${tail_dates}p" | cut -d' ' -f1)
season_split=$(sql "SELECT coalesce(json_agg(x ORDER BY x.last_ms_per_game DESC), '[]') FROM (
        SELECT phase::text || '/' || processor AS processor,
               round(coalesce(sum(duration_ms) FILTER (WHERE game_date <= '$base_to'), 0)::numeric / $base_games, 1) AS first_ms_per_game,
               round(coalesce(sum(duration_ms) FILTER (WHERE game_date >= '$tail_from'), 0)::numeric / $tail_games, 1) AS last_ms_per_game
        FROM ops.pipeline_execution_log GROUP BY 1) x")

# ---------------------------------------------------------------- report
results=()
row() {
        printf '%-52s %12s %14s %8s\n' "$1" "$2" "$3" "$4"
        results+=("$(jq -cn --arg m "$1" --arg v "$2" --arg b "$3" --arg r "$4" \
                '{metric: $m, statline: $v, baseline: $b, ratio: $r}')")
}
met() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "met" : "MISSED" }'; }
echo
printf '%-52s %12s %14s %8s\n' metric statline "baseline" ratio
row "season backfill s ($sd dates, $sg games)" "$(sec "$season_ms")" "$(sec "$base_proj")" "$(ratio "$season_ms" "$base_proj")"
row "season backfill s vs issue 4's target" "$(sec "$season_ms")" "target 120" "$(met "$season_ms" 120000)"
row "season games/s" "$(awk -v g="$sg" -v ms="$season_ms" 'BEGIN { printf "%.2f", g * 1000 / ms }')" \
        "$(awk -v g="$sg" -v ms="$base_proj" 'BEGIN { printf "%.2f", g * 1000 / ms }')" \
        "$(ratio "$base_proj" "$season_ms")"
row "season CPU s (services + PostgreSQL)" "$(sec $((season_svc_cpu + season_pg_cpu)))" - -
row "ms per game, last 1/8 of the games vs first 1/8" \
        "$(awk -v a="$tail_ms" -v g="$tail_games" 'BEGIN { printf "%.0f", a / g }')" \
        "$(awk -v a="$base_ms" -v g="$base_games" 'BEGIN { printf "%.0f", a / g }')" \
        "$(awk -v a="$tail_ms" -v g="$tail_games" -v b="$base_ms" -v h="$base_games" 'BEGIN { printf "%.2f", (a / g) / (b / h) }')"
row "season: dates done / failed phase runs / DLQ" "$dates_done/$sd $(jq .failed <<<"$season_failed") $season_dlq" "$sd 0 0" \
        "$([ "$dates_done" = "$sd" ] && [ "$(jq .failed <<<"$season_failed")" = 0 ] && [ "$season_dlq" = 0 ] && echo ok || echo FAILED)"
row "season: raw.games rows vs the schedule" "$season_rawg" "$sg" "$([ "$season_rawg" = "$sg" ] && echo ok || echo FAILED)"
for s in "${services[@]}"; do
        kb=$(jq ".$s" <<<"$rss")
        row "peak RSS MB statline-$s (season)" "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')" "target 20" "$(met "$kb" 20480)"
done
if [ "$growth" != null ]; then
        for i in 0 1 2; do
                row "$(jq -r ".sizes[$i] | \"growth \(.mult)x: \(.dates) dates, \(.games) games, s\"" <<<"$growth")" \
                        "$(sec "$(jq ".sizes[$i].wall_ms" <<<"$growth")")" - -
        done
        # Linear: the time ratio equals the data ratio, 2.0 / 4.0 by dates; the
        # baseline column is the games ratio (dates differ in games); ratio = t / games.
        for k in 2 4; do
                row "growth t${k}x/t1x (linear: ${k}.0 dates, games ratio)" "$(jq ".t${k}_t1" <<<"$growth")" \
                        "$(jq ".games${k}_games1" <<<"$growth")" \
                        "$(ratio "$(jq ".t${k}_t1" <<<"$growth")" "$(jq ".games${k}_games1" <<<"$growth")")"
        done
        for k in 2 4; do
                row "growth CPU ${k}x/1x (services + PostgreSQL)" "$(jq ".cpu${k}_cpu1" <<<"$growth")" \
                        "$(jq ".games${k}_games1" <<<"$growth")" \
                        "$(ratio "$(jq ".cpu${k}_cpu1" <<<"$growth")" "$(jq ".games${k}_games1" <<<"$growth")")"
        done
        for i in 0 1 2; do
                row "growth $(jq -r ".sizes[$i].mult" <<<"$growth")x: CPU ms per game" \
                        "$(jq ".sizes[$i].cpu_ms_per_game | round" <<<"$growth")" "$(jq '.sizes[0].cpu_ms_per_game | round' <<<"$growth")" \
                        "$(ratio "$(jq ".sizes[$i].cpu_ms_per_game" <<<"$growth")" "$(jq '.sizes[0].cpu_ms_per_game' <<<"$growth")")"
        done
        for i in 0 1 2; do
                row "growth $(jq -r ".sizes[$i].mult" <<<"$growth")x: ms per game" \
                        "$(jq ".sizes[$i].ms_per_game | round" <<<"$growth")" "$(jq '.sizes[0].ms_per_game | round' <<<"$growth")" \
                        "$(ratio "$(jq ".sizes[$i].ms_per_game" <<<"$growth")" "$(jq '.sizes[0].ms_per_game' <<<"$growth")")"
        done
fi
echo
echo "season, per phase (runs, failed, skipped, summed run time s, share of the wall time):"
jq -r --argjson w "$season_ms" '.[] | "  \(.phase | . + " " * (12 - length)) \(.runs) runs, \(.failed) failed, \(.skipped) skipped, \(.ms / 1000 * 10 | round / 10) s (\(.ms * 100 / $w | round)%)"' <<<"$season_phases"
echo "  wall $(sec "$season_ms") s; the dates' own durations sum to $(sec "$sum_days") s; the rest of the wall time is the tool's start, migrations and validation."
echo "which processors grow: ms per game in the first 1/8 of the games -> the last 1/8 (top 6):"
jq -r '.[:6][] | "  \(.processor) \(.first_ms_per_game) -> \(.last_ms_per_game)"' <<<"$season_split"
echo "season, costliest processors (summed run time s):"
jq -r '.[:6][] | "  \(.processor) \(.runs) runs, \(.ms / 1000 * 10 | round / 10) s"' <<<"$season_procs"
echo "baseline: the first $base_dates dates ($base_games games) cost $(sec "$base_ms") s; at that per-game cost the" \
        "season's $sg games would take $(sec "$base_proj") s (linear). Last $tail_dates dates: $tail_games games in $(sec "$tail_ms") s."
if [ "$growth" != null ]; then
        lin=$(jq -r 'def v(x): if x <= .games4_games1 * 1.15 then "linear" else "SUPERLINEAR" end;
                "wall time \(v(.t4_t1)), CPU \(v(.cpu4_cpu1)) (4x/1x within 15% of the games ratio \(.games4_games1) = linear)"' <<<"$growth")
        echo "growth: $lin; time grew 1x->4x by phase (s):" \
                "$(jq -r '[.phase_growth_4x[] | "\(.phase) \(.ms_1x / 1000 * 10 | round / 10)->\(.ms_4x / 1000 * 10 | round / 10)"] | join(", ")' <<<"$growth")"
        echo "  most added time 1x->4x: $(jq -r '[.processor_growth_4x[:3][] | "\(.processor) +\(.added_ms / 1000 * 10 | round / 10) s (x\(.ratio))"] | join(", ")' <<<"$growth")"
fi
if [ "$dates_done" != "$sd" ]; then
        echo "dates not done:"
        sql "SELECT '  ' || game_date || ' ' || status || ': ' || coalesce(reason, '') FROM ops.backfill_checkpoint
             WHERE status <> 'done' ORDER BY seq" 2>/dev/null || echo "  (the database is gone)"
fi
echo "load average: $load_start at the start, mean $load_mean / max $load_max during, $load_end at the end;" \
        "bench total $(sec $(($(now_ms) - t_start))) s."

jq -n --argjson rows "[$(IFS=,; echo "${results[*]}")]" --arg date "$(date -u +%FT%TZ)" --arg cpus "$(nproc)" \
        --arg cpu "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)" \
        --argjson season_ms "$season_ms" --argjson season_rc "$season_rc" --argjson sd "$sd" --argjson sg "$sg" \
        --arg from "$first" --arg to "$to" --argjson done "$dates_done" --argjson rawg "$season_rawg" \
        --argjson phases "$season_phases" --argjson procs "$season_procs" --argjson failed "$season_failed" \
        --argjson dlq "$season_dlq" --argjson rss "$rss" --argjson base_ms "$base_ms" --argjson base_games "$base_games" \
        --argjson base_dates "$base_dates" --argjson base_proj "$base_proj" --argjson growth "$growth" \
        --argjson split "$season_split" --argjson scpu "$season_svc_cpu" --argjson pcpu "$season_pg_cpu" --argjson poll "$poll" --arg l0 "$load_start" --arg l1 "$load_end" --arg lm "$load_mean" --arg lx "$load_max" \
        --argjson days "$(awk '{ printf "%s{\"date\":\"%s\",\"games\":%d,\"ms\":%d,\"status\":\"%s\"}", (NR > 1 ? "," : "["), $1, $2, $3, $4 }
                                END { print NR ? "]" : "[]" }' "$run/season_days")" \
        '{bench: "backfill", bus: "redis-streams", date: $date, cpus: $cpus, cpu: $cpu, rows: $rows,
          load_avg: {start: ($l0 | tonumber), mean: ($lm | tonumber), max: ($lx | tonumber), end: ($l1 | tonumber)},
          tool: {workers: 1, poll_ms: $poll},
          season: {from: $from, to: $to, dates: $sd, dates_done: $done, games: $sg, raw_games: $rawg,
                   wall_ms: $season_ms, svc_cpu_ms: $scpu, pg_cpu_ms: $pcpu, exit: $season_rc, phases: $phases, processors: $procs,
                   per_game_first_last_eighth: $split, failed_phase_runs: $failed, dlq_entries: $dlq, peak_rss_kb: $rss,
                   baseline: {what: "per-game cost of the dates holding the first 1/8 of the games, times all games",
                              dates: $base_dates, games: $base_games, ms: $base_ms, projected_ms: $base_proj},
                   per_date: $days},
          growth: $growth}' >"$out/backfill.json" || die "cannot write $out/backfill.json"
echo "results: $out/backfill.json"
[ "$season_rc" = 0 ] || die "the season backfill failed (statline-backfill exit $season_rc)"
[ "$dates_done" = "$sd" ] && [ "$season_rawg" = "$sg" ] && [ "$season_dlq" = 0 ] ||
        die "the season backfill is incomplete (see the table)"
