#!/usr/bin/env bash
# prediction_service.sh: statline-prediction and statline-train on real servers.
#   - a private database; a simulated league (prediction_sim.py: 48 players,
#     70 dates of history in analytics.player_game_summary, feature rows in
#     precompute.ml_feature_store, the schedule and prop lines of the target
#     date) seeded with SQL;
#   - before any model: xgboost_v1 is skipped with a skip_reason, the other
#     four systems write rows;
#   - statline-train: model file + prediction.models row, and the accuracy
#     report shows xgboost_v1 beating the season-average baseline;
#     and the running service loads the new model on its NOTIFY, before any event;
#   - a new precompute.completed: all five systems, values checked against an
#     independent recomputation (moving average in python over the seeded
#     rows, OVER/UNDER/PASS against the line), prediction.completed a child
#     of the incoming event with the players as affected entities;
#   - the same event again: skipped as a duplicate; a new event for the same
#     inputs: skipped ("inputs unchanged"), no row changes, nothing published;
#     a single-player event after its line moved touches only that player,
#     the same event again with nothing moved is skipped;
#   - Elo: prediction.elo_ratings and game_win_probs against an independent
#     python recomputation of 538's NBA Elo over the seeded raw.games finals
#     (prediction_elo_kelly.py elo), including a season carry-over;
#   - Kelly: prediction.prop_bets and kelly_portfolio against an independent
#     python recomputation (normal model, proportional margin removal, best
#     side and book, quarter Kelly with the per-bet, day and portfolio caps),
#     sd from the ensemble's RMSE or the default; with open exposure from an
#     earlier unsettled bet the portfolio cap scales the slate;
#   - poison (no game_date) is dead-lettered; SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
it_init prediction_service
it_backend redis-streams
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
PRED=${STATLINE_PREDBIN:-$BUILD/services/prediction/statline-prediction}
TRAIN=${STATLINE_TRAINBIN:-$BUILD/services/prediction/statline-train}
[[ -x $PRED ]] || it_bail "statline-prediction not found: $PRED"
[[ -x $TRAIN ]] || it_bail "statline-train not found: $TRAIN"

it_pg_database pred
PREFIX="itpred$$r$RANDOM"
IN_T=$PREFIX.nba.precompute.completed
OUT_T=$PREFIX.nba.prediction.completed
IT_EXTRA_KEYS+=("$IN_T" "$IN_T.dlq" "$OUT_T")
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
PID=

it_service prediction "$PRED" "$PREFIX"

start_pred() {
        it_start_service "$1" PID STATLINE_PREDICTION_RETRY_DELAYS_MS=100,100
}
# send EVENT_ID DATE ENTITIES_JSON [PAYLOAD_JSON]: one precompute.completed.
send() {
        local payload=${4:-"{\"processors\":[\"ml_feature_store\"],\"game_date\":\"$2\",\"feature_version\":\"v1\"}"}
        local ev
        ev=$(jq -cn --arg id "$1" --arg d "$2" --arg c "$CORR" --argjson e "$3" --argjson p "$payload" \
                '{schema_version:"1.0", event_id:$id, type:"precompute.completed", phase:"precompute",
                  correlation_id:$c, causation_id:null,
                  traceparent:"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                  sport:"nba", game_date:$d, affected_entities:$e, idempotency_key:("precompute:" + $id),
                  produced_at:"2025-01-10T10:00:00.000Z", payload:$p}')
        it_redis XADD "$IN_T" '*' d "$ev" >/dev/null
}
uuid7ish() {
        python3 -c 'import uuid,time; u=uuid.uuid4().hex; t=format(int(time.time()*1000),"012x"); print(f"{t[:8]}-{t[8:12]}-7{u[13:16]}-8{u[17:20]}-{u[20:32]}")'
}
fingerprint() {
        it_sql "SELECT md5(string_agg(p::text, '' ORDER BY p::text)) FROM prediction.player_prop_predictions p"
        it_sql "SELECT md5(string_agg(x, '' ORDER BY x)) FROM (SELECT e::text x FROM prediction.elo_ratings e
                UNION ALL SELECT w::text FROM prediction.game_win_probs w UNION ALL SELECT b::text FROM prediction.prop_bets b
                UNION ALL SELECT k::text FROM prediction.kelly_portfolio k) t"
}
# check_elo_kelly LABEL OPEN: the date's Elo and Kelly rows against prediction_elo_kelly.py.
check_elo_kelly() {
        it_sql "SELECT game_id, game_date, season, home_team_id, away_team_id, home_pts, away_pts, status FROM raw.games
                UNION ALL SELECT game_id, game_date, season, home_team_id, away_team_id, NULL, NULL, status FROM raw.schedule
                WHERE game_id NOT IN (SELECT game_id FROM raw.games)" >"$IT_DIR/games.txt"
        it_sql "SELECT team_id, rating, games FROM prediction.elo_ratings WHERE sport = 'nba' AND as_of_date = '$DATE'" >"$IT_DIR/ratings.txt"
        it_sql "SELECT game_id, home_team_id, away_team_id, r_home, r_away, p_home, p_away FROM prediction.game_win_probs WHERE game_date = '$DATE'" >"$IT_DIR/probs.txt"
        it_sql "SELECT player_id, market, book, line, over_price, under_price FROM raw.prop_lines WHERE game_date = '$DATE'" >"$IT_DIR/lines.txt"
        it_sql "SELECT player_id, market, predicted_value, recommendation FROM prediction.player_prop_predictions WHERE game_date = '$DATE' AND system_id = 'ensemble_v1'" >"$IT_DIR/ens.txt"
        it_sql "SELECT player_id, market, book, side, p_model, p_fair, stake FROM prediction.prop_bets WHERE game_date = '$DATE'" >"$IT_DIR/bets.txt"
        it_sql "SELECT n_bets, n_staked, total_stake, expected_profit, scale_day, scale_portfolio, caps_bet, open_exposure FROM prediction.kelly_portfolio WHERE game_date = '$DATE'" >"$IT_DIR/port.txt"
        local out rc
        out=$(python3 "$IT_SRC/tests/integration/prediction_elo_kelly.py" elo "$IT_DIR/games.txt" "$IT_DIR/ratings.txt" "$IT_DIR/probs.txt" "$DATE")
        rc=$?
        it_diag "$out"
        it_is "$1: Elo ratings and win probabilities = independent 538 NBA Elo recomputation" "$rc" 0
        out=$(python3 "$IT_SRC/tests/integration/prediction_elo_kelly.py" kelly "$IT_DIR/lines.txt" "$IT_DIR/ens.txt" \
                "$IT_DIR/bets.txt" "$IT_DIR/port.txt" 7.25 2.5 "$2")
        rc=$?
        it_diag "$out"
        it_is "$1: Kelly bets and portfolio = independent recomputation (open exposure $2)" "$rc" 0
}

it_must "creates a private database" it_pg_create
it_must "statline-prediction starts (migrations applied)" start_pred pred.1.log
it_must "simulated league generated" python3 "$IT_SRC/tests/integration/prediction_sim.py" \
        "$IT_DIR/seed.sql" "$IT_DIR/target"
DATE=$(cat "$IT_DIR/target")
it_must "simulated league seeded" psql "$IT_DSN" -X -q -v ON_ERROR_STOP=1 -f "$IT_DIR/seed.sql"
it_is "seed: 48 players with a points line" \
        "$(it_sql "SELECT count(DISTINCT player_id) FROM raw.prop_lines WHERE game_date = '$DATE' AND market = 'points'")" 48
# The ensemble's recent points RMSE (the Kelly spread); rebounds has none: the default 2.5.
it_must "seeded an ensemble_v1 points error row" it_sql "INSERT INTO prediction.system_errors
        (system_id, market, as_of_date, window_days, n_samples, mae, rmse, bias)
        VALUES ('ensemble_v1', 'points', '$DATE'::date - 1, 30, 40, 5.5, 7.25, 0.1)"

# ---- before any model: xgboost_v1 skipped -------------------------------------------

E1=$(uuid7ish)
send "$E1" "$DATE" '[]'
it_check "first prediction.completed" it_wait_for 60 it_events_ge "$OUT_T" 1
it_is "no model: xgboost_v1 skipped with a reason" \
        "$(it_sql "SELECT status || ':' || skip_reason FROM ops.pipeline_execution_log WHERE event_id = '$E1' AND processor = 'xgboost_v1'")" \
        "skipped:no trained model (run statline-train)"
it_is "no model: dependency recorded as missing" \
        "$(it_sql "SELECT dependencies_met || ':' || array_to_string(missing_dependencies, ',') FROM ops.pipeline_execution_log WHERE event_id = '$E1' AND processor = 'xgboost_v1'")" \
        "false:prediction.models"
it_is "no model: the other four systems wrote rows" \
        "$(it_sql "SELECT string_agg(system_id || '=' || n, ',' ORDER BY system_id) FROM (SELECT system_id, count(*) n FROM prediction.player_prop_predictions GROUP BY 1) x")" \
        "ensemble_v1=72,moving_average=72,similarity_balanced_v1=72,zone_matchup_v1=48"
it_is "no model: event says model_version null and xgboost rows 0" \
        "$(it_events "$OUT_T" | head -n 1 | jq -c '[.payload.model_version, (.payload.systems[] | select(.name == "xgboost_v1") | .rows)]')" \
        '[null,0]'

# ---- training ---------------------------------------------------------------------

mkdir -p "$IT_DIR/models"
"$TRAIN" --pg-dsn "$IT_DSN" --model-dir "$IT_DIR/models" --require-beat-baseline >"$IT_DIR/train.out" 2>&1
rc=$?
it_diag "$(cat "$IT_DIR/train.out")"
it_is "statline-train: exit 0 (model beats the baseline)" "$rc" 0
base=$(awk '$1 == "baseline_season_avg" && NF == 3 {print $2}' "$IT_DIR/train.out")
xgb=$(awk '$1 == "xgboost_v1" && NF == 3 {print $2}' "$IT_DIR/train.out")
it_check "report: xgboost_v1 MAE ($xgb) < season-average baseline ($base)" \
        python3 -c "import sys; sys.exit(0 if float('$xgb') < float('$base') else 1)"
it_check "report: every system has a MAE line" \
        test "$(grep -cE '^  (moving_average|zone_matchup_v1|similarity_balanced_v1|xgboost_v1|ensemble_v1) +[0-9]' "$IT_DIR/train.out")" = 5
MODEL=$(it_sql "SELECT model_version FROM prediction.models WHERE system_id = 'xgboost_v1'")
it_like "prediction.models row, versioned by file digest" "$MODEL" '^xgboost_v1-v1-[0-9a-f]{12}$'
it_is "model file exists with the recorded sha256" \
        "$(sha256sum "$(it_sql "SELECT file_path FROM prediction.models")" | cut -d' ' -f1)" \
        "$(it_sql "SELECT file_sha256 FROM prediction.models")"
it_is "holdout MAE recorded" "$(it_sql "SELECT holdout_mae FROM prediction.models")" "$xgb"
# The running service loads it when it is committed (NOTIFY statline_model, migration 0021),
# before any event asks for it: the load is never part of a run's latency.
model_loaded_idle() {
        grep '"event":"prediction.model.loaded"' "$IT_DIR/pred.1.log" | grep -v '"correlation_id"' |
                grep -q "model=$MODEL"
}
it_check "the running service loaded $MODEL on the notification, outside any event" \
        it_wait_for 10 model_loaded_idle

# ---- all five systems ----------------------------------------------------------------

E2=$(uuid7ish)
send "$E2" "$DATE" '[]'
it_check "second prediction.completed" it_wait_for 60 it_events_ge "$OUT_T" 2
ev=$(it_events "$OUT_T" | tail -n 1)
it_is "prediction.completed: rows per system, model version" \
        "$(jq -c '[.payload.model_version, [.payload.systems[] | .name + "=" + (.rows | tostring)]]' <<<"$ev")" \
        "[\"$MODEL\",[\"moving_average=72\",\"zone_matchup_v1=48\",\"similarity_balanced_v1=72\",\"xgboost_v1=48\",\"ensemble_v1=72\"]]"
it_is "prediction.completed: child of the incoming event" \
        "$(jq -r '[.causation_id, .correlation_id, .traceparent[3:35], .type] | join(",")' <<<"$ev")" \
        "$E2,$CORR,0af7651916cd43dd8448eb211c80319c,prediction.completed"
it_is "prediction.completed: 48 players affected" \
        "$(jq -c '[(.affected_entities | length), (.affected_entities | map(.kind) | unique)]' <<<"$ev")" '[48,["player"]]'
it_is "xgboost rows name the model" \
        "$(it_sql "SELECT DISTINCT model_version FROM prediction.player_prop_predictions WHERE system_id = 'xgboost_v1'")" "$MODEL"
it_is "execution log: one row per processor, all completed" \
        "$(it_sql "SELECT string_agg(processor || ':' || status, ',' ORDER BY processor) FROM ops.pipeline_execution_log WHERE event_id = '$E2'")" \
        "elo:completed,ensemble_v1:completed,kelly:completed,moving_average:completed,similarity_balanced_v1:completed,system_errors:completed,xgboost_v1:completed,zone_matchup_v1:completed"
it_is "confidence in [0,1], recommendation matches edge 1.0 for points" \
        "$(it_sql "SELECT count(*) FROM prediction.player_prop_predictions WHERE market = 'points' AND NOT (
                confidence BETWEEN 0 AND 1 AND recommendation = CASE WHEN predicted_value - line >= 1.0 THEN 'OVER'
                WHEN line - predicted_value >= 1.0 THEN 'UNDER' ELSE 'PASS' END)")" 0

# Independent recomputation of moving_average (python over the seeded rows).
it_sql "SELECT player_id, game_date, game_id, pts, reb FROM analytics.player_game_summary WHERE minutes > 0" >"$IT_DIR/hist.txt"
it_sql "SELECT player_id, market, predicted_value FROM prediction.player_prop_predictions WHERE system_id = 'moving_average' ORDER BY 1, 2" >"$IT_DIR/ma.txt"
bad=$(python3 - "$IT_DIR/hist.txt" "$IT_DIR/ma.txt" "$DATE" <<'EOF'
import sys, collections
h = collections.defaultdict(list)
for l in open(sys.argv[1]):
    p, d, g, pts, reb = l.strip().split("|")
    if d < sys.argv[3]:
        h[p].append((d, g, int(pts), int(reb)))
bad = 0
for l in open(sys.argv[2]):
    p, m, v = l.strip().split("|")
    games = sorted(h[p], reverse=True)[:10]
    col = 2 if m == "points" else 3
    want = sum((10 - i) * g[col] for i, g in enumerate(games)) / sum(10 - i for i in range(len(games)))
    if abs(round(want, 2) - float(v)) > 0.011:
        bad += 1
print(bad)
EOF
)
it_is "moving_average equals an independent weighted last-10 recomputation" "$bad" 0
it_is "ensemble lies within its components (points)" \
        "$(it_sql "SELECT count(*) FROM prediction.player_prop_predictions e JOIN (SELECT player_id, market, min(predicted_value) lo, max(predicted_value) hi
                FROM prediction.player_prop_predictions WHERE system_id <> 'ensemble_v1' GROUP BY 1, 2) c USING (player_id, market)
                WHERE e.system_id = 'ensemble_v1' AND (e.predicted_value < c.lo - 0.01 OR e.predicted_value > c.hi + 0.01)")" 0

# ---- Elo and Kelly ---------------------------------------------------------------------

check_elo_kelly "whole date" 0
it_is "Elo: every team rated as of the date, every game of the date predicted" \
        "$(it_sql "SELECT (SELECT count(*) FROM prediction.elo_ratings WHERE as_of_date = '$DATE') || ',' ||
                (SELECT count(*) FROM prediction.game_win_probs WHERE game_date = '$DATE')")" "8,4"
it_is "Elo: p_home + p_away = 1, model elo:nba" \
        "$(it_sql "SELECT count(*) FROM prediction.game_win_probs WHERE abs(p_home + p_away - 1) > 2e-6 OR model <> 'elo:nba'")" 0
it_like "Kelly: some bets staked, one per player and market" \
        "$(it_sql "SELECT count(*) FILTER (WHERE stake > 0) || '/' || count(*) FROM prediction.prop_bets WHERE game_date = '$DATE'")" \
        '^[1-9][0-9]*/72$'
it_is "prediction.completed: elo_games and bets in the payload" \
        "$(it_events "$OUT_T" | tail -n 1 | jq -c '[.payload.elo_games, (.payload.bets > 0)]')" '[4,true]'

# ---- replay ---------------------------------------------------------------------------

fp=$(fingerprint)
send "$E2" "$DATE" '[]'
it_check "duplicate event: skipped" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$E2' AND status = 'skipped' AND skip_reason LIKE 'duplicate%'" 1
it_is "duplicate event: no new prediction.completed" "$(it_count_events "$OUT_T")" 2
# A new event over the same inputs (a date's props pass after its scoreboard pass): the
# rows it would write are the ones there; skipped with a reason, nothing published.
E3=$(uuid7ish)
send "$E3" "$DATE" '[]'
it_check "same inputs, new event: skipped (inputs unchanged)" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$E3' AND processor = 'prediction' AND status = 'skipped' AND skip_reason LIKE 'inputs unchanged%'" 1
it_is "same inputs: no row changed" "$(fingerprint)" "$fp"
it_is "same inputs: no new prediction.completed" "$(it_count_events "$OUT_T")" 2
it_is "same inputs: no system ran" \
        "$(it_sql "SELECT string_agg(processor || ':' || status, ',' ORDER BY processor) FROM ops.pipeline_execution_log WHERE event_id = '$E3'")" \
        "prediction:skipped,system_errors:completed"

# One player's line moves: a single-player event recomputes only that player.
P=$(it_sql "SELECT min(player_id) FROM raw.prop_lines WHERE game_date = '$DATE'")
it_sql "UPDATE raw.prop_lines SET line = line + 5 WHERE player_id = $P AND market = 'points'" >/dev/null
E4=$(uuid7ish)
send "$E4" "$DATE" "[{\"kind\":\"player\",\"id\":\"$P\"}]"
it_check "single-player event handled (its line moved: inputs changed)" it_wait_for 30 it_events_ge "$OUT_T" 3
it_is "single-player: event names only that player" \
        "$(it_events "$OUT_T" | tail -n 1 | jq -c '[.affected_entities[].id]')" "[\"$P\"]"
it_is "single-player: only that player's rows changed" \
        "$(it_sql "SELECT count(DISTINCT player_id) || ':' || min(player_id) FROM prediction.player_prop_predictions WHERE updated_at > (SELECT min(started_at) FROM ops.pipeline_execution_log WHERE event_id = '$E4')")" \
        "1:$P"
# The same player again, nothing moved: covered by the run before.
E4B=$(uuid7ish)
send "$E4B" "$DATE" "[{\"kind\":\"player\",\"id\":\"$P\"}]"
it_check "single-player event, nothing moved: skipped" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE event_id = '$E4B' AND status = 'skipped' AND skip_reason LIKE 'inputs unchanged%'" 1

# An unsettled bet of an earlier date (250 open of the 300 portfolio budget): the slate is
# scaled down to the remaining 50.
it_must "an open bet of an earlier date" it_sql "INSERT INTO prediction.prop_bets (game_date, player_id, market,
        sport, game_id, book, side, line, price, predicted_value, sd, p_model, p_fair, edge, ev, full_kelly, stake)
        VALUES ('$DATE'::date - 3, 1, 'points', 'nba', '0029999999', 'simbook', 'OVER', 10.5, -110, 12, 6, 0.6, 0.5,
        0.1, 0.145, 0.16, 250)"
E5=$(uuid7ish)
send "$E5" "$DATE" '[]'
it_check "open exposure (an input of Kelly): whole date again" it_wait_for 30 it_events_ge "$OUT_T" 4
check_elo_kelly "open exposure 250" 250
it_is "open exposure: portfolio cap applied (scale < 1, total 50)" \
        "$(it_sql "SELECT scale_portfolio < 1 AND total_stake BETWEEN 49.99 AND 50.01 AND open_exposure BETWEEN 299.99 AND 300.01 FROM prediction.kelly_portfolio WHERE game_date = '$DATE'")" t
it_is "open exposure: capped bets say so" \
        "$(it_sql "SELECT count(*) FROM prediction.prop_bets WHERE game_date = '$DATE' AND stake > 0 AND NOT 'portfolio' = ANY (capped)")" 0

# ---- poison and SIGTERM --------------------------------------------------------------

send "$(uuid7ish)" "" '[]' '{"processors":[]}'
it_check "poison: event without a game_date dead-lettered" it_wait_for 30 it_events_ge "$IN_T.dlq" 1
it_stop_service PID
rc=$?
it_is "SIGTERM: exit 0" "$rc" 0

it_done
