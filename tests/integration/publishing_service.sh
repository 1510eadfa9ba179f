#!/usr/bin/env bash
# publishing_service.sh BACKEND: statline-publishing end to end on real servers.
#   - a private database on the shared cluster (STATLINE_TEST_PG_DSN), a
#     private topic prefix on the shared Redis; the upstream tables
#     (raw.games, raw.schedule, raw.prop_lines, raw.player_boxscores,
#     prediction.player_prop_predictions) seeded with SQL, and
#     prediction.completed events written to the stream with redis-cli;
#   - the documents: predictions.json, games.json, players/<id>.json, every
#     number checked against the seeded rows (recomputed here with SQL and
#     python3), the bytes canonical (python's json.dumps with sorted keys
#     gives the same bytes), sha256/etag/bytes recorded in publishing.documents;
#   - the execution log row and publishing.completed (a child of the
#     prediction event: correlation, causation, trace);
#   - the read API: 200 + ETag, If-None-Match -> 304, 400, 404;
#   - replay of the same event: skipped, no file rewritten (inode and mtime),
#     no row changed, no new event;
#   - an update for one player: only that player's document and
#     predictions.json rewritten, the other players' files untouched;
#   - Elo win probabilities (prediction.game_win_probs) in games.json, the
#     Kelly bets and portfolio summary (prediction.prop_bets, kelly_portfolio)
#     in predictions.json, checked against the seeded rows; a changed stake
#     rewrites predictions.json only, on a player update too;
#   - poison (no game_date, a bad player id) dead-lettered; SIGTERM -> exit 0.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v jq >/dev/null || it_skip_all "jq not installed"
command -v curl >/dev/null || it_skip_all "curl not installed"
it_init publishing_service
it_backend "${1:-redis-streams}"
[[ $IT_BACKEND == redis-streams ]] || it_skip_all "this test writes and reads topics with redis-cli"
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
PUB=${STATLINE_PUBBIN:-$BUILD/services/publishing/statline-publishing}
[[ -x $PUB ]] || it_bail "statline-publishing not found: $PUB (set STATLINE_PUBBIN)"

it_pg_database pub
PREFIX="itpub$$p$RANDOM"
PRED_T=$PREFIX.nba.prediction.completed
PUB_T=$PREFIX.nba.publishing.completed
DLQ_T=$PRED_T.dlq
IT_EXTRA_KEYS+=("$PRED_T" "$DLQ_T" "$PUB_T")
OUT=$IT_DIR/publish
D=2025-01-10
DOCS=$OUT/nba/$D
CORR=$(python3 -c 'import uuid; print(uuid.uuid4())')
PUB_PID=

it_service publishing "$PUB" "$PREFIX"

start_pub() {
        it_start_service "$1" PUB_PID STATLINE_PUBLISHING_PUBLISH_DIR="$OUT" "${@:2}"
}

port() {
        sed -n 's/.*health_port=\([0-9]*\).*/\1/p' "$IT_DIR/pub.1.log" | head -n 1
}

# get PATH [HEADER]: "<status> <etag>" of GET PATH; the body goes to $IT_DIR/body.
get() {
        local hdr=()
        [[ -n ${2:-} ]] && hdr=(-H "$2")
        curl -s -m 5 -D "$IT_DIR/headers" -o "$IT_DIR/body" -w '%{http_code}' "${hdr[@]}" \
                "http://127.0.0.1:$(port)$1"
        echo " $(sed -n 's/^[Ee][Tt][Aa][Gg]: \(.*\)\r$/\1/p' "$IT_DIR/headers")"
}

# emit ENTITIES_JSON [GAME_DATE_JSON]: writes one prediction.completed to the stream; echoes its event id.
emit() {
        local ents=$1 date=${2:-\"$D\"} json
        json=$(python3 - "$CORR" "$ents" "$date" <<'EOF'
import json, os, sys, time, uuid
corr, ents, date = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ms = int(time.time() * 1000)
r = int.from_bytes(os.urandom(10), "big")
eid = "%08x-%04x-7%03x-%04x-%012x" % (ms >> 16, ms & 0xffff, r & 0xfff, 0x8000 | ((r >> 12) & 0x3fff), (r >> 26) & 0xffffffffffff)
env = {"schema_version": "1.0", "event_id": eid, "type": "prediction.completed",
       "phase": "prediction", "correlation_id": corr, "causation_id": None,
       "traceparent": "00-%s-%s-01" % (os.urandom(16).hex(), os.urandom(8).hex()),
       "sport": "nba", "game_date": date, "affected_entities": ents,
       "idempotency_key": "prediction:test:%s" % eid,
       "produced_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
       "payload": {"processor": "player_prop_predictions", "model_version": "test",
                   "systems": [{"name": "ensemble_v1", "rows": 4}], "tables": [], "rows": 0,
                   "entities": {}}}
print(json.dumps(env, separators=(",", ":")))
EOF
)
        it_redis XADD "$PRED_T" '*' d "$json" >/dev/null
        echo "$json" >>"$IT_DIR/emitted.jsonl"
        jq -r .event_id <<<"$json"
}

# files_state: inode and mtime (ns) of every published file (a rewrite changes both).
files_state() {
        (cd "$OUT" && find . -type f -printf '%p %i %T@\n' | sort)
}

# rows_state: every publishing.documents row, timestamps included.
rows_state() {
        it_sql "SELECT string_agg(d::text, E'\n' ORDER BY doc_path) FROM publishing.documents d"
}

# ---- start and seed ------------------------------------------------------------------

it_must "creates a private database" it_pg_create
it_must "statline-publishing starts (migrations applied)" start_pub pub.1.log
SHA=$(printf '%064d' 0 | tr 0 a)
it_must "seeds the upstream tables" it_sql "
INSERT INTO raw.games (game_id, game_date, season, home_team_id, away_team_id, home_team_abbr,
        away_team_abbr, home_pts, away_pts, status, source, payload_sha256) VALUES
  ('0022400501', '$D', '2024-25', 1610612747, 1610612744, 'LAL', 'GSW', 112, 108, 'final', 'test', '$SHA'),
  ('0022400502', '$D', '2024-25', 1610612738, 1610612752, 'BOS', 'NYK', NULL, NULL, 'scheduled', 'test', '$SHA'),
  ('0022400400', '2025-01-02', '2024-25', 1610612743, 1610612738, 'DEN', 'BOS', 100, 90, 'final', 'test', '$SHA');
INSERT INTO raw.schedule (game_id, game_date, season, home_team_id, away_team_id, home_team_abbr,
        away_team_abbr, start_time, arena, status, source, payload_sha256) VALUES
  ('0022400501', '$D', '2024-25', 1610612747, 1610612744, 'LAL', 'GSW', '2025-01-11 03:30:00+00', 'Crypto.com Arena', 'final', 'test', '$SHA'),
  ('0022400503', '$D', '2024-25', 1610612743, 1610612750, 'DEN', 'MIN', '2025-01-11 02:00:00+00', 'Ball Arena', 'scheduled', 'test', '$SHA'),
  ('0022400600', '2025-01-11', '2024-25', 1610612743, 1610612750, 'DEN', 'MIN', NULL, NULL, 'scheduled', 'test', '$SHA');
INSERT INTO raw.player_boxscores (game_id, player_id, team_id, player_name, pts, source, payload_sha256)
  VALUES ('0022400400', 1628378, 1610612743, 'Christian Braun', 11, 'test', '$SHA');
INSERT INTO raw.prop_lines (game_date, player_id, market, book, player_name, line, over_price,
        under_price, game_id, team_id, source, payload_sha256) VALUES
  ('$D', 2544, 'points', 'fanduel', 'LeBron James', 23.5, -110, -110, '0022400501', 1610612747, 'test', '$SHA'),
  ('$D', 2544, 'points', 'draftkings', 'LeBron James', 24.5, -105, -115, '0022400501', 1610612747, 'test', '$SHA'),
  ('$D', 2544, 'rebounds', 'fanduel', 'LeBron James', 7.5, 100, -120, '0022400501', 1610612747, 'test', '$SHA'),
  ('$D', 201939, 'points', 'fanduel', 'Stephen Curry', 26.5, -115, -105, '0022400501', 1610612744, 'test', '$SHA'),
  ('2025-01-11', 2544, 'points', 'fanduel', 'LeBron James', 25.5, -110, -110, NULL, NULL, 'test', '$SHA');
INSERT INTO prediction.player_prop_predictions (player_id, game_date, system_id, market, game_id,
        predicted_value, line, recommendation, confidence, model_version)
SELECT p.player_id, '$D'::date, s.system_id, p.market, p.game_id,
       round((p.base + s.bias)::numeric, 2), p.line,
       CASE WHEN p.line IS NULL THEN 'PASS' WHEN p.base + s.bias > p.line + 1 THEN 'OVER'
            WHEN p.base + s.bias < p.line - 1 THEN 'UNDER' ELSE 'PASS' END,
       round((0.5 + s.bias / 10)::numeric, 3), s.system_id || '-1'
FROM (VALUES (2544, 'points', '0022400501', 26.15, 23.5), (2544, 'rebounds', '0022400501', 7.1, 7.5),
             (201939, 'points', '0022400501', 24.3, 26.5), (1628378, 'points', '0022400503', 12.42, NULL))
     AS p(player_id, market, game_id, base, line)
CROSS JOIN (VALUES ('moving_average', 0.4), ('zone_matchup_v1', -0.6), ('similarity_balanced_v1', 1.1),
                   ('xgboost_v1', 0.25), ('ensemble_v1', 0.3)) AS s(system_id, bias);
INSERT INTO prediction.player_prop_predictions (player_id, game_date, system_id, market, game_id,
        predicted_value, line, recommendation, confidence, model_version)
VALUES (2544, '2025-01-11', 'ensemble_v1', 'points', '0022400600', 30, 25.5, 'OVER', 0.9, 'x');
INSERT INTO prediction.game_win_probs (sport, game_id, game_date, home_team_id, away_team_id, r_home,
        r_away, p_home, p_away, model) VALUES
  ('nba', '0022400501', '$D', 1610612747, 1610612744, 1540.2500, 1498.1250, 0.766432, 0.233568, 'elo:nba'),
  ('nba', '0022400503', '$D', 1610612743, 1610612750, 1601.0000, 1601.0000, 0.640065, 0.359935, 'elo:nba'),
  ('nba', '0022400600', '2025-01-11', 1610612743, 1610612750, 1601.0000, 1601.0000, 0.640065, 0.359935, 'elo:nba');
INSERT INTO prediction.prop_bets (game_date, player_id, market, sport, game_id, book, side, line, price,
        predicted_value, sd, p_model, p_fair, edge, ev, full_kelly, stake, capped) VALUES
  ('$D', 2544, 'points', 'nba', '0022400501', 'fanduel', 'OVER', 23.5, -110, 26.45, 6, 0.667197, 0.5, 0.167197,
   0.273740, 0.301114, 50.00, '{bet}'),
  ('$D', 2544, 'rebounds', 'nba', '0022400501', 'fanduel', 'UNDER', 7.5, -120, 7.40, 2.5, 0.515957, 0.521739,
   -0.005782, -0.054079, 0, 0, '{}'),
  ('$D', 201939, 'points', 'nba', '0022400501', 'fanduel', 'UNDER', 26.5, -105, 24.60, 6, 0.624338, 0.488372,
   0.135966, 0.218945, 0.224258, 40.25, '{}');
INSERT INTO prediction.kelly_portfolio (sport, game_date, bankroll, fraction, n_bets, n_staked, total_stake,
        expected_profit, scale_day, scale_portfolio, caps_bet, open_exposure) VALUES
  ('nba', '$D', 1000, 0.25, 3, 2, 90.25, 22.50, 1, 1, 1, 90.25);"

# ---- whole date --------------------------------------------------------------------

E1=$(emit '[]')
it_check "publishing.completed within 30 s" it_wait_for 30 it_events_ge "$PUB_T" 1
it_is "five documents written" "$(cd "$OUT" 2>/dev/null && find . -type f | sort | tr '\n' ' ')" \
        "./nba/$D/games.json ./nba/$D/players/1628378.json ./nba/$D/players/201939.json ./nba/$D/players/2544.json ./nba/$D/predictions.json "
it_is "no temp files left" "$(find "$OUT" -name '*.tmp.*' | wc -l)" 0

# Canonical bytes: python re-serialises with sorted keys and compact separators.
canon() {
        python3 - "$@" <<'EOF'
import json, sys
bad = []
for f in sys.argv[1:]:
    raw = open(f, "rb").read()
    if json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode() + b"\n" != raw:
        bad.append(f)
print(" ".join(bad) or "ok")
EOF
}
it_is "documents are canonical JSON (sorted keys, compact, newline)" \
        "$(canon "$DOCS"/*.json "$DOCS"/players/*.json)" ok

# Every (player, market, system) value, recomputed from the table.
check_values() {
want=$(it_sql "SELECT string_agg(player_id || ' ' || market || ' ' || system_id || ' ' ||
                (predicted_value::float8)::text, E'\n' ORDER BY player_id, market, system_id)
            FROM prediction.player_prop_predictions WHERE game_date = '$D'")
got=$(python3 - "$DOCS/predictions.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
rows = []
for p in d["players"]:
    for m in p["markets"]:
        for s, v in m["systems"].items():
            rows.append((p["player_id"], m["market"], s, repr(float(v)).rstrip("0").rstrip(".")))
for r in sorted(rows):
    print(*r)
EOF
)
want=$(sed -E 's/\.0$//' <<<"$want")
it_is "$1predictions.json: every system's value (20 rows)" "$got" "$want"
it_is "$1predictions.json: 20 values" "$(wc -l <<<"$got")" 20
}
check_values ""

want=$(it_sql "SELECT string_agg(player_id || ' ' || market || ' ' || coalesce(line::float8::text, 'null') || ' ' ||
                recommendation || ' ' || confidence::float8::text, E'\n' ORDER BY player_id, market)
            FROM prediction.player_prop_predictions WHERE game_date = '$D' AND system_id = 'ensemble_v1'")
got=$(jq -r '.players[] | .player_id as $p | .markets[] |
        "\($p) \(.market) \(.line) \(.ensemble.recommendation) \(.ensemble.confidence)"' "$DOCS/predictions.json" |
        sort -n)
it_is "predictions.json: ensemble line, recommendation, confidence" "$got" "$(sort -n <<<"$want")"
it_is "predictions.json: players ordered by id, names from lines / box scores" \
        "$(jq -c '[.game_date, .sport, [.players[] | [.player_id, .player_name, .game_id]]]' "$DOCS/predictions.json")" \
        "[\"$D\",\"nba\",[[2544,\"LeBron James\",\"0022400501\"],[201939,\"Stephen Curry\",\"0022400501\"],[1628378,\"Christian Braun\",\"0022400503\"]]]"
it_is "predictions.json: books' lines from raw.prop_lines (sorted by book)" \
        "$(jq -c '.players[0].markets[0].books' "$DOCS/predictions.json")" \
        '[{"book":"draftkings","line":24.5,"over_price":-105,"under_price":-115},{"book":"fanduel","line":23.5,"over_price":-110,"under_price":-110}]'
it_is "player document = the player's entry of predictions.json" \
        "$(jq -c .player "$DOCS/players/201939.json")" "$(jq -c '.players[1]' "$DOCS/predictions.json")"
it_is "games.json: schedule and box-score games of the date, scores from raw.games" \
        "$(jq -c '[.games[] | [.game_id, .home_team_abbr, .away_team_abbr, .status, .home_pts, .start_time, .players_predicted]]' "$DOCS/games.json")" \
        '[["0022400501","LAL","GSW","final",112,"2025-01-11T03:30:00Z",2],["0022400502","BOS","NYK","scheduled",null,null,0],["0022400503","DEN","MIN","scheduled",null,"2025-01-11T02:00:00Z",1]]'

it_is "games.json: Elo win probabilities per game (null without a row)" \
        "$(jq -c '[.games[] | [.game_id, .win_prob]]' "$DOCS/games.json")" \
        '[["0022400501",{"model":"elo:nba","p_away":0.233568,"p_home":0.766432,"r_away":1498.125,"r_home":1540.25}],["0022400502",null],["0022400503",{"model":"elo:nba","p_away":0.359935,"p_home":0.640065,"r_away":1601,"r_home":1601}]]'
it_is "predictions.json: staked bets only, ordered by player and market" \
        "$(jq -c '[.bets[] | [.player_id, .market, .book, .side, .line, .price, .stake, .capped]]' "$DOCS/predictions.json")" \
        '[[2544,"points","fanduel","OVER",23.5,-110,50,["bet"]],[201939,"points","fanduel","UNDER",26.5,-105,40.25,[]]]'
it_is "predictions.json: a bet's probabilities, edge, EV, Kelly fraction" \
        "$(jq -c '.bets[0] | [.p_model, .p_fair, .edge, .ev, .full_kelly, .predicted_value, .sd, .game_id]' "$DOCS/predictions.json")" \
        '[0.667197,0.5,0.167197,0.27374,0.301114,26.45,6,"0022400501"]'
it_is "predictions.json: portfolio summary" \
        "$(jq -c '.portfolio' "$DOCS/predictions.json")" \
        '{"bankroll":1000,"caps_bet":1,"expected_profit":22.5,"fraction":0.25,"market_weight":0,"min_edge":0,"moneyline_market_weight":0,"moneyline_stake":0,"moneyline_staked":0,"n_bets":3,"n_moneyline":0,"n_staked":2,"open_exposure":90.25,"scale_day":1,"scale_portfolio":1,"total_stake":90.25}'
it_is "predictions.json: summary total = sum of the published stakes" \
        "$(jq '[.bets[].stake] | add == $ARGS.named.t' --argjson t "$(jq .portfolio.total_stake "$DOCS/predictions.json")" "$DOCS/predictions.json")" true

# ---- rows, log, event ------------------------------------------------------------------

bad=0
while read -r path sha etag bytes kind; do
        f=$OUT/$path
        [[ $(sha256sum "$f" | cut -d' ' -f1) == "$sha" && $etag == "\"$sha\"" && $(stat -c %s "$f") == "$bytes" ]] || bad=$((bad + 1))
done < <(it_sql "SELECT doc_path, sha256, etag, bytes, doc_kind FROM publishing.documents" | tr '|' ' ')
it_is "publishing.documents: 5 rows" "$(it_sql 'SELECT count(*) FROM publishing.documents')" 5
it_is "publishing.documents: sha256, etag, bytes match the files" "$bad" 0
it_is "publishing.documents: kinds, dates and players" \
        "$(it_sql "SELECT string_agg(doc_kind || ':' || coalesce(player_id::text, '-') || ':' || game_date, ',' ORDER BY doc_path) FROM publishing.documents")" \
        "games:-:$D,player:1628378:$D,player:201939:$D,player:2544:$D,predictions:-:$D"
it_is "execution log: one completed publishing run, 5 rows written" \
        "$(it_sql "SELECT string_agg(processor || ':' || status || ':' || rows_written || ':' || game_date, ',')
                FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND phase = 'publishing'")" \
        "documents:completed:5:$D"
ev=$(it_events "$PUB_T" | head -n 1)
it_is "publishing.completed: child of the prediction event" \
        "$(jq -r '[.correlation_id, .causation_id, .type, .phase, .game_date] | join(" ")' <<<"$ev")" \
        "$CORR $E1 publishing.completed publishing $D"
it_is "publishing.completed: continues the trace" "$(jq -r '.traceparent[3:35]' <<<"$ev")" \
        "$(jq -r 'select(.event_id == "'"$E1"'") | .traceparent[3:35]' "$IT_DIR/emitted.jsonl")"
it_is "publishing.completed: documents with etags, all changed" \
        "$(jq -c '[.payload.documents[] | [.path, .changed, (.etag | length)]] | sort' <<<"$ev")" \
        "[[\"nba/$D/games.json\",true,66],[\"nba/$D/players/1628378.json\",true,66],[\"nba/$D/players/201939.json\",true,66],[\"nba/$D/players/2544.json\",true,66],[\"nba/$D/predictions.json\",true,66]]"
it_is "publishing.completed: etag of predictions.json" \
        "$(jq -r '.payload.documents[] | select(.path | endswith("predictions.json")) | .etag' <<<"$ev")" \
        "\"$(sha256sum "$DOCS/predictions.json" | cut -d' ' -f1)\""
it_is "publishing.completed: common fields" "$(jq -c '[.payload.processor, .payload.rows, .payload.entities.players]' <<<"$ev")" '["documents",5,3]'

# ---- read API ----------------------------------------------------------------------------

ETAG="\"$(sha256sum "$DOCS/predictions.json" | cut -d' ' -f1)\""
it_is "GET /v1/predictions: 200 with the ETag" "$(get "/v1/predictions?date=$D")" "200 $ETAG"
it_check "GET /v1/predictions: the document's bytes" cmp -s "$IT_DIR/body" "$DOCS/predictions.json"
it_is "GET /v1/predictions If-None-Match: 304" "$(get "/v1/predictions?date=$D" "If-None-Match: $ETAG")" "304 $ETAG"
it_is "GET /v1/predictions stale If-None-Match: 200" "$(get "/v1/predictions?date=$D" 'If-None-Match: "old"' | cut -d' ' -f1)" 200
it_is "GET /v1/predictions&player: 200" "$(get "/v1/predictions?date=$D&player=2544" | cut -d' ' -f1)" 200
it_check "GET /v1/predictions&player: the player's document" cmp -s "$IT_DIR/body" "$DOCS/players/2544.json"
it_is "GET /v1/games: 200" "$(get "/v1/games?date=$D" | cut -d' ' -f1)" 200
it_check "GET /v1/games: the document" cmp -s "$IT_DIR/body" "$DOCS/games.json"
it_is "bad date: 400" "$(get "/v1/predictions?date=2025-13-01" | cut -d' ' -f1)" 400
it_is "no date: 400" "$(get "/v1/games" | cut -d' ' -f1)" 400
it_is "bad player: 400" "$(get "/v1/predictions?date=$D&player=..%2F1" | cut -d' ' -f1)" 400
it_is "unknown player: 404" "$(get "/v1/predictions?date=$D&player=999" | cut -d' ' -f1)" 404
it_is "nothing published for the date: 404" "$(get "/v1/games?date=2025-01-11" | cut -d' ' -f1)" 404

# ---- replay ------------------------------------------------------------------------------

fs1=$(files_state)
rs1=$(rows_state)
while read -r line; do it_redis XADD "$PRED_T" '*' d "$line" >/dev/null; done <"$IT_DIR/emitted.jsonl"
it_check "replay: skipped run logged" it_wait_for 30 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND status = 'skipped'" 1
it_is "replay: no file rewritten (inode, mtime)" "$(files_state)" "$fs1"
it_is "replay: no row changed" "$(rows_state)" "$rs1"
it_is "replay: no new publishing.completed" "$(it_count_events "$PUB_T")" 1

# ---- one player's update ----------------------------------------------------------------

it_sql "UPDATE prediction.player_prop_predictions SET predicted_value = 28.00, recommendation = 'OVER',
        confidence = 0.71 WHERE player_id = 201939 AND game_date = '$D' AND system_id = 'ensemble_v1'" >/dev/null
it_sql "UPDATE prediction.prop_bets SET stake = 35.50 WHERE player_id = 201939 AND game_date = '$D'" >/dev/null
E2=$(emit '[{"kind":"player","id":"201939"}]')
it_check "update: publishing.completed" it_wait_for 30 it_events_ge "$PUB_T" 2
ev=$(it_events "$PUB_T" | tail -n 1)
it_is "update: documents and what changed" \
        "$(jq -c '[.payload.documents[] | [.path, .changed]] | sort' <<<"$ev")" \
        "[[\"nba/$D/games.json\",false],[\"nba/$D/players/201939.json\",true],[\"nba/$D/predictions.json\",true]]"
it_is "update: names the player, caused by the new event" \
        "$(jq -c '[.affected_entities, .causation_id]' <<<"$ev")" "[[{\"kind\":\"player\",\"id\":\"201939\"}],\"$E2\"]"
it_is "update: the new value published" \
        "$(jq -c '.player.markets[0].ensemble' "$DOCS/players/201939.json")" \
        '{"confidence":0.71,"recommendation":"OVER","value":28}'
fs2=$(files_state)
it_is "update: only the player's file and predictions.json rewritten" \
        "$(diff <(echo "$fs1") <(echo "$fs2") | sed -n 's/^> \.\/\([^ ]*\) .*/\1/p' | tr '\n' ' ')" \
        "nba/$D/players/201939.json nba/$D/predictions.json "
it_is "update: only their rows changed" \
        "$(diff <(echo "$rs1") <(rows_state) | grep -c '^>')" 2
check_values "update: spliced "
it_is "update: the new stake in predictions.json (bets are the whole date's)" \
        "$(jq -c '[.bets[] | [.player_id, .stake]]' "$DOCS/predictions.json")" '[[2544,50],[201939,35.5]]'
it_is "update: player order kept" "$(jq -c '[.players[].player_id]' "$DOCS/predictions.json")" '[2544,201939,1628378]'
it_is "update: canonical again" "$(canon "$DOCS"/*.json "$DOCS"/players/*.json)" ok
# The spliced predictions.json must be what a whole-date rebuild gives.
fs3=$(files_state)
emit '[]' >/dev/null
it_check "whole date after the update: publishing.completed" it_wait_for 30 it_events_ge "$PUB_T" 3
it_is "whole date after the update: nothing changed (splice = rebuild)" \
        "$(it_events "$PUB_T" | tail -n 1 | jq -c '[.payload.documents[] | select(.changed)] | length')" 0
it_is "whole date after the update: no file rewritten" "$(files_state)" "$fs3"

# ---- poison --------------------------------------------------------------------------------

emit '[]' null >/dev/null
emit '[{"kind":"player","id":"abc"}]' >/dev/null
it_check "poison: two dead letters" it_wait_for 30 it_events_ge "$DLQ_T" 2
it_is "poison: no new publishing.completed" "$(it_count_events "$PUB_T")" 3
it_is "poison: failed runs logged" \
        "$(it_sql "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND status = 'failed'
                AND processor <> 'dlq'")" 2
it_check "poison: and their dead letters, with the reason (processor dlq)" it_wait_for 10 it_sql_ge \
        "SELECT count(*) FROM ops.pipeline_execution_log WHERE correlation_id = '$CORR' AND processor = 'dlq'
         AND status = 'failed' AND error_message LIKE 'dead-lettered (PERMANENT) to %.dlq: %'" 2

# ---- SIGTERM ----------------------------------------------------------------------------

t0=$(date +%s%3N)
it_stop_service PUB_PID
rc=$?
t1=$(date +%s%3N)
it_is "SIGTERM: exit 0" "$rc" 0
it_check "SIGTERM: gone within 3000 ms (took $((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000

it_done
