#include "parsers_int.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sl/util.h>

/*
 * Checks shared by several kinds: final games have scores, shooting lines
 * are sane, periods add up, a box score's team points equal its players'.
 */

int raw_finish_games(struct raw_ctx *ctx, bool sched)
{
        struct raw_table *games = raw_table_get(ctx, RAW_T_GAMES);
        struct raw_table *sc = sched ? raw_table_get(ctx, RAW_T_SCHEDULE) : NULL;
        size_t r2;
        int rc = 0;

        ctx->where = "raw.games";
        for (size_t r = 0; rc == 0 && r < games->nrows; r++) {
                const char **g = raw_row(games, r);
                if (!strcmp(g[G_STATUS], "final") && (!g[G_HOME_PTS] || !g[G_AWAY_PTS]))
                        return raw_fail(ctx, "final game %s has no score", g[G_GAME_ID]);
                if (!sc)
                        continue;
                rc = raw_row_new(ctx, sc, &r2);
                if (rc < 0)
                        return rc;
                raw_row(sc, r2)[SC_GAME_ID] = g[G_GAME_ID];
                raw_row(sc, r2)[SC_GAME_DATE] = g[G_GAME_DATE];
                raw_row(sc, r2)[SC_HOME_ID] = g[G_HOME_ID];
                raw_row(sc, r2)[SC_AWAY_ID] = g[G_AWAY_ID];
                raw_row(sc, r2)[SC_STATUS] = g[G_STATUS];
        }
        return rc;
}

/* ---- shared checks ---------------------------------------------------------------------- */

int raw_check_shooting(struct raw_ctx *ctx, const struct raw_table *t, size_t row,
                       const int cols[7])
{
        static const char *const names[7] = {"pts", "fgm", "fga", "fg3m", "fg3a", "ftm", "fta"};
        int64_t v[7];
        int missing = 0;

        for (int i = 0; i < 7; i++)
                missing += raw_cell_i64(t, row, cols[i], &v[i]) < 0;
        if (missing == 7)
                return 0; /* did not play */
        if (missing)
                return raw_fail(ctx, "%s row %zu: incomplete shooting line", t->name, row);
        for (int i = 1; i < 7; i += 2) {
                if (v[i] > v[i + 1])
                        return raw_fail(ctx, "%s row %zu: %s %lld > %s %lld", t->name, row,
                                        names[i], (long long)v[i], names[i + 1],
                                        (long long)v[i + 1]);
        }
        if (v[3] > v[1] || v[4] > v[2])
                return raw_fail(ctx, "%s row %zu: more threes than field goals", t->name, row);
        if (v[0] != 2 * (v[1] - v[3]) + 3 * v[3] + v[5])
                return raw_fail(ctx, "%s row %zu: pts %lld != 2*(fgm-fg3m) + 3*fg3m + ftm = %lld",
                                t->name, row, (long long)v[0],
                                (long long)(2 * (v[1] - v[3]) + 3 * v[3] + v[5]));
        return 0;
}

int raw_check_period_sum(struct raw_ctx *ctx, int64_t sum, const char *pts, const char *what)
{
        int64_t final_pts;

        if (!pts)
                return 0; /* not played yet */
        if (sl_parse_i64(pts, 0, 100000, &final_pts) < 0 || final_pts != sum)
                return raw_fail(ctx, "%s: period points add up to %lld, final score is %s", what,
                                (long long)sum, pts);
        return 0;
}

/* Team rows of a box score: two of them, one game, distinct teams, sane shooting lines. */
static int check_box_teams(struct raw_ctx *ctx, const struct raw_table *teams)
{
        static const int cols[7] = {TB_STATS + S_PTS,  TB_STATS + S_FGM,  TB_STATS + S_FGA,
                                    TB_STATS + S_FG3M, TB_STATS + S_FG3A, TB_STATS + S_FTM,
                                    TB_STATS + S_FTA};
        int rc = 0;

        if (teams->nrows != 2)
                return raw_fail(ctx, "box score has %zu team rows, expected 2", teams->nrows);
        if (strcmp(raw_table_cell(teams, 0, TB_GAME_ID), raw_table_cell(teams, 1, TB_GAME_ID)))
                return raw_fail(ctx, "team rows are for different games");
        if (!strcmp(raw_table_cell(teams, 0, TB_TEAM_ID), raw_table_cell(teams, 1, TB_TEAM_ID)))
                return raw_fail(ctx, "both team rows are for team %s",
                                raw_table_cell(teams, 0, TB_TEAM_ID));
        for (size_t r = 0; rc == 0 && r < 2; r++)
                rc = raw_check_shooting(ctx, teams, r, cols);
        return rc;
}

/* Adds a player's points to his team's sum; fails for a player of neither team or game. */
static int add_player_pts(struct raw_ctx *ctx, const struct raw_table *teams,
                          const struct raw_table *players, size_t r, int64_t sums[2])
{
        const char *team = raw_table_cell(players, r, PB_TEAM_ID);
        int64_t pts = 0;
        int i;

        if (strcmp(raw_table_cell(players, r, PB_GAME_ID), raw_table_cell(teams, 0, TB_GAME_ID)))
                return raw_fail(ctx, "player row %zu is for another game", r);
        for (i = 0; i < 2; i++) {
                if (!strcmp(team, raw_table_cell(teams, (size_t)i, TB_TEAM_ID)))
                        break;
        }
        if (i == 2)
                return raw_fail(ctx, "player row %zu: team %s is not in this game", r, team);
        if (raw_cell_i64(players, r, PB_STATS + S_PTS, &pts) == -EINVAL)
                return raw_fail(ctx, "player row %zu: bad pts", r);
        sums[i] += pts; /* NULL (did not play) counts 0; values are capped, no overflow */
        return 0;
}

int raw_check_boxscore(struct raw_ctx *ctx)
{
        const struct raw_table *teams = raw_table_get(ctx, RAW_T_TEAM_BOX);
        const struct raw_table *players = raw_table_get(ctx, RAW_T_PLAYER_BOX);
        int64_t sums[2] = {0, 0}, pts;
        int rc;

        ctx->where = NULL;
        ctx->row = -1;
        rc = check_box_teams(ctx, teams);
        for (size_t r = 0; rc == 0 && r < players->nrows; r++)
                rc = add_player_pts(ctx, teams, players, r, sums);
        for (size_t i = 0; rc == 0 && i < 2; i++) {
                raw_cell_i64(teams, i, TB_STATS + S_PTS, &pts); /* non-null: checked above */
                if (pts != sums[i])
                        rc =
                            raw_fail(ctx, "team %s scored %lld but its players' points sum to %lld",
                                     raw_table_cell(teams, i, TB_TEAM_ID), (long long)pts,
                                     (long long)sums[i]);
        }
        return rc;
}
