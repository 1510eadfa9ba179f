#include "parsers.h"
#include "parsers_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include <sl/util.h>

/*
 * The registry (kinds, source names, detection), error reporting, bounded
 * JSON loading and the entry point. Tables live in parse_table.c, value
 * conversions in parse_values.c, shared checks in parse_checks.c, the
 * formats in parse_nba_v2.c, parse_nba_v3.c and parse_feeds.c.
 */

/* ---- registry --------------------------------------------------------------------------- */

/* A kind: its name, the scraper source family it belongs to (plus an alias) and its parser. */
struct kind_def {
        const char *name;
        const char *family;
        const char *alias; /* second family name, or NULL */
        raw_parse_fn *parse;
};

static const struct kind_def kind_defs[RAW_KIND_COUNT] = {
    [RAW_KIND_UNKNOWN] = {"unknown", NULL, NULL, NULL},
    [RAW_KIND_BOXSCORE_V2] = {"boxscore_v2", "boxscore", NULL, raw_parse_boxscore_v2},
    [RAW_KIND_BOXSCORE_V3] = {"boxscore_v3", "boxscore", NULL, raw_parse_boxscore_v3},
    [RAW_KIND_SUMMARY_V2] = {"summary_v2", "summary", NULL, raw_parse_summary_v2},
    [RAW_KIND_PBP_V2] = {"playbyplay_v2", "playbyplay", "pbp", raw_parse_pbp_v2},
    [RAW_KIND_SCOREBOARD_V2] = {"scoreboard_v2", "scoreboard", "schedule", raw_parse_scoreboard_v2},
    [RAW_KIND_SCOREBOARD_V3] = {"scoreboard_v3", "scoreboard", "schedule", raw_parse_scoreboard_v3},
    [RAW_KIND_GAME_LOG] = {"league_game_log", "gamelog", NULL, raw_parse_game_log},
    [RAW_KIND_GAME_FINDER] = {"league_game_finder", "gamelog", NULL, raw_parse_game_log},
    [RAW_KIND_INJURIES] = {"injuries", "injuries", NULL, raw_parse_injuries},
    [RAW_KIND_PROPS] = {"props", "props", NULL, raw_parse_props},
    [RAW_KIND_NHL_PBP] = {"nhl_playbyplay", "playbyplay", "nhl", raw_parse_nhl_pbp},
    [RAW_KIND_NHL_BOXSCORE] = {"nhl_boxscore", "boxscore", "nhl", raw_parse_nhl_boxscore},
    [RAW_KIND_NHL_SCHEDULE] = {"nhl_schedule", "schedule", "nhl", raw_parse_nhl_schedule},
    [RAW_KIND_ODDS] = {"odds", "odds", "moneyline", raw_parse_odds},
};

const char *raw_kind_name(enum raw_kind kind)
{
        if ((int)kind <= 0 || kind >= RAW_KIND_COUNT)
                return "unknown";
        return kind_defs[kind].name;
}

static bool name_eq(const char *a, const char *b)
{
        return a && b && strcasecmp(a, b) == 0;
}

/* Bit mask of the kinds source accepts: all for NULL/""/"auto", 0 for an unknown name. */
static unsigned source_mask(const char *source)
{
        unsigned mask = 0;

        if (!source || !*source || name_eq(source, "auto"))
                return ~0u;
        for (int k = 1; k < RAW_KIND_COUNT; k++) {
                const struct kind_def *d = &kind_defs[k];
                if (name_eq(source, d->name) || name_eq(source, d->family) ||
                    name_eq(source, d->alias))
                        mask |= 1u << k;
        }
        return mask;
}

/* The kind of a parsed document from its top-level shape (docs/parsers.md, "Detection"). */
static enum raw_kind detect(const cJSON *root)
{
        if (cJSON_IsArray(root))
                return raw_odds_detect(root); /* The Odds API: an array of events */
        if (!cJSON_IsObject(root))
                return RAW_KIND_UNKNOWN;
        if (cJSON_HasObjectItem(root, "resultSets") || cJSON_HasObjectItem(root, "resultSet"))
                return raw_v2_detect(root);
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "boxScoreTraditional")))
                return RAW_KIND_BOXSCORE_V3;
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "scoreboard")))
                return RAW_KIND_SCOREBOARD_V3;
        if (cJSON_HasObjectItem(root, "reportDate") && cJSON_HasObjectItem(root, "players"))
                return RAW_KIND_INJURIES;
        if (cJSON_HasObjectItem(root, "date") && cJSON_HasObjectItem(root, "props"))
                return RAW_KIND_PROPS;
        return raw_nhl_detect(root); /* NHL web API shapes, or unknown */
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Writes a reason into errstr (truncation is harmless) and returns -EBADMSG. */
__attribute__((format(printf, 3, 4))) static int fail(char *errstr, size_t errstr_size,
                                                      const char *fmt, ...)
{
        va_list ap;

        if (errstr && errstr_size > 0) {
                va_start(ap, fmt);
                if (vsnprintf(errstr, errstr_size, fmt, ap) < 0)
                        errstr[0] = '\0';
                va_end(ap);
        }
        return -EBADMSG;
}

int raw_fail(struct raw_ctx *ctx, const char *fmt, ...)
{
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
                msg[0] = '\0';
        va_end(ap);
        if (ctx->where && ctx->row >= 0)
                return fail(ctx->errstr, ctx->errstr_size, "%s: %s[%ld]: %s",
                            raw_kind_name(ctx->batch->kind), ctx->where, ctx->row, msg);
        if (ctx->where)
                return fail(ctx->errstr, ctx->errstr_size, "%s: %s: %s",
                            raw_kind_name(ctx->batch->kind), ctx->where, msg);
        return fail(ctx->errstr, ctx->errstr_size, "%s: %s", raw_kind_name(ctx->batch->kind), msg);
}

/* ---- JSON loading ----------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
        unsigned char c = p[0], lo = 0x80, hi = 0xbf;
        size_t n;

        if (c < 0x80)
                return 1;
        if (c < 0xc2 || c > 0xf4)
                return 0;
        n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (c == 0xe0)
                lo = 0xa0; /* overlong */
        else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        else if (c == 0xf0)
                lo = 0x90; /* overlong */
        else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        if (avail < n || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t k = 2; k < n; k++) {
                if ((p[k] & 0xc0) != 0x80)
                        return 0;
        }
        return n;
}

/* Pass over a string body from just after its opening quote; *i ends after the closing one. */
static int scan_string(const unsigned char *p, size_t len, size_t *i, char *errstr, size_t n)
{
        while (*i < len) {
                unsigned char c = p[*i];
                size_t step = 1;

                if (c == '"') {
                        (*i)++;
                        return 0;
                }
                if (c < 0x20)
                        return fail(errstr, n, "JSON: control byte in string at byte %zu", *i);
                if (c == '\\' && len - *i >= 6 && !memcmp(p + *i + 1, "u0000", 5))
                        return fail(errstr, n, "JSON: \\u0000 in string at byte %zu", *i);
                if (c == '\\')
                        step = 2;
                else if (c >= 0x80)
                        step = utf8_len(p + *i, len - *i);
                if (step == 0)
                        return fail(errstr, n, "JSON: invalid UTF-8 at byte %zu", *i);
                *i += step;
        }
        return fail(errstr, n, "JSON: truncated inside a string");
}

/*
 * One linear pass before cJSON: rejects NUL bytes, invalid UTF-8, "\u0000"
 * (cJSON would cut the string there), nesting deeper than RAW_MAX_DEPTH
 * (before cJSON recurses) and more than max_values values (before cJSON
 * allocates about 64 bytes for each). The grammar itself is cJSON's job.
 */
static int prescan(const unsigned char *p, size_t len, size_t max_values, char *errstr, size_t n)
{
        size_t values = 1, depth = 0;
        int rc = 0;

        for (size_t i = 0; rc == 0 && i < len;) {
                unsigned char c = p[i++];
                if (c == '"') {
                        rc = scan_string(p, len, &i, errstr, n);
                } else if (c == '{' || c == '[') {
                        values++;
                        if (++depth > RAW_MAX_DEPTH)
                                rc = fail(errstr, n, "JSON: nesting deeper than %d", RAW_MAX_DEPTH);
                } else if (c == '}' || c == ']') {
                        depth -= depth > 0;
                } else if (c == ',') {
                        values++;
                } else if (c == 0 || c >= 0x80) {
                        rc = fail(errstr, n, "JSON: byte 0x%02x outside a string at byte %zu", c,
                                  i - 1);
                }
                if (rc == 0 && values > max_values)
                        rc = fail(errstr, n, "JSON: more than %zu values", max_values);
        }
        return rc;
}

/* Scratch array of member names, reused for every object. */
struct names {
        const char **v; /* borrowed from the cJSON tree */
        size_t cap;
};

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts the member names of obj and reports the first repeated one. */
static int object_dups(const cJSON *obj, struct names *nm, char *errstr, size_t n)
{
        size_t k = 0;

        for (const cJSON *it = obj->child; it; it = it->next) {
                if (k == nm->cap) {
                        nm->cap = nm->cap ? nm->cap * 2 : 32;
                        nm->v = sl_xrealloc(nm->v, nm->cap * sizeof(*nm->v));
                }
                nm->v[k++] = it->string ? it->string : "";
        }
        if (k < 2)
                return 0;
        sl_qsort(nm->v, k, sizeof(*nm->v), cmp_names);
        for (size_t i = 1; i < k; i++) {
                if (!strcmp(nm->v[i - 1], nm->v[i]))
                        return fail(errstr, n, "JSON: duplicate key \"%.40s\"", nm->v[i]);
        }
        return 0;
}

/*
 * Rejects a repeated member name anywhere: cJSON keeps both and lookups see
 * the first, where another reader may take the last. Depth is bounded by
 * the prescan (RAW_MAX_DEPTH), so the recursion is too.
 */
static int check_dups(const cJSON *item, struct names *nm, char *errstr, size_t n)
{
        int rc = cJSON_IsObject(item) ? object_dups(item, nm, errstr, n) : 0;

        for (const cJSON *it = item->child; rc == 0 && it; it = it->next) {
                if (cJSON_IsObject(it) || cJSON_IsArray(it))
                        rc = check_dups(it, nm, errstr, n);
        }
        return rc;
}

/* Parses a NUL-terminated bounded copy of the input; only whitespace may follow the value. */
static int load_json(const char *buf, size_t len, size_t max_values, cJSON **root, char *errstr,
                     size_t n)
{
        const char *end = NULL;
        char *copy;
        int rc;

        if (len == 0)
                return fail(errstr, n, "empty payload");
        rc = prescan((const unsigned char *)buf, len, max_values, errstr, n);
        if (rc < 0)
                return rc;
        copy = sl_xmalloc(len + 1);
        memcpy(copy, buf, len);
        copy[len] = '\0';
        *root = cJSON_ParseWithLengthOpts(copy, len, &end, false);
        if (!*root) {
                rc = fail(errstr, n, "JSON: syntax error at byte %zu",
                          end && end >= copy && end <= copy + len ? (size_t)(end - copy) : 0);
        } else {
                end += strspn(end, " \t\r\n");
                if (end != copy + len)
                        rc = fail(errstr, n, "JSON: trailing data at byte %zu",
                                  (size_t)(end - copy));
        }
        if (rc == 0) {
                struct names nm = {NULL, 0};
                rc = check_dups(*root, &nm, errstr, n);
                free(nm.v);
        }
        if (rc < 0) {
                cJSON_Delete(*root);
                *root = NULL;
        }
        free(copy);
        return rc;
}

/* ---- entry point ------------------------------------------------------------------------ */

/* Detects the kind and checks that source accepts it. */
static int pick_kind(const cJSON *root, const char *source, unsigned mask, enum raw_kind *kind,
                     char *errstr, size_t n)
{
        *kind = detect(root);
        if (*kind == RAW_KIND_UNKNOWN)
                return fail(errstr, n,
                            "unrecognised payload: no known resultSets/resource, "
                            "boxScoreTraditional, scoreboard, injury or props shape");
        if (!(mask & (1u << *kind)))
                return fail(errstr, n, "payload is %s, not a %s payload", raw_kind_name(*kind),
                            source);
        return 0;
}

/* Runs the kind's parser and the checks every kind gets. */
static int run_parser(struct raw_ctx *ctx)
{
        struct raw_batch *b = ctx->batch;
        int rc = kind_defs[b->kind].parse(ctx);

        ctx->where = NULL;
        ctx->row = -1;
        for (size_t i = 0; rc == 0 && i < b->ntables; i++)
                rc = raw_check_keys(ctx, b->tables[i]);
        if (rc == 0)
                raw_batch_set_date(b);
        return rc;
}

int raw_parse(const char *source, const char *buf, size_t len, const struct raw_opts *opts,
              struct raw_batch **out, char *errstr, size_t errstr_size)
{
        static const struct raw_opts defaults = {0};
        struct raw_ctx ctx = {.row = -1, .errstr = errstr, .errstr_size = errstr_size};
        unsigned mask = source_mask(source);
        enum raw_kind kind;
        cJSON *root = NULL;
        size_t max_bytes, max_values;
        int rc;

        if (errstr && errstr_size > 0)
                errstr[0] = '\0';
        if (!out || !buf)
                return -EINVAL;
        *out = NULL;
        if (mask == 0) {
                fail(errstr, errstr_size, "unknown payload source \"%.40s\"", source);
                return -EINVAL;
        }
        opts = opts ? opts : &defaults;
        max_bytes = opts->max_bytes ? opts->max_bytes : RAW_DEFAULT_MAX_BYTES;
        max_values = opts->max_values ? opts->max_values : RAW_DEFAULT_MAX_VALUES;
        ctx.max_rows = opts->max_rows ? opts->max_rows : RAW_DEFAULT_MAX_ROWS;
        ctx.max_str = opts->max_str ? opts->max_str : RAW_DEFAULT_MAX_STR;
        if (len > max_bytes)
                return fail(errstr, errstr_size, "payload of %zu bytes is over the cap of %zu", len,
                            max_bytes);
        rc = load_json(buf, len, max_values, &root, errstr, errstr_size);
        if (rc == 0)
                rc = pick_kind(root, source, mask, &kind, errstr, errstr_size);
        if (rc == 0) {
                ctx.batch = sl_xcalloc(1, sizeof(*ctx.batch));
                ctx.batch->kind = kind;
                ctx.root = root;
                rc = run_parser(&ctx);
        }
        cJSON_Delete(root);
        if (rc < 0) {
                raw_batch_free(ctx.batch);
                return rc;
        }
        *out = ctx.batch;
        return 0;
}
