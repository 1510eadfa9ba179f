#!/usr/bin/env bash
# analytics_service.sh [BACKEND]: statline-analytics end to end on real servers.
#   - a private database on the shared cluster, a private topic prefix;
#   - raw.* seeded with a tiny deterministic league (analytics_seed.py, which
#     also computes the expected numbers independently in Python);
#   - raw.completed events published straight onto the stream (as statline-raw
#     would): box scores -> the three game summaries (fan-out), numbers checked
#     against the independent recomputation; scoped by the event's entities;
#   - a critical dependency missing (raw.games row of game 3): 'waiting' rows
#     with dependencies_met = false, the event parked (ops.deferred_events) and
#     handed back every 0.5 s, and once the row exists the run completes;
#     nothing dead-lettered (deferred_wait.sh covers parking in depth);
#   - schedule -> upcoming player/team context (rest, back-to-back, injury,
#     prop lines, win pct); an injury update for one player rewrites only that
#     player's row (and his team's);
#   - smart skip (tables no processor reads), replay (same event: duplicate
#     skipped; a new event with the same data: no row changes), poison -> DLQ,
#     SIGTERM -> exit 0.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
it_init analytics_service
it_backend "${1:-redis-streams}"
[[ $IT_BACKEND == redis-streams ]] || it_skip_all "this test writes and reads topics with redis-cli"
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
AN=${STATLINE_ANALYTICSBIN:-$BUILD/services/analytics/statline-analytics}
[[ -x $AN ]] || it_bail "statline-analytics not found: $AN (set STATLINE_ANALYTICSBIN)"

it_pg_database an
PREFIX="itan$$r$RANDOM"
RAW_T=$PREFIX.nba.raw.completed
AN_T=$PREFIX.nba.analytics.completed
DLQ_T=$RAW_T.dlq
IT_EXTRA_KEYS+=("$RAW_T" "$AN_T" "$DLQ_T")
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
AN_PID=

it_service analytics "$AN" "$PREFIX"

start_an() {
        it_start_service "$1" AN_PID STATLINE_ANALYTICS_RETRY_DELAYS_MS=1500,1500,1500,1500 \
                STATLINE_ANALYTICS_RETRY_ATTEMPTS=5 STATLINE_ANALYTICS_RETRY_NOT_READY_DELAYS_MS=500 \
                "${@:2}"
}

# publish TABLES DATE ENTITIES [UPSTREAM]: one raw.completed on the stream; echoes its event id.
# TABLES: comma-separated raw tables; ENTITIES: kind:id,kind:id ("" = whole date).
publish() {
        local ev
        ev=$(python3 - "$1" "$2" "$3" "${4:-}" "$CORR" <<'EOF'
import json, os, sys, uuid, time
tables, date, ents, up, corr = sys.argv[1:6]
ms = int(time.time() * 1000)
r = bytearray(os.urandom(16)); r[0:6] = ms.to_bytes(6, "big"); r[6] = 0x70 | (r[6] & 0x0F); r[8] = 0x80 | (r[8] & 0x3F)
eid = str(uuid.UUID(bytes=bytes(r)))
up = up or os.urandom(32).hex()
env = {"schema_version": "1.0", "event_id": eid, "type": "raw.completed", "phase": "raw",
       "correlation_id": corr, "causation_id": str(uuid.uuid4()),
       "traceparent": "00-" + os.urandom(16).hex() + "-" + os.urandom(8).hex() + "-01",
       "sport": "nba", "game_date": date or None,
       "affected_entities": [{"kind": e.split(":")[0], "id": e.split(":")[1]} for e in ents.split(",") if e],
       "idempotency_key": "raw:it:" + up,
       "produced_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
       "payload": {"kind": "it", "blob_sha256": up,
                   "tables": [{"name": t, "rows": 1, "inserted": 1, "updated": 0} for t in tables.split(",") if t]}}
print(json.dumps(env))
EOF
)
        it_redis XADD "$RAW_T" '*' d "$ev" >/dev/null
        jq -r .event_id <<<"$ev"
        echo "$ev" >>"$IT_DIR/published.jsonl"
}

# last_event: the newest analytics.completed.
last_event() {
        it_events "$AN_T" | tail -n 1
}

fingerprint() {
        it_sql "SELECT md5(string_agg(x, '' ORDER BY x)) FROM (
               SELECT p::text AS x FROM analytics.player_game_summary p UNION ALL
               SELECT o::text FROM analytics.team_offense_game_summary o UNION ALL
               SELECT d::text FROM analytics.team_defense_game_summary d UNION ALL
               SELECT u::text FROM analytics.upcoming_player_game_context u UNION ALL
               SELECT t::text FROM analytics.upcoming_team_game_context t) s"
}

# ---- setup ----------------------------------------------------------------------------

python3 "$IT_SRC/tests/integration/analytics_seed.py" "$IT_DIR" || it_bail "seed generator failed"
. "$IT_DIR/facts.txt"
it_must "creates a private database" it_pg_create
it_must "statline-analytics starts (migrations applied)" start_an an.1.log
it_must "raw tables seeded" psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/seed.sql"
it_sql "CREATE TABLE it_exp_player (game_id text, player_id bigint, game_date date, team_id bigint,
        opp bigint, is_home boolean, pts int, reb int, ast int, ts double precision,
        efg double precision, usg double precision);
     CREATE TABLE it_exp_team (game_id text, team_id bigint, game_date date, opp bigint,
        is_home boolean, win boolean, pts int, opp_pts int, poss double precision,
        ortg double precision, pace double precision, opp_poss double precision,
        drtg double precision)" >/dev/null
psql "$IT_DSN" -X -q -c "\\copy it_exp_player FROM '$IT_DIR/exp_player.csv' WITH (FORMAT csv, NULL '')"
psql "$IT_DSN" -X -q -c "\\copy it_exp_team FROM '$IT_DIR/exp_team.csv' WITH (FORMAT csv, NULL '')"

# ---- box score of game 1: fan-out, scoped to the event's game and players ---------------------

ents="game:0022300001"
for p in ${G1_PLAYERS//,/ }; do ents+=",player:$p"; done
e1=$(publish raw.player_boxscores,raw.team_boxscores 2024-01-10 "$ents")
it_check "game 1: analytics.completed within 30 s" it_wait_for 30 it_events_ge "$AN_T" 1
ev=$(last_event)
it_is "game 1: three processors ran (fan-out), rows per processor" \
        "$(jq -c '[.payload.processors[] | [.name, .rows]]' <<<"$ev")" \
        '[["player_game_summary",10],["team_offense_game_summary",2],["team_defense_game_summary",2]]'
it_is "game 1: child of the raw event (correlation, causation, date)" \
        "$(jq -r '[.correlation_id, .causation_id, .game_date, .payload.game_date, .type] | join(" ")' <<<"$ev")" \
        "$CORR $e1 2024-01-10 2024-01-10 analytics.completed"
it_is "game 1: affected entities = the game, its 10 players and 2 teams" \
        "$(jq -c '[.affected_entities[] | .kind] | group_by(.) | map([.[0], length])' <<<"$ev")" \
        '[["game",1],["player",10],["team",2]]'
it_is "game 1: only game 1 rows (game 2 of the same date is out of the event's scope)" \
        "$(it_sql "SELECT string_agg(DISTINCT game_id, ',') FROM analytics.player_game_summary")" "0022300001"
it_is "game 1: DNP player has no summary row" \
        "$(it_sql "SELECT count(*) FROM analytics.player_game_summary WHERE player_id = $DNP")" 0

# ---- whole date (no entities): game 2 too; every number against the recomputation -------

publish raw.player_boxscores,raw.team_boxscores 2024-01-10 "" >/dev/null
it_check "2024-01-10 whole date: second analytics.completed" it_wait_for 30 it_events_ge "$AN_T" 2
it_is "whole date: game 1 rows unchanged, game 2 inserted" \
        "$(last_event | jq -c '[.payload.processors[] | [.name, .inserted, .updated]]')" \
        '[["player_game_summary",10,0],["team_offense_game_summary",2,0],["team_defense_game_summary",2,0]]'
it_is "player_game_summary: 20 rows, every one matches the recomputation (pts/reb/ast, TS%, eFG%, usage)" \
        "$(it_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE s.pts = e.pts AND s.reb = e.reb AND s.ast = e.ast
                   AND s.team_id = e.team_id AND s.opponent_team_id = e.opp AND s.is_home = e.is_home
                   AND s.game_date = e.game_date
                   AND abs(s.ts_pct - e.ts) < 0.00006 AND abs(s.efg_pct - e.efg) < 0.00006
                   AND abs(s.usage_rate - e.usg) < 0.00006)
                FROM analytics.player_game_summary s JOIN it_exp_player e USING (game_id, player_id)")" "20/20"
it_is "team_offense: 4 rows match (pts, win, possessions, ORtg, pace)" \
        "$(it_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE o.pts = e.pts AND o.win = e.win
                   AND o.opponent_team_id = e.opp AND o.is_home = e.is_home
                   AND abs(o.possessions - e.poss) < 0.006 AND abs(o.offensive_rating - e.ortg) < 0.006
                   AND abs(o.pace - e.pace) < 0.006)
                FROM analytics.team_offense_game_summary o JOIN it_exp_team e USING (game_id, team_id)")" "4/4"
it_is "team_defense: 4 rows match (points allowed, opponent possessions, DRtg)" \
        "$(it_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE d.opp_pts = e.opp_pts
                   AND abs(d.possessions - e.opp_poss) < 0.006 AND abs(d.defensive_rating - e.drtg) < 0.006)
                FROM analytics.team_defense_game_summary d JOIN it_exp_team e USING (game_id, team_id)")" "4/4"
it_is "execution log: one completed row per processor run, dependencies met, injuries noted missing" \
        "$(it_sql "SELECT string_agg(DISTINCT processor || ':' || status || ':' || dependencies_met
                   || ':' || array_to_string(missing_dependencies, ';'), ',')
                FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND phase = 'analytics'")" \
        "player_game_summary:completed:true:raw.injuries,team_defense_game_summary:completed:true:,team_offense_game_summary:completed:true:"
it_is "execution log: 6 rows, durations, dates, rows_written filled in" \
        "$(it_sql "SELECT count(*) || ':' || sum(rows_written) FROM ops.pipeline_execution_log
                WHERE correlation_id = '$CORR' AND duration_ms >= 0 AND game_date = '2024-01-10'
                AND completed_at >= started_at")" "6:28"

# ---- replay ----------------------------------------------------------------------------------

fp1=$(fingerprint)
dup=$(tail -n 1 "$IT_DIR/published.jsonl")
it_redis XADD "$RAW_T" '*' d "$dup" >/dev/null
it_check "replay (same event): skipped as duplicate" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'
         AND status = 'skipped' AND skip_reason LIKE 'duplicate:%'" 3
it_is "replay (same event): no new analytics.completed" "$(it_count_events "$AN_T")" 2
publish raw.player_boxscores,raw.team_boxscores 2024-01-10 "" >/dev/null
it_check "replay (new event, same data): processed" it_wait_for 30 it_events_ge "$AN_T" 3
it_is "replay (new event, same data): zero rows written" "$(last_event | jq -c '.payload.rows')" 0
it_is "replay: no row changed (content and updated_at)" "$(fingerprint)" "$fp1"

# ---- a critical dependency missing: parked, then completes -----------------------------------

publish raw.player_boxscores,raw.team_boxscores 2024-01-11 "game:0022300003" >/dev/null
it_check "game 3 without its raw.games row: waiting rows, dependencies_met = false" it_wait_for 20 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR'
         AND status = 'waiting' AND dependencies_met = false AND 'raw.games' = ANY(missing_dependencies)" 3
it_like "game 3: the reason names the dependency" \
        "$(it_sql "SELECT error_message FROM ops.pipeline_execution_log WHERE status = 'waiting' LIMIT 1")" \
        "critical dependency missing: raw.games"
it_check "game 3: parked in ops.deferred_events" it_sql_ge "SELECT count(*) FROM ops.deferred_events" 1
it_is "game 3: nothing written while blocked" \
        "$(it_sql "SELECT count(*) FROM analytics.player_game_summary WHERE game_id = '0022300003'")" 0
psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/games3.sql"
it_check "game 3: completes once raw.games has the row" it_wait_for 20 it_events_ge "$AN_T" 4
it_is "game 3: rows written" \
        "$(it_sql "SELECT count(*) FROM analytics.player_game_summary WHERE game_id = '0022300003'")" 10
it_is "game 3: numbers match the recomputation" \
        "$(it_sql "SELECT count(*) FILTER (WHERE abs(s.ts_pct - e.ts) < 0.00006 AND s.pts = e.pts)
                FROM analytics.player_game_summary s JOIN it_exp_player e USING (game_id, player_id)
                WHERE game_id = '0022300003'")" 10
it_is "game 3: nothing dead-lettered" "$(it_count_events "$DLQ_T")" 0

# ---- upcoming context from the schedule ----------------------------------------------------

publish raw.schedule 2024-01-12 "game:0022300004,game:0022300005" >/dev/null
it_check "schedule 2024-01-12: analytics.completed" it_wait_for 30 it_events_ge "$AN_T" 5
it_is "schedule: the two upcoming processors ran (smart skip of the game summaries)" \
        "$(last_event | jq -c '[.payload.processors[] | [.name, .rows]]')" \
        '[["upcoming_player_game_context",21],["upcoming_team_game_context",4]]'
it_is "upcoming team A: away at B, played yesterday (back-to-back, 0 days rest), 2 games in 7 days, 1 out" \
        "$(it_sql "SELECT opponent_team_id || ',' || is_home || ',' || days_rest || ',' || back_to_back || ','
                   || games_last_7_days || ',' || players_out || ',' || win_pct_season
                FROM analytics.upcoming_team_game_context WHERE team_id = $TA")" \
        "$TB,false,0,true,2,1,$WINPCT_A"
it_is "upcoming team B: home, last game 2024-01-10 (1 day rest), no back-to-back" \
        "$(it_sql "SELECT is_home || ',' || days_rest || ',' || back_to_back || ',' || games_last_7_days
                FROM analytics.upcoming_team_game_context WHERE team_id = $TB")" "true,1,false,1"
it_is "upcoming player A1: Out (Ankle), back-to-back, 2 games played" \
        "$(it_sql "SELECT injury_status || ',' || injury_reason || ',' || days_rest || ',' || back_to_back
                   || ',' || games_played_season || ',' || game_id
                FROM analytics.upcoming_player_game_context WHERE player_id = $A1")" \
        "Out,Ankle,0,true,2,0022300004"
it_is "upcoming player A2: consensus points line 23.0 (22.5 and 23.5), rebounds 7.5, no assists line" \
        "$(it_sql "SELECT points_line || ',' || rebounds_line || ',' || coalesce(assists_line::text, 'none')
                   || ',' || coalesce(injury_status, 'none')
                FROM analytics.upcoming_player_game_context WHERE player_id = $A2")" "23.0,7.5,none,none"
it_is "upcoming DNP player: on A's roster, no game played yet (days_rest NULL)" \
        "$(it_sql "SELECT coalesce(days_rest::text, 'null') || ',' || games_played_season
                FROM analytics.upcoming_player_game_context WHERE player_id = $DNP")" "null,0"

# ---- a date without games: waits until its scoreboard is loaded, then exits early ------------

NOGAME=2024-01-20
nan=$(it_count_events "$AN_T")
ndl=$(it_count_events "$DLQ_T")
NG_EV=$(publish raw.injuries "$NOGAME" "")
it_check "no games on $NOGAME, scoreboard not loaded yet: waiting (late data)" it_wait_for 20 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$NG_EV' AND status = 'waiting'" 1
it_sql "INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, phase, processor, status,
        started_at, completed_at, rows_written, game_date)
        VALUES (gen_random_uuid(), '$CORR', 'raw', 'scoreboard_v2', 'completed', now(), now(), 0, '$NOGAME')" >/dev/null
it_check "its scoreboard loaded with no game: the event exits early (skipped, with the reason)" \
        it_wait_for 20 it_sql_ge "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$NG_EV'
        AND status = 'skipped' AND skip_reason = 'early exit: no games on $NOGAME (its scoreboard was loaded with none)'" 2
nothing_parked() { [[ $(it_sql "SELECT count(*) FROM ops.deferred_events") == 0 ]]; }
it_check "no games: nothing left parked" it_wait_for 10 nothing_parked
it_is "no games: no analytics.completed, nothing dead-lettered" \
        "$(it_count_events "$AN_T")/$(it_count_events "$DLQ_T")" "$nan/$ndl"

# ---- injury update for one player -------------------------------------------------------------

before=$(it_sql "SELECT string_agg(player_id || '@' || updated_at, ',' ORDER BY player_id)
              FROM analytics.upcoming_player_game_context WHERE player_id <> $C2")
it_sql "UPDATE raw.injuries SET status = 'Out', reason = 'Knee soreness' WHERE player_id = $C2" >/dev/null
publish raw.injuries 2024-01-12 "game:0022300005,player:$C2" >/dev/null
it_check "injury update: analytics.completed" it_wait_for 30 it_events_ge "$AN_T" 6
ev=$(last_event)
it_is "injury update: one player row and his team's row rewritten" \
        "$(jq -c '[.payload.processors[] | [.name, .inserted, .updated]]' <<<"$ev")" \
        '[["upcoming_player_game_context",0,1],["upcoming_team_game_context",0,1]]'
it_is "injury update: entities = that player, his game and team" \
        "$(jq -c '[.affected_entities[] | .kind + ":" + .id] | sort' <<<"$ev")" \
        "[\"game:0022300005\",\"player:$C2\",\"team:$TC\"]"
it_is "injury update: status now Out, team C players_out 1" \
        "$(it_sql "SELECT (SELECT injury_status FROM analytics.upcoming_player_game_context WHERE player_id = $C2)
                || ',' || (SELECT players_out FROM analytics.upcoming_team_game_context WHERE team_id = $TC)")" \
        "Out,1"
it_is "injury update: no other player's row touched" \
        "$(it_sql "SELECT string_agg(player_id || '@' || updated_at, ',' ORDER BY player_id)
                FROM analytics.upcoming_player_game_context WHERE player_id <> $C2")" "$before"

it_events "$AN_T" >"$IT_DIR/analytics_completed.jsonl"
it_is "every analytics.completed validates against the envelope and payload v1 schemas" \
        "$(python3 - "$IT_SRC/proto" "$IT_DIR/analytics_completed.jsonl" <<'EOF'
import json, sys
try:
    import jsonschema
except ImportError:
    print("jsonschema missing"); sys.exit()
env_s = json.load(open(sys.argv[1] + "/envelope.schema.json"))
pay_s = json.load(open(sys.argv[1] + "/events/analytics.completed.v1.json"))
bad = 0
for line in open(sys.argv[2]):
    ev = json.loads(line)
    for inst, s in ((ev, env_s), (ev["payload"], pay_s)):
        try:
            jsonschema.validate(inst, s)
        except jsonschema.ValidationError as e:
            bad += 1
            print(e.message[:200], file=sys.stderr)
print(f"bad={bad}")
EOF
)" "bad=0"

# ---- smart skip, poison, SIGTERM --------------------------------------------------------------

n=$(it_count_events "$AN_T")
publish raw.league_game_log,raw.play_by_play "" "" >/dev/null
it_check "smart skip: a 'skipped' trigger_registry row" it_wait_for 20 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE processor = 'trigger_registry'
         AND status = 'skipped' AND skip_reason LIKE 'smart skip:%'" 1
it_is "smart skip: no analytics.completed" "$(it_count_events "$AN_T")" "$n"

# A scoreboard of a date whose games are not played yet: the game summaries
# exit early (skipped, not failed, not retried into the DLQ).
publish raw.games "2031-01-02" "" >/dev/null
it_check "early exit: game summaries skipped for a date without box scores" it_wait_for 20 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE game_date = '2031-01-02'
         AND status = 'skipped' AND skip_reason = 'early exit: no box scores loaded for 2031-01-02'" 3
it_is "early exit: nothing failed for that date" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE game_date = '2031-01-02'
               AND status = 'failed'")" 0

bad=$(jq -c '.payload = {"kind": "it"} | .event_id = "019a4d0a-54f6-714c-bcad-f65729f5c3bb"' \
        <<<"$(head -n 1 "$IT_DIR/published.jsonl")")
it_redis XADD "$RAW_T" '*' d "$bad" >/dev/null
it_check "poison (no tables): dead-lettered" it_wait_for 20 it_events_ge "$DLQ_T" 1
it_dlq_fetch "$DLQ_T" 0
it_is "poison: PERMANENT on the first attempt" "$(it_hdr 0 dlq.error_class)/$(it_hdr 0 dlq.attempts)" \
        "PERMANENT/1"
it_like "poison: failed row says why" \
        "$(it_sql "SELECT error_message FROM ops.pipeline_execution_log WHERE status = 'failed'
                AND processor = 'trigger_registry'")" "payload.tables"

t0=$(date +%s%3N)
it_stop_service AN_PID
rc=$?
t1=$(date +%s%3N)
it_is "SIGTERM: exit 0" "$rc" 0
it_check "SIGTERM: gone within drain.timeout_ms (took $((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000

# ---- staleness: FAIL threshold 0 s makes every critical table stale ----------------------------

it_check "restart with deps.stale_fail_s = 0: starts, no migration applied" start_an an.2.log \
        STATLINE_ANALYTICS_DEPS_STALE_WARN_S=0 STATLINE_ANALYTICS_DEPS_STALE_FAIL_S=0 \
        STATLINE_ANALYTICS_RETRY_DELAYS_MS=200,200 STATLINE_ANALYTICS_RETRY_ATTEMPTS=3
it_is "restart: migrations applied=0" \
        "$(grep -o 'migrations applied=[0-9]*' "$IT_DIR/an.2.log" | head -n 1)" "migrations applied=0"
sleep 1 # every upstream row is now at least a second old
ndlq=$(it_count_events "$DLQ_T")
publish raw.team_boxscores 2024-01-10 "game:0022300002" >/dev/null
it_check "stale: dead-lettered after the retries" it_wait_for 20 it_events_ge "$DLQ_T" $((ndlq + 1))
it_dlq_fetch "$DLQ_T" "$ndlq"
it_is "stale: TRANSIENT after 3 attempts (retriable, never PERMANENT)" \
        "$(it_hdr "$ndlq" dlq.error_class)/$(it_hdr "$ndlq" dlq.attempts)" "TRANSIENT/3"
it_like "stale: failed rows name the stale tables (WARN entries in missing_dependencies)" \
        "$(it_sql "SELECT array_to_string(missing_dependencies, ';') || ' / ' || error_message
                FROM ops.pipeline_execution_log WHERE status = 'failed'
                AND processor = 'team_offense_game_summary' ORDER BY started_at DESC LIMIT 1")" \
        "raw.team_boxscores \\(stale [0-9]+ s\\).* / critical dependency missing: raw.team_boxscores \\(stale\\)"
it_stop_service AN_PID
it_diag "run durations: $(grep -o 'analytics.run.ok[^}]*duration_ms=[0-9]*' "$IT_DIR/an.1.log" |
        sed 's/.*date=\([^ ]*\).*duration_ms=\([0-9]*\)/\1:\2ms/' | tr '\n' ' ')"
it_done
