/*
 * The analytics processors: the trigger registry, the dependency lists and
 * the one statement each processor runs. All SQL is constant text; values
 * arrive only as parameters:
 *   $1 date      the event's game date (NULL: scoped by the game ids only)
 *   $2 text[]    game ids    (NULL: no filter on games)
 *   $3 bigint[]  player ids  (NULL: no filter on players)
 *   $4 bigint[]  team ids    (NULL: no filter on teams)
 * A row is recomputed when it matches every filter given for a column the
 * row has (README.md, "Scope"). Every statement is INSERT ... SELECT ... ON
 * CONFLICT DO UPDATE on the target's primary key; the replay guard on the
 * target skips an update that changes nothing, so RETURNING lists only rows
 * inserted or really changed: (inserted?, game id, player id, team id).
 */
#include "analytics.h"

#include <string.h>

/* Games of the scope (date and/or game ids). */
#define GAMES_CTE                                                                                  \
        "g AS (SELECT game_id, game_date, season, home_team_id, away_team_id FROM raw.games "      \
        "WHERE ($1::date IS NULL OR game_date = $1::date) "                                        \
        "AND ($2::text[] IS NULL OR game_id = ANY($2::text[])))"

/* Both sides of each scheduled game on the date. */
#define SCHED_CTE                                                                                  \
        "s AS (SELECT game_id, game_date, season, home_team_id AS team_id, "                       \
        "away_team_id AS opp, true AS is_home FROM raw.schedule "                                  \
        "WHERE game_date = $1::date AND status NOT IN ('postponed', 'cancelled') "                 \
        "UNION ALL SELECT game_id, game_date, season, away_team_id, home_team_id, false "          \
        "FROM raw.schedule WHERE game_date = $1::date "                                            \
        "AND status NOT IN ('postponed', 'cancelled'))"

/* Each player's latest injury report of the 7 days up to the date. */
#define INJ_CTE                                                                                    \
        "inj AS (SELECT DISTINCT ON (player_id) player_id, team_id, status, reason "               \
        "FROM raw.injuries WHERE report_date BETWEEN $1::date - 7 AND $1::date "                   \
        "ORDER BY player_id, report_date DESC, reported_at DESC NULLS LAST)"

/*
 * The team of each player on the date: the injury report's team, else the
 * prop lines' team, else the team of his latest box score of the 120 days
 * before the date. Only the players asked for ($3) when given: an injury
 * update for one player does not rank the whole league's box scores.
 */
#define ROSTER_CTE                                                                                 \
        "roster AS (SELECT DISTINCT ON (player_id) player_id, team_id FROM ("                      \
        "SELECT player_id, team_id, 1 AS prio FROM inj "                                           \
        "WHERE $3::bigint[] IS NULL OR player_id = ANY($3::bigint[]) "                             \
        "UNION ALL (SELECT DISTINCT ON (player_id) player_id, team_id, 2 FROM raw.prop_lines "     \
        "WHERE game_date = $1::date AND team_id IS NOT NULL "                                      \
        "AND ($3::bigint[] IS NULL OR player_id = ANY($3::bigint[])) ORDER BY player_id, book) "   \
        "UNION ALL (SELECT DISTINCT ON (p.player_id) p.player_id, p.team_id, 3 "                   \
        "FROM raw.player_boxscores p JOIN raw.games gg USING (game_id) "                           \
        "WHERE gg.game_date < $1::date AND gg.game_date >= $1::date - 120 "                        \
        "AND ($3::bigint[] IS NULL OR p.player_id = ANY($3::bigint[])) "                           \
        "ORDER BY p.player_id, gg.game_date DESC)) r ORDER BY player_id, prio)"

#define HASH(row) "encode(sha256(convert_to(ROW(" row ")::text, 'UTF8')), 'hex')"

static const char sql_player_game_summary[] =
    "WITH " GAMES_CTE ", "
    "tm AS (SELECT p.game_id, p.team_id, sum(p.minutes) AS mp, "
    "sum(p.fga) AS fga, "
    "sum(p.fta) AS fta, sum(p.tov) AS tov FROM raw.player_boxscores p "
    "JOIN g USING (game_id) "
    "GROUP BY p.game_id, p.team_id) "
    "INSERT INTO analytics.player_game_summary AS t (game_id, "
    "player_id, game_date, season, "
    "team_id, opponent_team_id, is_home, starter, minutes, pts, reb, "
    "oreb, dreb, ast, stl, blk, "
    "tov, pf, fgm, fga, fg3m, fg3a, ftm, fta, plus_minus, ts_pct, "
    "efg_pct, usage_rate, "
    "source_hash) "
    "SELECT p.game_id, p.player_id, g.game_date, g.season, p.team_id, "
    "CASE WHEN p.team_id = g.home_team_id THEN g.away_team_id ELSE "
    "g.home_team_id END, "
    "p.team_id = g.home_team_id, p.starter, p.minutes, p.pts, p.reb, "
    "p.oreb, p.dreb, p.ast, "
    "p.stl, p.blk, p.tov, p.pf, p.fgm, p.fga, p.fg3m, p.fg3a, p.ftm, "
    "p.fta, p.plus_minus, "
    "CASE WHEN p.fga + p.fta > 0 THEN round(p.pts / (2 * (p.fga + 0.44 "
    "* p.fta)), 4) END, "
    "CASE WHEN p.fga > 0 THEN round((p.fgm + 0.5 * p.fg3m) / p.fga, 4) "
    "END, "
    "CASE WHEN p.minutes >= 1 AND tm.fga + 0.44 * tm.fta + tm.tov > 0 "
    "THEN "
    "round(least(1, (p.fga + 0.44 * p.fta + p.tov) * (tm.mp / 5) / "
    "(p.minutes * (tm.fga + 0.44 * tm.fta + tm.tov))), 4) END, " HASH(
        "g.game_date, g.season, g.home_team_id, g.away_team_id, "
        "p.team_id, p.starter, p.minutes, "
        "p.pts, p.reb, p.oreb, p.dreb, p.ast, p.stl, p.blk, p.tov, "
        "p.pf, p.fgm, p.fga, p.fg3m, "
        "p.fg3a, p.ftm, p.fta, p.plus_minus, tm.mp, tm.fga, tm.fta, "
        "tm.tov") " "
                  "FROM raw.player_boxscores p JOIN g USING (game_id) "
                  "JOIN tm ON tm.game_id = p.game_id AND tm.team_id = "
                  "p.team_id "
                  "WHERE p.team_id IN (g.home_team_id, g.away_team_id) "
                  "AND num_nulls(p.minutes, p.pts, p.reb, p.oreb, "
                  "p.dreb, p.ast, p.stl, p.blk, p.tov, p.pf, "
                  "p.fgm, p.fga, p.fg3m, p.fg3a, p.ftm, p.fta) = 0 "
                  "AND ($3::bigint[] IS NULL OR p.player_id = "
                  "ANY($3::bigint[])) "
                  "AND ($4::bigint[] IS NULL OR p.team_id = "
                  "ANY($4::bigint[])) "
                  "ON CONFLICT (game_id, player_id) DO UPDATE SET "
                  "game_date = EXCLUDED.game_date, "
                  "season = EXCLUDED.season, team_id = "
                  "EXCLUDED.team_id, "
                  "opponent_team_id = EXCLUDED.opponent_team_id, "
                  "is_home = EXCLUDED.is_home, "
                  "starter = EXCLUDED.starter, minutes = "
                  "EXCLUDED.minutes, pts = EXCLUDED.pts, "
                  "reb = EXCLUDED.reb, oreb = EXCLUDED.oreb, dreb = "
                  "EXCLUDED.dreb, ast = EXCLUDED.ast, "
                  "stl = EXCLUDED.stl, blk = EXCLUDED.blk, tov = "
                  "EXCLUDED.tov, pf = EXCLUDED.pf, "
                  "fgm = EXCLUDED.fgm, fga = EXCLUDED.fga, fg3m = "
                  "EXCLUDED.fg3m, fg3a = EXCLUDED.fg3a, "
                  "ftm = EXCLUDED.ftm, fta = EXCLUDED.fta, plus_minus "
                  "= EXCLUDED.plus_minus, "
                  "ts_pct = EXCLUDED.ts_pct, efg_pct = "
                  "EXCLUDED.efg_pct, usage_rate = EXCLUDED.usage_rate, "
                  "source_hash = EXCLUDED.source_hash "
                  "RETURNING (xmax = 0), game_id::text, "
                  "player_id::text, team_id::text";

/* Team grain: player ids do not narrow a team's totals ($3 only typed). */
static const char sql_team_offense[] =
    "WITH " GAMES_CTE " "
    "INSERT INTO analytics.team_offense_game_summary AS t (game_id, team_id, "
    "game_date, season, "
    "opponent_team_id, is_home, win, pts, fgm, fga, fg3m, fg3a, ftm, fta, "
    "oreb, dreb, reb, ast, "
    "tov, possessions, pace, offensive_rating, source_hash) "
    "SELECT b.game_id, b.team_id, g.game_date, g.season, "
    "CASE WHEN b.team_id = g.home_team_id THEN g.away_team_id ELSE "
    "g.home_team_id END, "
    "b.team_id = g.home_team_id, "
    "CASE WHEN o.pts IS NULL OR o.pts = b.pts THEN NULL ELSE b.pts > o.pts "
    "END, "
    "b.pts, b.fgm, b.fga, b.fg3m, b.fg3a, b.ftm, b.fta, b.oreb, b.dreb, "
    "b.reb, b.ast, b.tov, "
    "x.poss, CASE WHEN b.minutes > 0 THEN round(x.poss * 240 / b.minutes, 2) "
    "END, "
    "CASE WHEN x.poss > 0 THEN round(100 * b.pts / x.poss, 2) END, " HASH(
        "g.game_date, g.season, g.home_team_id, g.away_team_id, b.minutes, "
        "b.pts, b.fgm, b.fga, "
        "b.fg3m, b.fg3a, b.ftm, b.fta, b.oreb, b.dreb, b.reb, b.ast, b.tov, "
        "o.pts") " "
                 "FROM raw.team_boxscores b JOIN g USING (game_id) "
                 "LEFT JOIN raw.team_boxscores o ON o.game_id = b.game_id AND "
                 "o.team_id <> b.team_id "
                 "CROSS JOIN LATERAL (SELECT round(b.fga - b.oreb + b.tov + "
                 "0.44 * b.fta, 2) AS poss) x "
                 "WHERE b.team_id IN (g.home_team_id, g.away_team_id) "
                 "AND num_nulls(b.pts, b.fgm, b.fga, b.fg3m, b.fg3a, b.ftm, "
                 "b.fta, b.oreb, b.dreb, b.reb, "
                 "b.ast, b.tov) = 0 "
                 "AND ($4::bigint[] IS NULL OR b.team_id = ANY($4::bigint[])) "
                 "AND ($3::bigint[] IS NULL OR $3::bigint[] IS NOT NULL) "
                 "ON CONFLICT (game_id, team_id) DO UPDATE SET game_date = "
                 "EXCLUDED.game_date, "
                 "season = EXCLUDED.season, opponent_team_id = "
                 "EXCLUDED.opponent_team_id, "
                 "is_home = EXCLUDED.is_home, win = EXCLUDED.win, pts = "
                 "EXCLUDED.pts, fgm = EXCLUDED.fgm, "
                 "fga = EXCLUDED.fga, fg3m = EXCLUDED.fg3m, fg3a = "
                 "EXCLUDED.fg3a, ftm = EXCLUDED.ftm, "
                 "fta = EXCLUDED.fta, oreb = EXCLUDED.oreb, dreb = "
                 "EXCLUDED.dreb, reb = EXCLUDED.reb, "
                 "ast = EXCLUDED.ast, tov = EXCLUDED.tov, possessions = "
                 "EXCLUDED.possessions, "
                 "pace = EXCLUDED.pace, offensive_rating = "
                 "EXCLUDED.offensive_rating, "
                 "source_hash = EXCLUDED.source_hash "
                 "RETURNING (xmax = 0), game_id::text, NULL::text, "
                 "team_id::text";

static const char sql_team_defense[] =
    "WITH " GAMES_CTE " "
    "INSERT INTO analytics.team_defense_game_summary AS t (game_id, team_id, game_date, season, "
    "opponent_team_id, is_home, opp_pts, opp_fgm, opp_fga, opp_fg3m, opp_fg3a, opp_ftm, opp_fta, "
    "opp_oreb, opp_reb, opp_ast, opp_tov, stl, blk, dreb, possessions, defensive_rating, "
    "source_hash) "
    "SELECT d.game_id, d.team_id, g.game_date, g.season, o.team_id, d.team_id = g.home_team_id, "
    "o.pts, o.fgm, o.fga, o.fg3m, o.fg3a, o.ftm, o.fta, o.oreb, o.reb, o.ast, o.tov, "
    "d.stl, d.blk, d.dreb, x.poss, CASE WHEN x.poss > 0 THEN round(100 * o.pts / x.poss, 2) "
    "END, " HASH(
        "g.game_date, g.season, g.home_team_id, g.away_team_id, o.team_id, o.pts, o.fgm, "
        "o.fga, o.fg3m, o.fg3a, o.ftm, o.fta, o.oreb, o.reb, o.ast, o.tov, d.stl, d.blk, "
        "d.dreb") " "
                  "FROM raw.team_boxscores d JOIN g USING (game_id) "
                  "JOIN raw.team_boxscores o ON o.game_id = d.game_id AND o.team_id <> d.team_id "
                  "CROSS JOIN LATERAL (SELECT round(o.fga - o.oreb + o.tov + 0.44 * o.fta, 2) AS "
                  "poss) x "
                  "WHERE d.team_id IN (g.home_team_id, g.away_team_id) "
                  "AND o.team_id IN (g.home_team_id, g.away_team_id) "
                  "AND num_nulls(o.pts, o.fgm, o.fga, o.fg3m, o.fg3a, o.ftm, o.fta, o.oreb, o.reb, "
                  "o.ast, "
                  "o.tov, d.stl, d.blk, d.dreb) = 0 "
                  "AND ($4::bigint[] IS NULL OR d.team_id = ANY($4::bigint[])) "
                  "AND ($3::bigint[] IS NULL OR $3::bigint[] IS NOT NULL) "
                  "ON CONFLICT (game_id, team_id) DO UPDATE SET game_date = EXCLUDED.game_date, "
                  "season = EXCLUDED.season, opponent_team_id = EXCLUDED.opponent_team_id, "
                  "is_home = EXCLUDED.is_home, opp_pts = EXCLUDED.opp_pts, opp_fgm = "
                  "EXCLUDED.opp_fgm, "
                  "opp_fga = EXCLUDED.opp_fga, opp_fg3m = EXCLUDED.opp_fg3m, opp_fg3a = "
                  "EXCLUDED.opp_fg3a, "
                  "opp_ftm = EXCLUDED.opp_ftm, opp_fta = EXCLUDED.opp_fta, opp_oreb = "
                  "EXCLUDED.opp_oreb, "
                  "opp_reb = EXCLUDED.opp_reb, opp_ast = EXCLUDED.opp_ast, opp_tov = "
                  "EXCLUDED.opp_tov, "
                  "stl = EXCLUDED.stl, blk = EXCLUDED.blk, dreb = EXCLUDED.dreb, "
                  "possessions = EXCLUDED.possessions, defensive_rating = "
                  "EXCLUDED.defensive_rating, "
                  "source_hash = EXCLUDED.source_hash "
                  "RETURNING (xmax = 0), game_id::text, NULL::text, team_id::text";

/*
 * days_rest = full days off between the last game played and this one
 * (back-to-back = 0 days, flag set); NULL before the first game. Each
 * player's box scores look their game up by key (the LIMIT 1 keeps the
 * planner from hashing every game of the season once per player: a whole
 * date 100 -> 35 ms, docs/performance.md).
 */
static const char sql_upcoming_player[] =
    "WITH " SCHED_CTE ", " INJ_CTE ", " ROSTER_CTE " "
    "INSERT INTO analytics.upcoming_player_game_context AS t (game_date, player_id, game_id, "
    "team_id, opponent_team_id, is_home, days_rest, back_to_back, games_played_season, "
    "injury_status, injury_reason, points_line, rebounds_line, assists_line, context, "
    "source_hash) "
    "SELECT s.game_date, r.player_id, s.game_id, s.team_id, s.opp, s.is_home, "
    "s.game_date - lp.d - 1, coalesce(s.game_date - lp.d = 1, false), lp.n, "
    "inj.status, inj.reason, pl.pts, pl.reb, pl.ast, "
    "jsonb_build_object('last_game_date', lp.d, 'lines_books', pl.books), " HASH(
        "s.game_id, s.team_id, s.opp, s.is_home, s.season, lp.d, lp.n, inj.status, inj.reason, "
        "pl.pts, pl.reb, pl.ast, pl.books") " "
                                            "FROM roster r JOIN s ON s.team_id = r.team_id "
                                            "LEFT JOIN inj ON inj.player_id = r.player_id "
                                            "CROSS JOIN LATERAL (SELECT max(gg.game_date) AS d, "
                                            "count(*) FILTER (WHERE gg.season = s.season) AS n "
                                            "FROM raw.player_boxscores p CROSS JOIN LATERAL ("
                                            "SELECT g2.game_date, g2.season FROM raw.games g2 "
                                            "WHERE g2.game_id = p.game_id AND g2.game_date < "
                                            "s.game_date AND g2.status = 'final' LIMIT 1) gg "
                                            "WHERE p.player_id = r.player_id "
                                            "AND p.minutes > 0) lp "
                                            "CROSS JOIN LATERAL (SELECT round(avg(l.line) FILTER "
                                            "(WHERE l.market = 'points'), 1) AS pts, "
                                            "round(avg(l.line) FILTER (WHERE l.market = "
                                            "'rebounds'), 1) AS reb, "
                                            "round(avg(l.line) FILTER (WHERE l.market = "
                                            "'assists'), 1) AS ast, "
                                            "count(DISTINCT l.book) AS books FROM raw.prop_lines l "
                                            "WHERE l.game_date = s.game_date AND l.player_id = "
                                            "r.player_id) pl "
                                            "WHERE ($2::text[] IS NULL OR s.game_id = "
                                            "ANY($2::text[])) "
                                            "AND ($3::bigint[] IS NULL OR r.player_id = "
                                            "ANY($3::bigint[])) "
                                            "AND ($4::bigint[] IS NULL OR s.team_id = "
                                            "ANY($4::bigint[])) "
                                            "ON CONFLICT (game_date, player_id) DO UPDATE SET "
                                            "game_id = EXCLUDED.game_id, "
                                            "team_id = EXCLUDED.team_id, opponent_team_id = "
                                            "EXCLUDED.opponent_team_id, "
                                            "is_home = EXCLUDED.is_home, days_rest = "
                                            "EXCLUDED.days_rest, "
                                            "back_to_back = EXCLUDED.back_to_back, "
                                            "games_played_season = EXCLUDED.games_played_season, "
                                            "injury_status = EXCLUDED.injury_status, injury_reason "
                                            "= EXCLUDED.injury_reason, "
                                            "points_line = EXCLUDED.points_line, rebounds_line = "
                                            "EXCLUDED.rebounds_line, "
                                            "assists_line = EXCLUDED.assists_line, context = "
                                            "EXCLUDED.context, "
                                            "source_hash = EXCLUDED.source_hash "
                                            "RETURNING (xmax = 0), game_id::text, player_id::text, "
                                            "team_id::text";

/*
 * Player ids narrow to their teams (roster as above). played holds only the
 * date's teams' games: every use of it is by one of those teams (an injury
 * update's two teams scanned the whole league's games four times each).
 */
static const char sql_upcoming_team[] =
    "WITH " SCHED_CTE ", " INJ_CTE ", " ROSTER_CTE ", "
    "played AS (SELECT game_date, season, home_team_id AS team_id, home_pts "
    "> away_pts AS win "
    "FROM raw.games WHERE game_date < $1::date AND status = 'final' "
    "AND home_team_id IN (SELECT team_id FROM s) "
    "UNION ALL SELECT game_date, season, away_team_id, away_pts > home_pts "
    "FROM raw.games "
    "WHERE game_date < $1::date AND status = 'final' "
    "AND away_team_id IN (SELECT team_id FROM s)), "
    "x AS (SELECT s.game_id, s.game_date, s.season, s.team_id, s.opp, "
    "s.is_home, "
    "(SELECT max(p.game_date) FROM played p WHERE p.team_id = s.team_id) AS "
    "last_date, "
    "(SELECT count(*) FROM played p WHERE p.team_id = s.team_id "
    "AND p.game_date >= s.game_date - 7) AS g7, "
    "(SELECT round(avg(p.win::int), 3) FROM played p WHERE p.team_id = "
    "s.team_id "
    "AND p.season = s.season) AS wpct, "
    "(SELECT count(*) FROM inj WHERE inj.team_id = s.team_id AND inj.status "
    "= 'Out') AS outs "
    "FROM s WHERE ($2::text[] IS NULL OR s.game_id = ANY($2::text[])) "
    "AND ($4::bigint[] IS NULL OR s.team_id = ANY($4::bigint[])) "
    "AND ($3::bigint[] IS NULL OR s.team_id IN "
    "(SELECT team_id FROM roster WHERE player_id = ANY($3::bigint[])))) "
    "INSERT INTO analytics.upcoming_team_game_context AS t (game_date, "
    "team_id, game_id, "
    "opponent_team_id, is_home, days_rest, back_to_back, games_last_7_days, "
    "players_out, "
    "win_pct_season, context, source_hash) "
    "SELECT x.game_date, x.team_id, x.game_id, x.opp, x.is_home, x.game_date "
    "- x.last_date - 1, "
    "coalesce(x.game_date - x.last_date = 1, false), x.g7, x.outs, x.wpct, "
    "jsonb_build_object('last_game_date', x.last_date), " HASH(
        "x.game_id, x.opp, x.is_home, x.season, x.last_date, x.g7, x.wpct, "
        "x.outs") " "
                  "FROM x "
                  "ON CONFLICT (game_date, team_id) DO UPDATE SET game_id = "
                  "EXCLUDED.game_id, "
                  "opponent_team_id = EXCLUDED.opponent_team_id, is_home = "
                  "EXCLUDED.is_home, "
                  "days_rest = EXCLUDED.days_rest, back_to_back = "
                  "EXCLUDED.back_to_back, "
                  "games_last_7_days = EXCLUDED.games_last_7_days, "
                  "players_out = EXCLUDED.players_out, "
                  "win_pct_season = EXCLUDED.win_pct_season, context = "
                  "EXCLUDED.context, "
                  "source_hash = EXCLUDED.source_hash "
                  "RETURNING (xmax = 0), game_id::text, NULL::text, "
                  "team_id::text";

static const struct analytics_processor registry[] = {
    {.name = "player_game_summary",
     .target = "analytics.player_game_summary",
     .triggers = {"raw.player_boxscores", "raw.team_boxscores", "raw.games", NULL},
     .deps = {{"raw.player_boxscores", true}, {"raw.games", true}, {"raw.injuries", false}},
     .sql = sql_player_game_summary},
    {.name = "team_offense_game_summary",
     .target = "analytics.team_offense_game_summary",
     .triggers = {"raw.player_boxscores", "raw.team_boxscores", "raw.games", NULL},
     .deps = {{"raw.team_boxscores", true}, {"raw.games", true}, {"raw.player_boxscores", false}},
     .sql = sql_team_offense},
    {.name = "team_defense_game_summary",
     .target = "analytics.team_defense_game_summary",
     .triggers = {"raw.player_boxscores", "raw.team_boxscores", "raw.games", NULL},
     .deps = {{"raw.team_boxscores", true}, {"raw.games", true}, {"raw.player_boxscores", false}},
     .sql = sql_team_defense},
    {.name = "upcoming_player_game_context",
     .target = "analytics.upcoming_player_game_context",
     .triggers = {"raw.schedule", "raw.injuries", "raw.prop_lines", NULL},
     .deps = {{"raw.schedule", true},
              {"raw.injuries", false},
              {"raw.prop_lines", false},
              {"raw.player_boxscores", false}},
     .needs_date = true,
     .sql = sql_upcoming_player},
    {.name = "upcoming_team_game_context",
     .target = "analytics.upcoming_team_game_context",
     .triggers = {"raw.schedule", "raw.injuries", "raw.prop_lines", NULL},
     .deps = {{"raw.schedule", true}, {"raw.injuries", false}, {"raw.games", false}},
     .needs_date = true,
     .sql = sql_upcoming_team},
};

/*
 * The NHL registry (nhl.c): a play-by-play load (raw.nhl_plays) computes the
 * team game stats, then the season aggregates, in that order and in one
 * transaction. Box scores and schedules alone trigger nothing (the metrics
 * come from the plays).
 */
static const struct analytics_processor registry_nhl[] = {
    {.name = "nhl_team_game_stats",
     .target = "analytics.nhl_team_game_stats",
     .triggers = {"raw.nhl_plays", NULL},
     .deps = {{"raw.nhl_plays", true}, {"raw.nhl_games", true}},
     .run = analytics_nhl_game_stats},
    {.name = "nhl_team_aggregates",
     .target = "analytics.nhl_team_aggregates",
     .triggers = {"raw.nhl_plays", NULL},
     .deps = {{"raw.nhl_games", true}},
     .run = analytics_nhl_aggregates},
};

const struct analytics_processor *analytics_processor_at(size_t i)
{
        return i < sizeof(registry) / sizeof(registry[0]) ? &registry[i] : NULL;
}

const struct analytics_processor *analytics_sport_processor_at(const char *sport, size_t i)
{
        if (!sport)
                return NULL;
        if (strcmp(sport, "nba") == 0)
                return analytics_processor_at(i);
        if (strcmp(sport, "nhl") == 0)
                return i < sizeof(registry_nhl) / sizeof(registry_nhl[0]) ? &registry_nhl[i] : NULL;
        return NULL;
}

const struct analytics_processor *analytics_processor_find(const char *name)
{
        for (size_t i = 0; name && i < sizeof(registry) / sizeof(registry[0]); i++)
                if (strcmp(registry[i].name, name) == 0)
                        return &registry[i];
        for (size_t i = 0; name && i < sizeof(registry_nhl) / sizeof(registry_nhl[0]); i++)
                if (strcmp(registry_nhl[i].name, name) == 0)
                        return &registry_nhl[i];
        return NULL;
}

size_t analytics_route(const char *const *tables, size_t ntables, bool *want, size_t nwant)
{
        return analytics_route_sport("nba", tables, ntables, want, nwant);
}

size_t analytics_route_sport(const char *sport, const char *const *tables, size_t ntables,
                             bool *want, size_t nwant)
{
        size_t n = 0;

        for (size_t i = 0; i < nwant; i++) {
                const struct analytics_processor *proc = analytics_sport_processor_at(sport, i);
                want[i] = false;
                for (size_t k = 0; proc && k < ANALYTICS_MAX_TRIGGERS && proc->triggers[k]; k++)
                        for (size_t t = 0; t < ntables && !want[i]; t++)
                                want[i] = tables[t] && strcmp(tables[t], proc->triggers[k]) == 0;
                n += want[i];
        }
        return n;
}
