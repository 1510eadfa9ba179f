#include "parsers_int.h"

#include <errno.h>
#include <string.h>

#include <cJSON.h>

/*
 * The two statline feed formats (docs/parsers.md gives the exact schema):
 *   injury report: {"reportDate", "players": [{playerId, teamId, playerName,
 *                   status, reason}]}, shaped like the NBA's official report;
 *   prop lines:    {"date", "props": [{playerId, playerName, market, book,
 *                   line, overPrice, underPrice}]}, shaped like an odds API.
 */

#define NFIELDS(a)     (sizeof(a) / sizeof(*(a)))
#define LINE_MAX_VALUE 200.0 /* no player market goes past this */
#define PRICE_MIN_ABS  100   /* American odds: -110, +150; |price| < 100 does not exist */
#define PRICE_MAX_ABS  100000

/* True if s is one of the NULL-terminated names. */
static bool one_of(const char *s, const char *const *names)
{
        for (; *names; names++) {
                if (!strcmp(s, *names))
                        return true;
        }
        return false;
}

/* The top-level date member into *date and the list member, checked for size. */
static int feed_head(struct raw_ctx *ctx, const char *date_key, const char *list_key,
                     const char **date, const cJSON **list)
{
        int rc = raw_conv(ctx, cJSON_GetObjectItemCaseSensitive(ctx->root, date_key), RAW_C_DATE,
                          RAW_F_NONNULL, date_key, date);

        *list = rc == 0 ? raw_member(ctx, ctx->root, list_key, true) : NULL;
        if (!*list)
                return -EBADMSG;
        return raw_check_list(ctx, *list, list_key);
}

/* Maps every entry of list into a new row of t, then calls check on it. */
static int feed_rows(struct raw_ctx *ctx, const cJSON *list, const struct raw_field *fields,
                     size_t n, struct raw_table *t,
                     int (*check)(struct raw_ctx *, const cJSON *, const char **))
{
        size_t r;
        int rc = 0;

        ctx->row = 0;
        for (const cJSON *e = list->child; rc == 0 && e; e = e->next, ctx->row++) {
                if (!cJSON_IsObject(e))
                        return raw_fail(ctx, "expected an object, got %s", sl_json_type_name(e));
                rc = raw_row_new(ctx, t, &r);
                if (rc == 0)
                        rc = raw_obj_map(ctx, e, fields, n, t, r);
                if (rc == 0)
                        rc = check(ctx, e, raw_row(t, r));
        }
        ctx->row = -1;
        return rc;
}

/* ---- injury report ---------------------------------------------------------------------- */

static const struct raw_field injury_fields[] = {
    {IN_PLAYER_ID, "playerId", NULL, RAW_C_ID, RAW_F_NONNULL},
    {IN_TEAM_ID, "teamId", NULL, RAW_C_ID, RAW_F_NONNULL},
    {IN_NAME, "playerName", NULL, RAW_C_STR, RAW_F_NONNULL},
    {IN_STATUS, "status", NULL, RAW_C_STR, RAW_F_NONNULL},
    {IN_REASON, "reason", NULL, RAW_C_STR, RAW_F_OPTIONAL},
};

static int injury_check(struct raw_ctx *ctx, const cJSON *e, const char **row)
{
        static const char *const statuses[] = {"Out",      "Questionable", "Doubtful",
                                               "Probable", "Available",    NULL};

        (void)e;
        if (!one_of(row[IN_STATUS], statuses))
                return raw_fail(ctx,
                                "status: \"%.32s\" is not Out, Questionable, Doubtful, "
                                "Probable or Available",
                                row[IN_STATUS]);
        return 0;
}

int raw_parse_injuries(struct raw_ctx *ctx)
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_INJURIES);
        const cJSON *list;
        const char *date;
        int rc = feed_head(ctx, "reportDate", "players", &date, &list);

        ctx->where = "players";
        if (rc == 0)
                rc = feed_rows(ctx, list, injury_fields, NFIELDS(injury_fields), t, injury_check);
        for (size_t r = 0; rc == 0 && r < t->nrows; r++)
                raw_row(t, r)[IN_REPORT_DATE] = date;
        return rc;
}

/* ---- prop lines ------------------------------------------------------------------------- */

static const struct raw_field prop_fields[] = {
    {PR_PLAYER_ID, "playerId", NULL, RAW_C_ID, RAW_F_NONNULL},
    {PR_NAME, "playerName", NULL, RAW_C_STR, RAW_F_NONNULL},
    {PR_MARKET, "market", NULL, RAW_C_STR, RAW_F_NONNULL},
    {PR_BOOK, "book", NULL, RAW_C_STR, RAW_F_NONNULL},
    {PR_LINE, "line", NULL, RAW_C_DEC, RAW_F_NONNULL},
    {PR_OVER, "overPrice", NULL, RAW_C_INT, RAW_F_OPTIONAL},
    {PR_UNDER, "underPrice", NULL, RAW_C_INT, RAW_F_OPTIONAL},
};

/* An American price: NULL, or an integer with 100 <= |price| <= 100000. */
static int price_check(struct raw_ctx *ctx, const cJSON *v, const char *name)
{
        double d = cJSON_IsNumber(v) ? v->valuedouble : 0;

        if (!cJSON_IsNumber(v))
                return 0; /* absent or null: already converted to NULL */
        if (!((d >= PRICE_MIN_ABS && d <= PRICE_MAX_ABS) ||
              (d <= -PRICE_MIN_ABS && d >= -PRICE_MAX_ABS)))
                return raw_fail(ctx, "%s: %g is not American odds (|price| >= 100)", name, d);
        return 0;
}

static int prop_check(struct raw_ctx *ctx, const cJSON *e, const char **row)
{
        static const char *const markets[] = {"points", "rebounds", "assists", NULL};
        const cJSON *line = cJSON_GetObjectItemCaseSensitive(e, "line");
        int rc;

        if (!one_of(row[PR_MARKET], markets))
                return raw_fail(ctx, "market: \"%.32s\" is not points, rebounds or assists",
                                row[PR_MARKET]);
        if (!(line->valuedouble >= 0 && line->valuedouble <= LINE_MAX_VALUE))
                return raw_fail(ctx, "line: %g is not in [0, %.0f]", line->valuedouble,
                                LINE_MAX_VALUE);
        rc = price_check(ctx, cJSON_GetObjectItemCaseSensitive(e, "overPrice"), "overPrice");
        if (rc == 0)
                rc = price_check(ctx, cJSON_GetObjectItemCaseSensitive(e, "underPrice"),
                                 "underPrice");
        return rc;
}

int raw_parse_props(struct raw_ctx *ctx)
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_PROPS);
        const cJSON *list;
        const char *date;
        int rc = feed_head(ctx, "date", "props", &date, &list);

        ctx->where = "props";
        if (rc == 0)
                rc = feed_rows(ctx, list, prop_fields, NFIELDS(prop_fields), t, prop_check);
        for (size_t r = 0; rc == 0 && r < t->nrows; r++)
                raw_row(t, r)[PR_GAME_DATE] = date;
        return rc;
}
