#include "parsers_int.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

/*
 * Conversions of JSON values into cells (docs/parsers.md, "Value rules")
 * and the values derived from them (season, league, status).
 */

/* ---- value conversions ------------------------------------------------------------------ */

#define ID_MAX    9007199254740991.0 /* 2^53 - 1: exact in a double */
#define COUNT_MAX 1000000.0
#define INT_ABS   1000000.0
#define DEC_ABS   1000000.0
#define MIN_MAX   999.0 /* minutes: a team plays 240 plus 25 per overtime */

/* True if v is an integral number in [lo, hi] (false for NaN and infinities). */
static bool integral_in(double v, double lo, double hi)
{
        return v >= lo && v <= hi && floor(v) == v;
}

/* Rejects control bytes (cJSON decodes "\u0001" escapes into them) in a string value. */
static bool has_control(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f)
                        return true;
        }
        return false;
}

/* The trimmed span of string value v: *p, *n. Fails over max_str or on control bytes. */
static int str_span(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **p,
                    size_t *n)
{
        const char *s = v->valuestring ? v->valuestring : "";
        size_t len = strlen(s);

        while (len > 0 && (*s == ' ' || *s == '\t')) {
                s++;
                len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
        if (len > ctx->max_str)
                return raw_fail(ctx, "%s: string of %zu bytes, over the cap of %zu", name, len,
                                ctx->max_str);
        if (has_control(s, len))
                return raw_fail(ctx, "%s: control character in string", name);
        *p = s;
        *n = len;
        return 0;
}

/* Integer value of an id given as a number or a string of 1..15 digits; -1 if neither. */
static double id_value(const cJSON *v)
{
        const char *s;
        double d = 0;
        size_t n;

        if (cJSON_IsNumber(v))
                return v->valuedouble;
        if (!cJSON_IsString(v) || !v->valuestring)
                return -1;
        s = v->valuestring;
        n = strlen(s);
        if (n == 0 || n > 15 || strspn(s, "0123456789") != n)
                return -1;
        for (; *s; s++)
                d = d * 10 + (*s - '0');
        return d;
}

/* Decimal text of an integral v (|v| <= 2^53), without printf's slow floating-point path. */
static const char *int_text(struct raw_ctx *ctx, double v)
{
        char tmp[24], *p = tmp + sizeof(tmp);
        bool neg = v < 0;
        uint64_t u = (uint64_t)(neg ? -v : v);

        do {
                *--p = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (neg)
                *--p = '-';
        return raw_strdup(ctx, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* RAW_C_ID and RAW_C_ID0 */
static int conv_id(struct raw_ctx *ctx, const cJSON *v, bool zero_none, const char *name,
                   const char **cell)
{
        double d = id_value(v);

        if (!integral_in(d, 0, ID_MAX))
                return raw_fail(ctx, "%s: expected a numeric id, got %s", name,
                                sl_json_type_name(v));
        if (d == 0 && zero_none)
                return 0;
        if (d == 0)
                return raw_fail(ctx, "%s: id 0 is not valid", name);
        *cell = int_text(ctx, d);
        return 0;
}

static int conv_game_id(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **cell)
{
        const char *s = cJSON_IsString(v) ? v->valuestring : NULL;

        if (!s || strlen(s) != 10 || strspn(s, "0123456789") != 10)
                return raw_fail(ctx, "%s: expected a game id string of 10 digits, got %s", name,
                                sl_json_type_name(v));
        *cell = raw_strdup(ctx, s, 10);
        return 0;
}

/* RAW_C_COUNT, RAW_C_INT */
static int conv_int(struct raw_ctx *ctx, const cJSON *v, double lo, double hi, const char *name,
                    const char **cell)
{
        if (!cJSON_IsNumber(v))
                return raw_fail(ctx, "%s: expected an integer, got %s", name, sl_json_type_name(v));
        if (!integral_in(v->valuedouble, lo, hi))
                return raw_fail(ctx, "%s: %g is not an integer in [%.0f, %.0f]", name,
                                v->valuedouble, lo, hi);
        *cell = int_text(ctx, v->valuedouble);
        return 0;
}

/* Shortest faithful text of a bounded decimal: "17", "-1.4", "24.5". */
static const char *dec_text(struct raw_ctx *ctx, double d)
{
        if (d == 0)
                return "0"; /* also -0 */
        if (integral_in(d, -DEC_ABS, DEC_ABS))
                return int_text(ctx, d);
        return raw_printf(ctx, "%.10g", d);
}

static int conv_dec(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **cell)
{
        if (!cJSON_IsNumber(v))
                return raw_fail(ctx, "%s: expected a number, got %s", name, sl_json_type_name(v));
        if (!(v->valuedouble >= -DEC_ABS && v->valuedouble <= DEC_ABS))
                return raw_fail(ctx, "%s: %g is out of range", name, v->valuedouble);
        *cell = dec_text(ctx, v->valuedouble);
        return 0;
}

/* Reads 1..max_digits digits at *p into *v; advances *p. */
static bool read_uint(const char **p, int max_digits, long *v)
{
        int n = 0;

        *v = 0;
        while (**p >= '0' && **p <= '9' && n < max_digits) {
                *v = *v * 10 + (**p - '0');
                (*p)++;
                n++;
        }
        return n > 0 && !(**p >= '0' && **p <= '9');
}

/* Reads an optional ".ddd" fraction at *p into *f (0 when absent). */
static bool read_frac(const char **p, double *f)
{
        double scale = 0.1;

        *f = 0;
        if (**p != '.')
                return true;
        (*p)++;
        if (!(**p >= '0' && **p <= '9'))
                return false;
        for (int n = 0; **p >= '0' && **p <= '9'; n++, (*p)++) {
                if (n > 9)
                        return false;
                *f += (**p - '0') * scale;
                scale /= 10;
        }
        return true;
}

/* "34:12", "34:12.5", "PT34M12.00S" or "34" / "34.5" -> seconds; false if none of those. */
static bool minutes_seconds(const char *s, double *sec)
{
        long m, ss = 0;
        double f = 0;
        bool iso = s[0] == 'P' && s[1] == 'T';

        if (iso)
                s += 2;
        if (!read_uint(&s, 3, &m))
                return false;
        if (!iso && *s != ':') { /* plain number of minutes */
                if (!read_frac(&s, &f) || *s)
                        return false;
                *sec = (m + f) * 60;
                return true;
        }
        if (*s++ != (iso ? 'M' : ':') || !read_uint(&s, 2, &ss) || ss > 59 || !read_frac(&s, &f))
                return false;
        if (iso && *s++ != 'S')
                return false;
        *sec = m * 60 + ss + f;
        return *s == '\0';
}

/* Decimal minutes with at most 2 decimals and no trailing zeros: 34.2, 30.82, 240. */
static const char *minutes_text(struct raw_ctx *ctx, double minutes)
{
        char tmp[32];
        int n = snprintf(tmp, sizeof(tmp), "%.2f", minutes);

        if (n <= 0 || (size_t)n >= sizeof(tmp))
                return NULL;
        while (tmp[n - 1] == '0')
                n--;
        if (tmp[n - 1] == '.')
                n--;
        return raw_strdup(ctx, tmp, (size_t)n);
}

static int conv_minutes(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **cell)
{
        char text[24];
        const char *s;
        double sec;
        size_t n;
        int rc;

        if (cJSON_IsNumber(v)) {
                sec = v->valuedouble * 60;
        } else if (cJSON_IsString(v)) {
                rc = str_span(ctx, v, name, &s, &n);
                if (rc < 0)
                        return rc;
                if (n == 0)
                        return 0; /* did not play */
                if (n >= sizeof(text))
                        return raw_fail(ctx, "%s: bad minutes", name);
                memcpy(text, s, n);
                text[n] = '\0';
                if (!minutes_seconds(text, &sec) || has_control(text, n))
                        return raw_fail(ctx, "%s: bad minutes \"%s\"", name, text);
        } else {
                return raw_fail(ctx, "%s: expected minutes, got %s", name, sl_json_type_name(v));
        }
        if (!(sec >= 0 && sec <= MIN_MAX * 60))
                return raw_fail(ctx, "%s: minutes out of range", name);
        *cell = minutes_text(ctx, sec / 60);
        return *cell ? 0 : raw_fail(ctx, "%s: minutes out of range", name);
}

static int conv_str(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **cell)
{
        const char *s;
        size_t n;
        int rc;

        if (!cJSON_IsString(v))
                return raw_fail(ctx, "%s: expected a string, got %s", name, sl_json_type_name(v));
        rc = str_span(ctx, v, name, &s, &n);
        if (rc == 0 && n > 0)
                *cell = raw_strdup(ctx, s, n);
        return rc;
}

static int conv_date(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **cell)
{
        const char *s = cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
        char date[11];

        if (!s)
                return raw_fail(ctx, "%s: expected a date string, got %s", name,
                                sl_json_type_name(v));
        if (*s == '\0')
                return 0;
        if (strlen(s) < 10 || (s[10] != '\0' && s[10] != 'T'))
                return raw_fail(ctx, "%s: expected YYYY-MM-DD", name);
        memcpy(date, s, 10);
        date[10] = '\0';
        if (!sl_date_valid(date) || has_control(s, strlen(s)) || strlen(s) > 32)
                return raw_fail(ctx, "%s: \"%s\" is not a valid date", name, date);
        *cell = raw_strdup(ctx, date, 10);
        return 0;
}

/* Game clock "M:SS" / "MM:SS" with an optional fraction; kept as given. */
static int conv_clock(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **cell)
{
        const char *s = cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
        const char *p = s;
        long m, ss;
        double f;

        if (!s)
                return raw_fail(ctx, "%s: expected a clock string, got %s", name,
                                sl_json_type_name(v));
        if (*s == '\0')
                return 0;
        if (!read_uint(&p, 2, &m) || m > 20 || *p++ != ':' || !read_uint(&p, 2, &ss) || ss > 59 ||
            p - s < 4 || !read_frac(&p, &f) || *p)
                return raw_fail(ctx, "%s: bad game clock", name);
        *cell = raw_strdup(ctx, s, strlen(s));
        return 0;
}

/* Dispatches one conversion; the value is known to be present and not null. */
static int conv_value(struct raw_ctx *ctx, const cJSON *v, enum raw_conv conv, const char *name,
                      const char **cell)
{
        switch (conv) {
        case RAW_C_ID:
        case RAW_C_ID0:
                return conv_id(ctx, v, conv == RAW_C_ID0, name, cell);
        case RAW_C_GAME_ID:
                return conv_game_id(ctx, v, name, cell);
        case RAW_C_COUNT:
                return conv_int(ctx, v, 0, COUNT_MAX, name, cell);
        case RAW_C_INT:
                return conv_int(ctx, v, -INT_ABS, INT_ABS, name, cell);
        case RAW_C_DEC:
                return conv_dec(ctx, v, name, cell);
        case RAW_C_STR:
                return conv_str(ctx, v, name, cell);
        case RAW_C_MIN:
                return conv_minutes(ctx, v, name, cell);
        case RAW_C_DATE:
                return conv_date(ctx, v, name, cell);
        case RAW_C_CLOCK:
                return conv_clock(ctx, v, name, cell);
        }
        return raw_fail(ctx, "%s: unknown conversion", name);
}

int raw_conv(struct raw_ctx *ctx, const cJSON *v, enum raw_conv conv, unsigned flags,
             const char *name, const char **cell)
{
        int rc = 0;

        *cell = NULL;
        if (v && !cJSON_IsNull(v))
                rc = conv_value(ctx, v, conv, name, cell);
        if (rc == 0 && !*cell && (flags & RAW_F_NONNULL))
                return raw_fail(ctx, "%s: must not be %s", name,
                                v && !cJSON_IsNull(v) ? "empty" : "null");
        return rc;
}

int raw_obj_map(struct raw_ctx *ctx, const cJSON *obj, const struct raw_field *fields, size_t n,
                struct raw_table *t, size_t row)
{
        for (size_t i = 0; i < n; i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, fields[i].key);
                const char *cell;
                int rc;

                if (!v && !(fields[i].flags & RAW_F_OPTIONAL))
                        return raw_fail(ctx, "missing field \"%s\"", fields[i].key);
                rc = raw_conv(ctx, v, fields[i].conv, fields[i].flags, fields[i].key, &cell);
                if (rc < 0)
                        return rc;
                raw_row(t, row)[fields[i].col] = cell;
        }
        return 0;
}

const cJSON *raw_member(struct raw_ctx *ctx, const cJSON *obj, const char *key, bool want_array)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (want_array ? cJSON_IsArray(v) : cJSON_IsObject(v))
                return v;
        raw_fail(ctx, "\"%s\": expected %s, got %s", key, want_array ? "an array" : "an object",
                 sl_json_type_name(v));
        return NULL;
}

int raw_check_list(struct raw_ctx *ctx, const cJSON *arr, const char *name)
{
        size_t n = 0;

        for (const cJSON *it = arr->child; it; it = it->next) {
                if (++n > ctx->max_rows)
                        return raw_fail(ctx, "%s: more than %zu entries", name, ctx->max_rows);
        }
        return 0;
}

/* ---- derived values --------------------------------------------------------------------- */

const char *raw_season_from_game_id(struct raw_ctx *ctx, const char *game_id)
{
        int yy = (game_id[3] - '0') * 10 + (game_id[4] - '0');
        int year = yy >= 46 ? 1900 + yy : 2000 + yy; /* the BAA began in 1946 */

        return raw_printf(ctx, "%04d-%02d", year, (year + 1) % 100);
}

const char *raw_league_from_game_id(struct raw_ctx *ctx, const char *game_id)
{
        return raw_strdup(ctx, game_id, 2);
}

int raw_status(struct raw_ctx *ctx, const cJSON *v, const char *name, const char **cell)
{
        static const char *const names[] = {NULL, "scheduled", "live", "final"};

        if (!cJSON_IsNumber(v) || !integral_in(v->valuedouble, 1, 3))
                return raw_fail(ctx, "%s: expected game status 1, 2 or 3, got %s", name,
                                cJSON_IsNumber(v) ? "another number" : sl_json_type_name(v));
        *cell = names[(int)v->valuedouble];
        return 0;
}

void raw_null_stats(const char **cells, int base)
{
        for (int s = S_MINUTES; s < S_NSTATS; s++)
                cells[base + s] = NULL;
}
