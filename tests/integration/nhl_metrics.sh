#!/usr/bin/env bash
# nhl_metrics.sh: statline-nhl against numbers recomputed independently
# (TAP):
#   - `statline-nhl metrics --json` on the real api-web.nhle.com
#     play-by-play in $STATLINE_SRC/../shared/data/nhl vs a python3
#     recomputation from the raw JSON: Corsi, Fenwick, shots, goals for both
#     teams, all situations and 5v5, and xG under a hand-written model file
#     (python computes the shot distance/angle/strength features itself);
#   - the fixtures server's /nhl/ endpoints (schedule, boxscore,
#     play-by-play): valid JSON, the box score's skater shots and goals equal
#     what statline-nhl counts in the game's play-by-play, error statuses;
#   - `statline-nhl train-xg` on downloaded play-by-play files: held-out log
#     loss below the base-rate log loss;
#   - db/migrations (with 0014_nhl.sql) apply on a private database and the
#     NHL tables enforce their keys (when STATLINE_TEST_PG_DSN is set).
# The real file is required: if it is missing the test fails.
. "$(dirname "$0")/lib.sh"

NHL=${STATLINE_NHLBIN:-${STATLINE_BUILD:-$IT_SRC/build}/tools/nhl/statline-nhl}
FX=${STATLINE_FIXTURESBIN:-${STATLINE_BUILD:-$IT_SRC/build}/tools/fixtures/statline-fixtures}
PGTEST=${STATLINE_PGTEST:-${STATLINE_BUILD:-$IT_SRC/build}/tests/integration/sl_pgtest}
REAL=${STATLINE_NHL_DATA:-$IT_SRC/../shared/data/nhl}/gamecenter_2024021015_play-by-play.json
it_init nhl_metrics
[[ -x $NHL ]] || it_bail "statline-nhl not found: $NHL (set STATLINE_NHLBIN)"
command -v python3 >/dev/null || it_bail "python3 not installed"
command -v curl >/dev/null || it_skip_all "curl not installed"
it_must "real play-by-play present ($REAL)" test -r "$REAL"

# --- the real game against python3 ------------------------------------------------
cat >"$IT_DIR/model.json" <<'JSON'
{"coef": [-1.0, -0.5, -0.1, -0.6, 0.05, 0.1, -0.1, -0.05, 0.3, 0.2, -0.3, 0.3, 0.1, 2.5]}
JSON
"$NHL" metrics "$REAL" --json --model "$IT_DIR/model.json" >"$IT_DIR/real.json"
it_must "statline-nhl metrics --json runs" test $? -eq 0

cat >"$IT_DIR/recompute.py" <<'PY'
import json, math, sys
game = json.load(open(sys.argv[1]))
out = json.load(open(sys.argv[2]))
w = json.load(open(sys.argv[3]))["coef"]
home, away = game["homeTeam"]["id"], game["awayTeam"]["id"]
types = ["snap", "slap", "backhand", "tip-in", "deflected"]
want = {}
for t in (home, away):
    for k in ("all", "ev"):
        want[(t, k)] = dict(corsi=0, fenwick=0, shots=0, goals=0, xg=0.0)
for p in game["plays"]:
    key = p["typeDescKey"]
    if key not in ("goal", "shot-on-goal", "missed-shot", "blocked-shot"):
        continue
    if p["periodDescriptor"].get("periodType") == "SO":
        continue
    d = p["details"]
    team = d["eventOwnerTeamId"]
    xg = 0.0
    if key != "blocked-shot":
        is_home = team == home
        net = -89.0 if (p["homeTeamDefendingSide"] == "right") == is_home else 89.0
        dx = abs(net - d["xCoord"])
        dist = math.hypot(dx, d["yCoord"])
        ang = math.degrees(math.atan2(abs(d["yCoord"]), dx))
        f = [1.0, dist / 10, (dist / 10) ** 2 / 10, ang / 45, math.log(dist + 1)]
        st = d.get("shotType")
        f += [1.0 if st == t else 0.0 for t in types]
        f += [0.0 if st in types or st == "wrist" else 1.0]
        c = p["situationCode"]
        ag, ask, hsk, hg = (int(ch) for ch in c)
        own, opp = (hsk, ask) if is_home else (ask, hsk)
        f += [float(own > opp), float(own < opp), float((ag if is_home else hg) == 0)]
        xg = 1 / (1 + math.exp(-sum(a * b for a, b in zip(w, f))))
    for k in ("all", "ev"):
        if k == "ev" and p["situationCode"] != "1551":
            continue
        c = want[(team, k)]
        c["corsi"] += 1
        c["fenwick"] += key != "blocked-shot"
        c["shots"] += key in ("goal", "shot-on-goal")
        c["goals"] += key == "goal"
        c["xg"] += xg
bad = 0
for t in out["teams"]:
    opp = away if t["team_id"] == home else home
    for k in ("all", "ev"):
        for side, team in (("for", t["team_id"]), ("against", opp)):
            got, exp = t[k + "_" + side], want[(team, k)]
            for m in ("corsi", "fenwick", "shots", "goals"):
                if got[m] != exp[m]:
                    print("mismatch team %s %s_%s %s: %s != %s" % (t["team_id"], k, side, m, got[m], exp[m]))
                    bad += 1
            if abs(got["xg"] - exp["xg"]) > 5e-4:
                print("mismatch team %s %s_%s xg: %.4f != %.4f" % (t["team_id"], k, side, got["xg"], exp["xg"]))
                bad += 1
print("checked; python: " + ", ".join("%s %s CF %d FF %d SF %d GF %d xG %.3f" % (t, k, v["corsi"], v["fenwick"], v["shots"], v["goals"], v["xg"]) for (t, k), v in sorted(want.items())))
sys.exit(1 if bad else 0)
PY
if python3 "$IT_DIR/recompute.py" "$REAL" "$IT_DIR/real.json" "$IT_DIR/model.json" >"$IT_DIR/py.out" 2>&1; then
        it_ok "real game: Corsi/Fenwick/shots/goals/xG equal python3's recomputation"
else
        it_not_ok "real game: Corsi/Fenwick/shots/goals/xG equal python3's recomputation"
fi
it_diag "$(cat "$IT_DIR/py.out")"
# the checkpoint numbers of the file (its README): PIT 3 - MIN 1, shots 22 - 30
it_is "real game: MIN shots on goal" "$(jq -r '.teams[0].all_for.shots' "$IT_DIR/real.json")" 30
it_is "real game: PIT shots on goal" "$(jq -r '.teams[1].all_for.shots' "$IT_DIR/real.json")" 22
it_is "real game: PIT goals" "$(jq -r '.teams[1].all_for.goals' "$IT_DIR/real.json")" 3
it_is "real game: plays" "$(jq -r '.plays' "$IT_DIR/real.json")" 295

# bad input: a clear error and exit 65
echo '{"id": 1}' >"$IT_DIR/bad.json"
"$NHL" metrics "$IT_DIR/bad.json" >/dev/null 2>"$IT_DIR/bad.err"
rc=$?
it_is "not a play-by-play: exit 65" "$rc" 65
it_like "not a play-by-play: says why" "$(cat "$IT_DIR/bad.err")" "homeTeam|play-by-play|plays"

# --- the fixtures server's NHL endpoints ------------------------------------------
if [[ -x $FX ]]; then
        "$FX" --port 0 --seed 5 --season 2023-24 >"$IT_DIR/fx.out" 2>"$IT_DIR/fx.err" &
        IT_PIDS+=("$!")
        URL=
        for ((i = 0; i < 200; i++)); do
                line=$(head -n 1 "$IT_DIR/fx.out" 2>/dev/null)
                if [[ $line == listening\ * ]]; then
                        URL="http://${line#listening }"
                        break
                fi
                sleep 0.05
        done
        it_must "statline-fixtures started" test -n "$URL"
        code=$(curl -s -o "$IT_DIR/sched.json" -w '%{http_code}' "$URL/nhl/v1/schedule/2023-10-10")
        it_is "schedule: 200" "$code" 200
        n=$(jq '[.gameWeek[].games[]] | length' "$IT_DIR/sched.json" 2>/dev/null)
        it_like "schedule: a week of games" "${n:-0}" '^[1-9][0-9]*$'
        gid=$(jq -r '[.gameWeek[].games[] | select(.gameState == "OFF")][0].id' "$IT_DIR/sched.json")
        it_like "schedule: a final game id" "$gid" '^2023020[0-9]{3}$'
        ok_games=0
        mkdir -p "$IT_DIR/pbp"
        for g in $(jq -r '[.gameWeek[].games[] | select(.gameState == "OFF")][0:6][].id' "$IT_DIR/sched.json"); do
                curl -s -o "$IT_DIR/pbp/$g.json" "$URL/nhl/v1/gamecenter/$g/play-by-play"
                curl -s -o "$IT_DIR/box.json" "$URL/nhl/v1/gamecenter/$g/boxscore"
                "$NHL" metrics "$IT_DIR/pbp/$g.json" --json >"$IT_DIR/m.json" || continue
                # box score sums vs play-by-play counts, per team
                box=$(jq -r '[.playerByGameStats.homeTeam, .playerByGameStats.awayTeam]
                        | map(([.forwards[], .defense[]] | map(.sog) | add | tostring) + "/" +
                              ([.forwards[], .defense[]] | map(.goals) | add | tostring)) | join(" ")' "$IT_DIR/box.json")
                pbp=$(jq -r '.teams | map((.all_for.shots | tostring) + "/" + (.all_for.goals | tostring)) | join(" ")' "$IT_DIR/m.json")
                [[ $box == "$pbp" ]] && ok_games=$((ok_games + 1)) || it_diag "game $g: box $box pbp $pbp"
        done
        it_is "6 games: box score shots/goals = play-by-play counts" "$ok_games" 6
        code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nhl/v1/gamecenter/2023029999/boxscore")
        it_is "unknown game: 404" "$code" 404
        code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nhl/v1/schedule/2023-02-30")
        it_is "bad date: 400" "$code" 400
        code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nhl/v1/standings/now")
        it_is "unknown path: 404" "$code" 404
        # train-xg on files downloaded from the server (every 5th held out)
        for ((k = 0; k < 60; k++)); do
                g=$((2023020100 + k))
                curl -s -o "$IT_DIR/pbp/$g.json" "$URL/nhl/v1/gamecenter/$g/play-by-play"
        done
        if "$NHL" train-xg --out "$IT_DIR/trained.json" "$IT_DIR"/pbp/*.json >"$IT_DIR/train.out" 2>&1; then
                it_ok "train-xg on downloaded files"
        else
                it_not_ok "train-xg on downloaded files"
        fi
        it_diag "$(cat "$IT_DIR/train.out")"
        lt=$(jq -r '.test_log_loss' "$IT_DIR/trained.json" 2>/dev/null)
        lb=$(jq -r '.base_log_loss' "$IT_DIR/trained.json" 2>/dev/null)
        it_check "held-out log loss $lt < base rate $lb" \
                python3 -c "import sys; sys.exit(0 if float('$lt') < float('$lb') else 1)"
else
        it_not_ok "statline-fixtures not found: $FX"
fi

# --- the migration -----------------------------------------------------------------
if [[ -n ${STATLINE_TEST_PG_DSN:-} && -x $PGTEST ]] && command -v psql >/dev/null; then
        it_pg_database nhl
        it_must "create private database" it_pg_create
        it_must "migrations (with 0014_nhl) apply" sh -c '"$0" migrate "$1" "$2" >&2' "$PGTEST" "$IT_DSN" "$IT_SRC/db/migrations"
        sha=$(printf 'a%.0s' {1..64})
        it_check "raw.nhl_games takes a game" it_sql "INSERT INTO raw.nhl_games (game_id, game_date,
                season, game_type, home_team_id, away_team_id, home_score, away_score, game_state,
                source, payload_sha256) VALUES ('2024021015', '2025-03-09', '2024-25', 2, 30, 5, 1, 3,
                'OFF', 'nhl.pbp', '$sha')"
        if it_sql "INSERT INTO raw.nhl_games (game_id, game_date, season, game_type, home_team_id,
                away_team_id, game_state, source, payload_sha256) VALUES ('2024021016',
                '2025-03-09', '2024-25', 2, 30, 5, 'OFF', 'nhl.pbp', '$sha')" >/dev/null 2>&1; then
                it_not_ok "a final game without a score is refused"
        else
                it_ok "a final game without a score is refused"
        fi
        if it_sql "INSERT INTO raw.nhl_plays (game_id, event_id, period, type_desc_key, source,
                payload_sha256) VALUES ('2024021015', 103, 1, 'x', 's', '$sha'),
                ('2024021015', 103, 1, 'y', 's', '$sha')" >/dev/null 2>&1; then
                it_not_ok "a repeated (game_id, event_id) is refused"
        else
                it_ok "a repeated (game_id, event_id) is refused"
        fi
        it_is "analytics NHL tables exist" "$(it_sql "SELECT count(*) FROM pg_tables WHERE
                schemaname = 'analytics' AND tablename LIKE 'nhl_%'")" 3
else
        it_diag "no STATLINE_TEST_PG_DSN: migration checks skipped"
fi

it_done
