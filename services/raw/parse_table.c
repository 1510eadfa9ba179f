#include "parsers.h"
#include "parsers_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

/*
 * The batch: table layouts, a string arena for the cells, the public
 * accessors, COPY text output, and the checks over whole tables (natural
 * keys, the batch date).
 */

/* ---- table layouts ---------------------------------------------------------------------- */

static const char *const games_cols[G_NCOLS] = {
    "game_id",        "game_date",      "season",   "league",   "home_team_id", "away_team_id",
    "home_team_abbr", "away_team_abbr", "home_pts", "away_pts", "status"};

#define STAT_COLS                                                                                  \
        "minutes", "pts", "reb", "oreb", "dreb", "ast", "stl", "blk", "tov", "pf", "fgm", "fga",   \
            "fg3m", "fg3a", "ftm", "fta", "plus_minus"

static const char *const player_box_cols[PB_NCOLS] = {"game_id",     "player_id", "team_id",
                                                      "player_name", "starter",   STAT_COLS};

static const char *const team_box_cols[TB_NCOLS] = {"game_id", "team_id", "team_abbr", STAT_COLS};

static const char *const schedule_cols[SC_NCOLS] = {"game_id", "game_date", "home_team_id",
                                                    "away_team_id", "status"};

static const char *const game_log_cols[GL_NCOLS] = {
    "game_id", "team_id", "game_date", "season", "matchup", "wl",        "pts",  "fgm",
    "fga",     "fg3m",    "fg3a",      "ftm",    "fta",     "oreb",      "dreb", "reb",
    "ast",     "stl",     "blk",       "tov",    "pf",      "plus_minus"};

static const char *const pbp_cols[PP_NCOLS] = {
    "game_id",    "event_num",  "period",     "clock",      "event_type", "action_type",
    "player1_id", "player2_id", "player3_id", "score_home", "score_away", "description"};

static const char *const injuries_cols[IN_NCOLS] = {"report_date", "player_id", "team_id",
                                                    "player_name", "status",    "reason"};

static const char *const props_cols[PR_NCOLS] = {
    "game_date", "player_id", "player_name", "market", "book", "line", "over_price", "under_price"};

/* Name, columns and natural key (unique within a payload, as in the database) of each table. */
struct table_def {
        const char *name;
        const char *const *cols;
        size_t ncols;
        int keys[4];
        size_t nkeys;
};

static const struct table_def table_defs[RAW_T_COUNT] = {
    [RAW_T_GAMES] = {"raw.games", games_cols, G_NCOLS, {G_GAME_ID}, 1},
    [RAW_T_PLAYER_BOX] =
        {"raw.player_boxscores", player_box_cols, PB_NCOLS, {PB_GAME_ID, PB_PLAYER_ID}, 2},
    [RAW_T_TEAM_BOX] = {"raw.team_boxscores", team_box_cols, TB_NCOLS, {TB_GAME_ID, TB_TEAM_ID}, 2},
    [RAW_T_SCHEDULE] = {"raw.schedule", schedule_cols, SC_NCOLS, {SC_GAME_ID}, 1},
    [RAW_T_GAME_LOG] =
        {"raw.league_game_log", game_log_cols, GL_NCOLS, {GL_GAME_ID, GL_TEAM_ID}, 2},
    [RAW_T_PBP] = {"raw.play_by_play", pbp_cols, PP_NCOLS, {PP_GAME_ID, PP_EVENT_NUM}, 2},
    [RAW_T_INJURIES] = {"raw.injuries", injuries_cols, IN_NCOLS, {IN_REPORT_DATE, IN_PLAYER_ID}, 2},
    [RAW_T_PROPS] = {"raw.prop_lines",
                     props_cols,
                     PR_NCOLS,
                     {PR_GAME_DATE, PR_PLAYER_ID, PR_MARKET, PR_BOOK},
                     4},
    /* NHL (parse_nhl.c) */
    [RAW_T_NHL_GAMES] = {"raw.nhl_games", raw_nhl_games_cols, NG_NCOLS, {NG_GAME_ID}, 1},
    [RAW_T_NHL_PLAYS] =
        {"raw.nhl_plays", raw_nhl_plays_cols, NPL_NCOLS, {NPL_GAME_ID, NPL_EVENT_ID}, 2},
    [RAW_T_NHL_ROSTERS] =
        {"raw.nhl_game_rosters", raw_nhl_rosters_cols, NR_NCOLS, {NR_GAME_ID, NR_PLAYER_ID}, 2},
    [RAW_T_NHL_SKATERS] =
        {"raw.nhl_skater_boxscores", raw_nhl_skaters_cols, NS_NCOLS, {NS_GAME_ID, NS_PLAYER_ID}, 2},
    [RAW_T_NHL_GOALIES] = {"raw.nhl_goalie_boxscores",
                           raw_nhl_goalies_cols,
                           NGB_NCOLS,
                           {NGB_GAME_ID, NGB_PLAYER_ID},
                           2},
    /* The Odds API moneylines (parse_odds.c) */
    [RAW_T_ODDS] = {"raw.moneyline_odds",
                    raw_odds_cols,
                    MO_NCOLS,
                    {MO_GAME_DATE, MO_HOME_ID, MO_AWAY_ID, MO_BOOK},
                    4},
};

/* ---- string arena ----------------------------------------------------------------------- */

#define CHUNK_BYTES (64 * 1024)

struct raw_chunk {
        struct raw_chunk *next;
        size_t used;
        size_t cap;
        char data[];
};

const char *raw_strdup(struct raw_ctx *ctx, const char *s, size_t n)
{
        struct raw_chunk *c = ctx->batch->chunks;
        char *p;

        if (!c || c->cap - c->used < n + 1) {
                size_t cap = n + 1 > CHUNK_BYTES ? n + 1 : CHUNK_BYTES;
                c = sl_xmalloc(sizeof(*c) + cap);
                c->used = 0;
                c->cap = cap;
                c->next = ctx->batch->chunks;
                ctx->batch->chunks = c;
        }
        p = c->data + c->used;
        memcpy(p, s, n);
        p[n] = '\0';
        c->used += n + 1;
        return p;
}

const char *raw_printf(struct raw_ctx *ctx, const char *fmt, ...)
{
        char tmp[64];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if ((size_t)n >= sizeof(tmp))
                n = sizeof(tmp) - 1; /* callers format short numbers only */
        return raw_strdup(ctx, tmp, (size_t)n);
}

/* ---- batch and tables ------------------------------------------------------------------- */

struct raw_table *raw_table_get(struct raw_ctx *ctx, enum raw_table_id id)
{
        struct raw_batch *b = ctx->batch;
        struct raw_table *t;

        for (size_t i = 0; i < b->ntables; i++) {
                if (b->tables[i]->id == id)
                        return b->tables[i];
        }
        t = sl_xcalloc(1, sizeof(*t));
        t->id = id;
        t->name = table_defs[id].name;
        t->cols = table_defs[id].cols;
        t->ncols = table_defs[id].ncols;
        b->tables[b->ntables++] = t;
        return t;
}

int raw_row_new(struct raw_ctx *ctx, struct raw_table *t, size_t *row)
{
        if (t->nrows >= ctx->max_rows)
                return raw_fail(ctx, "%s: more than %zu rows", t->name, ctx->max_rows);
        if (t->nrows == t->cap_rows) {
                t->cap_rows = t->cap_rows ? t->cap_rows * 2 : 32;
                t->cells = sl_xrealloc(t->cells, t->cap_rows * t->ncols * sizeof(*t->cells));
        }
        memset(t->cells + t->nrows * t->ncols, 0, t->ncols * sizeof(*t->cells));
        *row = t->nrows++;
        return 0;
}

const char **raw_row(struct raw_table *t, size_t row)
{
        return t->cells + row * t->ncols;
}

void raw_batch_free(struct raw_batch *batch)
{
        struct raw_chunk *c, *next;

        if (!batch)
                return;
        for (size_t i = 0; i < batch->ntables; i++) {
                free(batch->tables[i]->cells);
                free(batch->tables[i]);
        }
        for (c = batch->chunks; c; c = next) {
                next = c->next;
                free(c);
        }
        free(batch);
}

enum raw_kind raw_batch_kind(const struct raw_batch *batch)
{
        return batch->kind;
}

const char *raw_batch_date(const struct raw_batch *batch)
{
        return batch->date;
}

size_t raw_batch_ntables(const struct raw_batch *batch)
{
        return batch->ntables;
}

const struct raw_table *raw_batch_table(const struct raw_batch *batch, size_t i)
{
        return i < batch->ntables ? batch->tables[i] : NULL;
}

const struct raw_table *raw_batch_find(const struct raw_batch *batch, const char *name)
{
        for (size_t i = 0; name && i < batch->ntables; i++) {
                if (strcmp(batch->tables[i]->name, name) == 0)
                        return batch->tables[i];
        }
        return NULL;
}

const char *raw_table_name(const struct raw_table *t)
{
        return t->name;
}

size_t raw_table_ncols(const struct raw_table *t)
{
        return t->ncols;
}

size_t raw_table_nrows(const struct raw_table *t)
{
        return t->nrows;
}

const char *raw_table_col_name(const struct raw_table *t, size_t col)
{
        return col < t->ncols ? t->cols[col] : NULL;
}

int raw_table_col_index(const struct raw_table *t, const char *name)
{
        for (size_t i = 0; name && i < t->ncols; i++) {
                if (strcmp(t->cols[i], name) == 0)
                        return (int)i;
        }
        return -1;
}

const char *raw_table_cell(const struct raw_table *t, size_t row, size_t col)
{
        if (row >= t->nrows || col >= t->ncols)
                return NULL;
        return t->cells[row * t->ncols + col];
}

const char *const *raw_table_row(const struct raw_table *t, size_t row)
{
        return row < t->nrows ? t->cells + row * t->ncols : NULL;
}

/* Appends s with COPY text escapes (backslash, tab, newline, carriage return). */
static int copy_escape(struct sl_buf *out, const char *s)
{
        const char *run = s;
        int rc = 0;

        for (; rc == 0 && *s; s++) {
                const char *esc = *s == '\\'   ? "\\\\"
                                  : *s == '\t' ? "\\t"
                                  : *s == '\n' ? "\\n"
                                  : *s == '\r' ? "\\r"
                                               : NULL;
                if (!esc)
                        continue;
                rc = sl_buf_append(out, run, (size_t)(s - run));
                if (rc == 0)
                        rc = sl_buf_puts(out, esc);
                run = s + 1;
        }
        if (rc == 0)
                rc = sl_buf_append(out, run, (size_t)(s - run));
        return rc;
}

int raw_table_copy_row(const struct raw_table *t, size_t row, struct sl_buf *out)
{
        int rc = 0;

        if (row >= t->nrows)
                return -EINVAL;
        for (size_t c = 0; rc == 0 && c < t->ncols; c++) {
                const char *cell = t->cells[row * t->ncols + c];
                if (c > 0)
                        rc = sl_buf_append(out, "\t", 1);
                if (rc == 0)
                        rc = cell ? copy_escape(out, cell) : sl_buf_append(out, "\\N", 2);
        }
        if (rc == 0)
                rc = sl_buf_append(out, "\n", 1);
        return rc;
}

int raw_cell_i64(const struct raw_table *t, size_t row, int col, int64_t *v)
{
        const char *cell = raw_table_cell(t, row, (size_t)col);

        if (!cell)
                return -ENOENT;
        return sl_parse_i64(cell, INT64_MIN, INT64_MAX, v) < 0 ? -EINVAL : 0;
}

/* ---- natural keys ----------------------------------------------------------------------- */

/* One row's key cells, for sorting (NULL sorts first). */
struct key_row {
        const char *k[4];
        size_t row;
};

static int cmp_key_rows(const void *a, const void *b)
{
        const struct key_row *x = a, *y = b;

        for (int i = 0; i < 4; i++) {
                int c = !x->k[i] || !y->k[i] ? (x->k[i] != NULL) - (y->k[i] != NULL)
                                             : strcmp(x->k[i], y->k[i]);
                if (c)
                        return c;
        }
        return 0;
}

/* Rejects two rows with the same natural key: the load would fail or double-count. */
int raw_check_keys(struct raw_ctx *ctx, const struct raw_table *t)
{
        const struct table_def *d = &table_defs[t->id];
        struct key_row *v;
        int rc = 0;

        if (t->nrows < 2)
                return 0;
        v = sl_xcalloc(t->nrows, sizeof(*v));
        for (size_t r = 0; r < t->nrows; r++) {
                for (size_t k = 0; k < d->nkeys; k++)
                        v[r].k[k] = t->cells[r * t->ncols + (size_t)d->keys[k]];
                v[r].row = r;
        }
        sl_qsort(v, t->nrows, sizeof(*v), cmp_key_rows);
        for (size_t r = 1; rc == 0 && r < t->nrows; r++) {
                if (cmp_key_rows(&v[r - 1], &v[r]) == 0)
                        rc = raw_fail(ctx, "%s: rows %zu and %zu have the same key (%s%s%s)",
                                      t->name, v[r - 1].row, v[r].row,
                                      v[r].k[0] ? v[r].k[0] : "NULL", d->nkeys > 1 ? ", " : "",
                                      d->nkeys > 1 && v[r].k[1] ? v[r].k[1] : "");
        }
        free(v);
        return rc;
}

/* Sets batch->date when every game_date/report_date cell of the batch agrees. */
void raw_batch_set_date(struct raw_batch *b)
{
        const char *date = NULL;

        for (size_t i = 0; i < b->ntables; i++) {
                const struct raw_table *t = b->tables[i];
                int c = raw_table_col_index(t, "game_date");
                if (c < 0)
                        c = raw_table_col_index(t, "report_date");
                for (size_t r = 0; c >= 0 && r < t->nrows; r++) {
                        const char *d = t->cells[r * t->ncols + (size_t)c];
                        if (d && date && strcmp(d, date) != 0)
                                return;
                        date = d ? d : date;
                }
        }
        if (date)
                memcpy(b->date, date, 11);
}
