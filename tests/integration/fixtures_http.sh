#!/usr/bin/env bash
# statline-fixtures over HTTP (TAP): starts the server on port 0, fetches every
# endpoint with curl, checks status codes, JSON validity (jq), box-score sums,
# each fault kind, /_stats, /_now, /_injury, replay mode, then stops it.
# Usage: fixtures_http.sh [path/to/statline-fixtures]   (docs/fixtures.md)

. "$(dirname "$0")/lib.sh"

FX=${1:-${STATLINE_BUILD:-$IT_SRC/build}/tools/fixtures/statline-fixtures}
it_init fixtures_http
[[ -x $FX ]] || it_bail "statline-fixtures not found: $FX"
command -v jq >/dev/null || it_skip_all "jq not installed (scripts/deps.sh)"
command -v curl >/dev/null || it_skip_all "curl not installed"

# fx_start NAME ARGS...: starts a server, waits for its "listening" line; sets URL.
fx_start() {
        local name=$1 line i
        shift
        "$FX" --port 0 "$@" >"$IT_DIR/$name.out" 2>"$IT_DIR/$name.err" &
        IT_LAST_PID=$!
        IT_PIDS+=("$IT_LAST_PID")
        for ((i = 0; i < 200; i++)); do
                line=$(head -n 1 "$IT_DIR/$name.out" 2>/dev/null)
                if [[ $line == listening\ * ]]; then
                        URL="http://${line#listening }"
                        return 0
                fi
                kill -0 "$IT_LAST_PID" 2>/dev/null || return 1
                sleep 0.05
        done
        return 1
}

# get PATH: fetches $URL$PATH into $IT_DIR/body; CODE = status, RC = curl's exit code.
get() {
        CODE=$(curl -s --max-time 20 -o "$IT_DIR/body" -D "$IT_DIR/headers" -w '%{http_code}' \
                "$URL$1")
        RC=$?
}

json_ok() {
        jq -e . "$IT_DIR/body" >/dev/null 2>&1
}

# ok_json DESC PATH: 200 and valid JSON.
ok_json() {
        get "$2"
        if [[ $CODE == 200 ]] && json_ok; then
                it_ok "$1"
        else
                it_not_ok "$1"
                it_diag "status $CODE rc $RC: $(head -c 300 "$IT_DIR/body")"
        fi
}

# status_is DESC PATH CODE: the status, and a JSON body with a Message for errors.
status_is() {
        get "$2"
        if [[ $CODE == "$3" ]] && { [[ $3 == 200 ]] || jq -e '.Message | strings' "$IT_DIR/body" >/dev/null 2>&1; }; then
                it_ok "$1"
        else
                it_not_ok "$1"
                it_diag "got $CODE, want $3: $(head -c 300 "$IT_DIR/body")"
        fi
}

# --- start ---------------------------------------------------------------------
it_must "server starts on port 0 and prints its address" fx_start sim --seed 42 --now 2024-12-01
SIM_PID=$IT_LAST_PID
it_like "address is loopback" "$URL" '^http://127\.0\.0\.1:[0-9]+$'

ok_json "/_info" "/_info"
it_is "/_info season and game count" "$(jq -r '"\(.season) \(.games) \(.now)"' "$IT_DIR/body")" \
        "2024-25 1230 2024-12-01"

# --- endpoints -------------------------------------------------------------------
ok_json "scoreboardv2" "/stats/scoreboardv2?GameDate=11/30/2024&LeagueID=00&DayOffset=0"
cp "$IT_DIR/body" "$IT_DIR/sb2.json"
it_is "scoreboardv2 result sets" "$(jq -r '[.resultSets[].name] | join(",")' "$IT_DIR/sb2.json")" \
        "GameHeader,LineScore,SeriesStandings,LastMeeting,EastConfStandingsByDay,WestConfStandingsByDay,Available,TeamLeaders,TicketLinks"
GAME=$(jq -r '.resultSets[0].rowSet[0][2]' "$IT_DIR/sb2.json")
it_like "scoreboardv2 has a final game" "$(jq -r '.resultSets[0].rowSet[0][3:5] | @tsv' "$IT_DIR/sb2.json")" '^3	Final'

ok_json "scoreboardv3" "/stats/scoreboardv3?GameDate=2024-11-30&LeagueID=00"
it_is "scoreboardv3 games match v2" "$(jq '.scoreboard.games | length' "$IT_DIR/body")" \
        "$(jq '.resultSets[0].rowSet | length' "$IT_DIR/sb2.json")"

ok_json "boxscoretraditionalv2" "/stats/boxscoretraditionalv2?GameID=$GAME&StartPeriod=1&EndPeriod=10&StartRange=0&EndRange=28800&RangeType=2"
cp "$IT_DIR/body" "$IT_DIR/box2.json"
# team PTS = sum of player PTS, per team, in the served JSON
sums=$(jq -r '.resultSets as $rs | ($rs[0].headers | index("PTS")) as $pp |
  ($rs[0].headers | index("TEAM_ID")) as $pt | ($rs[1].headers | index("PTS")) as $tp |
  [$rs[1].rowSet[] | . as $t | ([$rs[0].rowSet[] | select(.[$pt] == $t[1]) | (.[$pp] // 0)] | add) == $t[$tp]]
  | (length == 2) and all' "$IT_DIR/box2.json")
it_is "v2 box score: team PTS = sum of player PTS" "$sums" "true"
pm=$(jq -r '(.resultSets[0].headers | index("PLUS_MINUS")) as $i | [.resultSets[0].rowSet[] | (.[$i] // 0)] | add' "$IT_DIR/box2.json")
it_is "v2 box score: plus-minus sums to zero over both teams" "$pm" "0"
mins=$(jq -r '.resultSets[1].rowSet[] | .[5]' "$IT_DIR/box2.json" | sort -u | tr '\n' ' ')
it_like "v2 box score: team minutes 240:00 (265:00+ with overtime)" "$mins" '^(2[4-9][05]|3[0-9][05]):00 $'
ls_pts=$(jq -r --arg g "$GAME" '[.resultSets[1].rowSet[] | select(.[2] == $g) | .[22]] | @tsv' "$IT_DIR/sb2.json")
box_pts=$(jq -r '[.resultSets[1].rowSet[] | .[23]] | @tsv' "$IT_DIR/box2.json")
it_is "scoreboard LineScore PTS = box score team PTS" "$ls_pts" "$box_pts"

ok_json "boxscoretraditionalv3" "/stats/boxscoretraditionalv3?GameID=$GAME"
v3=$(jq -r '.boxScoreTraditional | [.homeTeam, .awayTeam] | map(([.players[].statistics.points] | add) == .statistics.points) | all' "$IT_DIR/body")
it_is "v3 box score: team points = sum of player points" "$v3" "true"
it_is "v3 and v2 agree on the score" \
        "$(jq -r '.boxScoreTraditional | [.awayTeam.statistics.points, .homeTeam.statistics.points] | @tsv' "$IT_DIR/body")" \
        "$(jq -r '[.resultSets[1].rowSet[][23]] | @tsv' "$IT_DIR/box2.json")"

ok_json "leaguegamelog T" "/stats/leaguegamelog?Counter=1000&DateFrom=&DateTo=&Direction=DESC&LeagueID=00&PlayerOrTeam=T&Season=2024-25&SeasonType=Regular+Season&Sorter=DATE"
rows=$(jq '.resultSets[0].rowSet | length' "$IT_DIR/body")
it_like "leaguegamelog T: two rows per final game" "$((rows % 2)) $rows" '^0 [1-9][0-9]+$'
it_is "leaguegamelog T: newest first" "$(jq -r '.resultSets[0].rowSet[0][5]' "$IT_DIR/body")" "2024-11-30"
ok_json "leaguegamelog P" "/stats/leaguegamelog?PlayerOrTeam=P&Season=2024-25&SeasonType=Regular+Season&DateFrom=11/30/2024&DateTo=11/30/2024"
it_is "leaguegamelog P: 32 columns, only 2024-11-30" \
        "$(jq -r '"\(.resultSets[0].headers | length) \([.resultSets[0].rowSet[][7]] | unique | join(","))"' "$IT_DIR/body")" \
        "32 2024-11-30"
ok_json "playergamelogs" "/stats/playergamelogs?PlayerID=1650000&Season=2024-25&SeasonType=Regular+Season&LastNGames=5"
it_is "playergamelogs: 64 columns, at most 5 rows, one player" \
        "$(jq -r '"\(.resultSets[0].headers | length) \(.resultSets[0].rowSet | length <= 5) \([.resultSets[0].rowSet[][1]] | unique | join(","))"' "$IT_DIR/body")" \
        "64 true 1650000"
ok_json "injuries" "/injuries?date=2024-12-01"
it_is "injuries: report date and fields" \
        "$(jq -r '"\(.reportDate) \([.players[] | keys | sort | join(",")] | unique | join(";"))"' "$IT_DIR/body")" \
        "2024-12-01 playerId,playerName,reason,status,teamId"
ok_json "props" "/props?date=2024-12-01"
it_is "props: markets, x.5 lines, American prices" \
        "$(jq -r '[.props[] | (.market | IN("points","rebounds","assists")) and ((.line * 2) % 2 == 1) and (.overPrice <= -100 or .overPrice >= 100) and (.underPrice <= -100 or .underPrice >= 100)] | (length > 0) and all' "$IT_DIR/body")" \
        "true"

# --- bad input ---------------------------------------------------------------------
status_is "missing GameID -> 400" "/stats/boxscoretraditionalv2" 400
status_is "malformed GameID -> 400" "/stats/boxscoretraditionalv2?GameID=12%27%3B--" 400
status_is "unknown GameID -> 400" "/stats/boxscoretraditionalv3?GameID=0022409999" 400
status_is "bad GameDate -> 400" "/stats/scoreboardv2?GameDate=2024-13-45" 400
status_is "bad PlayerOrTeam -> 400" "/stats/leaguegamelog?Season=2024-25&PlayerOrTeam=X" 400
status_is "bad StartPeriod -> 400" "/stats/boxscoretraditionalv2?GameID=$GAME&StartPeriod=abc" 400
status_is "injuries without date -> 400" "/injuries" 400
status_is "props with a bad date -> 400" "/props?date=2024-02-30" 400
status_is "unknown path -> 404" "/stats/nothing" 404
many=$(printf 'a%d=1&' $(seq 1 80))
status_is "80 query parameters -> 400" "/stats/scoreboardv2?$many" 400
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data 'x=1' "$URL/stats/scoreboardv2")
it_is "POST -> 405" "$code" "405"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/stats/scoreboardv2?GameDate=$(head -c 40000 /dev/zero | tr '\0' 'x')")
it_like "40 KB URL refused (414/431/400)" "$code" '^(400|413|414|431)$'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' 'y')" "$URL/healthz")
it_like "40 KB header refused" "$code" '^(400|413|431)$'
status_is "still healthy after bad input" "/healthz" 200

# --- faults --------------------------------------------------------------------------
BOX="/stats/boxscoretraditionalv2?GameID=$GAME"
get "/_faults?path=/stats/boxscoretraditionalv2&kind=429&count=2&retry_after=7"
it_is "arm 429 x2" "$(jq -r '.armed.kind' "$IT_DIR/body")" "429"
get "$BOX"
it_is "429 with Retry-After" "$CODE $(grep -i '^retry-after:' "$IT_DIR/headers" | tr -d '\r' | awk '{print $2}')" "429 7"
get "$BOX"
it_is "second request: 429 again (count=2)" "$CODE" "429"
get "$BOX"
it_is "third request: 200" "$CODE" "200"

get "/_faults?path=/stats/boxscoretraditionalv2&kind=500"
get "$BOX"
it_is "500 fault" "$CODE $(jq -r .Message "$IT_DIR/body")" "500 An error has occurred."

get "/_faults?path=/stats/boxscoretraditionalv2&kind=slow&delay_ms=600"
t0=$(date +%s%3N)
get "$BOX"
dt=$(($(date +%s%3N) - t0))
if [[ $CODE == 200 ]] && ((dt >= 550)) && json_ok; then it_ok "slow: 200 after ${dt} ms"; else it_not_ok "slow: got $CODE after $dt ms"; fi

get "/_faults?path=/stats/boxscoretraditionalv2&kind=truncate"
get "$BOX"
clen=$(grep -i '^content-length:' "$IT_DIR/headers" | tr -d '\r' | awk '{print $2}')
got=$(stat -c %s "$IT_DIR/body")
if [[ $RC == 18 && -n $clen ]] && ((got > 0 && got < clen)) && ! json_ok; then
        it_ok "truncate: $got of $clen bytes, connection closed (curl 18)"
else
        it_not_ok "truncate: rc $RC, $got of ${clen:-?} bytes"
fi

get "/_faults?path=/stats/boxscoretraditionalv2&kind=reset"
get "$BOX"
it_like "reset: no HTTP answer (curl 56 or 52)" "$CODE $RC" '^000 (56|52)$'

get "/_faults?path=/stats/boxscoretraditionalv2&kind=stall&delay_ms=500"
out=$(curl -s --max-time 10 -o "$IT_DIR/body" -w '%{http_code} %{time_starttransfer} %{time_total}' "$URL$BOX")
read -r code ttfb total <<<"$out"
if [[ $code == 200 ]] && json_ok && awk -v a="$ttfb" -v b="$total" 'BEGIN{exit !(a < 0.4 && b >= 0.45)}'; then
        it_ok "stall: headers at once, body after the pause"
else
        it_not_ok "stall: $out"
fi

get "/_faults?path=*&kind=garbage"
get "/props?date=2024-12-01"
it_like "garbage: 200 with a non-JSON body" "$CODE $(json_ok && echo json || echo nonjson)" '^200 nonjson$'

get "/_faults?path=/stats/boxscoretraditionalv3&kind=503&match=GameID%3D$GAME&count=5"
get "/stats/boxscoretraditionalv3?GameID=0022400001"
it_is "match=: other games unaffected" "$CODE" "200"
get "/stats/boxscoretraditionalv3?GameID=$GAME"
it_is "match=: the matching game gets 503" "$CODE" "503"
get "/_faults"
it_is "/_faults lists the armed fault" "$(jq -r '.faults[0].remaining' "$IT_DIR/body")" "4"
get "/_faults?clear=1"
get "/stats/boxscoretraditionalv3?GameID=$GAME"
it_is "clear=1 disarms" "$CODE" "200"
status_is "bad fault kind -> 400" "/_faults?path=/x&kind=teapot" 400

# --- /_stats ----------------------------------------------------------------------------
get "/_stats?reset=1"
for i in 1 2 3; do get "$BOX"; done
get "/stats/boxscoretraditionalv2?RangeType=0&GameID=$GAME"
get "/_stats"
it_is "/_stats counts per path" "$(jq -r '.paths["/stats/boxscoretraditionalv2"].count' "$IT_DIR/body")" "4"
it_is "/_stats counts per canonical URL (sorted query)" \
        "$(jq -r --arg u "/stats/boxscoretraditionalv2?GameID=$GAME" '.urls[$u]' "$IT_DIR/body") $(jq -r --arg u "/stats/boxscoretraditionalv2?GameID=$GAME&RangeType=0" '.urls[$u]' "$IT_DIR/body")" \
        "3 1"
it_like "/_stats min gap and recent requests" "$(jq -r '"\(.min_gap_ms >= 0) \(.recent | length) \(.recent[-1].status)"' "$IT_DIR/body")" '^true 4 200$'

# --- determinism, /_now, /_injury -----------------------------------------------------------
get "$BOX"
cp "$IT_DIR/body" "$IT_DIR/box_a.json"
get "$BOX"
it_check "same request, same bytes" cmp -s "$IT_DIR/box_a.json" "$IT_DIR/body"
it_must "second server with the same seed starts" fx_start sim2 --seed 42 --now 2024-12-01
get "$BOX"
it_check "same seed in another process: same bytes" cmp -s "$IT_DIR/box_a.json" "$IT_DIR/body"
it_must "third server with another seed starts" fx_start sim3 --seed 43 --now 2024-12-01
get "$BOX"
if cmp -s "$IT_DIR/box_a.json" "$IT_DIR/body"; then it_not_ok "another seed: other numbers"; else it_ok "another seed: other numbers"; fi
URL="http://127.0.0.1:$(sed -n 's/listening 127.0.0.1://p' "$IT_DIR/sim.out")"

get "/_now?date=2024-11-30"
it_is "/_now sets the date" "$(jq -r .now "$IT_DIR/body")" "2024-11-30"
get "/stats/scoreboardv2?GameDate=11/30/2024"
it_is "games of 'now' are scheduled" "$(jq -r '[.resultSets[0].rowSet[][3]] | unique | join(",")' "$IT_DIR/body")" "1"
get "$BOX"
it_is "box score of a scheduled game: no rows" "$CODE $(jq '.resultSets[0].rowSet | length' "$IT_DIR/body")" "200 0"
get "/_now?date=2024-12-01"

pid=$(jq -r '.resultSets[0].rowSet[] | select(.[6] != "") | .[4]' "$IT_DIR/box2.json" | head -n 1)
get "/_injury?playerId=$pid&date=2024-11-30&status=Out&reason=Injury%2FIllness%20-%20Left%20Ankle%3B%20Sprain"
it_is "/_injury sets a player Out" "$CODE $(jq -r .status "$IT_DIR/body")" "200 Out"
get "/injuries?date=2024-11-30"
it_is "injury report lists him" "$(jq -r --argjson p "$pid" '.players[] | select(.playerId == $p) | "\(.status)|\(.reason)"' "$IT_DIR/body")" \
        "Out|Injury/Illness - Left Ankle; Sprain"
get "$BOX"
it_like "his box-score line is a DNP" "$(jq -r --argjson p "$pid" '.resultSets[0].rowSet[] | select(.[4] == $p) | "\(.[7])|\(.[8])"' "$IT_DIR/body")" '^DN[DP] - Injury/Illness\|null$'
get "/props?date=2024-11-30"
it_is "no prop lines for an Out player" "$(jq --argjson p "$pid" '[.props[] | select(.playerId == $p)] | length' "$IT_DIR/body")" "0"
status_is "/_injury unknown player -> 400" "/_injury?playerId=1&date=2024-11-30" 400

# --- replay ---------------------------------------------------------------------------------
DATA=${STATLINE_NBA_DATA:-$IT_SRC/../shared/data/nba}
mkdir -p "$IT_DIR/replay"
printf '{"exact":true}' >"$IT_DIR/replay/stats_custom__a=1&b=x%20y.json"
printf '{"keyed":true}' >"$IT_DIR/replay/injuries_2024-12-01.json"
if [[ -d $DATA ]]; then
        cp "$DATA"/*.json "$IT_DIR/replay/"
fi
it_must "replay server starts" fx_start replay --replay-dir "$IT_DIR/replay"
get "/stats/custom?b=x+y&a=1"
it_is "replay: exact name from path + sorted query" "$CODE $(cat "$IT_DIR/body")" '200 {"exact":true}'
get "/injuries?date=2024-12-01"
it_is "replay: keyed name (injuries_DATE.json)" "$CODE $(cat "$IT_DIR/body")" '200 {"keyed":true}'
status_is "replay: missing payload -> 404" "/stats/boxscoretraditionalv2?GameID=0029999999" 404
if [[ -d $DATA ]]; then
        get "/stats/boxscoretraditionalv2?GameID=0021600270&StartPeriod=1&EndPeriod=10"
        it_check "replay: recorded v2 box score byte for byte" cmp -s "$IT_DIR/body" "$DATA/boxscoretraditionalv2_0021600270.json"
        get "/stats/scoreboardV2?GameDate=02/25/2020&LeagueID=20&DayOffset=0"
        it_check "replay: G League scoreboard (LeagueID=20)" cmp -s "$IT_DIR/body" "$DATA/scoreboardv2_gleague_2020-02-25.json"
        get "/stats/leaguegamelog?Counter=1000&Direction=DESC&LeagueID=00&PlayerOrTeam=T&Season=2018-19&SeasonType=Regular+Season&Sorter=DATE"
        it_is "replay: 2018-19 season log, 2,460 rows" "$(jq '.resultSets[0].rowSet | length' "$IT_DIR/body")" "2460"
        get "/_faults?path=/stats/boxscoretraditionalv3&kind=429"
        get "/stats/boxscoretraditionalv3?GameID=0022500165"
        it_is "replay: faults apply too" "$CODE" "429"
        get "/stats/boxscoretraditionalv3?GameID=0022500165"
        it_check "replay: v3 box score after the fault" cmp -s "$IT_DIR/body" "$DATA/boxscoretraditionalv3_0022500165.json"
else
        it_diag "no recorded payloads at $DATA: byte-for-byte replay checks skipped"
fi
REPLAY_PID=$IT_LAST_PID

# --- stop ---------------------------------------------------------------------------------------
stop_ok() {
        local pid=$1 i
        kill -TERM "$pid" 2>/dev/null || return 1
        for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || { wait "$pid"; return $?; }
                sleep 0.05
        done
        return 1
}
it_check "SIGTERM stops the server (exit 0)" stop_ok "$SIM_PID"
it_check "SIGTERM stops the replay server" stop_ok "$REPLAY_PID"
it_done
