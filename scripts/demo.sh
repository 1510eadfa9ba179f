#!/usr/bin/env bash
# make demo: the whole pipeline on bundled sample data, on this machine.
#   1. starts its own Redis (or Kafka with STATLINE_BUS=kafka), PostgreSQL and
#      the league data server (statline-fixtures, a seeded simulated NBA
#      league) on free loopback ports, under run/demo-<time>/
#   2. starts the five consuming services (raw, analytics, precompute,
#      prediction, publishing) as separate processes
#   3. scrapes the season's first DEMO_HISTORY_DAYS days (history the models
#      need), then one game day, through all six phases
#   4. prints the top predictions, the game day's NBA games with their Elo
#      win probabilities (published games.json) next to the top props of each
#      game, a per-phase table for the game day's correlation id, and where
#      the published documents are
#   5. one NHL day (the last date before the game day with NHL games, its
#      history from the same first day) through all six phases: its games with
#      the teams' TPI and the GOI win probabilities (published games.json)
#   6. stops everything it started, also on Ctrl-C
# Env: STATLINE_BUS=redis-streams|kafka, DEMO_HISTORY_DAYS (default 10),
#      DEMO_SEED (default 42), DEMO_KEEP=1 keeps the run dir, DEMO_BUILD (default
#      build/) the meson build dir whose binaries run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/harness/lib.sh

bus=${STATLINE_BUS:-redis-streams}
history=${DEMO_HISTORY_DAYS:-10}
seed=${DEMO_SEED:-42}
bin=${DEMO_BUILD:-$root/build} # the build dir with the binaries
run=$root/run/demo-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run/logs" "$run/blobs" "$run/publish"
chmod 755 "$root/run" "$run" # PostgreSQL runs as user postgres when we are root
pids=()

say() { printf '\n== %s\n' "$*"; }

cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        say "stopping everything this demo started"
        for pid in "${pids[@]}"; do
                kill -TERM "$pid" 2>/dev/null || true
        done
        for pid in "${pids[@]}"; do
                wait "$pid" 2>/dev/null || true
        done
        tests/harness/kafka.sh stop "$run/kafka" >/dev/null 2>&1 || true
        tests/harness/redis.sh stop "$run/redis" >/dev/null 2>&1 || true
        tests/harness/pg.sh stop "$run/pg" >/dev/null 2>&1 || true
        if [ "$rc" -ne 0 ]; then
                echo "demo failed (exit $rc); logs are in $run/logs" >&2
        elif [ -z "${DEMO_KEEP:-}" ]; then
                rm -rf "$run/redis" "$run/kafka" "$run/pg" "$run/blobs"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() {
        psql "$STATLINE_PG_DSN" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}

say "starting servers ($bus, PostgreSQL, league data server) under $run"
case $bus in
redis-streams | redis-pubsub)
        mkdir -p "$run/redis"
        STATLINE_BUS_URL=$(tests/harness/redis.sh start "$run/redis" | tail -n 1)
        ;;
kafka)
        mkdir -p "$run/kafka"
        STATLINE_BUS_URL=$(tests/harness/kafka.sh start "$run/kafka" | tail -n 1)
        ;;
*) die "STATLINE_BUS must be redis-streams or kafka" ;;
esac
mkdir -p "$run/pg"
STATLINE_PG_DSN=$(tests/harness/pg.sh start "$run/pg" | tail -n 1)
export STATLINE_BUS_BACKEND=$bus STATLINE_BUS_URL STATLINE_PG_DSN
export STATLINE_BLOB_DIR=$run/blobs STATLINE_PUBLISH_DIR=$run/publish
export STATLINE_LOG_LEVEL=${STATLINE_LOG_LEVEL:-info} STATLINE_SPORTS=nba,nhl

start_fixtures "$bin" "$run/logs" "$seed"
pids+=("$FIXTURES_PID")
league=$FIXTURES_ADDR
[ -n "$league" ] || die "statline-fixtures did not start (see $run/logs/fixtures.log)"
first=$(curl -fsS "http://$league/_info" | sed -n 's/.*"firstDay" *: *"\([0-9-]*\)".*/\1/p')
[ -n "$first" ] || die "cannot read the season's first game date from the league server"
day=$(date -u -d "$first + $history days" +%F)
curl -fsS "http://$league/_now?date=$day" >/dev/null
echo "league: http://$league, season opens $first, game day $day"

say "starting the services"
for svc in raw analytics precompute prediction publishing; do
        "$bin/services/$svc/statline-$svc" >"$run/logs/$svc.log" 2>&1 &
        pids+=($!)
done
for svc in raw analytics precompute prediction publishing; do
        for _ in $(seq 200); do
                grep -q '"event":"svc.start"' "$run/logs/$svc.log" && break
                grep -q '"event":"svc.fatal"' "$run/logs/$svc.log" && die "statline-$svc failed: $(grep svc.fatal "$run/logs/$svc.log")"
                sleep 0.1
        done
        grep -q '"event":"svc.start"' "$run/logs/$svc.log" || die "statline-$svc did not start"
        echo "statline-$svc up"
done

scrape() { # scrape DATE [SPORT]
        "$bin/services/scraper/statline-scraper" --set scrape.once=true --set "scrape.date=$1" \
                --set "scrape.sport=${2:-nba}" \
                --set "source.base_url=http://$league" --set rate.interval_ms=0 --set rate.jitter_ms=0 \
                >>"$run/logs/scraper.log" 2>&1 || die "scrape of $1 failed (see $run/logs/scraper.log)"
}

say "history: scraping $first .. $(date -u -d "$day - 1 day" +%F)"
d=$first
while [ "$d" != "$day" ]; do
        scrape "$d"
        printf '.'
        d=$(date -u -d "$d + 1 day" +%F)
done
echo
t0=$(date +%s.%N)
say "game day $day: scrape -> raw -> analytics -> precompute -> prediction -> publishing"
scrape "$day"
corr=
for _ in $(seq 600); do
        corr=$(sql "SELECT correlation_id FROM ops.pipeline_execution_log
                    WHERE phase = 'raw' AND game_date = '$day' ORDER BY started_at DESC LIMIT 1")
        [ -n "$corr" ] && break
        sleep 0.1
done
[ -n "$corr" ] || die "no raw run recorded for $day within 60 s"
for _ in $(seq 1200); do
        [ "$(sql "SELECT count(*) FROM ops.pipeline_execution_log
                   WHERE correlation_id = '$corr' AND phase = 'publishing' AND status = 'completed'")" -gt 0 ] && break
        sleep 0.1
done
[ "$(sql "SELECT count(*) FROM ops.pipeline_execution_log
           WHERE correlation_id = '$corr' AND phase = 'publishing' AND status = 'completed'")" -gt 0 ] ||
        die "the pipeline did not reach publishing within 120 s for correlation id $corr"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$corr" 'BEGIN { printf "game day done in %.1f s (correlation id %s)\n", b - a, c }'

say "top predictions for $day (ensemble, by confidence)"
psql "$STATLINE_PG_DSN" -X -q -P pager=off -c "
SELECT p.player_id, coalesce(l.player_name, '') AS player, p.market, p.line,
       round(p.predicted_value::numeric, 1) AS predicted, p.recommendation,
       round(p.confidence::numeric, 2) AS confidence
FROM prediction.player_prop_predictions p
LEFT JOIN (SELECT DISTINCT ON (player_id) player_id, player_name FROM raw.prop_lines
           ORDER BY player_id, game_date DESC) l USING (player_id)
WHERE p.game_date = '$day' AND p.system_id = 'ensemble_v1' AND p.recommendation <> 'PASS'
ORDER BY p.confidence DESC, p.player_id LIMIT 10"

say "NBA games on $day: Elo win probabilities (published games.json) next to the top props"
python3 - "$run/publish/nba/$day/games.json" "$run/publish/nba/$day/predictions.json" <<'PY'
import json, sys
games = json.load(open(sys.argv[1]))["games"]
try:
    players = json.load(open(sys.argv[2]))["players"]
except OSError:
    players = []
props = {}
for p in players:
    for m in p["markets"]:
        e = m.get("ensemble")
        if e and e["recommendation"] not in ("PASS", "NO_BET"):
            props.setdefault(p["game_id"], []).append(
                (e["confidence"], "%s %s %s %s" % (p["player_name"] or p["player_id"], m["market"],
                                                   e["recommendation"], m["line"])))
print("%-10s %-9s %7s %7s %6s %6s  %s" % ("game", "away@home", "elo_h", "elo_a", "p_home",
                                          "p_away", "top props (ensemble, by confidence)"))
for g in games:
    w = g.get("win_prob") or {}
    top = [t for _, t in sorted(props.get(g["game_id"], []), key=lambda x: -x[0])[:2]]
    f = lambda k, fmt: fmt % w[k] if k in w else "-"
    print("%-10s %-9s %7s %7s %6s %6s  %s" % (
        g["game_id"], "%s@%s" % (g["away_team_abbr"], g["home_team_abbr"]),
        f("r_home", "%.1f"), f("r_away", "%.1f"), f("p_home", "%.3f"), f("p_away", "%.3f"),
        "; ".join(top) or "-"))
PY

say "per-phase table for correlation id $corr"
psql "$STATLINE_PG_DSN" -X -q -P pager=off -c "
SELECT phase, count(*) AS runs, count(DISTINCT processor) AS processors,
       sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,
       sum(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END) AS skipped,
       sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
       max(duration_ms) AS max_ms
FROM ops.pipeline_execution_log WHERE correlation_id = '$corr'
GROUP BY phase
ORDER BY array_position(ARRAY['scraper','raw','analytics','precompute','prediction','publishing'], phase)"

# One NHL day: the last date before the game day with NHL games (final by now).
nday=$(curl -fsS "http://$league/nhl/v1/schedule/$(date -u -d "$day - 7 days" +%F)" |
        python3 -c 'import json, sys
d = sys.argv[1]
days = [w["date"] for w in json.load(sys.stdin)["gameWeek"] if w["games"] and w["date"] < d]
print(days[-1] if days else "")' "$day")
[ -n "$nday" ] || die "no NHL game in the week before $day"
say "NHL: history $first .. $(date -u -d "$nday - 1 day" +%F), then the NHL day $nday"
d=$first
while [[ $d < $nday ]]; do
        scrape "$d" nhl
        printf '.'
        d=$(date -u -d "$d + 1 day" +%F)
done
echo
t0=$(date +%s.%N)
scrape "$nday" nhl
ngames=$(sql "SELECT count(*) FROM raw.nhl_games WHERE game_date = '$nday'")
# Done when the published games document has every game of the day, final and with its
# win probability (not a count of runs: analytics coalesces the day's box scores into one).
nhl_done() {
        python3 - "$run/publish/nhl/$nday/games.json" "$ngames" <<'PY'
import json, sys
try:
    games = json.load(open(sys.argv[1]))["games"]
except (OSError, ValueError, KeyError):
    sys.exit(1)
done = [g for g in games if g.get("home_score") is not None and g.get("win_prob")]
sys.exit(0 if len(done) >= int(sys.argv[2]) else 1)
PY
}
for _ in $(seq 600); do
        nhl_done && break
        sleep 0.2
done
nhl_done || die "the NHL day $nday did not reach publishing within 120 s"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$ngames" 'BEGIN { printf "NHL day done in %.1f s (%d games)\n", b - a, n }'
say "NHL games on $nday: TPI and GOI win probabilities (published nhl/$nday/games.json)"
python3 - "$run/publish/nhl/$nday/games.json" <<'PY'
import json, sys
games = json.load(open(sys.argv[1]))["games"]
print("%-10s %-9s %8s %8s %6s %6s  %s" % ("game", "away@home", "tpi_h", "tpi_a", "p_home",
                                          "p_away", "final"))
for g in games:
    w = g.get("win_prob") or {}
    f = lambda k, fmt: fmt % w[k] if k in w else "-"
    final = "-" if g["home_score"] is None else "%s %d - %d %s" % (
        g["away_team_abbr"], g["away_score"], g["home_score"], g["home_team_abbr"])
    print("%-10s %-9s %8s %8s %6s %6s  %s" % (
        g["game_id"], "%s@%s" % (g["away_team_abbr"], g["home_team_abbr"]), f("tpi_home", "%+.3f"),
        f("tpi_away", "%+.3f"), f("p_home", "%.3f"), f("p_away", "%.3f"), final))
PY

say "published documents"
find "$run/publish" -name '*.json' | sort | sed -n 1,5p # sed reads all: no SIGPIPE under pipefail
echo "... $(find "$run/publish" -name '*.json' | wc -l) documents under $run/publish"
echo "logs: $run/logs"
