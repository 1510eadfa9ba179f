#include "parsers_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include <sl/util.h>

/*
 * stats.nba.com v2 payloads: {"resource", "parameters", "resultSets": [{"name",
 * "headers", "rowSet"}]}. Every column is found by its header name
 * (case-insensitive), never by position, so reordered or added columns do
 * not matter; a missing required header is an error naming it.
 */

/* One result set, with its header names resolved. */
struct rs {
        const char *name;              /* result set name, owned by the cJSON tree */
        const cJSON *rows;             /* rowSet array */
        const char *hdr[RAW_MAX_COLS]; /* header names, owned by the cJSON tree */
        size_t ncols;
        size_t nrows;
};

/* ---- detection -------------------------------------------------------------------------- */

struct v2_name {
        const char *name;
        enum raw_kind kind;
};

static const struct v2_name by_resource[] = {
    {"boxscore", RAW_KIND_BOXSCORE_V2},
    {"boxscoretraditionalv2", RAW_KIND_BOXSCORE_V2},
    {"boxscoresummary", RAW_KIND_SUMMARY_V2},
    {"boxscoresummaryv2", RAW_KIND_SUMMARY_V2},
    {"playbyplay", RAW_KIND_PBP_V2},
    {"playbyplayv2", RAW_KIND_PBP_V2},
    {"scoreboard", RAW_KIND_SCOREBOARD_V2},
    {"scoreboardv2", RAW_KIND_SCOREBOARD_V2},
    {"leaguegamelog", RAW_KIND_GAME_LOG},
    {"leaguegamefinder", RAW_KIND_GAME_FINDER},
    {"leaguegamefinderparameters", RAW_KIND_GAME_FINDER},
};

/* Used when "resource" is absent or unknown: the first result set name that matches. */
static const struct v2_name by_set[] = {
    {"PlayerStats", RAW_KIND_BOXSCORE_V2}, {"GameSummary", RAW_KIND_SUMMARY_V2},
    {"PlayByPlay", RAW_KIND_PBP_V2},       {"GameHeader", RAW_KIND_SCOREBOARD_V2},
    {"LeagueGameLog", RAW_KIND_GAME_LOG},  {"LeagueGameFinderResults", RAW_KIND_GAME_FINDER},
};

/* The result sets: "resultSets" (array, the usual form) or "resultSet" (object or array). */
static const cJSON *result_sets(const cJSON *root)
{
        const cJSON *sets = cJSON_GetObjectItemCaseSensitive(root, "resultSets");

        if (!sets)
                sets = cJSON_GetObjectItemCaseSensitive(root, "resultSet");
        return sets;
}

/* The result set object named name, or NULL. A lone "resultSet" object is its own list. */
static const cJSON *find_set(const cJSON *root, const char *name)
{
        const cJSON *sets = result_sets(root);

        if (cJSON_IsObject(sets)) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(sets, "name");
                return cJSON_IsString(n) && !strcasecmp(n->valuestring, name) ? sets : NULL;
        }
        for (const cJSON *s = cJSON_IsArray(sets) ? sets->child : NULL; s; s = s->next) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "name");
                if (cJSON_IsObject(s) && cJSON_IsString(n) && !strcasecmp(n->valuestring, name))
                        return s;
        }
        return NULL;
}

enum raw_kind raw_v2_detect(const cJSON *root)
{
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "resource");

        for (size_t i = 0; cJSON_IsString(res) && i < sizeof(by_resource) / sizeof(*by_resource);
             i++) {
                if (!strcasecmp(res->valuestring, by_resource[i].name))
                        return by_resource[i].kind;
        }
        for (size_t i = 0; i < sizeof(by_set) / sizeof(*by_set); i++) {
                if (find_set(root, by_set[i].name))
                        return by_set[i].kind;
        }
        return RAW_KIND_UNKNOWN;
}

/* ---- result sets ------------------------------------------------------------------------ */

/* Reads and checks the headers of set s into rs: strings, at most RAW_MAX_COLS, no repeats. */
static int rs_headers(struct raw_ctx *ctx, const cJSON *s, struct rs *rs)
{
        const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(s, "headers");

        if (!cJSON_IsArray(hdrs))
                return raw_fail(ctx, "headers: expected an array, got %s", sl_json_type_name(hdrs));
        for (const cJSON *h = hdrs->child; h; h = h->next) {
                if (rs->ncols == RAW_MAX_COLS)
                        return raw_fail(ctx, "more than %d headers", RAW_MAX_COLS);
                if (!cJSON_IsString(h) || !h->valuestring[0] || strlen(h->valuestring) > 64)
                        return raw_fail(ctx, "header %zu is not a short non-empty string",
                                        rs->ncols);
                for (size_t i = 0; i < rs->ncols; i++) {
                        if (!strcasecmp(rs->hdr[i], h->valuestring))
                                return raw_fail(ctx, "header %s appears twice", h->valuestring);
                }
                rs->hdr[rs->ncols++] = h->valuestring;
        }
        return 0;
}

/* Opens the required result set name into rs; ctx->where names it from then on. */
static int rs_open(struct raw_ctx *ctx, const char *name, struct rs *rs)
{
        const cJSON *s = find_set(ctx->root, name);
        int rc;

        memset(rs, 0, sizeof(*rs));
        ctx->where = name;
        ctx->row = -1;
        if (!s)
                return raw_fail(ctx, "result set missing");
        rs->name = name;
        rc = rs_headers(ctx, s, rs);
        if (rc < 0)
                return rc;
        rs->rows = cJSON_GetObjectItemCaseSensitive(s, "rowSet");
        if (!cJSON_IsArray(rs->rows))
                return raw_fail(ctx, "rowSet: expected an array, got %s",
                                sl_json_type_name(rs->rows));
        rc = raw_check_list(ctx, rs->rows, "rowSet");
        rs->nrows = (size_t)cJSON_GetArraySize(rs->rows);
        return rc;
}

/* Index of header name (or alt) in rs, or -1. */
static int rs_col(const struct rs *rs, const char *name, const char *alt)
{
        for (size_t i = 0; i < rs->ncols; i++) {
                if (!strcasecmp(rs->hdr[i], name) || (alt && !strcasecmp(rs->hdr[i], alt)))
                        return (int)i;
        }
        return -1;
}

/* Resolves every field's header to an index in idx; a missing required header fails. */
static int rs_lookup(struct raw_ctx *ctx, const struct rs *rs, const struct raw_field *fields,
                     size_t n, int *idx)
{
        for (size_t i = 0; i < n; i++) {
                idx[i] = rs_col(rs, fields[i].key, fields[i].alt);
                if (idx[i] < 0 && !(fields[i].flags & RAW_F_OPTIONAL))
                        return raw_fail(ctx, "missing header %s", fields[i].key);
        }
        return 0;
}

/* Spreads one rowSet entry into cells[ncols]; it must be an array as long as the headers. */
static int rs_cells(struct raw_ctx *ctx, const struct rs *rs, const cJSON *row, const cJSON **cells)
{
        size_t n = 0;

        if (!cJSON_IsArray(row))
                return raw_fail(ctx, "row: expected an array, got %s", sl_json_type_name(row));
        for (const cJSON *c = row->child; c; c = c->next) {
                if (n == rs->ncols)
                        return raw_fail(ctx, "row has more values than the %zu headers", rs->ncols);
                cells[n++] = c;
        }
        if (n != rs->ncols)
                return raw_fail(ctx, "row has %zu values, headers have %zu", n, rs->ncols);
        return 0;
}

/* Value of the header at idx in cells, NULL when the header is absent (idx < 0). */
static const cJSON *cell_at(const cJSON **cells, int idx)
{
        return idx >= 0 ? cells[idx] : NULL;
}

/* Converts the mapped fields of one row into the table row r. */
static int rs_map(struct raw_ctx *ctx, const cJSON **cells, const struct raw_field *fields,
                  size_t n, const int *idx, struct raw_table *t, size_t r)
{
        for (size_t i = 0; i < n; i++) {
                const char *cell;
                int rc = raw_conv(ctx, cell_at(cells, idx[i]), fields[i].conv, fields[i].flags,
                                  fields[i].key, &cell);
                if (rc < 0)
                        return rc;
                raw_row(t, r)[fields[i].col] = cell;
        }
        return 0;
}

/* Extra per-row work after the mapping; cells are the row's JSON values. */
typedef int row_fn(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells,
                   struct raw_table *t, size_t r);

/* Maps every row of rs into a new row of table id, then calls post (may be NULL). */
static int rs_map_all(struct raw_ctx *ctx, const struct rs *rs, const struct raw_field *fields,
                      size_t n, enum raw_table_id id, row_fn *post)
{
        struct raw_table *t = raw_table_get(ctx, id);
        const cJSON *cells[RAW_MAX_COLS];
        int idx[64];
        size_t r;
        int rc = n <= 64 ? rs_lookup(ctx, rs, fields, n, idx) : raw_fail(ctx, "too many fields");

        ctx->row = 0;
        for (const cJSON *row = rs->rows->child; rc == 0 && row; row = row->next, ctx->row++) {
                rc = rs_cells(ctx, rs, row, cells);
                if (rc == 0)
                        rc = raw_row_new(ctx, t, &r);
                if (rc == 0)
                        rc = rs_map(ctx, cells, fields, n, idx, t, r);
                if (rc == 0 && post)
                        rc = post(ctx, rs, cells, t, r);
        }
        ctx->row = -1;
        return rc;
}

/* ---- box score (boxscoretraditionalv2) -------------------------------------------------- */

/* The stat columns of both box-score tables, at base. */
#define STAT_FIELDS(base, nn)                                                                      \
        {(base) + S_MINUTES, "MIN", NULL, RAW_C_MIN, 0},                                           \
            {(base) + S_PTS, "PTS", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_REB, "REB", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_OREB, "OREB", NULL, RAW_C_COUNT, (nn)},                                    \
            {(base) + S_DREB, "DREB", NULL, RAW_C_COUNT, (nn)},                                    \
            {(base) + S_AST, "AST", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_STL, "STL", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_BLK, "BLK", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_TOV, "TO", "TOV", RAW_C_COUNT, (nn)},                                      \
            {(base) + S_PF, "PF", NULL, RAW_C_COUNT, (nn)},                                        \
            {(base) + S_FGM, "FGM", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_FGA, "FGA", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_FG3M, "FG3M", NULL, RAW_C_COUNT, (nn)},                                    \
            {(base) + S_FG3A, "FG3A", NULL, RAW_C_COUNT, (nn)},                                    \
            {(base) + S_FTM, "FTM", NULL, RAW_C_COUNT, (nn)},                                      \
            {(base) + S_FTA, "FTA", NULL, RAW_C_COUNT, (nn)},                                      \
        {                                                                                          \
                (base) + S_PLUS_MINUS, "PLUS_MINUS", NULL, RAW_C_DEC, RAW_F_OPTIONAL               \
        }

static const struct raw_field player_fields[] = {
    {PB_GAME_ID, "GAME_ID", NULL, RAW_C_GAME_ID, RAW_F_NONNULL},
    {PB_PLAYER_ID, "PLAYER_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {PB_TEAM_ID, "TEAM_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {PB_NAME, "PLAYER_NAME", NULL, RAW_C_STR, RAW_F_NONNULL},
    STAT_FIELDS(PB_STATS, 0),
};

static const struct raw_field team_fields[] = {
    {TB_GAME_ID, "GAME_ID", NULL, RAW_C_GAME_ID, RAW_F_NONNULL},
    {TB_TEAM_ID, "TEAM_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {TB_ABBR, "TEAM_ABBREVIATION", NULL, RAW_C_STR, RAW_F_NONNULL},
    STAT_FIELDS(TB_STATS, RAW_F_NONNULL),
};

#define NFIELDS(a) (sizeof(a) / sizeof(*(a)))

/* starter from START_POSITION (a position means a starter; no header: unknown) and DNP stats. */
static int player_post(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells,
                       struct raw_table *t, size_t r)
{
        const cJSON *pos = cell_at(cells, rs_col(rs, "START_POSITION", NULL));
        const char **row = raw_row(t, r);
        const char *text;
        int rc;

        if (pos) {
                rc = raw_conv(ctx, pos, RAW_C_STR, 0, "START_POSITION", &text);
                if (rc < 0)
                        return rc;
                row[PB_STARTER] = text ? "t" : "f";
        }
        if (!row[PB_STATS + S_MINUTES])
                raw_null_stats(row, PB_STATS);
        return 0;
}

int raw_parse_boxscore_v2(struct raw_ctx *ctx)
{
        struct rs players, teams;
        int rc;

        raw_table_get(ctx, RAW_T_PLAYER_BOX);
        raw_table_get(ctx, RAW_T_TEAM_BOX);
        rc = rs_open(ctx, "PlayerStats", &players);
        if (rc == 0)
                rc = rs_map_all(ctx, &players, player_fields, NFIELDS(player_fields),
                                RAW_T_PLAYER_BOX, player_post);
        if (rc == 0)
                rc = rs_open(ctx, "TeamStats", &teams);
        if (rc == 0)
                rc = rs_map_all(ctx, &teams, team_fields, NFIELDS(team_fields), RAW_T_TEAM_BOX,
                                NULL);
        return rc == 0 ? raw_check_boxscore(ctx) : rc;
}

/* ---- games: GameSummary / GameHeader + LineScore ---------------------------------------- */

static const struct raw_field header_fields[] = {
    {G_GAME_ID, "GAME_ID", NULL, RAW_C_GAME_ID, RAW_F_NONNULL},
    {G_GAME_DATE, "GAME_DATE_EST", NULL, RAW_C_DATE, RAW_F_NONNULL},
    {G_HOME_ID, "HOME_TEAM_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {G_AWAY_ID, "VISITOR_TEAM_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
};

/* Season, league and status of a games row; home and visitor must differ. */
static int header_post(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells,
                       struct raw_table *t, size_t r)
{
        const cJSON *st = cell_at(cells, rs_col(rs, "GAME_STATUS_ID", NULL));
        const char **g = raw_row(t, r);
        int rc = raw_status(ctx, st, "GAME_STATUS_ID", &g[G_STATUS]);

        g[G_SEASON] = raw_season_from_game_id(ctx, g[G_GAME_ID]);
        g[G_LEAGUE] = raw_league_from_game_id(ctx, g[G_GAME_ID]);
        if (rc == 0 && !strcmp(g[G_HOME_ID], g[G_AWAY_ID]))
                rc = raw_fail(ctx, "home and visitor are the same team %s", g[G_HOME_ID]);
        return rc;
}

/* Row of raw.games for game_id, or -1. Tables here are capped at RAW_MAX_GAMES. */
static long game_row(const struct raw_table *games, const char *game_id)
{
        for (size_t r = 0; r < games->nrows; r++) {
                if (!strcmp(raw_table_cell(games, r, G_GAME_ID), game_id))
                        return (long)r;
        }
        return -1;
}

/* Sum of the PTS_QTR1..4 and PTS_OT1..10 values present in a LineScore row. */
static int period_sum(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells, int64_t *sum)
{
        char name[16];
        const char *cell;
        int64_t v;

        *sum = 0;
        for (int p = 1; p <= 14; p++) {
                int len = p <= 4 ? snprintf(name, sizeof(name), "PTS_QTR%d", p)
                                 : snprintf(name, sizeof(name), "PTS_OT%d", p - 4);
                int idx = rs_col(rs, name, NULL);
                int rc;

                if (len <= 0 || (size_t)len >= sizeof(name))
                        return raw_fail(ctx, "period name");
                if (idx < 0 && p <= 4)
                        return raw_fail(ctx, "missing header %s", name);
                rc = raw_conv(ctx, cell_at(cells, idx), RAW_C_COUNT, 0, name, &cell);
                if (rc < 0)
                        return rc;
                if (cell && sl_parse_i64(cell, 0, 1000, &v) == 0)
                        *sum += v;
        }
        return 0;
}

static const struct raw_field line_fields[] = {
    {0, "GAME_ID", NULL, RAW_C_GAME_ID, RAW_F_NONNULL},
    {1, "TEAM_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {2, "TEAM_ABBREVIATION", NULL, RAW_C_STR, 0},
    {3, "PTS", NULL, RAW_C_COUNT, 0},
};

/* Puts one LineScore row (game, team, abbr, pts in ls[]) into its games row. */
static int apply_line(struct raw_ctx *ctx, struct raw_table *games, const char *ls[4])
{
        long r = game_row(games, ls[0]);
        const char **g;
        bool home;

        if (r < 0)
                return raw_fail(ctx, "game %s is not in the game header", ls[0]);
        g = raw_row(games, (size_t)r);
        home = !strcmp(ls[1], g[G_HOME_ID]);
        if (!home && strcmp(ls[1], g[G_AWAY_ID]))
                return raw_fail(ctx, "team %s does not play in game %s", ls[1], ls[0]);
        if (g[home ? G_HOME_ABBR : G_AWAY_ABBR] || g[home ? G_HOME_PTS : G_AWAY_PTS])
                return raw_fail(ctx, "second line for team %s in game %s", ls[1], ls[0]);
        g[home ? G_HOME_ABBR : G_AWAY_ABBR] = ls[2];
        g[home ? G_HOME_PTS : G_AWAY_PTS] = ls[3];
        return 0;
}

/* Applies every LineScore row to raw.games, checking that periods add up to the final. */
static int apply_line_scores(struct raw_ctx *ctx, const struct rs *rs)
{
        struct raw_table *games = raw_table_get(ctx, RAW_T_GAMES);
        const cJSON *cells[RAW_MAX_COLS];
        const char *ls[4];
        int idx[4];
        int64_t sum;
        int rc = rs_lookup(ctx, rs, line_fields, 4, idx);

        ctx->row = 0;
        for (const cJSON *row = rs->rows->child; rc == 0 && row; row = row->next, ctx->row++) {
                rc = rs_cells(ctx, rs, row, cells);
                for (size_t i = 0; rc == 0 && i < 4; i++)
                        rc = raw_conv(ctx, cells[idx[i]], line_fields[i].conv, line_fields[i].flags,
                                      line_fields[i].key, &ls[i]);
                if (rc == 0)
                        rc = period_sum(ctx, rs, cells, &sum);
                if (rc == 0)
                        rc = raw_check_period_sum(ctx, sum, ls[3], "line score");
                if (rc == 0)
                        rc = apply_line(ctx, games, ls);
        }
        ctx->row = -1;
        return rc;
}

/* Shared by summary and scoreboard: header set -> raw.games, LineScore -> scores. */
static int parse_games(struct raw_ctx *ctx, const char *header_set, bool sched)
{
        struct rs hdr, ls;
        int rc;

        raw_table_get(ctx, RAW_T_GAMES);
        if (sched)
                raw_table_get(ctx, RAW_T_SCHEDULE);
        rc = rs_open(ctx, header_set, &hdr);
        if (rc == 0 && hdr.nrows > RAW_MAX_GAMES)
                rc = raw_fail(ctx, "more than %d games", RAW_MAX_GAMES);
        if (rc == 0)
                rc = rs_map_all(ctx, &hdr, header_fields, NFIELDS(header_fields), RAW_T_GAMES,
                                header_post);
        if (rc == 0)
                rc = rs_open(ctx, "LineScore", &ls);
        if (rc == 0 && ls.nrows > 2 * RAW_MAX_GAMES)
                rc = raw_fail(ctx, "more than %d lines", 2 * RAW_MAX_GAMES);
        if (rc == 0)
                rc = apply_line_scores(ctx, &ls);
        return rc == 0 ? raw_finish_games(ctx, sched) : rc;
}

int raw_parse_summary_v2(struct raw_ctx *ctx)
{
        int rc = parse_games(ctx, "GameSummary", false);
        const struct raw_table *games = raw_table_get(ctx, RAW_T_GAMES);

        ctx->where = "GameSummary";
        if (rc == 0 && games->nrows != 1)
                rc = raw_fail(ctx, "%zu rows, expected 1", games->nrows);
        return rc;
}

int raw_parse_scoreboard_v2(struct raw_ctx *ctx)
{
        return parse_games(ctx, "GameHeader", true);
}

/* ---- play-by-play (playbyplayv2) -------------------------------------------------------- */

static const struct raw_field pbp_fields[] = {
    {PP_GAME_ID, "GAME_ID", NULL, RAW_C_GAME_ID, RAW_F_NONNULL},
    {PP_EVENT_NUM, "EVENTNUM", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {PP_PERIOD, "PERIOD", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {PP_CLOCK, "PCTIMESTRING", NULL, RAW_C_CLOCK, 0},
    {PP_EVENT_TYPE, "EVENTMSGTYPE", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {PP_ACTION_TYPE, "EVENTMSGACTIONTYPE", NULL, RAW_C_COUNT, 0},
    {PP_PLAYER1, "PLAYER1_ID", NULL, RAW_C_ID0, 0},
    {PP_PLAYER2, "PLAYER2_ID", NULL, RAW_C_ID0, RAW_F_OPTIONAL},
    {PP_PLAYER3, "PLAYER3_ID", NULL, RAW_C_ID0, RAW_F_OPTIONAL},
};

/* "115 - 126" (visitor - home, as stats.nba.com writes it) into away and home points. */
static int split_score(struct raw_ctx *ctx, const char *s, const char **row)
{
        const char *dash = strstr(s, " - ");
        int64_t away, home;
        char left[16];
        size_t n = dash ? (size_t)(dash - s) : 0;

        if (!dash || n == 0 || n >= sizeof(left))
                return raw_fail(ctx, "SCORE: expected \"visitor - home\"");
        memcpy(left, s, n);
        left[n] = '\0';
        if (strspn(left, "0123456789") != n || strspn(dash + 3, "0123456789") != strlen(dash + 3) ||
            sl_parse_i64(left, 0, 1000, &away) < 0 || sl_parse_i64(dash + 3, 0, 1000, &home) < 0)
                return raw_fail(ctx, "SCORE: expected \"visitor - home\"");
        row[PP_SCORE_AWAY] = raw_printf(ctx, "%lld", (long long)away);
        row[PP_SCORE_HOME] = raw_printf(ctx, "%lld", (long long)home);
        return 0;
}

/* HOME/NEUTRAL/VISITORDESCRIPTION joined by " | " in that order (absent ones skipped). */
static int join_desc(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells,
                     const char **row)
{
        static const char *const keys[3] = {"HOMEDESCRIPTION", "NEUTRALDESCRIPTION",
                                            "VISITORDESCRIPTION"};
        const char *part[3];
        struct sl_buf b;
        int rc = 0;

        for (int i = 0; rc == 0 && i < 3; i++)
                rc = raw_conv(ctx, cell_at(cells, rs_col(rs, keys[i], NULL)), RAW_C_STR, 0, keys[i],
                              &part[i]);
        if (rc < 0)
                return rc;
        sl_buf_init(&b, 0);
        for (int i = 0; i < 3; i++) {
                if (!part[i])
                        continue;
                if (b.len > 0)
                        (void)sl_buf_puts(&b, " | "); /* uncapped buffer: cannot fail */
                (void)sl_buf_puts(&b, part[i]);
        }
        if (b.len > 0)
                row[PP_DESC] = raw_strdup(ctx, b.data, b.len);
        sl_buf_fini(&b);
        return 0;
}

/* A PERSONnTYPE of 2 or 3 means PLAYERn_ID holds a team id: NULL it (no player). */
static void drop_team_ids(const struct rs *rs, const cJSON **cells, const char **row)
{
        static const char *const types[3] = {"PERSON1TYPE", "PERSON2TYPE", "PERSON3TYPE"};

        for (int i = 0; i < 3; i++) {
                const cJSON *t = cell_at(cells, rs_col(rs, types[i], NULL));
                if (cJSON_IsNumber(t) && (t->valuedouble == 2 || t->valuedouble == 3))
                        row[PP_PLAYER1 + i] = NULL;
        }
}

static int pbp_post(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells,
                    struct raw_table *t, size_t r)
{
        const char **row = raw_row(t, r);
        const char *score;
        int64_t period;
        int rc = raw_conv(ctx, cell_at(cells, rs_col(rs, "SCORE", NULL)), RAW_C_STR, RAW_F_OPTIONAL,
                          "SCORE", &score);

        if (rc == 0 && score)
                rc = split_score(ctx, score, row);
        if (rc == 0)
                rc = join_desc(ctx, rs, cells, row);
        if (rc < 0)
                return rc;
        drop_team_ids(rs, cells, row);
        if (sl_parse_i64(row[PP_PERIOD], 1, 14, &period) < 0)
                return raw_fail(ctx, "PERIOD %s is not in 1..14", row[PP_PERIOD]);
        if (strcmp(row[PP_GAME_ID], raw_table_cell(t, 0, PP_GAME_ID)))
                return raw_fail(ctx, "GAME_ID %s differs from the first row's", row[PP_GAME_ID]);
        return 0;
}

int raw_parse_pbp_v2(struct raw_ctx *ctx)
{
        struct rs pbp;
        int rc;

        raw_table_get(ctx, RAW_T_PBP);
        rc = rs_open(ctx, "PlayByPlay", &pbp);
        if (rc == 0)
                rc = rs_map_all(ctx, &pbp, pbp_fields, NFIELDS(pbp_fields), RAW_T_PBP, pbp_post);
        return rc;
}

/* ---- league game log / game finder ------------------------------------------------------ */

static const struct raw_field log_fields[] = {
    {GL_GAME_ID, "GAME_ID", NULL, RAW_C_GAME_ID, RAW_F_NONNULL},
    {GL_TEAM_ID, "TEAM_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {GL_GAME_DATE, "GAME_DATE", NULL, RAW_C_DATE, RAW_F_NONNULL},
    {GL_MATCHUP, "MATCHUP", NULL, RAW_C_STR, RAW_F_NONNULL},
    {GL_WL, "WL", NULL, RAW_C_STR, 0},
    {GL_PTS, "PTS", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {GL_FGM, "FGM", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {GL_FGA, "FGA", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {GL_FG3M, "FG3M", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {GL_FG3A, "FG3A", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {GL_FTM, "FTM", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {GL_FTA, "FTA", NULL, RAW_C_COUNT, RAW_F_NONNULL},
    {GL_OREB, "OREB", NULL, RAW_C_COUNT, 0},
    {GL_DREB, "DREB", NULL, RAW_C_COUNT, 0},
    {GL_REB, "REB", NULL, RAW_C_COUNT, 0},
    {GL_AST, "AST", NULL, RAW_C_COUNT, 0},
    {GL_STL, "STL", NULL, RAW_C_COUNT, 0},
    {GL_BLK, "BLK", NULL, RAW_C_COUNT, 0},
    {GL_TOV, "TOV", "TO", RAW_C_COUNT, 0},
    {GL_PF, "PF", NULL, RAW_C_COUNT, 0},
    {GL_PLUS_MINUS, "PLUS_MINUS", NULL, RAW_C_DEC, RAW_F_OPTIONAL},
};

/* A player-mode log (PlayerOrTeam=P) goes to raw.player_boxscores; starter is unknown. */
static const struct raw_field log_player_fields[] = {
    {PB_GAME_ID, "GAME_ID", NULL, RAW_C_GAME_ID, RAW_F_NONNULL},
    {PB_PLAYER_ID, "PLAYER_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {PB_TEAM_ID, "TEAM_ID", NULL, RAW_C_ID, RAW_F_NONNULL},
    {PB_NAME, "PLAYER_NAME", NULL, RAW_C_STR, RAW_F_NONNULL},
    STAT_FIELDS(PB_STATS, 0),
};

/* Per team row: season, W/L, shooting sanity; keeps the team abbreviation for the pairing. */
static int log_post(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells,
                    struct raw_table *t, size_t r)
{
        static const int cols[7] = {GL_PTS, GL_FGM, GL_FGA, GL_FG3M, GL_FG3A, GL_FTM, GL_FTA};
        const char **row = raw_row(t, r);

        (void)rs;
        (void)cells;
        row[GL_SEASON] = raw_season_from_game_id(ctx, row[GL_GAME_ID]);
        if (row[GL_WL] && strcmp(row[GL_WL], "W") && strcmp(row[GL_WL], "L"))
                return raw_fail(ctx, "WL: expected W or L");
        return raw_check_shooting(ctx, t, r, cols);
}

static int log_player_post(struct raw_ctx *ctx, const struct rs *rs, const cJSON **cells,
                           struct raw_table *t, size_t r)
{
        (void)ctx;
        (void)rs;
        (void)cells;
        if (!raw_row(t, r)[PB_STATS + S_MINUTES])
                raw_null_stats(raw_row(t, r), PB_STATS);
        return 0;
}

/* One game's two log rows, sorted together by game id. */
struct log_ref {
        const char *game_id;
        size_t row;
};

static int cmp_log_refs(const void *a, const void *b)
{
        const struct log_ref *x = a, *y = b;
        int c = strcmp(x->game_id, y->game_id);

        return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* True if matchup is "<own> vs. <opp>" (home) or "<own> @ <opp>" (away) for the given teams. */
static bool matchup_is(const char *matchup, const char *own, const char *sep, const char *opp)
{
        size_t lo = strlen(own), ls = strlen(sep);

        return !strncmp(matchup, own, lo) && !strncmp(matchup + lo, sep, ls) &&
               !strcmp(matchup + lo + ls, opp);
}

/* Checks a home/away pair of log rows and writes their raw.games row. */
static int log_game(struct raw_ctx *ctx, const struct raw_table *log, const char **abbr, size_t h,
                    size_t a)
{
        struct raw_table *games = raw_table_get(ctx, RAW_T_GAMES);
        const char *hw = raw_table_cell(log, h, GL_WL), *aw = raw_table_cell(log, a, GL_WL);
        const char *gid = raw_table_cell(log, h, GL_GAME_ID);
        int64_t hp, ap;
        const char **g;
        size_t r;
        int rc;

        if (!matchup_is(raw_table_cell(log, a, GL_MATCHUP), abbr[a], " @ ", abbr[h]) ||
            !matchup_is(raw_table_cell(log, h, GL_MATCHUP), abbr[h], " vs. ", abbr[a]))
                return raw_fail(ctx, "game %s: matchups do not name the two teams", gid);
        if (!strcmp(raw_table_cell(log, h, GL_TEAM_ID), raw_table_cell(log, a, GL_TEAM_ID)) ||
            strcmp(raw_table_cell(log, h, GL_GAME_DATE), raw_table_cell(log, a, GL_GAME_DATE)))
                return raw_fail(ctx, "game %s: same team twice or two dates", gid);
        raw_cell_i64(log, h, GL_PTS, &hp);
        raw_cell_i64(log, a, GL_PTS, &ap);
        if (hw && aw && (!strcmp(hw, aw) || (hp > ap) != !strcmp(hw, "W")))
                return raw_fail(ctx, "game %s: W/L does not match the score %lld-%lld", gid,
                                (long long)hp, (long long)ap);
        rc = raw_row_new(ctx, games, &r);
        if (rc < 0)
                return rc;
        g = raw_row(games, r);
        g[G_GAME_ID] = gid;
        g[G_GAME_DATE] = raw_table_cell(log, h, GL_GAME_DATE);
        g[G_SEASON] = raw_table_cell(log, h, GL_SEASON);
        g[G_LEAGUE] = raw_league_from_game_id(ctx, gid);
        g[G_HOME_ID] = raw_table_cell(log, h, GL_TEAM_ID);
        g[G_AWAY_ID] = raw_table_cell(log, a, GL_TEAM_ID);
        g[G_HOME_ABBR] = abbr[h];
        g[G_AWAY_ABBR] = abbr[a];
        g[G_HOME_PTS] = raw_table_cell(log, h, GL_PTS);
        g[G_AWAY_PTS] = raw_table_cell(log, a, GL_PTS);
        g[G_STATUS] = "final";
        return 0;
}

/* A team log row is home if its matchup has " vs. ", away with " @ ". */
static int log_pair(struct raw_ctx *ctx, const struct raw_table *log, const char **abbr, size_t r1,
                    size_t r2)
{
        bool h1 = strstr(raw_table_cell(log, r1, GL_MATCHUP), " vs. ") != NULL;
        bool h2 = strstr(raw_table_cell(log, r2, GL_MATCHUP), " vs. ") != NULL;

        if (h1 == h2)
                return raw_fail(ctx, "game %s: expected one home and one away row",
                                raw_table_cell(log, r1, GL_GAME_ID));
        return h1 ? log_game(ctx, log, abbr, r1, r2) : log_game(ctx, log, abbr, r2, r1);
}

/* Exactly two rows per game id; each pair becomes one raw.games row (in log order). */
static int log_games(struct raw_ctx *ctx, const struct raw_table *log, const char **abbr)
{
        struct log_ref *v = sl_xcalloc(log->nrows + 1, sizeof(*v));
        size_t i = 0, j;
        int rc = 0;

        ctx->where = "game pairs";
        for (size_t r = 0; r < log->nrows; r++)
                v[r] = (struct log_ref){raw_table_cell(log, r, GL_GAME_ID), r};
        sl_qsort(v, log->nrows, sizeof(*v), cmp_log_refs);
        while (rc == 0 && i < log->nrows) {
                for (j = i + 1; j < log->nrows && !strcmp(v[j].game_id, v[i].game_id); j++)
                        ;
                if (j - i != 2)
                        rc = raw_fail(ctx, "game %s has %zu rows, expected 2", v[i].game_id, j - i);
                else
                        rc = log_pair(ctx, log, abbr, v[i].row, v[i + 1].row);
                i = j;
        }
        free(v);
        return rc;
}

/* Team abbreviations of every row (not a raw.league_game_log column, needed for raw.games). */
static int log_abbrs(struct raw_ctx *ctx, const struct rs *rs, const char **abbr)
{
        const cJSON *cells[RAW_MAX_COLS];
        int idx = rs_col(rs, "TEAM_ABBREVIATION", NULL);
        size_t r = 0;
        int rc = 0;

        if (idx < 0)
                return raw_fail(ctx, "missing header TEAM_ABBREVIATION");
        ctx->row = 0;
        for (const cJSON *row = rs->rows->child; rc == 0 && row; row = row->next, r++) {
                ctx->row = (long)r;
                rc = rs_cells(ctx, rs, row, cells);
                if (rc == 0)
                        rc = raw_conv(ctx, cells[idx], RAW_C_STR, RAW_F_NONNULL,
                                      "TEAM_ABBREVIATION", &abbr[r]);
        }
        ctx->row = -1;
        return rc;
}

static int parse_team_log(struct raw_ctx *ctx, const struct rs *rs)
{
        const char **abbr = sl_xcalloc(rs->nrows + 1, sizeof(*abbr));
        int rc;

        rc = rs_map_all(ctx, rs, log_fields, NFIELDS(log_fields), RAW_T_GAME_LOG, log_post);
        if (rc == 0)
                rc = log_abbrs(ctx, rs, abbr);
        if (rc == 0)
                rc = log_games(ctx, raw_table_get(ctx, RAW_T_GAME_LOG), abbr);
        free(abbr);
        return rc;
}

int raw_parse_game_log(struct raw_ctx *ctx)
{
        const char *set =
            ctx->batch->kind == RAW_KIND_GAME_LOG ? "LeagueGameLog" : "LeagueGameFinderResults";
        struct rs rs;
        int rc = rs_open(ctx, set, &rs);

        if (rc < 0)
                return rc;
        if (rs_col(&rs, "PLAYER_ID", NULL) >= 0) {
                raw_table_get(ctx, RAW_T_PLAYER_BOX);
                return rs_map_all(ctx, &rs, log_player_fields, NFIELDS(log_player_fields),
                                  RAW_T_PLAYER_BOX, log_player_post);
        }
        raw_table_get(ctx, RAW_T_GAMES); /* tables are in load order: raw.games first */
        raw_table_get(ctx, RAW_T_GAME_LOG);
        return parse_team_log(ctx, &rs);
}
