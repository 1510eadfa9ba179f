#include "cron.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sl/util.h>

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* A number or (names != NULL) a three-letter name; names[i] is worth base + i. */
static int value(const char *s, size_t len, const char *const *names, int n_names, int base,
                 int *out)
{
        char buf[16];
        int64_t v;

        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = '\0';
        for (int i = 0; names && i < n_names; i++) {
                if (len == 3 && (buf[0] | 0x20) == names[i][0] && (buf[1] | 0x20) == names[i][1] &&
                    (buf[2] | 0x20) == names[i][2]) {
                        *out = base + i;
                        return 0;
                }
        }
        if (sl_parse_i64(buf, 0, 999, &v) < 0)
                return -EINVAL;
        *out = (int)v;
        return 0;
}

/*
 * One field: a comma list of "*", "N", "N-M", each optionally "/STEP".
 * Sets bits lo..hi of *bits; *star when the field starts with "*".
 */
static int field(const char *s, size_t len, int lo, int hi, const char *const *names, int n_names,
                 int base, uint64_t *bits, bool *star)
{
        size_t pos = 0;

        *bits = 0;
        *star = len > 0 && s[0] == '*';
        while (pos < len) {
                size_t item = pos, end = pos;
                int a, b, step = 1;
                const char *slash, *dash;

                while (end < len && s[end] != ',')
                        end++;
                if (end == item)
                        return -EINVAL;
                slash = memchr(s + item, '/', end - item);
                if (slash) {
                        int64_t st;
                        char buf[8];
                        size_t sl = (size_t)(s + end - slash - 1);
                        if (sl == 0 || sl >= sizeof(buf))
                                return -EINVAL;
                        memcpy(buf, slash + 1, sl);
                        buf[sl] = '\0';
                        if (sl_parse_i64(buf, 1, hi, &st) < 0)
                                return -EINVAL;
                        step = (int)st;
                }
                {
                        size_t rlen = (size_t)((slash ? slash : s + end) - (s + item));
                        if (rlen == 1 && s[item] == '*') {
                                a = lo;
                                b = hi;
                        } else {
                                dash = memchr(s + item, '-', rlen);
                                if (dash) {
                                        if (value(s + item, (size_t)(dash - (s + item)), names,
                                                  n_names, base, &a) < 0 ||
                                            value(dash + 1, rlen - (size_t)(dash - (s + item)) - 1,
                                                  names, n_names, base, &b) < 0)
                                                return -EINVAL;
                                } else {
                                        if (value(s + item, rlen, names, n_names, base, &a) < 0)
                                                return -EINVAL;
                                        /* "N/STEP" means N-hi/STEP (as in Vixie cron) */
                                        b = slash ? hi : a;
                                }
                        }
                }
                if (a < lo || b > hi || a > b)
                        return -EINVAL;
                for (int v = a; v <= b; v += step)
                        *bits |= UINT64_C(1) << v;
                pos = end + 1;
        }
        return *bits ? 0 : -EINVAL;
}

static const struct {
        const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int sched_cron_parse(const char *expr, struct sched_cron *out, char *errstr, size_t errstr_size)
{
        static const char *const what[] = {"minute", "hour", "day of month", "month",
                                           "day of week"};
        const char *p = expr, *f[5];
        size_t len[5];
        uint64_t bits[5];
        bool star[5];
        int n = 0;

        memset(out, 0, sizeof(*out));
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
                if (strcmp(expr, macros[i].name) == 0)
                        return sched_cron_parse(macros[i].expr, out, errstr, errstr_size);
        }
        while (*p) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                if (n == 5) {
                        snprintf(errstr, errstr_size, "'%s': more than five fields", expr);
                        return -EINVAL;
                }
                f[n] = p;
                while (*p && *p != ' ' && *p != '\t')
                        p++;
                len[n] = (size_t)(p - f[n]);
                n++;
        }
        if (n != 5) {
                snprintf(errstr, errstr_size, "'%s': expected five fields (min hour dom mon dow)",
                         expr);
                return -EINVAL;
        }
        {
                const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
                for (int i = 0; i < 5; i++) {
                        const char *const *names = i == 3 ? months : i == 4 ? days : NULL;
                        int rc = field(f[i], len[i], lo[i], hi[i], names, i == 3 ? 12 : 7,
                                       i == 3 ? 1 : 0, &bits[i], &star[i]);
                        if (rc < 0) {
                                snprintf(errstr, errstr_size, "'%s': bad %s field '%.*s'", expr,
                                         what[i], (int)len[i], f[i]);
                                return rc;
                        }
                }
        }
        if (bits[4] & (UINT64_C(1) << 7))
                bits[4] = (bits[4] | 1) & 0x7f; /* 7 is Sunday too */
        out->minute = bits[0];
        out->hour = (uint32_t)bits[1];
        out->dom = (uint32_t)bits[2];
        out->month = (uint16_t)bits[3];
        out->dow = (uint8_t)bits[4];
        out->dom_star = star[2];
        out->dow_star = star[4];
        return 0;
}

/* Whether the day (month, day of month, day of week) matches. */
static bool day_match(const struct sched_cron *c, const struct tm *tm)
{
        bool dom = c->dom & (UINT32_C(1) << tm->tm_mday);
        bool dow = c->dow & (1u << tm->tm_wday);

        if (!(c->month & (1u << (tm->tm_mon + 1))))
                return false;
        if (c->dom_star || c->dow_star)
                return dom && dow;
        return dom || dow;
}

static void to_tm(int64_t t, struct tm *tm)
{
        time_t s = (time_t)(t * 60);

        gmtime_r(&s, tm);
}

bool sched_cron_match(const struct sched_cron *c, int64_t t)
{
        struct tm tm;

        to_tm(t, &tm);
        return (c->minute & (UINT64_C(1) << tm.tm_min)) &&
               (c->hour & (UINT32_C(1) << tm.tm_hour)) && day_match(c, &tm);
}

int64_t sched_cron_next(const struct sched_cron *c, int64_t t)
{
        int64_t limit = t + (int64_t)8 * 366 * 24 * 60;
        struct tm tm;

        t++;
        while (t <= limit) {
                to_tm(t, &tm);
                if (!day_match(c, &tm)) {
                        t += (int64_t)(24 * 60 - tm.tm_hour * 60 - tm.tm_min); /* next day */
                        continue;
                }
                if (!(c->hour & (UINT32_C(1) << tm.tm_hour))) {
                        t += 60 - tm.tm_min; /* next hour */
                        continue;
                }
                if (c->minute & (UINT64_C(1) << tm.tm_min))
                        return t;
                t++;
        }
        return -1;
}
