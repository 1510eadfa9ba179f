#!/usr/bin/env bash
# nhl_day.sh [redis-streams]: one NHL day through scraper -> raw -> analytics
# -> precompute -> prediction -> publishing, as separate processes on Redis
# Streams (TAP):
#   - a private database on the shared cluster (STATLINE_TEST_PG_DSN), a
#     private bus prefix and consumer groups on the shared Redis
#     (STATLINE_TEST_REDIS), statline-fixtures on port 0 with now = D + 1;
#   - statline-raw, statline-analytics, statline-precompute, statline-prediction,
#     statline-publishing with sports=nba,nhl;
#     statline-scraper once with scrape.sport=nhl and scrape.date=D;
#   - checks, independent of the services' code:
#     1. raw.nhl_games has D's games of the served schedule, raw.nhl_plays
#        every play of each served play-by-play;
#     2. analytics.nhl_team_game_stats = python3's count of Corsi, Fenwick,
#        shots, goals (all situations and 5v5, shootout excluded) from the
#        served play-by-play JSON, and xG within 0.01 of python's logistic
#        model with the coefficients published in docs/models-nhl.md;
#     3. analytics.nhl_team_aggregates sums the team's game rows;
#     4. analytics.nhl_team_ratings of D: one row per team that played,
#        metrics, z-scores (population sd) and TPI recomputed by python3 from
#        the team game rows; each z column sums to ~0 over the teams;
#     5. no failed execution-log row, no dead letter;
#   - replay: the same date scraped again publishes nothing new; then every
#     raw.completed of the run re-published with a fresh event id and
#     upstream version (analytics and precompute recompute): no row of
#     raw.nhl_* / analytics.nhl_* changes (count, md5, max updated_at);
#   - the NBA flow with the same services: an NBA date scraped, its box
#     scores land and analytics.player_game_summary gets its rows;
#   - GOI: the next four NHL days (D+1 .. D+4) scraped; the published
#     nhl/<date>/games.json of D..D+4 (a date with games) lists raw.nhl_games of the date, and each
#     game's win_prob equals python3's GOI (docs/models-nhl.md) from each
#     team's newest analytics.nhl_team_ratings row before the date (null when
#     a team has none); publishing.documents holds the file's SHA-256; every
#     nhl precompute.completed re-published with a fresh id and key changes no
#     prediction.game_win_probs / publishing.documents row nor file.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
for c in psql jq curl python3 redis-cli; do
        command -v $c >/dev/null || it_skip_all "$c not installed"
done
it_init nhl_day
it_backend "${1:-redis-streams}"

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
        [[ -x $b ]] || it_bail "not found: $b (set STATLINE_SCRAPER/FIXTURES/RAWBIN/...)"
done
D=${STATLINE_IT_NHL_DATE:-2024-11-19}
NOW=$(date -u -d "$D + 5 day" +%F) # D .. D+4 are played
NBA_D=$D
SEED=7
it_pg_database nhl_day
PREFIX="itnhl$$x$RANDOM"
BLOBS=$IT_DIR/blobs
PUBDIR=$IT_DIR/pub
mkdir -p "$BLOBS" "$IT_DIR/pbp" "$IT_DIR/migrations" "$PUBDIR"
for s in nba nhl; do
        for t in scraper raw analytics precompute prediction publishing; do
                IT_EXTRA_KEYS+=("$PREFIX.$s.$t.completed" "$PREFIX.$s.$t.completed.dlq")
        done
done

SVC_PIDS=()
day_cleanup() {
        local pid
        for pid in "${SVC_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for pid in "${SVC_PIDS[@]}"; do
                timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null
        done
}
IT_ON_EXIT=day_cleanup

sql() { IT_DSN=$IT_DSN it_sql "$1"; }
fx() { curl -sf --max-time 10 "$FX/$1"; }

# scrape DATE SPORT: one scraper run; 0 when it succeeded.
SCRAPES=0
scrape() {
        local log=$IT_DIR/scrape-$SCRAPES
        SCRAPES=$((SCRAPES + 1))
        timeout -k 5 120 "$SCRAPER" --set scrape.once=true --set "scrape.date=$1" \
                --set "scrape.sport=$2" --set "source.base_url=$FX" --set rate.interval_ms=0 \
                --set rate.jitter_ms=0 --set fetch.retry_delays_ms=50,100 \
                --set "pg.dsn=$IT_DSN" --set "pg.migrations=$IT_DIR/migrations" \
                --set "bus.backend=$IT_BACKEND" --set "bus.url=$IT_URL" \
                --set "bus.prefix=$PREFIX" --set "blob.dir=$BLOBS" >"$log.out" 2>"$log.err"
        local rc=$?
        STORED=$(sed -n 's/.*\bstored=\([0-9]*\).*/\1/p' "$log.out" | head -n 1)
        [[ $rc -eq 0 ]] || it_diag "scrape $1 $2 exit $rc: $(cat "$log.out")"
        return $rc
}

# Events published but not handled yet: scraper documents without a raw log
# row, outbox events without a next-phase log row (publishing.completed has no
# consumer here), unpublished outbox rows.
PENDING_SQL="
WITH s AS (SELECT correlation_id, count(*) n FROM ops.scraper_execution_log
           WHERE status = 'completed' GROUP BY 1),
     r AS (SELECT correlation_id, count(DISTINCT event_id) n FROM ops.pipeline_execution_log
           WHERE phase = 'raw' AND status IN ('completed', 'skipped') GROUP BY 1)
SELECT (SELECT coalesce(sum(s.n - coalesce(r.n, 0)), 0) FROM s LEFT JOIN r USING (correlation_id))
     + (SELECT count(*) FROM ops.outbox o
        WHERE o.topic NOT LIKE '%.publishing.completed'
          AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log l
                          WHERE l.event_id = (convert_from(o.payload, 'UTF8')::jsonb->>'event_id')::uuid
                            AND l.status IN ('completed', 'skipped')))
     + (SELECT count(*) FROM ops.outbox WHERE published_at IS NULL)"
idle() { [[ $(sql "$PENDING_SQL" 2>/dev/null) == 0 ]]; }
wait_idle() {
        it_wait_for 120 idle && return 0
        it_diag "pipeline not idle: pending $(sql "$PENDING_SQL")"
        return 1
}

# fingerprint: count, md5 of the rows, max updated_at of every NHL table.
fingerprint() {
        local t
        for t in raw.nhl_games raw.nhl_plays raw.nhl_game_rosters raw.nhl_skater_boxscores \
                raw.nhl_goalie_boxscores analytics.nhl_team_game_stats \
                analytics.nhl_team_aggregates analytics.nhl_team_ratings; do
                echo "$t $(sql "SELECT count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')), max(updated_at) FROM $t x")"
        done
}

# --- setup ----------------------------------------------------------------------------------
it_must "creates a private database $IT_DB" it_pg_create
cp "$IT_SRC"/db/migrations/*.sql "$IT_DIR/migrations/"
"$FIXTURES" --port 0 --seed $SEED --season 2024-25 --now "$NOW" --log-level warn \
        >"$IT_DIR/fixtures.out" 2>"$IT_DIR/fixtures.err" &
IT_PIDS+=($!)
it_must "statline-fixtures is listening" it_wait_for 30 grep -q '^listening ' "$IT_DIR/fixtures.out"
FX="http://$(sed -n 's/^listening //p' "$IT_DIR/fixtures.out")"

export STATLINE_PG_DSN=$IT_DSN STATLINE_BUS_BACKEND=$IT_BACKEND STATLINE_BUS_URL=$IT_URL
export STATLINE_BUS_PREFIX=$PREFIX STATLINE_BLOB_DIR=$BLOBS STATLINE_LOG_LEVEL=info
export STATLINE_PG_MIGRATIONS=$IT_DIR/migrations STATLINE_RETRY_DELAYS_MS=250,1000,3000
export STATLINE_SPORTS=nba,nhl STATLINE_PUBLISH_DIR=$PUBDIR
for s in "${SERVICES[@]}"; do
        u=${s^^}
        env "STATLINE_${u}_BUS_GROUP=$s-$PREFIX" "STATLINE_${u}_SPORTS=nba,nhl" \
                "${BIN[$s]}" >"$IT_DIR/$s.log" 2>&1 &
        SVC_PIDS+=($!)
        IT_PIDS+=($!)
done
started() {
        local s
        for s in "${SERVICES[@]}"; do
                grep -q '"event":"svc.fatal"' "$IT_DIR/$s.log" && it_bail "statline-$s did not start"
                grep -q '"event":"svc.start"' "$IT_DIR/$s.log" || return 1
        done
}
it_must "raw, analytics, precompute, prediction and publishing start (sports=nba,nhl)" \
        it_wait_for 60 started

# --- the NHL day ----------------------------------------------------------------------------
fx "nhl/v1/schedule/$D" >"$IT_DIR/schedule.json" || it_bail "schedule of $D not served"
GAMES=$(jq -r --arg d "$D" '.gameWeek[] | select(.date == $d) | .games[].id' "$IT_DIR/schedule.json")
NG=$(wc -w <<<"$GAMES")
((NG >= 2)) || it_bail "the fixtures have $NG NHL games on $D (need 2+)"
for g in $GAMES; do
        fx "nhl/v1/gamecenter/$g/play-by-play" >"$IT_DIR/pbp/$g.json" || it_bail "pbp $g"
done
T0=$(date +%s%3N)
it_must "statline-scraper --set scrape.sport=nhl scrapes $D" scrape "$D" nhl
it_is "stored schedule + box score + play-by-play of $NG games" "$STORED" $((1 + 2 * NG))
it_must "the pipeline becomes idle" wait_idle
it_diag "NHL day $D: $NG games, scrape to idle $(($(date +%s%3N) - T0)) ms"
it_is "scraper.completed events carry sport nhl" \
        "$(it_count_events "$PREFIX.nhl.scraper.completed")" $((1 + 2 * NG))
it_is "no NBA event was published" "$(it_count_events "$PREFIX.nba.scraper.completed")" 0

# 1. raw
it_is "raw.nhl_games has the $NG games of $D" \
        "$(sql "SELECT count(*) FROM raw.nhl_games WHERE game_date = '$D' AND game_state = 'OFF'")" "$NG"
served=$(for g in $GAMES; do jq -r '"\(.id) \(.plays | length)"' "$IT_DIR/pbp/$g.json"; done | sort)
loaded=$(sql "SELECT game_id || ' ' || count(*) FROM raw.nhl_plays GROUP BY game_id ORDER BY 1" | sort)
it_is "raw.nhl_plays has every served play of every game" "$loaded" "$served"

# 2. team game stats against python3
sql "SELECT game_id, team_id, is_home, cf, ca, ff, fa, shots_for, shots_against, goals_for,
            goals_against, cf_5v5, ca_5v5, ff_5v5, fa_5v5, gf_5v5, ga_5v5, xgf, xga, xgf_5v5,
            xga_5v5, opponent_team_id
     FROM analytics.nhl_team_game_stats ORDER BY 1, 2" >"$IT_DIR/stats.txt"
cat >"$IT_DIR/stats.py" <<'PY'
import json, math, os, sys
pbp_dir, stats = sys.argv[1], sys.argv[2]
# docs/models-nhl.md, "The built-in model" (published to 4 decimals)
W = [-1.1229, -0.5035, -0.1645, -0.6679, 0.0028, 0.0825, -0.1060, -0.0486, 0.3428, 0.2114,
     -0.3074, 0.3414, 0.0634, 3.0282]
TYPES = ["snap", "slap", "backhand", "tip-in", "deflected"]
def xg(p, is_home):
    d = p["details"]
    if "xCoord" not in d or "yCoord" not in d:
        return 0.0
    side = p.get("homeTeamDefendingSide")
    if side in ("left", "right"):
        net = -89.0 if (side == "right") == is_home else 89.0
    else:
        net = 89.0 if d["xCoord"] >= 0 else -89.0
    dx = abs(net - d["xCoord"])
    dist = math.hypot(dx, d["yCoord"])
    ang = math.degrees(math.atan2(abs(d["yCoord"]), dx))
    f = [1.0, dist / 10, (dist / 10) ** 2 / 10, ang / 45, math.log(dist + 1)]
    st = d.get("shotType")
    f += [1.0 if st == t else 0.0 for t in TYPES]
    f += [0.0 if st in TYPES or st == "wrist" else 1.0]
    ag, ask, hsk, hg = (int(ch) for ch in p["situationCode"])
    own, opp = (hsk, ask) if is_home else (ask, hsk)
    f += [float(own > opp), float(own < opp), float((ag if is_home else hg) == 0)]
    return 1 / (1 + math.exp(-sum(a * b for a, b in zip(W, f))))
want = {}
for name in os.listdir(pbp_dir):
    g = json.load(open(os.path.join(pbp_dir, name)))
    home, away = g["homeTeam"]["id"], g["awayTeam"]["id"]
    c = {(t, k): dict(cf=0, ff=0, sf=0, gf=0, xg=0.0) for t in (home, away) for k in ("all", "ev")}
    for p in g["plays"]:
        key = p["typeDescKey"]
        if key not in ("goal", "shot-on-goal", "missed-shot", "blocked-shot"):
            continue
        if p["periodDescriptor"].get("periodType") == "SO":
            continue
        team = p["details"]["eventOwnerTeamId"]
        x = xg(p, team == home) if key != "blocked-shot" else 0.0
        for k in ("all", "ev"):
            if k == "ev" and p.get("situationCode") != "1551":
                continue
            s = c[(team, k)]
            s["cf"] += 1
            s["ff"] += key != "blocked-shot"
            s["sf"] += key in ("goal", "shot-on-goal")
            s["gf"] += key == "goal"
            s["xg"] += x
    for t, o in ((home, away), (away, home)):
        a, a5, b, b5 = c[(t, "all")], c[(t, "ev")], c[(o, "all")], c[(o, "ev")]
        want[(str(g["id"]), str(t))] = dict(
            is_home="t" if t == home else "f", opp=str(o),
            ints=[a["cf"], b["cf"], a["ff"], b["ff"], a["sf"], b["sf"], a["gf"], b["gf"],
                  a5["cf"], b5["cf"], a5["ff"], b5["ff"], a5["gf"], b5["gf"]],
            xg=[a["xg"], b["xg"], a5["xg"], b5["xg"]])
rows = [l.split("|") for l in open(stats).read().split("\n") if l]
bad, maxdx = 0, 0.0
for r in rows:
    w = want.pop((r[0], r[1]), None)
    if w is None:
        print("# unexpected row", r[:2]); bad += 1; continue
    ints = [int(v) for v in r[3:17]]
    if r[2] != w["is_home"] or r[21] != w["opp"] or ints != w["ints"]:
        print("# %s team %s: db %s want %s" % (r[0], r[1], ints, w["ints"])); bad += 1
    for got, exp in zip([float(v) for v in r[17:21]], w["xg"]):
        maxdx = max(maxdx, abs(got - exp))
        if abs(got - exp) > 0.01:
            print("# %s team %s: xG %.3f want %.4f" % (r[0], r[1], got, exp)); bad += 1
for k in want:
    print("# missing row", k); bad += 1
print("# %d team-games, counts exact, max xG difference %.5f" % (len(rows), maxdx))
sys.exit(1 if bad else 0)
PY
it_is "two team rows per game" "$(wc -l <"$IT_DIR/stats.txt")" $((2 * NG))
it_must "team game stats = python3 from the served play-by-play (Corsi, Fenwick, shots, goals, xG)" \
        python3 "$IT_DIR/stats.py" "$IT_DIR/pbp" "$IT_DIR/stats.txt"

# 3. aggregates
it_is "analytics.nhl_team_aggregates: one row per team, games and sums = its game rows" \
        "$(sql "SELECT count(*) FROM analytics.nhl_team_aggregates a JOIN (SELECT season, team_id,
                  count(*) n, sum(cf) cf, sum(ca) ca, sum(ff) ff, sum(goals_for) gf,
                  sum(shots_against) sa, sum(xgf) xgf, sum(xga_5v5) xga5
                FROM analytics.nhl_team_game_stats GROUP BY 1, 2) s USING (season, team_id)
              WHERE a.games = s.n AND a.cf = s.cf AND a.ca = s.ca AND a.ff = s.ff AND a.gf = s.gf
                AND a.sa = s.sa AND abs(a.xgf - s.xgf) < 0.002 AND abs(a.xga_5v5 - s.xga5) < 0.002
                AND a.last_game_date = '$D'")" $((2 * NG))

# 4. ratings against python3
sql "SELECT team_id, games, xgf_pct_5v5, cf_pct_5v5, gf_pct, sv_pct, sh_pct, z_xgf_pct_5v5,
            z_cf_pct_5v5, z_gf_pct, z_sv_pct, z_sh_pct, tpi
     FROM analytics.nhl_team_ratings WHERE as_of_date = '$D' ORDER BY 1" >"$IT_DIR/ratings.txt"
cat >"$IT_DIR/ratings.py" <<'PY'
import sys
stats = [l.split("|") for l in open(sys.argv[1]).read().split("\n") if l]
rat = {l.split("|")[0]: l.split("|") for l in open(sys.argv[2]).read().split("\n") if l}
# docs/models-nhl.md "League z-scores and TPI"
agg = {}
for r in stats:
    a = agg.setdefault(r[1], dict(g=0, cf5=0, ca5=0, gf=0, ga=0, sf=0, sa=0, x5=0.0, xa5=0.0))
    a["g"] += 1
    a["cf5"] += int(r[11]); a["ca5"] += int(r[12])
    a["sf"] += int(r[7]); a["sa"] += int(r[8]); a["gf"] += int(r[9]); a["ga"] += int(r[10])
    a["x5"] += float(r[19]); a["xa5"] += float(r[20])
share = lambda f, a: f / (f + a) if f + a > 0 else 0.5
vals = {t: [share(a["x5"], a["xa5"]), share(a["cf5"], a["ca5"]), share(a["gf"], a["ga"]),
            1 - a["ga"] / a["sa"], a["gf"] / a["sf"]] for t, a in agg.items()}
n = len(vals)
z = {t: [0.0] * 5 for t in vals}
for m in range(5):
    xs = [v[m] for v in vals.values()]
    mean = sum(xs) / n
    sd = (sum((x - mean) ** 2 for x in xs) / n) ** 0.5
    for t in vals:
        z[t][m] = (vals[t][m] - mean) / sd if sd > 0 else 0.0
weights = [0.30, 0.20, 0.25, 0.15, 0.10]
bad, zsum = 0, [0.0] * 5
for t in vals:
    r = rat.pop(t, None)
    if r is None:
        print("# no rating row for team", t); bad += 1; continue
    tpi = sum(w * zz for w, zz in zip(weights, z[t]))
    got_v, got_z, got_tpi = [float(v) for v in r[2:7]], [float(v) for v in r[7:12]], float(r[12])
    zsum = [s + v for s, v in zip(zsum, got_z)]
    if int(r[1]) != agg[t]["g"] or any(abs(a - b) > 1e-6 for a, b in zip(got_v, vals[t])) \
            or any(abs(a - b) > 1e-6 for a, b in zip(got_z, z[t])) or abs(got_tpi - tpi) > 1e-6:
        print("# team %s: db %s %s %.6f want %s %s %.6f" % (t, got_v, got_z, got_tpi, vals[t], z[t], tpi))
        bad += 1
for t in rat:
    print("# extra rating row", t); bad += 1
if any(abs(s) > 1e-9 for s in zsum):
    print("# z-scores do not sum to 0:", zsum); bad += 1
print("# %d teams rated, z sums %s" % (n, ["%.1e" % s for s in zsum]))
sys.exit(1 if bad else 0)
PY
it_is "one rating row per team that played on $D" "$(wc -l <"$IT_DIR/ratings.txt")" $((2 * NG))
it_must "ratings = python3 (metrics, z-scores over the teams, TPI; z sums ~0)" \
        python3 "$IT_DIR/ratings.py" "$IT_DIR/stats.txt" "$IT_DIR/ratings.txt"

# 5. health
it_is "no failed execution-log row" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed'")" 0
# analytics coalesces a burst of one date (coalesce.window_ms, default 300): one run may
# cover all the box scores, so count handled events and runs, not runs per game
it_is "every NHL raw.completed has an analytics log row (its own run or the batch it joined)" \
        "$(sql "SELECT count(*) FROM ops.outbox o WHERE o.topic LIKE '%.nhl.raw.completed'
                AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log l WHERE l.phase = 'analytics'
                  AND l.event_id = (convert_from(o.payload, 'UTF8')::jsonb->>'event_id')::uuid
                  AND l.status IN ('completed', 'skipped'))")" 0
it_like "analytics ran both NHL processors, equally often" \
        "$(sql "SELECT count(*) FILTER (WHERE processor = 'nhl_team_game_stats') || '=' ||
                count(*) FILTER (WHERE processor = 'nhl_team_aggregates') FROM ops.pipeline_execution_log
                WHERE phase = 'analytics' AND status = 'completed'")" '^([1-9][0-9]*)=\1$'
it_is "precompute rated after every analytics.completed (sport nhl)" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE phase = 'precompute'
                AND status = 'completed' AND processor = 'nhl_team_ratings' AND sport = 'nhl'")" \
        "$(sql "SELECT count(*) FROM ops.outbox WHERE topic LIKE '%.nhl.analytics.completed'")"
dlq=0
for k in "${IT_EXTRA_KEYS[@]}"; do
        [[ $k == *.dlq ]] && dlq=$((dlq + $(it_count_events "$k")))
done
it_is "every dead-letter stream is empty" "$dlq" 0

# --- replay ---------------------------------------------------------------------------------
fingerprint >"$IT_DIR/fp1"
it_must "the same date scraped again" scrape "$D" nhl
it_is "nothing new stored (box scores and play-by-play are final, schedule unchanged)" "$STORED" 0
NRAW=$(it_count_events "$PREFIX.nhl.raw.completed")
NPC=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE processor = 'nhl_team_ratings'
           AND status = 'completed'")
it_events "$PREFIX.nhl.raw.completed" >"$IT_DIR/raw_events.jsonl"
python3 - "$IT_DIR/raw_events.jsonl" >"$IT_DIR/replay.jsonl" <<'PY'
import json, random, sys, time, uuid
for line in open(sys.argv[1]):
    e = json.loads(line)
    ms = int(time.time() * 1000)
    r = random.getrandbits(74)
    u = (ms << 80) | (7 << 76) | (((r >> 62) & 0xFFF) << 64) | (2 << 62) | (r & ((1 << 62) - 1))
    e["event_id"] = str(uuid.UUID(int=u))
    e["idempotency_key"] = (e.get("idempotency_key") or "raw") + ":replay"
    p = e.get("payload", {})
    if "source_blob_sha256" in p:  # the upstream version analytics keys its run on
        p["source_blob_sha256"] = "%064x" % random.getrandbits(256)
    print(json.dumps(e))
PY
while IFS= read -r ev; do
        it_redis XADD "$PREFIX.nhl.raw.completed" '*' d "$ev" >/dev/null
done <"$IT_DIR/replay.jsonl"
replayed() {
        (($(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE processor = 'nhl_team_ratings'
                  AND status = 'completed'") > NPC)) && idle
}
it_must "every raw.completed re-published ($NRAW): analytics and precompute ran again" \
        it_wait_for 120 replayed
fingerprint >"$IT_DIR/fp2"
if diff "$IT_DIR/fp1" "$IT_DIR/fp2" >"$IT_DIR/fp.diff"; then
        it_ok "the replay changed no row of raw.nhl_* / analytics.nhl_* (count, md5, max updated_at)"
else
        it_not_ok "the replay changed rows"
        sed 's/^/# /' "$IT_DIR/fp.diff"
fi
it_is "still no failed execution-log row" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed'")" 0

# --- the NBA flow, same services ------------------------------------------------------------
it_must "statline-scraper (NBA, default sport) scrapes $NBA_D" scrape "$NBA_D" nba
it_must "the pipeline becomes idle" wait_idle
NBA_GAMES=$(sql "SELECT count(*) FROM raw.games WHERE game_date = '$NBA_D' AND status = 'final'")
it_diag "NBA day $NBA_D: $NBA_GAMES final games"
it_check "NBA final games of $NBA_D are in raw.games" test "$NBA_GAMES" -gt 0
it_is "NBA box scores of every final game land in raw.player_boxscores" \
        "$(sql "SELECT count(DISTINCT game_id) FROM raw.player_boxscores")" "$NBA_GAMES"
it_is "analytics.player_game_summary has every NBA game" \
        "$(sql "SELECT count(DISTINCT game_id) FROM analytics.player_game_summary WHERE game_date = '$NBA_D'")" \
        "$NBA_GAMES"
it_check "the NBA events went to the nba topics" it_events_ge "$PREFIX.nba.raw.completed" 1
it_is "no failed execution-log row after the NBA day" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed'")" 0
it_is "the NHL rows did not move" "$(fingerprint | md5sum)" "$(md5sum <"$IT_DIR/fp2")"
# --- GOI: prediction and publishing of the next NHL days -----------------------------------
# gfp: count, md5, max updated_at of the NHL win probabilities and documents, md5 of the files.
gfp() {
        sql "SELECT count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')),
                    max(updated_at) FROM prediction.game_win_probs x WHERE sport = 'nhl'"
        sql "SELECT count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')),
                    max(updated_at) FROM publishing.documents x WHERE doc_path LIKE 'nhl/%'"
        (cd "$PUBDIR" && find nhl -type f | sort | xargs md5sum)
}
DATES=("$D")
for k in 1 2 3 4; do
        Dk=$(date -u -d "$D + $k day" +%F)
        DATES+=("$Dk")
        it_must "statline-scraper scrapes the NHL day $Dk" scrape "$Dk" nhl
        it_must "the pipeline becomes idle" wait_idle
done
sql "SELECT season, as_of_date, team_id, tpi FROM analytics.nhl_team_ratings ORDER BY 1, 2, 3" \
        >"$IT_DIR/tpi.txt"
sql "SELECT game_id, game_date, season, home_team_id, away_team_id FROM raw.nhl_games
     WHERE game_date BETWEEN '${DATES[0]}' AND '${DATES[-1]}' ORDER BY 1" >"$IT_DIR/games.txt"
sql "SELECT doc_path, sha256 FROM publishing.documents WHERE doc_path LIKE 'nhl/%' ORDER BY 1" \
        >"$IT_DIR/docs.txt"
cat >"$IT_DIR/goi.py" <<'PY'
import hashlib, json, math, os, sys
tpi_f, games_f, docs_f, pub = sys.argv[1:5]
dates = sys.argv[5:]
tpi = [l.split("|") for l in open(tpi_f).read().split("\n") if l]
games = [l.split("|") for l in open(games_f).read().split("\n") if l]
recorded = dict(l.split("|") for l in open(docs_f).read().split("\n") if l)
def rating(season, team, date):
    # the team's row of the season with the newest as_of_date before the game date
    rows = [r for r in tpi if r[0] == season and r[2] == team and r[1] < date]
    return float(max(rows, key=lambda r: r[1])[3]) if rows else None
bad = predicted = total = 0
maxdp = 0.0
for d in dates:
    path = "nhl/%s/games.json" % d
    if not any(g[1] == d for g in games):
        continue  # no game that day: nothing to publish
    try:
        raw = open(os.path.join(pub, path), "rb").read()
    except OSError:
        print("# %s not published" % path); bad += 1; continue
    if recorded.get(path) != hashlib.sha256(raw).hexdigest():
        print("# %s: publishing.documents sha256 differs from the file" % path); bad += 1
    doc = json.loads(raw)
    want_ids = [g[0] for g in games if g[1] == d]
    got = {str(g["game_id"]): g for g in doc["games"]}
    if doc["sport"] != "nhl" or doc["game_date"] != d or sorted(got) != sorted(want_ids):
        print("# %s: games %s, raw.nhl_games %s" % (path, sorted(got), want_ids)); bad += 1
    for g in games:
        if g[1] != d or g[0] not in got:
            continue
        total += 1
        th, ta = rating(g[2], g[3], d), rating(g[2], g[4], d)
        wp = got[g[0]]["win_prob"]
        if th is None or ta is None:
            if wp is not None:
                print("# %s: win_prob without ratings: %s" % (g[0], wp)); bad += 1
            continue
        # docs/models-nhl.md: GOI = TPI_home - TPI_away + 0.27, P(home) = 1/(1+exp(-0.35 GOI))
        p = 1 / (1 + math.exp(-0.35 * (th - ta + 0.27)))
        if wp is None:
            print("# %s: no win_prob, want p_home %.6f" % (g[0], p)); bad += 1; continue
        predicted += 1
        dp = abs(wp["p_home"] - p)
        maxdp = max(maxdp, dp, abs(wp["p_away"] - (1 - p)))
        if wp["model"] != "goi:nhl" or dp > 1e-6 or abs(wp["p_away"] - (1 - p)) > 1e-6 \
                or abs(wp["tpi_home"] - th) > 5e-5 or abs(wp["tpi_away"] - ta) > 5e-5:
            print("# %s: published %s, want p_home %.6f tpi %.4f %.4f" % (g[0], wp, p, th, ta))
            bad += 1
print("# %d games over %d dates, %d with GOI probabilities, max |dp| %.2e"
      % (total, len(dates), predicted, maxdp))
if predicted == 0:
    print("# no game was predicted"); bad += 1
sys.exit(1 if bad else 0)
PY
it_must "published NHL games.json of ${DATES[0]}..${DATES[-1]} = python3's GOI from the ratings rows" \
        python3 "$IT_DIR/goi.py" "$IT_DIR/tpi.txt" "$IT_DIR/games.txt" "$IT_DIR/docs.txt" \
        "$PUBDIR" "${DATES[@]}"
it_is "prediction.game_win_probs (nhl) rows = the games with both teams rated" \
        "$(sql "SELECT count(*) FROM prediction.game_win_probs WHERE sport = 'nhl' AND model = 'goi:nhl'")" \
        "$(sql "SELECT count(*) FROM raw.nhl_games g WHERE g.game_date BETWEEN '${DATES[0]}' AND '${DATES[-1]}'
                AND EXISTS (SELECT 1 FROM analytics.nhl_team_ratings r WHERE r.season = g.season
                            AND r.team_id = g.home_team_id AND r.as_of_date < g.game_date)
                AND EXISTS (SELECT 1 FROM analytics.nhl_team_ratings r WHERE r.season = g.season
                            AND r.team_id = g.away_team_id AND r.as_of_date < g.game_date)")"
it_is "no failed execution-log row (prediction, publishing)" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed'")" 0

# replay: every nhl precompute.completed again, fresh event id and idempotency key
gfp >"$IT_DIR/gfp1"
NGOI=$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE processor = 'goi'")
it_events "$PREFIX.nhl.precompute.completed" >"$IT_DIR/pc_events.jsonl"
NPCE=$(wc -l <"$IT_DIR/pc_events.jsonl")
python3 - "$IT_DIR/pc_events.jsonl" >"$IT_DIR/pc_replay.jsonl" <<'PY'
import json, random, sys, time, uuid
for line in open(sys.argv[1]):
    e = json.loads(line)
    ms = int(time.time() * 1000)
    r = random.getrandbits(74)
    u = (ms << 80) | (7 << 76) | (((r >> 62) & 0xFFF) << 64) | (2 << 62) | (r & ((1 << 62) - 1))
    e["event_id"] = str(uuid.UUID(int=u))
    e["idempotency_key"] = (e.get("idempotency_key") or "precompute") + ":replay"
    print(json.dumps(e))
PY
while IFS= read -r ev; do
        it_redis XADD "$PREFIX.nhl.precompute.completed" '*' d "$ev" >/dev/null
done <"$IT_DIR/pc_replay.jsonl"
goi_replayed() {
        (($(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE processor = 'goi'") >= NGOI + NPCE)) &&
                idle
}
it_must "every nhl precompute.completed re-published ($NPCE): prediction and publishing ran again" \
        it_wait_for 120 goi_replayed
gfp >"$IT_DIR/gfp2"
if diff "$IT_DIR/gfp1" "$IT_DIR/gfp2" >"$IT_DIR/gfp.diff"; then
        it_ok "the replay changed no game_win_probs / publishing.documents row nor file (count, md5, max updated_at)"
else
        it_not_ok "the replay changed rows or files"
        sed 's/^/# /' "$IT_DIR/gfp.diff"
fi
it_is "still no failed execution-log row" \
        "$(sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE status = 'failed'")" 0
it_done
