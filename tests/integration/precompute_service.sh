#!/usr/bin/env bash
# precompute_service.sh BACKEND: statline-precompute end to end on real servers.
#   - a private database (STATLINE_TEST_PG_DSN, created and dropped here), a
#     private topic prefix on the shared Redis;
#   - analytics.* and raw.* seeded with SQL by precompute_seed.py (4 teams,
#     6 days of games, the as-of date D = 2024-11-07 scheduled), which also
#     recomputes the expected numbers independently (Python over its own box
#     scores);
#   - one analytics.completed for D (written to the stream as an envelope):
#     rows in the five precompute tables equal the recomputation, one
#     execution log row per processor with the dependency check, one
#     precompute.completed (child of the event, processors + rows,
#     feature_version, the 9 slate players);
#   - replay: the same event again changes no row, publishes nothing;
#   - LEAKAGE: rows dated D and D+1 with absurd values are added and a new
#     analytics.completed for D is handled: no precompute row of D changes;
#   - entity update: one player's past game corrected, an event naming only
#     him: only his rows change, the event names only him;
#   - dependency check: a date 100+ days after the newest analytics row is
#     skipped (dependencies_met false, the missing table named), nothing
#     published;
#   - poison (no game_date, bad JSON) is dead-lettered;
#   - inputs unchanged: the leakage run found every player computed from the
#     same slate rows and history (processors skipped with the reason, the
#     event still published); a team summary before D moves: computed again;
#     the same inputs again for one player: skipped, nothing changed;
#   - SIGTERM: exit 0.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
it_init precompute_service
it_backend "${1:-redis-streams}"
[[ $IT_BACKEND == redis-streams ]] || it_skip_all "this test writes and reads streams with redis-cli"
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
PC=${STATLINE_PRECOMPUTEBIN:-$BUILD/services/precompute/statline-precompute}
SEED=$IT_SRC/tests/integration/precompute_seed.py
[[ -x $PC ]] || it_bail "statline-precompute not found: $PC (set STATLINE_PRECOMPUTEBIN)"

it_pg_database pc
PREFIX="itpc$$r$RANDOM"
IN_T=$PREFIX.nba.analytics.completed
OUT_T=$PREFIX.nba.precompute.completed
DLQ_T=$IN_T.dlq
IT_EXTRA_KEYS+=("$IN_T" "$OUT_T" "$DLQ_T")
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
D=2024-11-07
PC_PID=

it_service precompute "$PC" "$PREFIX"

start_pc() {
        it_start_service "$1" PC_PID "${@:2}"
}

# envelope DATE [IDEM_KEY] [PLAYER...]: an analytics.completed envelope (one line).
envelope() {
        python3 - "$CORR" "$@" <<'PYEOF'
import json, os, sys, time, uuid
corr, date = sys.argv[1], sys.argv[2]
idem = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
players = sys.argv[4:]
ms = int(time.time() * 1000)
b = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
b[6] = (b[6] & 0x0F) | 0x70
b[8] = (b[8] & 0x3F) | 0x80
eid = str(uuid.UUID(bytes=bytes(b)))
env = {"schema_version": "1.0", "event_id": eid, "type": "analytics.completed", "phase": "analytics",
       "correlation_id": corr, "causation_id": None,
       "traceparent": "00-" + os.urandom(16).hex() + "-" + os.urandom(8).hex() + "-01",
       "sport": "nba", "game_date": date if date != "-" else None,
       "affected_entities": [{"kind": p.split(":")[0], "id": p.split(":")[1]} if ":" in p
                             else {"kind": "player", "id": p} for p in players],
       "idempotency_key": idem,
       "produced_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
       "payload": {"processors": [{"name": "player_game_summary", "rows": 1}],
                   "game_date": date if date != "-" else None}}
print(json.dumps(env, separators=(",", ":")))
PYEOF
}

# publish LINE: XADD to the analytics.completed stream (fields d, k as bus_redis.c writes them).
publish() {
        it_redis XADD "$IN_T" '*' d "$1" k "nba:$D" >/dev/null
}

# fingerprint: every precompute row of D (content and updated_at), hashed.
fingerprint() {
        it_sql "SELECT md5(string_agg(x, '' ORDER BY x)) FROM (
               SELECT c::text AS x FROM precompute.player_daily_cache c WHERE cache_date = '$D' UNION ALL
               SELECT f::text FROM precompute.player_composite_factors f WHERE game_date = '$D' UNION ALL
               SELECT z::text FROM precompute.player_shot_zone_analysis z WHERE analysis_date = '$D' UNION ALL
               SELECT t::text FROM precompute.team_defense_zone_analysis t WHERE analysis_date = '$D' UNION ALL
               SELECT m::text FROM precompute.ml_feature_store m WHERE game_date = '$D') s"
}

# player_fp P: that player's rows of D, hashed.
player_fp() {
        it_sql "SELECT md5(string_agg(x, '' ORDER BY x)) FROM (
               SELECT c::text AS x FROM precompute.player_daily_cache c WHERE cache_date = '$D' AND player_id = $1 UNION ALL
               SELECT f::text FROM precompute.player_composite_factors f WHERE game_date = '$D' AND player_id = $1 UNION ALL
               SELECT m::text FROM precompute.ml_feature_store m WHERE game_date = '$D' AND player_id = $1) s"
}

# ---- start and seed ----------------------------------------------------------------

it_must "creates a private database" it_pg_create
it_must "statline-precompute starts (migrations applied)" start_pc pc.1.log
it_must "seed data generated" python3 "$SEED" seed "$IT_DIR/seed.sql" "$IT_DIR/expected.txt"
it_must "seed data loaded" psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/seed.sql"
it_is "feature version v1 registered with 31 names" \
        "$(it_sql "SELECT feature_version || ':' || cardinality(feature_names) FROM precompute.ml_feature_versions")" "v1:31"

e1=$(envelope "$D" "analytics:nba:$D:run1")
publish "$e1"
it_check "precompute.completed within 30 s" it_wait_for 30 it_events_ge "$OUT_T" 1

# ---- rows = the independent recomputation -------------------------------------------------

got=$(it_sql "SELECT c.player_id || '|' || coalesce(c.pts_avg_last_5::text, '') || '|' || coalesce(c.pts_avg_last_10::text, '')
             || '|' || coalesce(c.pts_avg_season::text, '') || '|' || coalesce(c.reb_avg_last_5::text, '')
             || '|' || coalesce(c.ast_avg_season::text, '') || '|' || coalesce(c.minutes_avg_last_10::text, '')
             || '|' || c.games_played_season || '|' || coalesce(c.days_since_last_game::text, '')
             || '|' || coalesce(z.three_pt_rate::text, '') || '|' || coalesce(z.two_pt_pct::text, '')
             || '|' || coalesce(f.back_to_back::text, '') || '|' || f.fatigue_score
             || '|' || coalesce(f.form_score::text, '')
           FROM precompute.player_daily_cache c
           JOIN precompute.player_shot_zone_analysis z ON z.player_id = c.player_id AND z.analysis_date = c.cache_date
           JOIN precompute.player_composite_factors f ON f.player_id = c.player_id AND f.game_date = c.cache_date
           WHERE c.cache_date = '$D' ORDER BY 1")
want=$(sort "$IT_DIR/expected.txt")
it_is "daily cache, shot zones, rest/fatigue/form: equal the recomputation (9 players)" "$got" "$want"
it_is "daily cache: no last game on or after D" \
        "$(it_sql "SELECT count(*) FROM precompute.player_daily_cache WHERE last_game_date >= cache_date")" 0
it_is "team defense zones: 4 slate teams, 5-6 games each, a weakest zone" \
        "$(it_sql "SELECT string_agg(team_id || ':' || games_sampled || ':' || (weakest_zone IS NOT NULL), ',' ORDER BY team_id)
                FROM precompute.team_defense_zone_analysis WHERE analysis_date = '$D'")" \
        "1610612701:6:true,1610612702:5:true,1610612703:6:true,1610612704:5:true"
# The defensive rating recomputed from the seeded team rows (100 * points allowed / possessions).
it_is "team defense: defensive rating = 100 * sum(opp_pts) / sum(possessions) before D" \
        "$(it_sql "SELECT count(*) FROM precompute.team_defense_zone_analysis z WHERE analysis_date = '$D'
                AND defensive_rating IS DISTINCT FROM (SELECT round(100 * sum(opp_pts) / sum(possessions), 2)
                FROM analytics.team_defense_game_summary d WHERE d.team_id = z.team_id AND d.game_date < '$D')")" 0
it_is "composite: matchup = pts_season * (opp rating / league rating - 1)" \
        "$(it_sql "SELECT count(*) FROM precompute.player_composite_factors f
                JOIN precompute.player_daily_cache c ON c.player_id = f.player_id AND c.cache_date = f.game_date
                WHERE f.game_date = '$D' AND c.pts_avg_season IS NOT NULL AND abs(f.matchup_score -
                  c.pts_avg_season * ((f.factors->>'opp_defensive_rating')::numeric /
                  (SELECT 100 * sum(opp_pts) / sum(possessions) FROM analytics.team_defense_game_summary WHERE game_date < '$D') - 1)) > 0.01")" 0
it_is "feature store: 9 rows of v1, 31 features each, the game of D" \
        "$(it_sql "SELECT count(*) || ':' || min(cardinality(features)) || ':' || max(cardinality(features)) || ':' ||
                string_agg(DISTINCT game_id, ',' ORDER BY game_id) FROM precompute.ml_feature_store
                WHERE game_date = '$D' AND feature_version = 'v1'")" "9:31:31:0022400900,0022400901"
it_is "feature store: features are the named cache values (pts_avg_last_5, games, is_home)" \
        "$(it_sql "SELECT count(*) FROM precompute.ml_feature_store m
                JOIN precompute.ml_feature_versions v USING (feature_version)
                JOIN precompute.player_daily_cache c ON c.player_id = m.player_id AND c.cache_date = m.game_date
                WHERE m.game_date = '$D' AND c.games_played_total > 0
                AND m.features[array_position(v.feature_names, 'pts_avg_last_5')] = c.pts_avg_last_5::real
                AND m.features[array_position(v.feature_names, 'games_played_season')] = c.games_played_season
                AND m.features[array_position(v.feature_names, 'is_home')] =
                    CASE WHEN m.player_id IN (101, 102, 301, 302) THEN 1 ELSE 0 END")" 8
# Player 409 has no history: 7 of 31 features have a value (games_played_season 0,
# days_since_last_game capped at 10, is_home, fatigue 0, the opponent's three defense numbers).
it_is "feature store: full data quality with history, 7/31 without (player 409)" \
        "$(it_sql "SELECT string_agg(DISTINCT data_quality::text, ',') FILTER (WHERE player_id <> 409) || '/' ||
                max(data_quality) FILTER (WHERE player_id = 409) FROM precompute.ml_feature_store WHERE game_date = '$D'")" \
        "1.000/0.226"

# ---- execution log and event --------------------------------------------------------------

it_is "execution log: five completed processors, dependencies met" \
        "$(it_sql "SELECT string_agg(processor || ':' || status || ':' || rows_written || ':' || dependencies_met, ','
                ORDER BY processor) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND phase = 'precompute'")" \
        "ml_feature_store:completed:9:true,player_composite_factors:completed:9:true,player_daily_cache:completed:9:true,player_shot_zone_analysis:completed:9:true,team_defense_zone_analysis:completed:4:true"
it_is "execution log: date, sport, 9 affected players, nothing missing" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND game_date = '$D'
                AND sport = 'nba' AND jsonb_array_length(affected_entities) = 9 AND missing_dependencies = '{}'
                AND duration_ms >= 0")" 5
it_events "$OUT_T" >"$IT_DIR/out.1.jsonl"
eid1=$(jq -r .event_id <<<"$e1")
it_is "precompute.completed: child of the analytics event (correlation, causation, trace)" \
        "$(jq -r '[.correlation_id, .causation_id, .traceparent[3:35], .type, .phase, .game_date] | join(" ")' "$IT_DIR/out.1.jsonl")" \
        "$CORR $eid1 $(jq -r '.traceparent[3:35]' <<<"$e1") precompute.completed precompute $D"
it_is "precompute.completed: payload processors, rows, game_date, feature_version" \
        "$(jq -c '.payload | [.game_date, .feature_version, (.processors | map(.name + "=" + (.rows | tostring)))]' "$IT_DIR/out.1.jsonl")" \
        "[\"$D\",\"v1\",[\"player_daily_cache=9\",\"player_shot_zone_analysis=9\",\"team_defense_zone_analysis=4\",\"player_composite_factors=9\",\"ml_feature_store=9\"]]"
it_is "precompute.completed: the 9 slate players are the affected entities" \
        "$(jq -r '[.affected_entities[] | .kind + ":" + .id] | join(",")' "$IT_DIR/out.1.jsonl")" \
        "player:101,player:102,player:201,player:202,player:301,player:302,player:401,player:402,player:409"
it_like "precompute.completed: idempotency key precompute:nba:<date>:..." \
        "$(jq -r .idempotency_key "$IT_DIR/out.1.jsonl")" "^precompute:nba:$D:[0-9a-f]{16}:[0-9a-f]{16}$"

# ---- replay --------------------------------------------------------------------------------

fp1=$(fingerprint)
publish "$e1"
it_check "replay: skipped rows logged" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND status = 'skipped'" 5
it_is "replay: no row changed, no new event" "$(fingerprint)/$(it_count_events "$OUT_T")" "$fp1/1"
it_is "replay: the skips say why" \
        "$(it_sql "SELECT DISTINCT skip_reason FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND status = 'skipped'")" \
        "duplicate: already computed and published"

# ---- leakage: rows dated D and later must not move any feature of D ----------------------------

it_must "leakage probe generated" python3 "$SEED" future "$IT_DIR/future.sql"
it_must "rows dated D and D+1 added (70-point games)" psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/future.sql"
publish "$(envelope "$D" "analytics:nba:$D:run2")"
it_check "leakage: the new analytics event is handled" it_wait_for 30 it_events_ge "$OUT_T" 2
it_is "leakage: no precompute row of D changed (content and updated_at)" "$(fingerprint)" "$fp1"
it_is "leakage: the event reports 0 rows written" \
        "$(it_events "$OUT_T" | tail -n 1 | jq -c '[.payload.processors[].rows] | add')" 0

# ---- entity update: one player -----------------------------------------------------------------

fp_other=$(player_fp 102)
fp_one=$(player_fp 101)
it_sql "UPDATE analytics.player_game_summary SET pts = pts + 2, fgm = fgm + 1, fga = fga + 1
     WHERE player_id = 101 AND game_date = '2024-11-06'" >/dev/null
publish "$(envelope "$D" "analytics:nba:$D:run3" 101)"
it_check "entity update: handled" it_wait_for 30 it_events_ge "$OUT_T" 3
last=$(it_events "$OUT_T" | tail -n 1)
it_is "entity update: the event names only player 101" \
        "$(jq -c '[.affected_entities, [.payload.processors[] | .rows]]' <<<"$last")" \
        '[[{"kind":"player","id":"101"}],[1,1,0,1,1]]'
it_check "entity update: player 101's rows changed" test "$(player_fp 101)" != "$fp_one"
it_is "entity update: other players untouched" "$(player_fp 102)" "$fp_other"

# ---- a box score's event: its game and team next to its players -------------------------------
# Game and team entities do not widen the run to the whole date: only the
# named player's rows are recomputed.
fp_other=$(player_fp 101)
fp_one=$(player_fp 102)
it_sql "UPDATE analytics.player_game_summary SET pts = pts + 2, fgm = fgm + 1, fga = fga + 1
     WHERE player_id = 102 AND game_date = (SELECT max(game_date) FROM analytics.player_game_summary
                                            WHERE player_id = 102 AND game_date < '$D')" >/dev/null
publish "$(envelope "$D" "analytics:nba:$D:run4" game:0022400999 team:1610612747 102)"
it_check "box-score event: handled" it_wait_for 30 it_events_ge "$OUT_T" 4
last=$(it_events "$OUT_T" | tail -n 1)
it_is "box-score event (game + team + player 102): precompute.completed names only player 102" \
        "$(jq -c '.affected_entities' <<<"$last")" '[{"kind":"player","id":"102"}]'
it_check "box-score event: player 102's rows changed" test "$(player_fp 102)" != "$fp_one"
it_is "box-score event: player 101 untouched" "$(player_fp 101)" "$fp_other"
it_is "box-score event: the execution log names one player" \
        "$(it_sql "SELECT affected_entities::text FROM ops.pipeline_execution_log
                   WHERE phase = 'precompute' AND status = 'completed'
                   ORDER BY started_at DESC, execution_id DESC LIMIT 1")" \
        '[{"id": "102", "kind": "player"}]'

# ---- a box score of a game on or after D only: nothing of D to recompute ------------------------
# (the game 0022400902 of D+1 is in raw.games since the leakage probe)
fp_all=$(fingerprint)
publish "$(envelope "$D" "analytics:nba:$D:run5" game:0022400902 team:1610612747 101)"
it_check "game summaries of D+1 only: skipped rows logged" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE phase = 'precompute' AND status = 'skipped'
         AND skip_reason LIKE 'game summaries of 1 game(s) on or after $D only%leakage rule%'" 5
it_is "game summaries of D+1 only: no row changed, no event published" \
        "$(fingerprint)/$(it_count_events "$OUT_T")" "$fp_all/4"

# ---- dependency check --------------------------------------------------------------------------

it_sql "INSERT INTO raw.schedule (game_id, game_date, season, home_team_id, away_team_id, status, source, payload_sha256)
     VALUES ('0022401000', '2025-03-01', '2024-25', 1610612701, 1610612702, 'scheduled', 'test', '$(printf 'ab%.0s' {1..32})')" >/dev/null
publish "$(envelope 2025-03-01 "analytics:nba:2025-03-01:run1")"
it_check "stale dependency: skipped runs logged" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE game_date = '2025-03-01' AND status = 'skipped'" 5
it_is "stale dependency: dependencies_met false, the table named, the reason given" \
        "$(it_sql "SELECT DISTINCT dependencies_met || ':' || array_to_string(missing_dependencies, ',') || ':' || (skip_reason LIKE '%stale%fail threshold 30%')
                FROM ops.pipeline_execution_log WHERE game_date = '2025-03-01'")" \
        "false:analytics.player_game_summary:true"
it_is "stale dependency: nothing computed, nothing published" \
        "$(it_sql "SELECT count(*) FROM precompute.player_daily_cache WHERE cache_date = '2025-03-01'")/$(it_count_events "$OUT_T")" "0/4"

# ---- a skip whose rows cannot be written: retried, not acked unrecorded ------------------------
# (the chaos suite lost one this way: PostgreSQL went away between the skip
# and its execution-log rows; here a trigger refuses the first attempt)
it_sql "CREATE SEQUENCE refuse_seq;
        CREATE FUNCTION refuse_skip() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN
                IF NEW.status = 'skipped' AND nextval('refuse_seq') = 1 THEN
                        RAISE EXCEPTION 'skip row refused by the test' USING ERRCODE = '40001';
                END IF;
                RETURN NEW;
        END\$\$;
        CREATE TRIGGER refuse_skip BEFORE INSERT ON ops.pipeline_execution_log
                FOR EACH ROW EXECUTE FUNCTION refuse_skip()" >/dev/null
publish "$(envelope 2025-03-01 "analytics:nba:2025-03-01:run2")"
it_check "unrecorded skip: retried, then its rows are written" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE game_date = '2025-03-01' AND status = 'skipped'" 10
it_check "...after a retry that names the refused row" \
        grep -q '"event":"precompute.retry".*skip row refused by the test' "$IT_DIR/pc.1.log"
it_is "...not dead-lettered, nothing published" "$(it_count_events "$DLQ_T")/$(it_count_events "$OUT_T")" "0/4"
it_sql "DROP TRIGGER refuse_skip ON ops.pipeline_execution_log; DROP FUNCTION refuse_skip();
        DROP SEQUENCE refuse_seq" >/dev/null

# ---- poison ------------------------------------------------------------------------------------

publish "$(envelope - "analytics:nba:nodate")"
it_redis XADD "$IN_T" '*' d '{"schema_version":"1.0","event_id":' k x >/dev/null
it_check "poison: two dead letters" it_wait_for 30 it_events_ge "$DLQ_T" 2
it_dlq_fetch "$DLQ_T" 0
it_dlq_fetch "$DLQ_T" 1
it_is "poison: PERMANENT, first attempt" \
        "$(it_hdr 0 dlq.error_class)/$(it_hdr 0 dlq.attempts) $(it_hdr 1 dlq.error_class)/$(it_hdr 1 dlq.attempts)" \
        "PERMANENT/1 PERMANENT/1"
it_is "poison: no new event" "$(it_count_events "$OUT_T")" 4

# ---- inputs unchanged: nothing to compute, the event still goes out ---------------------------
# Run 2 (the leakage probe) already found every player computed from the same
# slate rows and history: its processors were skipped with the reason.
it_is "leakage run: processors skipped, inputs unchanged" \
        "$(it_sql "SELECT count(*) || ':' || min(skip_reason) FROM ops.pipeline_execution_log
                   WHERE phase = 'precompute' AND status = 'skipped' AND skip_reason LIKE 'inputs unchanged%'")" \
        "5:inputs unchanged: computed before from the same slate rows and history; precompute.completed published for the downstream"
it_is "leakage run: its precompute.completed named the 9 players all the same" \
        "$(it_events "$OUT_T" | sed -n 2p | jq -c '[(.affected_entities | length), .payload.players]')" '[9,9]'
# A team's defensive game summary before D moves: the history fingerprint
# (change log, migration 0023) moves with it, the date is computed again.
fp_all=$(fingerprint)
it_sql "UPDATE analytics.team_defense_game_summary SET opp_pts = opp_pts + 12
        WHERE game_date = (SELECT max(game_date) FROM analytics.team_defense_game_summary WHERE game_date < '$D')" >/dev/null
publish "$(envelope "$D" "analytics:nba:$D:run6")"
it_check "team summary before D changed: handled" it_wait_for 30 it_events_ge "$OUT_T" 5
it_is "team summary before D changed: the five processors completed" \
        "$(it_sql "SELECT string_agg(DISTINCT status, ',') FROM (SELECT status FROM ops.pipeline_execution_log
                   WHERE phase = 'precompute' AND game_date = '$D' ORDER BY started_at DESC, execution_id DESC LIMIT 5) x")" \
        completed
it_check "team summary before D changed: rows of D changed" test "$(fingerprint)" != "$fp_all"
fp_all=$(fingerprint)
publish "$(envelope "$D" "analytics:nba:$D:run7" 101)"
it_check "the same inputs again (player 101): handled" it_wait_for 30 it_events_ge "$OUT_T" 6
it_is "the same inputs again: skipped as unchanged, no row changed, the event names player 101" \
        "$(it_sql "SELECT count(*) FROM (SELECT status FROM ops.pipeline_execution_log WHERE phase = 'precompute'
                   AND game_date = '$D' AND skip_reason LIKE 'inputs unchanged%' ORDER BY started_at DESC LIMIT 5) x")/$(fingerprint)/$(it_events "$OUT_T" | tail -n 1 | jq -c .affected_entities)" \
        "5/$fp_all/[{\"kind\":\"player\",\"id\":\"101\"}]"

# ---- SIGTERM -----------------------------------------------------------------------------------

t0=$(date +%s%3N)
it_stop_service PC_PID
rc=$?
t1=$(date +%s%3N)
it_is "SIGTERM: exit 0" "$rc" 0
it_check "SIGTERM: gone within 3000 ms (took $((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000
line=$(grep '"event":"precompute.ok"' "$IT_DIR/pc.1.log" | head -n 1)
it_diag "first run: ${line:0:400}"

it_done
