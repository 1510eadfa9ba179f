#!/usr/bin/env bash
# backfill_check.sh BUILD_DIR: the test of bench/backfill.sh (meson suite
# "bench", not part of CI's suites; about a minute). Runs the bench on 3 dates
# with growth N = 1 (1, 2, 4 dates) into a temporary results dir, then checks
# backfill.json against figures it recomputes itself: the games per date from
# statline-fixtures' scoreboard endpoint (the bench reads the team game log),
# the growth ratios from the wall times, every date done, 0 failed runs and 0
# DLQ entries, a peak RSS for every service; then bench/report.py on the result
# (results.json carries the backfill, report.html its section and charts, one
# bar per date); and that a bad setting is refused before anything starts.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" 2>/dev/null && pwd) || {
        echo "Bail out! no build dir: ${1:-build}"
        exit 1
}
n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" = 0 ]; then echo "ok $n - $2"; else
                echo "not ok $n - $2"
                failed=$((failed + 1))
        fi
}
is() { # is DESC GOT WANT
        [ "$2" = "$3" ]
        ok $? "$1 (got '$2', want '$3')"
}
for c in jq curl python3 psql redis-cli; do
        command -v "$c" >/dev/null || {
                echo "1..0 # SKIP $c not installed"
                exit 0
        }
done
tmp=$(mktemp -d /tmp/statline-bfcheck.XXXXXX)
fx_pid=
trap '[ -n "$fx_pid" ] && kill "$fx_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..20"

# A bad setting: refused at once, nothing written.
BENCH_OUT=$tmp/bad STATLINE_BUILD=$build BENCH_BACKFILL_DATES=three "$here/backfill.sh" >"$tmp/bad.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] && grep -q "not a number: 'three'" "$tmp/bad.out"
ok $? "BENCH_BACKFILL_DATES=three is refused with a clear error (exit $rc: $(head -c 120 "$tmp/bad.out"))"
[ ! -e "$tmp/bad/backfill.json" ]
ok $? "and writes no results"

BENCH_OUT=$tmp/out STATLINE_BUILD=$build BENCH_BACKFILL_DATES=3 BENCH_GROWTH_DATES=1 \
        "$here/backfill.sh" >"$tmp/run.out" 2>"$tmp/run.err"
rc=$?
is "bench/backfill.sh exits 0" "$rc" 0
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/run.err" "$tmp/run.out"
j=$tmp/out/backfill.json
jq -e . "$j" >/dev/null 2>&1
ok $? "backfill.json is JSON"

# The games of the first dates, from the scoreboard (GameHeader rows).
"$build/tools/fixtures/statline-fixtures" --port 0 --seed 42 >"$tmp/fx.out" 2>/dev/null &
fx_pid=$!
for _ in $(seq 100); do
        grep -q '^listening ' "$tmp/fx.out" 2>/dev/null && break
        sleep 0.1
done
fx=http://$(sed -n 's/^listening //p' "$tmp/fx.out")
first=$(curl -fsS "$fx/_info" | jq -r .firstDay)
want=()
for i in 0 1 2 3; do
        d=$(date -u -d "$first + $i days" +%m/%d/%Y)
        want+=("$(curl -fsS "$fx/stats/scoreboardv2?DayOffset=0&GameDate=$d&LeagueID=00" |
                jq '[.resultSets[] | select(.name == "GameHeader") | .rowSet[]] | length')")
done
g3=$((want[0] + want[1] + want[2]))

is "season: 3 dates, all done" "$(jq -r '"\(.season.dates) \(.season.dates_done)"' "$j")" "3 3"
is "season: the games per date = the scoreboard's" "$(jq -r '[.season.per_date[].games] | join(" ")' "$j")" \
        "${want[0]} ${want[1]} ${want[2]}"
is "season: games = raw.games rows = the scoreboard's sum" "$(jq -r '"\(.season.games) \(.season.raw_games)"' "$j")" "$g3 $g3"
jq -e '.season.per_date | all(.ms > 0) and (map(.ms) | add) <= $w' --argjson w "$(jq .season.wall_ms "$j")" "$j" >/dev/null
ok $? "season: every date took time, and together no more than the wall time"
is "season: 0 failed phase runs, 0 DLQ entries" "$(jq -r '"\(.season.failed_phase_runs.failed) \(.season.dlq_entries)"' "$j")" "0 0"
jq -e '.season.phases | map(.phase) == ["scrape","raw","analytics","precompute","prediction","publishing"]' "$j" >/dev/null
ok $? "season: per-phase totals for the scrape and all five phases"
jq -e '.season.peak_rss_kb | (keys | length) == 6 and all(.[]; . > 1000 and . < 1000000)' "$j" >/dev/null
ok $? "season: a plausible peak RSS for each of the six services"
# Baseline: with 3 dates the first eighth of the games is within the first date(s).
jq -e '.season.baseline as $b | $b.projected_ms == (($b.ms / $b.games * .season.games) | round)' "$j" >/dev/null ||
        jq -e '.season.baseline as $b | (($b.ms / $b.games * .season.games) - $b.projected_ms) | fabs < 1' "$j" >/dev/null
ok $? "season: the baseline projection = its per-game cost times the games"

is "growth: 1, 2, 4 dates" "$(jq -r '[.growth.sizes[].dates] | join(" ")' "$j")" "1 2 4"
is "growth: games of 1, 2, 4 dates = the scoreboard's" "$(jq -r '[.growth.sizes[].games] | join(" ")' "$j")" \
        "${want[0]} $((want[0] + want[1])) $((want[0] + want[1] + want[2] + want[3]))"
t=$(jq -r '.growth.sizes | map(.wall_ms) | "\(.[0]) \(.[1]) \(.[2])"' "$j")
read -r t1 t2 t4 <<<"$t"
is "growth: t2x/t1x and t4x/t1x from the wall times" "$(jq -r '"\(.growth.t2_t1) \(.growth.t4_t1)"' "$j")" \
        "$(python3 -c "import sys; a, b, c = map(int, sys.argv[1:]); print(round(b / a, 2), round(c / a, 2))" $t1 $t2 $t4 |
                sed 's/\.0\b//g')"
jq -e '.growth.sizes | all(.svc_cpu_ms > 0 and .pg_cpu_ms > 0)' "$j" >/dev/null &&
        jq -e '(.growth.cpu4_cpu1 - (.growth.sizes[2].cpu_ms / .growth.sizes[0].cpu_ms)) | fabs < 0.006' "$j" >/dev/null
ok $? "growth: CPU time of the services and PostgreSQL measured, cpu4x/cpu1x from the sizes"
is "growth: every run on a fresh database with 0 DLQ entries, 0 failed runs" \
        "$(jq -r '[.growth.sizes[] | .dlq + .failed.failed] | add' "$j")" 0

# The report.
python3 "$here/report.py" "$tmp/out" >"$tmp/report.out" 2>&1
is "bench/report.py exits 0" "$?" 0
jq -e '.backfill.season.games and .backfill.growth.t4_t1 and (.rows | any(.bench == "backfill"))' \
        "$tmp/out/results.json" >/dev/null
ok $? "results.json has the backfill rows and its season and growth figures"
grep -q 'Full-season backfill and cost growth' "$tmp/out/report.html" &&
        [ "$(grep -o '<title>20[0-9-]*: [0-9]* games' "$tmp/out/report.html" | wc -l)" = 3 ]
ok $? "report.html: the backfill section, one bar per date"

[ -n "$fx_pid" ] && kill "$fx_pid" 2>/dev/null
wait 2>/dev/null
[ "$failed" = 0 ]
