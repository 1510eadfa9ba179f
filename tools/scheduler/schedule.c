#include "schedule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sl/util.h>

#define LINE_MAX_LEN 512

/* The next blank-separated token of *p into out; 0 at the end of the line. */
static size_t token(const char **p, char *out, size_t out_size)
{
        const char *s = *p;
        size_t len;

        while (*s == ' ' || *s == '\t')
                s++;
        len = strcspn(s, " \t");
        if (len >= out_size)
                len = out_size - 1; /* the caller checks the length against what it allows */
        memcpy(out, s, len);
        out[len] = '\0';
        *p = s + strcspn(s, " \t");
        return len;
}

static bool name_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 63)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static int date_expr(const char *v, int *offset)
{
        int64_t n;

        if (strcmp(v, "today") == 0)
                *offset = 0;
        else if (strcmp(v, "yesterday") == 0)
                *offset = -1;
        else if (strcmp(v, "tomorrow") == 0)
                *offset = 1;
        else if (strncmp(v, "today", 5) == 0 && (v[5] == '-' || v[5] == '+') &&
                 sl_parse_i64(v + 6, 0, 366, &n) == 0)
                *offset = v[5] == '-' ? -(int)n : (int)n;
        else
                return -EINVAL;
        return 0;
}

static bool sources_ok(const char *s)
{
        for (const char *c = s; *c; c++) {
                if (!((*c >= 'a' && *c <= 'z') || *c == ','))
                        return false;
        }
        return s[0] != '\0';
}

/* One non-blank, non-comment line into e. */
static int parse_line(const char *line, struct sched_entry *e, char *why, size_t why_size)
{
        const char *p = line;
        char tok[LINE_MAX_LEN], when[LINE_MAX_LEN] = "";
        size_t wl = 0;
        int rc;

        memset(e, 0, sizeof(*e));
        if (token(&p, tok, sizeof(tok)) > 0 && tok[0] == '@') {
                snprintf(when, sizeof(when), "%s", tok);
        } else {
                p = line;
                for (int i = 0; i < 5; i++) {
                        if (token(&p, tok, sizeof(tok)) == 0) {
                                snprintf(why, why_size,
                                         "expected five cron fields, a name and "
                                         "an action");
                                return -EINVAL;
                        }
                        wl += (size_t)snprintf(when + wl, sizeof(when) - wl, "%s%s", i ? " " : "",
                                               tok);
                }
        }
        if (strlen(when) >= sizeof(e->when)) {
                snprintf(why, why_size, "cron expression too long");
                return -EINVAL;
        }
        snprintf(e->when, sizeof(e->when), "%s", when);
        rc = sched_cron_parse(when, &e->cron, why, why_size);
        if (rc < 0)
                return rc;
        token(&p, tok, sizeof(tok));
        if (!name_ok(tok)) {
                snprintf(why, why_size, "entry name '%.64s': 1-63 of [a-z0-9_-]", tok);
                return -EINVAL;
        }
        snprintf(e->name, sizeof(e->name), "%s", tok);
        token(&p, tok, sizeof(tok));
        if (strcmp(tok, "scrape") != 0) {
                snprintf(why, why_size, "%s: unknown action '%.32s' (scrape)", e->name, tok);
                return -EINVAL;
        }
        while (token(&p, tok, sizeof(tok)) > 0) {
                char *eq = strchr(tok, '=');
                if (!eq) {
                        snprintf(why, why_size, "%s: '%.64s' is not key=value", e->name, tok);
                        return -EINVAL;
                }
                *eq = '\0';
                if (strcmp(tok, "date") == 0 && date_expr(eq + 1, &e->date_offset) == 0)
                        continue;
                if (strcmp(tok, "sources") == 0 && sources_ok(eq + 1) &&
                    strlen(eq + 1) < sizeof(e->sources)) {
                        snprintf(e->sources, sizeof(e->sources), "%s", eq + 1);
                        continue;
                }
                snprintf(why, why_size,
                         "%s: bad %.16s=%.64s (date=today|yesterday|tomorrow|today-N|today+N, "
                         "sources=scoreboard,boxscore,injuries,props,schedule)",
                         e->name, tok, eq + 1);
                return -EINVAL;
        }
        return 0;
}

int sched_parse(const char *text, const char *path, struct sched_schedule *out, char *errstr,
                size_t errstr_size)
{
        const char *p = text;
        int lineno = 0;

        memset(out, 0, sizeof(*out));
        while (*p) {
                size_t len = strcspn(p, "\n");
                char line[LINE_MAX_LEN], why[256] = "";
                const char *s;

                lineno++;
                if (len >= sizeof(line)) {
                        snprintf(errstr, errstr_size, "%s:%d: line too long", path, lineno);
                        return -EINVAL;
                }
                memcpy(line, p, len);
                line[len] = '\0';
                p += len + (p[len] == '\n');
                if (strchr(line, '#'))
                        *strchr(line, '#') = '\0';
                for (s = line; *s == ' ' || *s == '\t' || *s == '\r'; s++)
                        ;
                if (!*s)
                        continue;
                if (line[strlen(line) - 1] == '\r')
                        line[strlen(line) - 1] = '\0';
                if (out->n == SCHED_MAX_ENTRIES) {
                        snprintf(errstr, errstr_size, "%s:%d: more than %d entries", path, lineno,
                                 SCHED_MAX_ENTRIES);
                        return -EINVAL;
                }
                if (parse_line(s, &out->e[out->n], why, sizeof(why)) < 0) {
                        snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno, why);
                        return -EINVAL;
                }
                out->e[out->n].line = lineno;
                for (int i = 0; i < out->n; i++) {
                        if (strcmp(out->e[i].name, out->e[out->n].name) == 0) {
                                snprintf(errstr, errstr_size,
                                         "%s:%d: entry '%s' already on line %d", path, lineno,
                                         out->e[i].name, out->e[i].line);
                                return -EINVAL;
                        }
                }
                out->n++;
        }
        if (out->n == 0) {
                snprintf(errstr, errstr_size, "%s: no entries", path);
                return -EINVAL;
        }
        return 0;
}

int sched_load(const char *path, struct sched_schedule *out, char *errstr, size_t errstr_size)
{
        FILE *f = fopen(path, "rb");
        struct sl_buf b;
        char chunk[4096];
        size_t got;
        int rc = 0;

        if (!f) {
                rc = -errno;
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return rc;
        }
        sl_buf_init(&b, 1u << 20);
        while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
                rc = sl_buf_append(&b, chunk, got);
        fclose(f);
        if (rc == 0)
                rc = sl_buf_append(&b, "", 1);
        if (rc < 0)
                snprintf(errstr, errstr_size, "%s: larger than 1 MiB", path);
        else
                rc = sched_parse((const char *)b.data, path, out, errstr, errstr_size);
        sl_buf_fini(&b);
        return rc;
}

void sched_entry_date(const struct sched_entry *e, int64_t t, char out[11])
{
        time_t s = (time_t)((t / 1440 + e->date_offset) * 86400 + 43200);
        struct tm tm;
        char buf[64];

        if (t < 0 && t % 1440)
                s -= 86400; /* floor for times before the epoch */
        gmtime_r(&s, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        snprintf(out, 11, "%.10s", buf);
}

void sched_fmt_minute(int64_t t, char out[17])
{
        time_t s = (time_t)(t * 60);
        struct tm tm;
        char buf[64];

        gmtime_r(&s, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min);
        snprintf(out, 17, "%.16s", buf);
}

int sched_parse_minute(const char *s, int64_t *t)
{
        struct tm tm = {0};
        char date[11], buf[8];
        int64_t h, m, y, mo, d;
        time_t secs;

        if (strlen(s) != 16 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':')
                return -EINVAL;
        memcpy(date, s, 10);
        date[10] = '\0';
        if (!sl_date_valid(date))
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%.2s", s + 11);
        if (sl_parse_i64(buf, 0, 23, &h) < 0)
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%.2s", s + 14);
        if (sl_parse_i64(buf, 0, 59, &m) < 0)
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%.4s", s);
        sl_parse_i64(buf, 1800, 9999, &y);
        snprintf(buf, sizeof(buf), "%.2s", s + 5);
        sl_parse_i64(buf, 1, 12, &mo);
        snprintf(buf, sizeof(buf), "%.2s", s + 8);
        sl_parse_i64(buf, 1, 31, &d);
        tm.tm_year = (int)y - 1900;
        tm.tm_mon = (int)mo - 1;
        tm.tm_mday = (int)d;
        tm.tm_hour = (int)h;
        tm.tm_min = (int)m;
        secs = timegm(&tm);
        gmtime_r(&secs, &tm);
        if (tm.tm_mday != (int)d) /* 2024-02-30 */
                return -EINVAL;
        *t = (int64_t)secs / 60;
        return 0;
}
