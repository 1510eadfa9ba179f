#include "parsers_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

/*
 * The newer v3 payloads (stats.nba.com since 2025): nested objects with
 * camelCase keys instead of resultSets. Keys are matched exactly.
 *   {"boxScoreTraditional": {gameId, homeTeamId, awayTeamId,
 *       homeTeam/awayTeam: {teamId, teamTricode, players: [{personId, firstName,
 *       familyName, position, statistics: {minutes, points, ...}}], statistics}}}
 *   {"scoreboard": {gameDate, games: [{gameId, gameStatus, homeTeam/awayTeam:
 *       {teamId, teamTricode, score, periods: [{period, score}]}}]}}
 */

/* statistics{} keys of players and teams, into the stat columns at base. */
#define V3_STAT_FIELDS(base, nn)                                                                   \
        {(base) + S_MINUTES, "minutes", NULL, RAW_C_MIN, 0},                                       \
            {(base) + S_PTS, "points", NULL, RAW_C_COUNT, (nn)},                                   \
            {(base) + S_REB, "reboundsTotal", NULL, RAW_C_COUNT, (nn)},                            \
            {(base) + S_OREB, "reboundsOffensive", NULL, RAW_C_COUNT, (nn)},                       \
            {(base) + S_DREB, "reboundsDefensive", NULL, RAW_C_COUNT, (nn)},                       \
            {(base) + S_AST, "assists", NULL, RAW_C_COUNT, (nn)},                                  \
            {(base) + S_STL, "steals", NULL, RAW_C_COUNT, (nn)},                                   \
            {(base) + S_BLK, "blocks", NULL, RAW_C_COUNT, (nn)},                                   \
            {(base) + S_TOV, "turnovers", NULL, RAW_C_COUNT, (nn)},                                \
            {(base) + S_PF, "foulsPersonal", NULL, RAW_C_COUNT, (nn)},                             \
            {(base) + S_FGM, "fieldGoalsMade", NULL, RAW_C_COUNT, (nn)},                           \
            {(base) + S_FGA, "fieldGoalsAttempted", NULL, RAW_C_COUNT, (nn)},                      \
            {(base) + S_FG3M, "threePointersMade", NULL, RAW_C_COUNT, (nn)},                       \
            {(base) + S_FG3A, "threePointersAttempted", NULL, RAW_C_COUNT, (nn)},                  \
            {(base) + S_FTM, "freeThrowsMade", NULL, RAW_C_COUNT, (nn)},                           \
            {(base) + S_FTA, "freeThrowsAttempted", NULL, RAW_C_COUNT, (nn)},                      \
        {                                                                                          \
                (base) + S_PLUS_MINUS, "plusMinusPoints", NULL, RAW_C_DEC, RAW_F_OPTIONAL          \
        }

static const struct raw_field player_stats[] = {V3_STAT_FIELDS(PB_STATS, 0)};
static const struct raw_field team_stats[] = {V3_STAT_FIELDS(TB_STATS, RAW_F_NONNULL)};

#define NFIELDS(a) (sizeof(a) / sizeof(*(a)))

/* ---- box score (boxscoretraditionalv3) -------------------------------------------------- */

/* "First Last" from firstName and familyName (either may be empty, not both). */
static int player_name(struct raw_ctx *ctx, const cJSON *p, const char **cell)
{
        const char *first, *family;
        int rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(p, "firstName"), RAW_C_STR,
                          RAW_F_OPTIONAL, "firstName", &first);

        if (rc == 0)
                rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(p, "familyName"), RAW_C_STR,
                              RAW_F_OPTIONAL, "familyName", &family);
        if (rc < 0)
                return rc;
        if (!first && !family)
                return raw_fail(ctx, "player has neither firstName nor familyName");
        if (first && family) {
                char *both = sl_xasprintf("%s %s", first, family);
                *cell = raw_strdup(ctx, both, strlen(both));
                free(both);
        } else {
                *cell = first ? first : family;
        }
        return 0;
}

/* starter: v3 gives a position only to starters; no "position" key means unknown. */
static int starter(struct raw_ctx *ctx, const cJSON *p, const char **cell)
{
        const cJSON *pos = cJSON_GetObjectItemCaseSensitive(p, "position");
        const char *text;
        int rc;

        *cell = NULL;
        if (!pos)
                return 0;
        rc = raw_conv(ctx, pos, RAW_C_STR, 0, "position", &text);
        if (rc == 0)
                *cell = text ? "t" : "f";
        return rc;
}

/* One players[] entry of team_id into raw.player_boxscores. */
static int v3_player(struct raw_ctx *ctx, const cJSON *p, const char *game_id, const char *team_id)
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_PLAYER_BOX);
        const cJSON *stats;
        const char *pid = NULL, *name = NULL, *st = NULL;
        const char **row;
        size_t r;
        int rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(p, "personId"), RAW_C_ID,
                          RAW_F_NONNULL, "personId", &pid);

        if (rc == 0)
                rc = player_name(ctx, p, &name);
        if (rc == 0)
                rc = starter(ctx, p, &st);
        stats = rc == 0 ? raw_member(ctx, p, "statistics", false) : NULL;
        if (!stats)
                return -EBADMSG;
        rc = raw_row_new(ctx, t, &r);
        if (rc == 0)
                rc = raw_obj_map(ctx, stats, player_stats, NFIELDS(player_stats), t, r);
        if (rc < 0)
                return rc;
        row = raw_row(t, r);
        row[PB_GAME_ID] = game_id;
        row[PB_PLAYER_ID] = pid;
        row[PB_TEAM_ID] = team_id;
        row[PB_NAME] = name;
        row[PB_STARTER] = st;
        if (!row[PB_STATS + S_MINUTES])
                raw_null_stats(row, PB_STATS); /* "minutes": "" = did not play */
        return 0;
}

/* homeTeam or awayTeam: a raw.team_boxscores row and its players; *team_id gets its id. */
static int v3_team(struct raw_ctx *ctx, const cJSON *team, const char *game_id,
                   const char **team_id)
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_TEAM_BOX);
        const cJSON *stats, *players;
        const char *abbr;
        size_t r;
        int rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(team, "teamId"), RAW_C_ID,
                          RAW_F_NONNULL, "teamId", team_id);

        if (rc == 0)
                rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(team, "teamTricode"), RAW_C_STR,
                              RAW_F_NONNULL, "teamTricode", &abbr);
        stats = rc == 0 ? raw_member(ctx, team, "statistics", false) : NULL;
        players = stats ? raw_member(ctx, team, "players", true) : NULL;
        if (!players)
                return -EBADMSG;
        rc = raw_check_list(ctx, players, "players");
        if (rc == 0)
                rc = raw_row_new(ctx, t, &r);
        if (rc == 0)
                rc = raw_obj_map(ctx, stats, team_stats, NFIELDS(team_stats), t, r);
        if (rc < 0)
                return rc;
        raw_row(t, r)[TB_GAME_ID] = game_id;
        raw_row(t, r)[TB_TEAM_ID] = *team_id;
        raw_row(t, r)[TB_ABBR] = abbr;
        ctx->row = 0;
        for (const cJSON *p = players->child; rc == 0 && p; p = p->next, ctx->row++)
                rc = v3_player(ctx, p, game_id, *team_id);
        ctx->row = -1;
        return rc;
}

/* homeTeamId / awayTeamId, when present, must name the nested teams. */
static int check_side_id(struct raw_ctx *ctx, const cJSON *box, const char *key, const char *id)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(box, key);
        const char *cell;
        int rc;

        ctx->where = NULL;
        if (!v)
                return 0;
        rc = raw_conv(ctx, v, RAW_C_ID, RAW_F_NONNULL, key, &cell);
        if (rc == 0 && strcmp(cell, id))
                rc = raw_fail(ctx, "%s %s does not match the team's teamId %s", key, cell, id);
        return rc;
}

int raw_parse_boxscore_v3(struct raw_ctx *ctx)
{
        const cJSON *box = cJSON_GetObjectItemCaseSensitive(ctx->root, "boxScoreTraditional");
        const cJSON *home = NULL, *away = NULL;
        const char *game_id, *home_id = NULL, *away_id = NULL;
        int rc;

        raw_table_get(ctx, RAW_T_PLAYER_BOX);
        raw_table_get(ctx, RAW_T_TEAM_BOX);
        rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(box, "gameId"), RAW_C_GAME_ID,
                      RAW_F_NONNULL, "gameId", &game_id);
        if (rc == 0)
                home = raw_member(ctx, box, "homeTeam", false);
        if (home)
                away = raw_member(ctx, box, "awayTeam", false);
        if (!away)
                return -EBADMSG;
        ctx->where = "homeTeam";
        rc = v3_team(ctx, home, game_id, &home_id);
        ctx->where = "awayTeam";
        if (rc == 0)
                rc = v3_team(ctx, away, game_id, &away_id);
        if (rc == 0)
                rc = check_side_id(ctx, box, "homeTeamId", home_id);
        if (rc == 0)
                rc = check_side_id(ctx, box, "awayTeamId", away_id);
        return rc == 0 ? raw_check_boxscore(ctx) : rc;
}

/* ---- scoreboard (scoreboardv3) ---------------------------------------------------------- */

/* Sum of periods[].score, or -1 when the team has no periods array. */
static int period_sum(struct raw_ctx *ctx, const cJSON *team, int64_t *sum)
{
        const cJSON *periods = cJSON_GetObjectItemCaseSensitive(team, "periods");
        const char *cell;
        int64_t v;
        int rc = 0;

        *sum = -1;
        if (!periods)
                return 0;
        if (!cJSON_IsArray(periods) || cJSON_GetArraySize(periods) > 20)
                return raw_fail(ctx, "periods: expected an array of at most 20");
        *sum = 0;
        for (const cJSON *p = periods->child; rc == 0 && p; p = p->next) {
                rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(p, "score"), RAW_C_COUNT,
                              RAW_F_NONNULL, "periods[].score", &cell);
                if (rc == 0 && sl_parse_i64(cell, 0, 1000, &v) == 0)
                        *sum += v;
        }
        return rc;
}

/* One side of a game: team id, tricode and (unless scheduled) the checked score. */
static int v3_side(struct raw_ctx *ctx, const cJSON *game, const char *key, bool scheduled,
                   const char **side)
{
        const cJSON *team = raw_member(ctx, game, key, false);
        int64_t sum;
        int rc;

        if (!team)
                return -EBADMSG;
        rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(team, "teamId"), RAW_C_ID,
                      RAW_F_NONNULL, "teamId", &side[0]);
        if (rc == 0)
                rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(team, "teamTricode"), RAW_C_STR,
                              0, "teamTricode", &side[1]);
        side[2] = NULL;
        if (rc == 0 && !scheduled)
                rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(team, "score"), RAW_C_COUNT,
                              RAW_F_NONNULL, "score", &side[2]);
        if (rc == 0 && !scheduled)
                rc = period_sum(ctx, team, &sum);
        if (rc == 0 && !scheduled && sum >= 0)
                rc = raw_check_period_sum(ctx, sum, side[2], key);
        return rc;
}

/* One games[] entry into raw.games. */
static int v3_game(struct raw_ctx *ctx, const cJSON *game, const char *date)
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_GAMES);
        const char *gid, *status, *home[3], *away[3];
        const char **g;
        size_t r;
        int rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(game, "gameId"), RAW_C_GAME_ID,
                          RAW_F_NONNULL, "gameId", &gid);

        if (rc == 0)
                rc = raw_status(ctx, cJSON_GetObjectItemCaseSensitive(game, "gameStatus"),
                                "gameStatus", &status);
        if (rc == 0)
                rc = v3_side(ctx, game, "homeTeam", !strcmp(status, "scheduled"), home);
        if (rc == 0)
                rc = v3_side(ctx, game, "awayTeam", !strcmp(status, "scheduled"), away);
        if (rc == 0 && !strcmp(home[0], away[0]))
                rc = raw_fail(ctx, "home and away are the same team %s", home[0]);
        if (rc == 0)
                rc = raw_row_new(ctx, t, &r);
        if (rc < 0)
                return rc;
        g = raw_row(t, r);
        g[G_GAME_ID] = gid;
        g[G_GAME_DATE] = date;
        g[G_SEASON] = raw_season_from_game_id(ctx, gid);
        g[G_LEAGUE] = raw_league_from_game_id(ctx, gid);
        g[G_HOME_ID] = home[0];
        g[G_AWAY_ID] = away[0];
        g[G_HOME_ABBR] = home[1];
        g[G_AWAY_ABBR] = away[1];
        g[G_HOME_PTS] = home[2];
        g[G_AWAY_PTS] = away[2];
        g[G_STATUS] = status;
        return 0;
}

int raw_parse_scoreboard_v3(struct raw_ctx *ctx)
{
        const cJSON *sb = cJSON_GetObjectItemCaseSensitive(ctx->root, "scoreboard");
        const cJSON *games;
        const char *date;
        int rc;

        raw_table_get(ctx, RAW_T_GAMES);
        raw_table_get(ctx, RAW_T_SCHEDULE);
        rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(sb, "gameDate"), RAW_C_DATE,
                      RAW_F_NONNULL, "gameDate", &date);
        games = rc == 0 ? raw_member(ctx, sb, "games", true) : NULL;
        if (!games)
                return -EBADMSG;
        if (cJSON_GetArraySize(games) > RAW_MAX_GAMES)
                return raw_fail(ctx, "more than %d games", RAW_MAX_GAMES);
        ctx->where = "games";
        ctx->row = 0;
        for (const cJSON *g = games->child; rc == 0 && g; g = g->next, ctx->row++)
                rc = v3_game(ctx, g, date);
        ctx->row = -1;
        return rc == 0 ? raw_finish_games(ctx, true) : rc;
}
