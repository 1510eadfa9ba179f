#ifndef RAW_PARSERS_INT_H
#define RAW_PARSERS_INT_H

/*
 * Private to the raw parsers (parsers.c, parse_*.c): table layouts, the
 * batch under construction, JSON value conversions and the shared checks.
 * Never included by the service's other files or by tests.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parsers.h"

#include <sl/envelope.h> /* sl_json_type_name() */

#include "parse_nhl.h"  /* raw.nhl_* column layouts */
#include "parse_odds.h" /* raw.moneyline_odds column layout */

struct cJSON;

/* Output tables; the column order of each is the enum below it (docs/parsers.md). */
enum raw_table_id {
        RAW_T_GAMES,
        RAW_T_PLAYER_BOX,
        RAW_T_TEAM_BOX,
        RAW_T_SCHEDULE,
        RAW_T_GAME_LOG,
        RAW_T_PBP,
        RAW_T_INJURIES,
        RAW_T_PROPS,
        RAW_T_NHL_GAMES,   /* parse_nhl.h: raw.nhl_games */
        RAW_T_NHL_PLAYS,   /* raw.nhl_plays */
        RAW_T_NHL_ROSTERS, /* raw.nhl_game_rosters */
        RAW_T_NHL_SKATERS, /* raw.nhl_skater_boxscores */
        RAW_T_NHL_GOALIES, /* raw.nhl_goalie_boxscores */
        RAW_T_ODDS,        /* parse_odds.h: raw.moneyline_odds */
        RAW_T_COUNT
};

/* raw.games */
enum {
        G_GAME_ID,
        G_GAME_DATE,
        G_SEASON,
        G_LEAGUE,
        G_HOME_ID,
        G_AWAY_ID,
        G_HOME_ABBR,
        G_AWAY_ABBR,
        G_HOME_PTS,
        G_AWAY_PTS,
        G_STATUS,
        G_NCOLS
};

/* The box-score stat columns, in the same order at the end of both box-score tables. */
enum {
        S_MINUTES,
        S_PTS,
        S_REB,
        S_OREB,
        S_DREB,
        S_AST,
        S_STL,
        S_BLK,
        S_TOV,
        S_PF,
        S_FGM,
        S_FGA,
        S_FG3M,
        S_FG3A,
        S_FTM,
        S_FTA,
        S_PLUS_MINUS,
        S_NSTATS
};

/* raw.player_boxscores: PB_STATS + S_* for the stats */
enum {
        PB_GAME_ID,
        PB_PLAYER_ID,
        PB_TEAM_ID,
        PB_NAME,
        PB_STARTER,
        PB_STATS,
        PB_NCOLS = PB_STATS + S_NSTATS
};

/* raw.team_boxscores: TB_STATS + S_* for the stats */
enum { TB_GAME_ID, TB_TEAM_ID, TB_ABBR, TB_STATS, TB_NCOLS = TB_STATS + S_NSTATS };

/* raw.schedule */
enum { SC_GAME_ID, SC_GAME_DATE, SC_HOME_ID, SC_AWAY_ID, SC_STATUS, SC_NCOLS };

/* raw.league_game_log */
enum {
        GL_GAME_ID,
        GL_TEAM_ID,
        GL_GAME_DATE,
        GL_SEASON,
        GL_MATCHUP,
        GL_WL,
        GL_PTS,
        GL_FGM,
        GL_FGA,
        GL_FG3M,
        GL_FG3A,
        GL_FTM,
        GL_FTA,
        GL_OREB,
        GL_DREB,
        GL_REB,
        GL_AST,
        GL_STL,
        GL_BLK,
        GL_TOV,
        GL_PF,
        GL_PLUS_MINUS,
        GL_NCOLS
};

/* raw.play_by_play */
enum {
        PP_GAME_ID,
        PP_EVENT_NUM,
        PP_PERIOD,
        PP_CLOCK,
        PP_EVENT_TYPE,
        PP_ACTION_TYPE,
        PP_PLAYER1,
        PP_PLAYER2,
        PP_PLAYER3,
        PP_SCORE_HOME,
        PP_SCORE_AWAY,
        PP_DESC,
        PP_NCOLS
};

/* raw.injuries */
enum { IN_REPORT_DATE, IN_PLAYER_ID, IN_TEAM_ID, IN_NAME, IN_STATUS, IN_REASON, IN_NCOLS };

/* raw.prop_lines */
enum {
        PR_GAME_DATE,
        PR_PLAYER_ID,
        PR_NAME,
        PR_MARKET,
        PR_BOOK,
        PR_LINE,
        PR_OVER,
        PR_UNDER,
        PR_NCOLS
};

/* Conversions of one JSON value into one cell (docs/parsers.md, "Value rules"). */
enum raw_conv {
        RAW_C_ID,      /* positive integer id: number or digit string -> digits */
        RAW_C_ID0,     /* same, but 0 means "none" -> NULL */
        RAW_C_GAME_ID, /* string of exactly 10 digits, kept as is */
        RAW_C_COUNT,   /* integer >= 0 (box-score counts) */
        RAW_C_INT,     /* any integer */
        RAW_C_DEC,     /* decimal number (plus_minus, line) */
        RAW_C_STR,     /* text, trimmed, "" -> NULL */
        RAW_C_MIN,     /* minutes: "34:12", "PT34M12.00S" or a number -> decimal minutes */
        RAW_C_DATE,    /* "YYYY-MM-DD" with an optional "T..." time -> "YYYY-MM-DD" */
        RAW_C_CLOCK    /* game clock "M:SS" or "MM:SS[.f]" */
};

#define RAW_MAX_GAMES 100 /* games in one scoreboard or summary; a real day has at most 15 */

/* Field flags: by default a field must exist and its value may be null. */
#define RAW_F_OPTIONAL 1u /* the header/key may be absent: cell is NULL */
#define RAW_F_NONNULL  2u /* the value must not be null or empty */

/* One source field mapped to one output column. */
struct raw_field {
        int col;         /* output column */
        const char *key; /* v2 header (case-insensitive) or JSON key (exact) */
        const char *alt; /* alternative v2 header name, or NULL */
        enum raw_conv conv;
        unsigned flags; /* RAW_F_* */
};

/* A table under construction; cells point into the batch arena or at static text. */
struct raw_table {
        enum raw_table_id id;
        const char *name;        /* static */
        const char *const *cols; /* static */
        size_t ncols;
        size_t nrows;
        size_t cap_rows;    /* rows allocated in cells */
        const char **cells; /* nrows * ncols, row-major, owned array */
};

struct raw_chunk;

struct raw_batch {
        enum raw_kind kind;
        char date[11];                         /* raw_batch_date() */
        struct raw_table *tables[RAW_T_COUNT]; /* in creation order, ntables used */
        size_t ntables;
        struct raw_chunk *chunks; /* string arena, owned */
};

/* One parse in progress. */
struct raw_ctx {
        struct raw_batch *batch; /* owned until handed to the caller */
        const struct cJSON *root;
        size_t max_rows;
        size_t max_str;
        const char *where; /* part being read, for messages ("PlayerStats"), may be NULL */
        long row;          /* row being read, -1 for none */
        char *errstr;
        size_t errstr_size;
};

/* Parser entry point of one kind: reads ctx->root, fills ctx->batch. 0 or -EBADMSG. */
typedef int raw_parse_fn(struct raw_ctx *ctx);

raw_parse_fn raw_parse_boxscore_v2, raw_parse_summary_v2, raw_parse_pbp_v2, raw_parse_scoreboard_v2,
    raw_parse_game_log, raw_parse_boxscore_v3, raw_parse_scoreboard_v3, raw_parse_injuries,
    raw_parse_props;

/* NHL web API kinds (parse_nhl.c) and their detection (RAW_KIND_UNKNOWN if none). */
raw_parse_fn raw_parse_nhl_pbp, raw_parse_nhl_boxscore, raw_parse_nhl_schedule;
enum raw_kind raw_nhl_detect(const struct cJSON *root);

/* The Odds API moneylines (parse_odds.c) and their detection (an array of events). */
raw_parse_fn raw_parse_odds;
enum raw_kind raw_odds_detect(const struct cJSON *root);

/* v2 detection helper (parse_nba_v2.c): the kind of a resultSets document, or RAW_KIND_UNKNOWN. */
enum raw_kind raw_v2_detect(const struct cJSON *root);

/*
 * Formats "<kind>: [<where>[<row>]: ]<message>" into ctx->errstr and returns
 * -EBADMSG, so every failure path is `return raw_fail(ctx, ...)`.
 */
int raw_fail(struct raw_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Table of id, created (empty) on first use. */
struct raw_table *raw_table_get(struct raw_ctx *ctx, enum raw_table_id id);

/* Appends an all-NULL row; sets *row to its index. -EBADMSG over ctx->max_rows. */
int raw_row_new(struct raw_ctx *ctx, struct raw_table *t, size_t *row);

/* Cells of row (ncols of them); valid until the next raw_row_new() on t. */
const char **raw_row(struct raw_table *t, size_t row);

/* Copies n bytes of s into the batch arena; returns the NUL-terminated copy. */
const char *raw_strdup(struct raw_ctx *ctx, const char *s, size_t n);

/* Formatted copy in the arena (short texts: seasons, scores). */
const char *raw_printf(struct raw_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Converts JSON value v (NULL = absent) of field name into *cell per conv.
 * Null, absent or empty gives *cell = NULL, refused with RAW_F_NONNULL.
 */
int raw_conv(struct raw_ctx *ctx, const struct cJSON *v, enum raw_conv conv, unsigned flags,
             const char *name, const char **cell);

/* Maps the members of JSON object obj into row per fields (JSON keys, exact case). */
int raw_obj_map(struct raw_ctx *ctx, const struct cJSON *obj, const struct raw_field *fields,
                size_t n, struct raw_table *t, size_t row);

/* Integer value of a cell; -ENOENT if NULL, -EINVAL if not an integer. */
int raw_cell_i64(const struct raw_table *t, size_t row, int col, int64_t *v);

/* A required object/array member of obj, type-checked; NULL after raw_fail() set the reason. */
const struct cJSON *raw_member(struct raw_ctx *ctx, const struct cJSON *obj, const char *key,
                               bool want_array);

/* Array with at most ctx->max_rows items; -EBADMSG otherwise. */
int raw_check_list(struct raw_ctx *ctx, const struct cJSON *arr, const char *name);

/* "2018-19" from a 10-digit game id ("0021800001"); league id is its first two digits. */
const char *raw_season_from_game_id(struct raw_ctx *ctx, const char *game_id);
const char *raw_league_from_game_id(struct raw_ctx *ctx, const char *game_id);

/* Game status text from the NBA status id (1 scheduled, 2 live, 3 final); -EBADMSG otherwise. */
int raw_status(struct raw_ctx *ctx, const struct cJSON *v, const char *name, const char **cell);

/* Sets every stat cell (S_PTS..S_PLUS_MINUS) at base to NULL: a player who did not play. */
void raw_null_stats(const char **cells, int base);

/*
 * Box-score checks shared by v2 and v3: exactly two teams in one game, every
 * player of one of them, shooting sanity and points formula per team, team
 * points equal to the sum of its players' points.
 */
int raw_check_boxscore(struct raw_ctx *ctx);

/* Makes fgm<=fga, fg3m<=fg3a, ftm<=fta and pts = 2*(fgm-fg3m) + 3*fg3m + ftm hold for a row. */
int raw_check_shooting(struct raw_ctx *ctx, const struct raw_table *t, size_t row,
                       const int cols[7]);

/* Rejects two rows of t with the same natural key (docs/parsers.md): a load would double-count. */
int raw_check_keys(struct raw_ctx *ctx, const struct raw_table *t);

/* Sets the batch date when every game_date/report_date cell agrees (raw_batch_date()). */
void raw_batch_set_date(struct raw_batch *b);

/* Final games must have both scores; with sched, copies every raw.games row into raw.schedule. */
int raw_finish_games(struct raw_ctx *ctx, bool sched);

/* Quarter (and overtime) points must add up to the final score. */
int raw_check_period_sum(struct raw_ctx *ctx, int64_t sum, const char *pts, const char *what);

#endif
