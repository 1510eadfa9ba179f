#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (tests/fuzz/README.md).
#
#   scripts/fuzz.sh [--smoke] [--seconds N] [TARGET...]
#
# Sets up build-fuzz/ (CC=clang, -Dfuzz=true, ASan+UBSan) when missing, builds the
# targets, writes each target's seed corpus from proto/examples, tests/data/envelope,
# the payloads of statline-fixtures and ../shared/data/nba (read here, never copied
# into the source tree), then runs each target for FUZZ_SECONDS (default 60) one
# after the other. --smoke: FUZZ_SMOKE_SECONDS each (default 12), for CI.
# TARGETs: envelope raw cfg http fixtures (default: all).
#
# Prints one line per target (execs, wall and CPU seconds, crashes) and, last,
#   fuzz: N targets, E execs, C CPU-s, K crashes
# Exit status 1 when any target crashed, leaked, timed out or ran out of memory;
# the inputs are in build-fuzz/fuzz/crashes/<target>/ (a fixed bug's input goes to
# tests/fuzz/regressions/<target>/, which the fuzz_replay_<target> unit test replays).
#
# Environment: FUZZ_SECONDS, FUZZ_SMOKE_SECONDS, BUILD_FUZZ (build dir, default
# build-fuzz), STATLINE_SHARED (default ../shared next to the source tree), CC (clang).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

all_targets="envelope raw cfg http fixtures"
seconds=${FUZZ_SECONDS:-60}
targets=""
while [ $# -gt 0 ]; do
        case "$1" in
        --smoke) seconds=${FUZZ_SMOKE_SECONDS:-12} ;;
        --seconds)
                seconds=${2:?--seconds needs a number}
                shift
                ;;
        -h | --help)
                sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
                exit 0
                ;;
        envelope | raw | cfg | http | fixtures) targets="$targets $1" ;;
        *)
                echo "fuzz.sh: unknown argument '$1' (targets: $all_targets)" >&2
                exit 2
                ;;
        esac
        shift
done
targets=${targets:-$all_targets}
case "$seconds" in
'' | *[!0-9]*)
        echo "fuzz.sh: seconds must be a positive integer" >&2
        exit 2
        ;;
esac

bdir=${BUILD_FUZZ:-build-fuzz}
shared=${STATLINE_SHARED:-$src/../shared}
out=$bdir/fuzz
export CC=${CC:-clang}
command -v "$CC" >/dev/null || {
        echo "fuzz.sh: $CC not found (scripts/deps.sh installs clang)" >&2
        exit 1
}

# ---- build ---------------------------------------------------------------------------
if [ ! -f "$bdir/build.ninja" ]; then
        setup_log=$(mktemp)
        meson setup "$bdir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dintegration_tests=false -Dbuildtype=debugoptimized >"$setup_log" 2>&1 ||
                {
                        cat "$setup_log" >&2
                        rm -f "$setup_log"
                        exit 1
                }
        rm -f "$setup_log"
fi
mkdir -p "$out"
ninja_targets="tools/fixtures/statline-fixtures"
for t in $targets; do ninja_targets="$ninja_targets tests/fuzz/fuzz_$t"; done
# shellcheck disable=SC2086 # word splitting wanted
ninja -C "$bdir" $ninja_targets >"$out.build.log" 2>&1 || {
        tail -40 "$out.build.log" >&2
        exit 1
}

# ---- seed corpora (regenerated every run; the working corpus in $out/work persists) ---
rm -rf "$out/seeds"
mkdir -p "$out/seeds" "$out/work" "$out/crashes"
for t in $all_targets; do mkdir -p "$out/seeds/$t" "$out/work/$t" "$out/crashes/$t"; done

# The fixtures server on a free loopback port, for payload seeds (stopped by the trap).
fix_pid=""
fix_out=$(mktemp)
cleanup() {
        [ -n "$fix_pid" ] && kill "$fix_pid" 2>/dev/null && wait "$fix_pid" 2>/dev/null
        rm -f "$fix_out"
}
trap cleanup EXIT
"$bdir/tools/fixtures/statline-fixtures" --port 0 --seed 1 --log-level error >"$fix_out" 2>/dev/null &
fix_pid=$!
fix_addr=""
for _ in $(seq 100); do
        fix_addr=$(sed -n 's/^listening //p' "$fix_out")
        [ -n "$fix_addr" ] && break
        sleep 0.1
done
[ -n "$fix_addr" ] || {
        echo "fuzz.sh: statline-fixtures did not start" >&2
        exit 1
}

python3 - "$src" "$shared/data/nba" "$out/seeds" "$fix_addr" <<'EOF'
import json, os, sys, urllib.request

src, nba, seeds, fix = sys.argv[1:5]

def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data)

def shrink(v, keep=3):
    """Keeps 3 rows of every list of rows/objects (scalar lists: headers, cells, stay whole)."""
    if isinstance(v, dict):
        return {k: shrink(x, keep) for k, x in v.items()}
    if isinstance(v, list):
        if v and all(isinstance(x, (list, dict)) for x in v):
            return [shrink(x, keep) for x in v[:keep]]
        return v
    return v

# envelope: the golden examples and every valid/invalid test case
for d in ("proto/examples", "tests/data/envelope/valid", "tests/data/envelope/invalid"):
    p = os.path.join(src, d)
    for n in sorted(os.listdir(p)):
        if n.endswith(".json"):
            put("envelope", d.replace("/", "_") + "_" + n, open(os.path.join(p, n), "rb").read())

# raw: first byte = index into fuzz_raw.c's sources[] (0 = auto), | 0x80 for tight caps
kind_index = {"boxscoretraditionalv2": 1, "boxscoretraditionalv3": 2, "boxscoresummaryv2": 3,
              "playbyplayv2": 4, "scoreboardv2": 5, "scoreboardv3": 6, "leaguegamelog": 7,
              "leaguegamefinder": 8, "injuries": 9, "props": 10, "nhlplaybyplay": 17,
              "nhlboxscore": 18, "nhlschedule": 19}
def raw_seed(name, body):
    try:
        doc = shrink(json.loads(body))
    except ValueError:
        return
    text = json.dumps(doc, separators=(",", ":")).encode()
    kind = kind_index.get(name.split("_")[0].lower(), 0)
    put("raw", "auto_" + name, b"\x00" + text)
    if kind:
        put("raw", "kind_" + name, bytes([kind]) + text)
        put("raw", "tight_" + name, bytes([kind | 0x80]) + text)  # small caps (fuzz_raw.c)

if os.path.isdir(nba):
    for n in sorted(os.listdir(nba)):
        if n.endswith(".json"):
            raw_seed(n, open(os.path.join(nba, n), "rb").read())
else:
    print(f"fuzz.sh: {nba} missing: raw seeds from the fixtures only", file=sys.stderr)

fixture_paths = {
    "boxscoretraditionalv2_a.json": "/stats/boxscoretraditionalv2?GameID=0022400001",
    "boxscoretraditionalv3_a.json": "/stats/boxscoretraditionalv3?GameID=0022400002",
    "scoreboardv2_a.json": "/stats/scoreboardv2?GameDate=11/05/2024&LeagueID=00&DayOffset=0",
    "scoreboardv3_a.json": "/stats/scoreboardv3?GameDate=2024-11-05&LeagueID=00",
    "leaguegamelog_T.json": "/stats/leaguegamelog?PlayerOrTeam=T&Season=2024-25&DateFrom=2024-11-05&DateTo=2024-11-05",
    "leaguegamelog_P.json": "/stats/leaguegamelog?PlayerOrTeam=P&Season=2024-25&DateFrom=2024-11-05&DateTo=2024-11-05",
    "injuries_a.json": "/injuries?date=2024-11-05",
    "props_a.json": "/props?date=2024-11-05",
    "nhlschedule_a.json": "/nhl/v1/schedule/2024-11-05",
    "nhlboxscore_a.json": "/nhl/v1/gamecenter/2024020001/boxscore",
    "nhlplaybyplay_a.json": "/nhl/v1/gamecenter/2024020001/play-by-play",
}
for name, path in fixture_paths.items():
    with urllib.request.urlopen(f"http://{fix}{path}", timeout=30) as r:
        raw_seed(name, r.read())

# cfg: config file text, then NUL-separated arguments (fuzz_cfg.c)
cfg_seeds = {
    "plain": "bus.backend = kafka\nlog.level = debug\n# comment\ndrain.timeout_ms = 500\n",
    "types": "fuzz.big = -9223372036854775808\nfuzz.flag = yes\nfuzz.name = a b c\n",
    "secret_file": "bus.password_file = /dev/null\npg.dsn = postgresql://u:p@h/db\n",
    "dup": "log.level = info\nlog.level = warn\n",
    "bad": "no equals sign\n = empty key\nunknown.key = 1\ndrain.timeout_ms = 99999999999\n",
    "args": "log.level = info\n\0--set\0drain.timeout_ms=100\0--set=fuzz.flag=off\0--help-config",
    "args_bad": "\0--set\0nokey\0--set=bus.password=x\0--set=bus.password_file=/dev/null\0-h\0extra",
    "markdown": "\0--help-config=markdown",
}
for name, text in cfg_seeds.items():
    put("cfg", name, text)

# http: request target, then header lines (fuzz_net.c)
http_seeds = {
    "games": "/v1/games?date=2024-11-05",
    "predictions": "/v1/predictions?date=2024-11-05&sport=nba",
    "player": "/v1/predictions?date=2024-11-05&player=2544",
    "inm": "/v1/games?date=2024-11-05\nIf-None-Match: W/\"abc\", *",
    "traversal": "/v1/predictions?date=2024-11-05&player=../../outside&sport=..",
    "encoded": "/v1/games?date=2024%2D11%2D05&sport=%6eba",
    "healthz": "/healthz", "readyz": "/readyz", "metrics": "/metrics\nAccept: */*",
    "unknown": "/v1/games/../../outside.json",
}
for name, text in http_seeds.items():
    put("http", name, text)

# fixtures: request targets for the simulation; 'R' + target for the replay server
fixture_seeds = dict((n, p) for n, p in fixture_paths.items())
fixture_seeds.update({
    "gamelogs": "/stats/playergamelogs?PlayerID=1&Season=2024-25&LastNGames=5",
    "sorter": "/stats/leaguegamelog?PlayerOrTeam=P&Season=2024-25&Sorter=PTS&Direction=ASC&Counter=10",
    "faults": "/_faults?path=/stats/scoreboardv2&kind=503&count=2&match=GameDate",
    "faults_list": "/_faults", "stats": "/_stats", "stats_reset": "/_stats?reset=1",
    "now": "/_now?date=2024-12-01", "info": "/_info", "healthz": "/healthz",
    "injury": "/_injury?playerId=1&date=2024-11-05&status=Out&reason=Knee",
    "box_range": "/stats/boxscoretraditionalv2?GameID=0022400003&StartPeriod=1&EndPeriod=4&RangeType=0",
    "bad": "/stats/boxscoretraditionalv2?GameID=abc&LeagueID=20",
    "replay_exact": "R/stats/scoreboardv3",
    "replay_keyed": "R/stats/boxscoretraditionalv2?GameID=0021600270",
    "replay_gleague": "R/stats/scoreboardV2?GameDate=02/25/2020&LeagueID=20&DayOffset=0",
    "replay_log": "R/stats/leaguegamelog?PlayerOrTeam=T&Season=2018-19",
    "replay_date": "R/injuries?date=2024-12-01",
    "replay_up": "R/stats/x?GameID=../outside",
    "nhl_schedule": "/nhl/v1/schedule/2024-11-05",
    "nhl_box": "/nhl/v1/gamecenter/2024020001/boxscore",
    "nhl_pbp": "/nhl/v1/gamecenter/2024020001/play-by-play",
})
for name, text in fixture_seeds.items():
    put("fixtures", name.replace(".json", ""), text)

# libFuzzer dictionaries: the JSON keys and short strings of the seeds, quoted, so
# mutations splice whole tokens ("resultSets", "rowSet", a header name).
def tokens(doc, out):
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.add(json.dumps(k))
            tokens(v, out)
    elif isinstance(doc, list):
        for v in doc:
            tokens(v, out)
    elif isinstance(doc, str) and len(doc) <= 32:
        out.add(json.dumps(doc))

for target, skip in (("envelope", 0), ("raw", 1)):
    toks = set()
    d = os.path.join(seeds, target)
    for n in os.listdir(d):
        if os.path.getsize(os.path.join(d, n)) > 16384:
            continue  # the cap and bomb cases would add thousands of ids
        try:
            tokens(json.loads(open(os.path.join(d, n), "rb").read()[skip:]), toks)
        except (ValueError, RecursionError):
            pass
    toks.update(['null', 'true', 'false', '-0', '1e308', '"\\u0000"', '"\\ud800"'])
    with open(os.path.join(seeds, "..", target + ".dict"), "w") as f:
        for t in sorted(toks):
            if all(0x20 <= ord(c) < 0x7f for c in t):
                f.write(json.dumps(t) + "\n")
EOF

# ---- run -----------------------------------------------------------------------------
declare -A dict=([envelope]="$out/envelope.dict" [raw]="$out/raw.dict")
# Per-input time limit (s): above the HTTP targets' own 30 s hang check.
declare -A timeout_s=([envelope]=10 [raw]=10 [cfg]=10 [http]=60 [fixtures]=60)
declare -A max_len=([envelope]=16384 [raw]=65536 [cfg]=4096 [http]=2048 [fixtures]=2048)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
total_execs=0 total_cpu=0 total_crashes=0 n=0
printf '%-10s %10s %8s %8s %8s %8s\n' target execs wall_s cpu_s corpus crashes
for t in $targets; do
        log=$out/$t.log
        rm -f "$out/crashes/$t"/*
        start=$(date +%s)
        cpu_file=$(mktemp)
        TIMEFORMAT='%U %S'
        rc=0
        { time "$bdir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="${timeout_s[$t]}" \
                -rss_limit_mb=2048 -max_len="${max_len[$t]}" -close_fd_mask=1 -print_final_stats=1 \
                -artifact_prefix="$out/crashes/$t/" ${dict[$t]:+-dict="${dict[$t]}"} \
                "$out/work/$t" "$out/seeds/$t" \
                </dev/null >"$log" 2>&1 || rc=$?; } 2>"$cpu_file"
        wall=$(($(date +%s) - start))
        cpu=$(awk '{printf "%.1f", $1 + $2}' "$cpu_file")
        rm -f "$cpu_file"
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        execs=${execs:-$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)}
        execs=${execs:-0}
        crashes=$(find "$out/crashes/$t" -type f | wc -l)
        if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then
                crashes=1 # died without writing an artifact: count it, show the log
        fi
        corpus=$(find "$out/work/$t" -type f | wc -l)
        printf '%-10s %10s %8s %8s %8s %8s\n' "$t" "$execs" "$wall" "$cpu" "$corpus" "$crashes"
        if [ "$crashes" != 0 ]; then
                grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" | sed 's/^/    /' || true
                find "$out/crashes/$t" -type f | sed 's/^/    input: /'
                echo "    log: $log"
        fi
        total_execs=$((total_execs + execs))
        total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN {printf "%.1f", a + b}')
        total_crashes=$((total_crashes + crashes))
        n=$((n + 1))
done
echo "fuzz: $n targets, $total_execs execs, $total_cpu CPU-s, $total_crashes crashes"
[ "$total_crashes" = 0 ]
