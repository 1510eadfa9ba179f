#include "parsers_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

/*
 * The NHL web API (api-web.nhle.com/v1) payloads, docs/parsers.md "NHL":
 *   gamecenter/{id}/play-by-play  {id, season, gameType, gameDate, gameState,
 *       homeTeam/awayTeam {id, abbrev, score, sog}, plays[{eventId, sortOrder,
 *       periodDescriptor{number, periodType}, timeInPeriod, situationCode,
 *       homeTeamDefendingSide, typeCode, typeDescKey, details{...}}],
 *       rosterSpots[{teamId, playerId, firstName{default}, ...}]}
 *   gamecenter/{id}/boxscore      the same head + playerByGameStats{awayTeam,
 *       homeTeam: {forwards[], defense[], goalies[]}}
 *   schedule/{date}               {gameWeek[{date, games[{id, season, gameType,
 *       startTimeUTC, gameState, homeTeam, awayTeam, gameOutcome}]}]}
 * Keys are matched exactly. Every shot count and score is cross-checked.
 */

const char *const raw_nhl_games_cols[NG_NCOLS] = {
    "game_id",      "game_date",        "season",         "game_type",  "home_team_id",
    "away_team_id", "home_team_abbr",   "away_team_abbr", "home_score", "away_score",
    "game_state",   "last_period_type", "start_time_utc", "venue"};

const char *const raw_nhl_plays_cols[NPL_NCOLS] = {"game_id",
                                                   "event_id",
                                                   "sort_order",
                                                   "period",
                                                   "period_type",
                                                   "time_in_period",
                                                   "situation_code",
                                                   "home_defending_side",
                                                   "type_code",
                                                   "type_desc_key",
                                                   "event_owner_team_id",
                                                   "x_coord",
                                                   "y_coord",
                                                   "zone_code",
                                                   "shot_type",
                                                   "player1_id",
                                                   "player2_id",
                                                   "player3_id",
                                                   "goalie_id",
                                                   "home_score",
                                                   "away_score",
                                                   "home_sog",
                                                   "away_sog",
                                                   "reason",
                                                   "penalty_minutes"};

const char *const raw_nhl_rosters_cols[NR_NCOLS] = {
    "game_id", "player_id", "team_id", "first_name", "last_name", "sweater_number", "position"};

const char *const raw_nhl_skaters_cols[NS_NCOLS] = {
    "game_id",       "player_id",        "team_id",   "player_name", "position",
    "goals",         "assists",          "points",    "plus_minus",  "pim",
    "hits",          "power_play_goals", "sog",       "faceoff_pct", "toi_minutes",
    "blocked_shots", "shifts",           "giveaways", "takeaways"};

const char *const raw_nhl_goalies_cols[NGB_NCOLS] = {"game_id",
                                                     "player_id",
                                                     "team_id",
                                                     "player_name",
                                                     "shots_against",
                                                     "saves",
                                                     "goals_against",
                                                     "save_pct",
                                                     "even_strength_goals_against",
                                                     "power_play_goals_against",
                                                     "shorthanded_goals_against",
                                                     "pim",
                                                     "toi_minutes",
                                                     "starter",
                                                     "decision"};

#define NFIELDS(a) (sizeof(a) / sizeof(*(a)))

static const cJSON *item(const cJSON *obj, const char *key)
{
        return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* The "default" text of a localized {"default": "..."} object (absent/null -> NULL). */
static int localized(struct raw_ctx *ctx, const cJSON *obj, const char *key, unsigned flags,
                     const char **cell)
{
        const cJSON *v = item(obj, key);

        if (v && cJSON_IsObject(v))
                v = item(v, "default");
        else if (v && !cJSON_IsNull(v) && !cJSON_IsString(v))
                return raw_fail(ctx, "%s: expected {\"default\": text}, got %s", key,
                                sl_json_type_name(v));
        return raw_conv(ctx, v, RAW_C_STR, flags, key, cell);
}

/* season 20242025 -> "2024-25" */
static int season(struct raw_ctx *ctx, const cJSON *v, const char **cell)
{
        const char *digits;
        int64_t s;
        int rc = raw_conv(ctx, v, RAW_C_ID, RAW_F_NONNULL, "season", &digits);

        if (rc < 0)
                return rc;
        if (sl_parse_i64(digits, 19000000, 21999999, &s) < 0 || s % 10000 != s / 10000 + 1)
                return raw_fail(ctx, "season: %s is not YYYY(YYYY+1)", digits);
        *cell = raw_printf(ctx, "%04d-%02d", (int)(s / 10000), (int)(s % 100));
        return 0;
}

static bool final_state(const char *state)
{
        return state && (!strcmp(state, "OFF") || !strcmp(state, "FINAL"));
}

/* One team object {id, abbrev, score}; side "homeTeam"/"awayTeam". */
static int team_head(struct raw_ctx *ctx, const cJSON *root, const char *side, const char **id,
                     const char **abbr, const char **score)
{
        const cJSON *t = raw_member(ctx, root, side, false);
        int rc;

        if (!t)
                return -EBADMSG;
        ctx->where = side;
        rc = raw_conv(ctx, item(t, "id"), RAW_C_ID, RAW_F_NONNULL, "id", id);
        if (rc == 0)
                rc = raw_conv(ctx, item(t, "abbrev"), RAW_C_STR, 0, "abbrev", abbr);
        if (rc == 0)
                rc = raw_conv(ctx, item(t, "score"), RAW_C_COUNT, 0, "score", score);
        ctx->where = NULL;
        return rc;
}

/*
 * A game object (the play-by-play/boxscore root, or a schedule entry) into
 * a raw.nhl_games row; *row_out gets the row index.
 */
static int game_row(struct raw_ctx *ctx, const cJSON *g, const char *date_override, size_t *row_out)
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_NHL_GAMES);
        const cJSON *outcome = item(g, "gameOutcome");
        const char *cells[NG_NCOLS] = {0};
        const char **row;
        size_t r;
        int rc;

        rc = raw_conv(ctx, item(g, "id"), RAW_C_ID, RAW_F_NONNULL, "id", &cells[NG_GAME_ID]);
        if (rc == 0 && date_override)
                cells[NG_GAME_DATE] = date_override;
        else if (rc == 0)
                rc = raw_conv(ctx, item(g, "gameDate"), RAW_C_DATE, RAW_F_NONNULL, "gameDate",
                              &cells[NG_GAME_DATE]);
        if (rc == 0)
                rc = season(ctx, item(g, "season"), &cells[NG_SEASON]);
        if (rc == 0)
                rc = raw_conv(ctx, item(g, "gameType"), RAW_C_COUNT, RAW_F_NONNULL, "gameType",
                              &cells[NG_GAME_TYPE]);
        if (rc == 0)
                rc = raw_conv(ctx, item(g, "gameState"), RAW_C_STR, RAW_F_NONNULL, "gameState",
                              &cells[NG_STATE]);
        if (rc == 0)
                rc = raw_conv(ctx, item(g, "startTimeUTC"), RAW_C_STR, 0, "startTimeUTC",
                              &cells[NG_START_UTC]);
        if (rc == 0)
                rc = localized(ctx, g, "venue", 0, &cells[NG_VENUE]);
        if (rc == 0 && outcome && !cJSON_IsObject(outcome))
                rc = raw_fail(ctx, "gameOutcome: expected an object");
        if (rc == 0 && outcome)
                rc = raw_conv(ctx, item(outcome, "lastPeriodType"), RAW_C_STR, 0, "lastPeriodType",
                              &cells[NG_LAST_PERIOD]);
        if (rc == 0)
                rc = team_head(ctx, g, "homeTeam", &cells[NG_HOME_ID], &cells[NG_HOME_ABBR],
                               &cells[NG_HOME_SCORE]);
        if (rc == 0)
                rc = team_head(ctx, g, "awayTeam", &cells[NG_AWAY_ID], &cells[NG_AWAY_ABBR],
                               &cells[NG_AWAY_SCORE]);
        if (rc < 0)
                return rc;
        if (!strcmp(cells[NG_HOME_ID], cells[NG_AWAY_ID]))
                return raw_fail(ctx, "game %s: home and away are both team %s", cells[NG_GAME_ID],
                                cells[NG_HOME_ID]);
        if (final_state(cells[NG_STATE]) && (!cells[NG_HOME_SCORE] || !cells[NG_AWAY_SCORE]))
                return raw_fail(ctx, "game %s: final (%s) without both scores", cells[NG_GAME_ID],
                                cells[NG_STATE]);
        rc = raw_row_new(ctx, t, &r);
        if (rc < 0)
                return rc;
        row = raw_row(t, r);
        memcpy(row, cells, sizeof(cells));
        if (row_out)
                *row_out = r;
        return 0;
}

/* Integer of a cell known to hold one (0 for NULL). */
static int64_t ival(const struct raw_table *t, size_t row, int col)
{
        int64_t v = 0;
        if (raw_cell_i64(t, row, col, &v) < 0)
                v = 0;
        return v;
}

/*
 * Goals of home (0) and away (1) outside the shootout must be the final
 * score less the shootout win (lastPeriodType "SO": the winner's score has
 * one more).
 */
static int check_score(struct raw_ctx *ctx, const struct raw_table *games, size_t g,
                       const int64_t goals[2], const char *what)
{
        int64_t hs = ival(games, g, NG_HOME_SCORE), as = ival(games, g, NG_AWAY_SCORE);
        const char *last = raw_table_cell(games, g, NG_LAST_PERIOD);

        if (last && !strcmp(last, "SO")) {
                if (hs == as)
                        return raw_fail(ctx, "shootout game with a tied score %lld-%lld",
                                        (long long)hs, (long long)as);
                if (hs > as)
                        hs--;
                else
                        as--;
        }
        if (goals[0] != hs || goals[1] != as)
                return raw_fail(ctx,
                                "%s: home %lld away %lld goals, but the score (less a shootout "
                                "win) is %lld-%lld",
                                what, (long long)goals[0], (long long)goals[1], (long long)hs,
                                (long long)as);
        return 0;
}

/* ---- play-by-play ------------------------------------------------------------------------ */

/* The first present key of keys[] in details, as a player id cell. */
static int first_id(struct raw_ctx *ctx, const cJSON *d, const char *const *keys, const char **cell)
{
        *cell = NULL;
        for (; *keys; keys++) {
                const cJSON *v = item(d, *keys);
                if (v)
                        return raw_conv(ctx, v, RAW_C_ID, 0, *keys, cell);
        }
        return 0;
}

static const char *const p1_keys[] = {"scoringPlayerId",
                                      "shootingPlayerId",
                                      "winningPlayerId",
                                      "hittingPlayerId",
                                      "committedByPlayerId",
                                      "playerId",
                                      NULL};
static const char *const p2_keys[] = {"assist1PlayerId", "blockingPlayerId", "losingPlayerId",
                                      "hitteePlayerId",  "drawnByPlayerId",  NULL};
static const char *const p3_keys[] = {"assist2PlayerId", NULL};
static const char *const goalie_keys[] = {"goalieInNetId", NULL};

static const struct raw_field detail_fields[] = {
    {NPL_OWNER_TEAM, "eventOwnerTeamId", NULL, RAW_C_ID, RAW_F_OPTIONAL},
    {NPL_X, "xCoord", NULL, RAW_C_INT, RAW_F_OPTIONAL},
    {NPL_Y, "yCoord", NULL, RAW_C_INT, RAW_F_OPTIONAL},
    {NPL_ZONE, "zoneCode", NULL, RAW_C_STR, RAW_F_OPTIONAL},
    {NPL_SHOT_TYPE, "shotType", NULL, RAW_C_STR, RAW_F_OPTIONAL},
    {NPL_HOME_SCORE, "homeScore", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NPL_AWAY_SCORE, "awayScore", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NPL_HOME_SOG, "homeSOG", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NPL_AWAY_SOG, "awaySOG", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NPL_REASON, "reason", NULL, RAW_C_STR, RAW_F_OPTIONAL},
    {NPL_PEN_MIN, "duration", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
};

static const struct raw_field play_fields[] = {
    {NPL_EVENT_ID, "eventId", NULL, RAW_C_ID, RAW_F_NONNULL},
    {NPL_SORT_ORDER, "sortOrder", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NPL_TIME_IN_PERIOD, "timeInPeriod", NULL, RAW_C_CLOCK, RAW_F_OPTIONAL},
    {NPL_SITUATION, "situationCode", NULL, RAW_C_STR, RAW_F_OPTIONAL},
    {NPL_HOME_SIDE, "homeTeamDefendingSide", NULL, RAW_C_STR, RAW_F_OPTIONAL},
    {NPL_TYPE_CODE, "typeCode", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NPL_TYPE_KEY, "typeDescKey", NULL, RAW_C_STR, RAW_F_NONNULL},
};

static bool is_shot(const char *key)
{
        return !strcmp(key, "goal") || !strcmp(key, "shot-on-goal") ||
               !strcmp(key, "missed-shot") || !strcmp(key, "blocked-shot");
}

static int pbp_play(struct raw_ctx *ctx, const cJSON *p, const char *game_id, const char *home,
                    const char *away, int64_t goals[2], int64_t sog[2])
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_NHL_PLAYS);
        const cJSON *pd = item(p, "periodDescriptor"), *d = item(p, "details");
        const char **row, *sit;
        size_t r;
        int rc;

        if (!cJSON_IsObject(p))
                return raw_fail(ctx, "expected an object, got %s", sl_json_type_name(p));
        if (!cJSON_IsObject(pd))
                return raw_fail(ctx, "periodDescriptor: expected an object");
        if (d && !cJSON_IsObject(d))
                return raw_fail(ctx, "details: expected an object");
        rc = raw_row_new(ctx, t, &r);
        if (rc == 0)
                rc = raw_obj_map(ctx, p, play_fields, NFIELDS(play_fields), t, r);
        if (rc == 0)
                rc = raw_conv(ctx, item(pd, "number"), RAW_C_COUNT, RAW_F_NONNULL, "number",
                              &raw_row(t, r)[NPL_PERIOD]);
        if (rc == 0)
                rc = raw_conv(ctx, item(pd, "periodType"), RAW_C_STR, 0, "periodType",
                              &raw_row(t, r)[NPL_PERIOD_TYPE]);
        if (rc == 0 && d)
                rc = raw_obj_map(ctx, d, detail_fields, NFIELDS(detail_fields), t, r);
        if (rc == 0 && d)
                rc = first_id(ctx, d, p1_keys, &raw_row(t, r)[NPL_PLAYER1]);
        if (rc == 0 && d)
                rc = first_id(ctx, d, p2_keys, &raw_row(t, r)[NPL_PLAYER2]);
        if (rc == 0 && d)
                rc = first_id(ctx, d, p3_keys, &raw_row(t, r)[NPL_PLAYER3]);
        if (rc == 0 && d)
                rc = first_id(ctx, d, goalie_keys, &raw_row(t, r)[NPL_GOALIE]);
        if (rc < 0)
                return rc;
        row = raw_row(t, r);
        row[NPL_GAME_ID] = game_id;
        sit = row[NPL_SITUATION];
        if (sit && (strlen(sit) != 4 || strspn(sit, "0123456789") != 4))
                return raw_fail(ctx, "situationCode \"%.8s\" is not four digits", sit);
        if (row[NPL_HOME_SIDE] && strcmp(row[NPL_HOME_SIDE], "left") &&
            strcmp(row[NPL_HOME_SIDE], "right"))
                return raw_fail(ctx, "homeTeamDefendingSide \"%.16s\" is not left/right",
                                row[NPL_HOME_SIDE]);
        if (is_shot(row[NPL_TYPE_KEY])) {
                const char *own = row[NPL_OWNER_TEAM];
                int side;
                if (!own || (strcmp(own, home) && strcmp(own, away)))
                        return raw_fail(ctx, "%s: eventOwnerTeamId %s is neither team",
                                        row[NPL_TYPE_KEY], own ? own : "null");
                side = strcmp(own, home) ? 1 : 0;
                if (!row[NPL_PERIOD_TYPE] || strcmp(row[NPL_PERIOD_TYPE], "SO")) {
                        if (!strcmp(row[NPL_TYPE_KEY], "goal")) {
                                goals[side]++;
                                sog[side]++;
                        } else if (!strcmp(row[NPL_TYPE_KEY], "shot-on-goal")) {
                                sog[side]++;
                        }
                }
        }
        return 0;
}

static int roster_spot(struct raw_ctx *ctx, const cJSON *s, const char *game_id)
{
        static const struct raw_field fields[] = {
            {NR_PLAYER_ID, "playerId", NULL, RAW_C_ID, RAW_F_NONNULL},
            {NR_TEAM_ID, "teamId", NULL, RAW_C_ID, RAW_F_NONNULL},
            {NR_SWEATER, "sweaterNumber", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
            {NR_POS, "positionCode", NULL, RAW_C_STR, RAW_F_OPTIONAL},
        };
        struct raw_table *t = raw_table_get(ctx, RAW_T_NHL_ROSTERS);
        size_t r;
        int rc;

        if (!cJSON_IsObject(s))
                return raw_fail(ctx, "expected an object, got %s", sl_json_type_name(s));
        rc = raw_row_new(ctx, t, &r);
        if (rc == 0)
                rc = raw_obj_map(ctx, s, fields, NFIELDS(fields), t, r);
        if (rc == 0)
                rc = localized(ctx, s, "firstName", 0, &raw_row(t, r)[NR_FIRST]);
        if (rc == 0)
                rc = localized(ctx, s, "lastName", RAW_F_NONNULL, &raw_row(t, r)[NR_LAST]);
        if (rc == 0)
                raw_row(t, r)[NR_GAME_ID] = game_id;
        return rc;
}

/* Top-level sog of a team, when given, equals its shots on goal + goals in the plays. */
static int check_sog(struct raw_ctx *ctx, const char *side, int64_t counted)
{
        const cJSON *v = item(item(ctx->root, side), "sog");
        int64_t want;

        if (!cJSON_IsNumber(v))
                return 0;
        want = (int64_t)v->valuedouble;
        if (want != counted)
                return raw_fail(ctx, "%s.sog is %lld but the plays have %lld shots on goal", side,
                                (long long)want, (long long)counted);
        return 0;
}

int raw_parse_nhl_pbp(struct raw_ctx *ctx)
{
        const struct raw_table *games;
        const cJSON *plays, *spots, *it;
        const char *gid, *home, *away;
        int64_t goals[2] = {0, 0}, sog[2] = {0, 0};
        size_t g = 0;
        int rc = game_row(ctx, ctx->root, NULL, &g);

        if (rc < 0)
                return rc;
        games = raw_table_get(ctx, RAW_T_NHL_GAMES);
        gid = raw_table_cell(games, g, NG_GAME_ID);
        home = raw_table_cell(games, g, NG_HOME_ID);
        away = raw_table_cell(games, g, NG_AWAY_ID);
        raw_table_get(ctx, RAW_T_NHL_PLAYS);
        raw_table_get(ctx, RAW_T_NHL_ROSTERS);
        plays = raw_member(ctx, ctx->root, "plays", true);
        if (!plays || raw_check_list(ctx, plays, "plays") < 0)
                return -EBADMSG;
        ctx->where = "plays";
        ctx->row = 0;
        cJSON_ArrayForEach(it, plays)
        {
                rc = pbp_play(ctx, it, gid, home, away, goals, sog);
                if (rc < 0)
                        return rc;
                ctx->row++;
        }
        ctx->where = NULL;
        ctx->row = -1;
        spots = item(ctx->root, "rosterSpots");
        if (spots && !cJSON_IsArray(spots))
                return raw_fail(ctx, "rosterSpots: expected an array");
        if (spots && raw_check_list(ctx, spots, "rosterSpots") < 0)
                return -EBADMSG;
        ctx->where = "rosterSpots";
        ctx->row = 0;
        cJSON_ArrayForEach(it, spots)
        {
                rc = roster_spot(ctx, it, gid);
                if (rc < 0)
                        return rc;
                ctx->row++;
        }
        ctx->where = NULL;
        ctx->row = -1;
        if (!final_state(raw_table_cell(games, g, NG_STATE)))
                return 0;
        rc = check_score(ctx, games, g, goals, "plays");
        if (rc == 0)
                rc = check_sog(ctx, "homeTeam", sog[0]);
        if (rc == 0)
                rc = check_sog(ctx, "awayTeam", sog[1]);
        return rc;
}

/* ---- box score --------------------------------------------------------------------------- */

static const struct raw_field skater_fields[] = {
    {NS_PLAYER_ID, "playerId", NULL, RAW_C_ID, RAW_F_NONNULL},
    {NS_POS, "position", NULL, RAW_C_STR, RAW_F_OPTIONAL},
    {NS_GOALS, "goals", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {NS_ASSISTS, "assists", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {NS_POINTS, "points", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NS_PLUS_MINUS, "plusMinus", NULL, RAW_C_INT, RAW_F_OPTIONAL},
    {NS_PIM, "pim", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NS_HITS, "hits", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NS_PPG, "powerPlayGoals", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NS_SOG, "sog", "shots", RAW_C_COUNT, RAW_F_NONNULL},
    {NS_FO_PCT, "faceoffWinningPctg", NULL, RAW_C_DEC, RAW_F_OPTIONAL},
    {NS_TOI, "toi", NULL, RAW_C_MIN, RAW_F_OPTIONAL},
    {NS_BLOCKED, "blockedShots", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NS_SHIFTS, "shifts", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NS_GIVEAWAYS, "giveaways", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NS_TAKEAWAYS, "takeaways", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
};

static const struct raw_field goalie_fields[] = {
    {NGB_PLAYER_ID, "playerId", NULL, RAW_C_ID, RAW_F_NONNULL},
    {NGB_SHOTS_AGAINST, "shotsAgainst", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NGB_SAVES, "saves", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NGB_GOALS_AGAINST, "goalsAgainst", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NGB_SAVE_PCT, "savePctg", NULL, RAW_C_DEC, RAW_F_OPTIONAL},
    {NGB_EV_GA, "evenStrengthGoalsAgainst", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NGB_PP_GA, "powerPlayGoalsAgainst", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NGB_SH_GA, "shorthandedGoalsAgainst", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NGB_PIM, "pim", NULL, RAW_C_COUNT, RAW_F_OPTIONAL},
    {NGB_TOI, "toi", NULL, RAW_C_MIN, RAW_F_OPTIONAL},
    {NGB_DECISION, "decision", NULL, RAW_C_STR, RAW_F_OPTIONAL},
};

/* {"sog"} is the current key; some older payloads say "shots" (the field's alt). */
static const cJSON *key_or_alt(const cJSON *obj, const struct raw_field *f)
{
        const cJSON *v = item(obj, f->key);
        return v || !f->alt ? v : item(obj, f->alt);
}

static int map_fields(struct raw_ctx *ctx, const cJSON *obj, const struct raw_field *fields,
                      size_t n, struct raw_table *t, size_t r)
{
        for (size_t i = 0; i < n; i++) {
                const cJSON *v = key_or_alt(obj, &fields[i]);
                int rc;
                if (!v && !(fields[i].flags & RAW_F_OPTIONAL))
                        return raw_fail(ctx, "missing field \"%s\"", fields[i].key);
                rc = raw_conv(ctx, v, fields[i].conv, fields[i].flags, fields[i].key,
                              &raw_row(t, r)[fields[i].col]);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int box_group(struct raw_ctx *ctx, const cJSON *team, const char *group, bool goalie,
                     const char *game_id, const char *team_id, int64_t *goals, int64_t *sog)
{
        struct raw_table *t = raw_table_get(ctx, goalie ? RAW_T_NHL_GOALIES : RAW_T_NHL_SKATERS);
        const cJSON *arr = item(team, group), *it;
        char where[48];

        if (!arr)
                return 0;
        if (!cJSON_IsArray(arr))
                return raw_fail(ctx, "%s: expected an array, got %s", group,
                                sl_json_type_name(arr));
        if (raw_check_list(ctx, arr, group) < 0)
                return -EBADMSG;
        snprintf(where, sizeof(where), "%s", group);
        ctx->where = where;
        ctx->row = 0;
        cJSON_ArrayForEach(it, arr)
        {
                const char **row;
                size_t r;
                int rc;
                if (!cJSON_IsObject(it))
                        return raw_fail(ctx, "expected an object, got %s", sl_json_type_name(it));
                rc = raw_row_new(ctx, t, &r);
                if (rc == 0)
                        rc = map_fields(ctx, it, goalie ? goalie_fields : skater_fields,
                                        goalie ? NFIELDS(goalie_fields) : NFIELDS(skater_fields), t,
                                        r);
                if (rc == 0)
                        rc = localized(ctx, it, "name", RAW_F_NONNULL,
                                       &raw_row(t, r)[goalie ? NGB_NAME : NS_NAME]);
                if (rc < 0)
                        return rc;
                row = raw_row(t, r);
                row[0] = game_id; /* game_id is column 0 of both */
                row[2] = team_id; /* team_id is column 2 of both */
                if (goalie) {
                        const cJSON *st = item(it, "starter");
                        int64_t sa = ival(t, r, NGB_SHOTS_AGAINST), sv = ival(t, r, NGB_SAVES);
                        int64_t ga = ival(t, r, NGB_GOALS_AGAINST);
                        row[NGB_STARTER] = cJSON_IsTrue(st) ? "t" : cJSON_IsFalse(st) ? "f" : NULL;
                        if (row[NGB_SHOTS_AGAINST] && row[NGB_SAVES] && row[NGB_GOALS_AGAINST] &&
                            sv + ga != sa)
                                return raw_fail(ctx,
                                                "saves %lld + goalsAgainst %lld != shotsAgainst "
                                                "%lld",
                                                (long long)sv, (long long)ga, (long long)sa);
                } else {
                        int64_t g = ival(t, r, NS_GOALS), a = ival(t, r, NS_ASSISTS);
                        if (row[NS_POINTS] && ival(t, r, NS_POINTS) != g + a)
                                return raw_fail(ctx, "points %lld != goals %lld + assists %lld",
                                                (long long)ival(t, r, NS_POINTS), (long long)g,
                                                (long long)a);
                        if (g > ival(t, r, NS_SOG))
                                return raw_fail(ctx, "goals %lld > sog %lld", (long long)g,
                                                (long long)ival(t, r, NS_SOG));
                        *goals += g;
                        *sog += ival(t, r, NS_SOG);
                }
                ctx->row++;
        }
        ctx->where = NULL;
        ctx->row = -1;
        return 0;
}

int raw_parse_nhl_boxscore(struct raw_ctx *ctx)
{
        static const char *const sides[2] = {"homeTeam", "awayTeam"};
        const struct raw_table *games;
        const cJSON *pbg;
        int64_t goals[2] = {0, 0}, sog[2] = {0, 0};
        size_t g = 0;
        int rc = game_row(ctx, ctx->root, NULL, &g);

        if (rc < 0)
                return rc;
        games = raw_table_get(ctx, RAW_T_NHL_GAMES);
        raw_table_get(ctx, RAW_T_NHL_SKATERS);
        raw_table_get(ctx, RAW_T_NHL_GOALIES);
        pbg = item(ctx->root, "playerByGameStats");
        if (!pbg) {
                if (final_state(raw_table_cell(games, g, NG_STATE)))
                        return raw_fail(ctx, "final game without playerByGameStats");
                return 0; /* scheduled: no player lines yet */
        }
        if (!cJSON_IsObject(pbg))
                return raw_fail(ctx, "playerByGameStats: expected an object");
        for (int s = 0; s < 2; s++) {
                const cJSON *team = raw_member(ctx, pbg, sides[s], false);
                const char *tid = raw_table_cell(games, g, s == 0 ? NG_HOME_ID : NG_AWAY_ID);
                const char *gid = raw_table_cell(games, g, NG_GAME_ID);
                if (!team)
                        return -EBADMSG;
                rc = box_group(ctx, team, "forwards", false, gid, tid, &goals[s], &sog[s]);
                if (rc == 0)
                        rc = box_group(ctx, team, "defense", false, gid, tid, &goals[s], &sog[s]);
                if (rc == 0)
                        rc = box_group(ctx, team, "goalies", true, gid, tid, &goals[s], &sog[s]);
                if (rc < 0)
                        return rc;
        }
        if (!final_state(raw_table_cell(games, g, NG_STATE)))
                return 0;
        rc = check_score(ctx, games, g, goals, "skater goals");
        if (rc == 0)
                rc = check_sog(ctx, "homeTeam", sog[0]);
        if (rc == 0)
                rc = check_sog(ctx, "awayTeam", sog[1]);
        return rc;
}

/* ---- schedule ---------------------------------------------------------------------------- */

int raw_parse_nhl_schedule(struct raw_ctx *ctx)
{
        const cJSON *week = raw_member(ctx, ctx->root, "gameWeek", true), *day;
        size_t ngames = 0;

        if (!week || raw_check_list(ctx, week, "gameWeek") < 0)
                return -EBADMSG;
        raw_table_get(ctx, RAW_T_NHL_GAMES);
        cJSON_ArrayForEach(day, week)
        {
                const cJSON *games, *g;
                const char *date;
                int rc;
                ctx->where = "gameWeek";
                if (!cJSON_IsObject(day))
                        return raw_fail(ctx, "expected an object, got %s", sl_json_type_name(day));
                rc = raw_conv(ctx, item(day, "date"), RAW_C_DATE, RAW_F_NONNULL, "date", &date);
                if (rc < 0)
                        return rc;
                games = item(day, "games");
                if (!games)
                        continue;
                if (!cJSON_IsArray(games))
                        return raw_fail(ctx, "games: expected an array");
                ctx->where = "games";
                ctx->row = 0;
                cJSON_ArrayForEach(g, games)
                {
                        if (!cJSON_IsObject(g))
                                return raw_fail(ctx, "expected an object, got %s",
                                                sl_json_type_name(g));
                        if (++ngames > ctx->max_rows)
                                return raw_fail(ctx, "more than %zu games", ctx->max_rows);
                        /* a schedule game has no gameDate: its day's date is the Eastern date */
                        rc = game_row(ctx, g, date, NULL);
                        if (rc < 0)
                                return rc;
                        ctx->row++;
                }
                ctx->row = -1;
        }
        ctx->where = NULL;
        return 0;
}

enum raw_kind raw_nhl_detect(const cJSON *root)
{
        if (cJSON_IsArray(item(root, "gameWeek")))
                return RAW_KIND_NHL_SCHEDULE;
        if (!item(root, "id") || !cJSON_IsObject(item(root, "homeTeam")) ||
            !cJSON_IsObject(item(root, "awayTeam")) || !item(root, "gameState"))
                return RAW_KIND_UNKNOWN;
        if (item(root, "plays"))
                return RAW_KIND_NHL_PBP;
        return RAW_KIND_NHL_BOXSCORE;
}
