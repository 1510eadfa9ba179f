#include "backfill.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/util.h>

/* ---- dates ------------------------------------------------------------------------------ */

/* Days since the epoch of a valid YYYY-MM-DD. */
static int64_t day_number(const char *date)
{
        struct tm tm = {0};
        char buf[8];
        int64_t y = 0, m = 0, d = 0;

        snprintf(buf, sizeof(buf), "%.4s", date);
        sl_parse_i64(buf, 1800, 9999, &y);
        snprintf(buf, sizeof(buf), "%.2s", date + 5);
        sl_parse_i64(buf, 1, 12, &m);
        snprintf(buf, sizeof(buf), "%.2s", date + 8);
        sl_parse_i64(buf, 1, 31, &d);
        tm.tm_year = (int)y - 1900;
        tm.tm_mon = (int)m - 1;
        tm.tm_mday = (int)d;
        tm.tm_hour = 12;
        return (int64_t)(timegm(&tm) / 86400);
}

static void day_text(int64_t day, char out[11])
{
        time_t t = (time_t)(day * 86400 + 43200);
        struct tm tm;
        char buf[64];

        gmtime_r(&t, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        snprintf(out, 11, "%.10s", buf);
}

/* sl_date_valid() plus a real calendar day (no 2024-02-30). */
static bool real_date(const char *s)
{
        char back[11];

        if (!s || !sl_date_valid(s))
                return false;
        day_text(day_number(s), back);
        return strcmp(back, s) == 0;
}

int backfill_dates_range(const char *from, const char *to, struct backfill_dates *out, char *errstr,
                         size_t errstr_size)
{
        int64_t a, b;

        memset(out, 0, sizeof(*out));
        if (!real_date(from) || !real_date(to)) {
                snprintf(errstr, errstr_size, "--from/--to: '%s' is not a date (YYYY-MM-DD)",
                         real_date(from) ? to : from);
                return -EINVAL;
        }
        a = day_number(from);
        b = day_number(to);
        if (b < a) {
                snprintf(errstr, errstr_size, "--from %s is after --to %s", from, to);
                return -EINVAL;
        }
        if (b - a + 1 > BACKFILL_MAX_DATES) {
                snprintf(errstr, errstr_size, "%lld dates: at most %d per backfill",
                         (long long)(b - a + 1), BACKFILL_MAX_DATES);
                return -EINVAL;
        }
        out->n = (int)(b - a + 1);
        out->d = sl_xcalloc((size_t)out->n, sizeof(*out->d));
        for (int i = 0; i < out->n; i++)
                day_text(a + i, out->d[i]);
        return 0;
}

static int cmp_date(const void *a, const void *b)
{
        return strcmp(a, b);
}

int backfill_dates_list(const char *list, struct backfill_dates *out, char *errstr,
                        size_t errstr_size)
{
        const char *p = list;
        int n = 0;

        memset(out, 0, sizeof(*out));
        out->d = sl_xcalloc(BACKFILL_MAX_DATES, sizeof(*out->d));
        while (p && *p) {
                size_t len = strcspn(p, ",");
                char one[16];

                if (len == 0 || len >= sizeof(one)) {
                        snprintf(errstr, errstr_size, "--dates: empty or overlong item in '%s'",
                                 list);
                        goto bad;
                }
                memcpy(one, p, len);
                one[len] = '\0';
                if (!real_date(one)) {
                        snprintf(errstr, errstr_size, "--dates: '%s' is not a date (YYYY-MM-DD)",
                                 one);
                        goto bad;
                }
                if (n == BACKFILL_MAX_DATES) {
                        snprintf(errstr, errstr_size, "--dates: at most %d dates",
                                 BACKFILL_MAX_DATES);
                        goto bad;
                }
                memcpy(out->d[n++], one, 11);
                p += len;
                if (*p == ',')
                        p++;
        }
        if (n == 0) {
                snprintf(errstr, errstr_size, "--dates: no date given");
                goto bad;
        }
        sl_qsort(out->d, (size_t)n, sizeof(*out->d), cmp_date);
        out->n = 0;
        for (int i = 0; i < n; i++) {
                if (out->n == 0 || strcmp(out->d[out->n - 1], out->d[i]) != 0)
                        memmove(out->d[out->n++], out->d[i], 11);
        }
        return 0;
bad:
        backfill_dates_fini(out);
        return -EINVAL;
}

void backfill_dates_fini(struct backfill_dates *d)
{
        free(d->d);
        d->d = NULL;
        d->n = 0;
}

void backfill_run_key(const char *sport, const struct backfill_dates *d, char *out, size_t out_size)
{
        char hex[SL_SHA256_HEX_LEN + 1];

        sl_sha256_hex(d->d, (size_t)d->n * sizeof(*d->d), hex);
        snprintf(out, out_size, "%s:%s..%s:%d:%.16s", sport, d->n ? d->d[0] : "",
                 d->n ? d->d[d->n - 1] : "", d->n, hex);
}

/* ---- progress ------------------------------------------------------------------------- */

bool backfill_progress_crossed(int before, int after, int total, int pct)
{
        /* crossed pct% when before/total < pct/100 <= after/total */
        return total > 0 && (int64_t)before * 100 < (int64_t)pct * total &&
               (int64_t)pct * total <= (int64_t)after * 100;
}

int64_t backfill_eta_ms(int64_t elapsed_ms, int settled, int left)
{
        if (settled <= 0)
                return -1;
        if (left <= 0)
                return 0;
        /* elapsed/settled is the wall time per date at the parallelism seen so far */
        return elapsed_ms * left / settled;
}

void backfill_fmt_duration(int64_t ms, char *out, size_t out_size)
{
        int64_t s = ms < 0 ? 0 : (ms + 500) / 1000;

        if (s >= 3600)
                snprintf(out, out_size, "%lldh%02lldm", (long long)(s / 3600),
                         (long long)(s % 3600 / 60));
        else if (s >= 60)
                snprintf(out, out_size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
        else
                snprintf(out, out_size, "%llds", (long long)s);
}

int backfill_retry_command(const char *sport, const char *const *dates, int n, const char *extra,
                           char *out, size_t out_size)
{
        size_t len;
        int w = snprintf(out, out_size, "statline-backfill --sport %s --dates ", sport);

        if (w < 0 || (size_t)w >= out_size)
                return -ENAMETOOLONG;
        len = (size_t)w;
        for (int i = 0; i < n; i++) {
                w = snprintf(out + len, out_size - len, "%s%s", i ? "," : "", dates[i]);
                if (w < 0 || (size_t)w >= out_size - len)
                        return -ENAMETOOLONG;
                len += (size_t)w;
        }
        if (extra && extra[0]) {
                w = snprintf(out + len, out_size - len, " %s", extra);
                if (w < 0 || (size_t)w >= out_size - len)
                        return -ENAMETOOLONG;
        }
        return 0;
}

/* ---- validation ------------------------------------------------------------------------ */

/* Length of the array at doc.path[0].path[1]..., or -1. */
static int array_len(const cJSON *v)
{
        return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

int backfill_count_players(const struct cJSON *doc)
{
        const cJSON *sets = cJSON_GetObjectItemCaseSensitive(doc, "resultSets");
        const cJSON *set, *box;
        int home, away;

        cJSON_ArrayForEach(set, sets)
        {
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(set, "name");
                if (cJSON_IsString(name) && strcmp(name->valuestring, "PlayerStats") == 0) {
                        int n = array_len(cJSON_GetObjectItemCaseSensitive(set, "rowSet"));
                        return n < 0 ? -EBADMSG : n;
                }
        }
        box = cJSON_GetObjectItemCaseSensitive(doc, "boxScoreTraditional");
        home = array_len(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(box, "homeTeam"), "players"));
        away = array_len(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(box, "awayTeam"), "players"));
        if (home < 0 || away < 0)
                return -EBADMSG;
        return home + away;
}

/* One bigint out of a one-row, one-column query. */
static int query_i64(struct sl_pg *pg, const char *sql, const char *date, int64_t *out,
                     char *errstr, size_t errstr_size)
{
        const char *params[1] = {date};
        PGresult *res = NULL;
        int rc = sl_pg_exec(pg, sql, 1, params, &res, errstr, errstr_size);

        if (rc < 0)
                return rc;
        *out = 0;
        if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
                sl_parse_i64(PQgetvalue(res, 0, 0), INT64_MIN, INT64_MAX, out);
        PQclear(res);
        return 0;
}

/* Reads a whole blob file (capped) and counts its player lines; -errno on failure. */
static int blob_players(const char *blob_dir, const char *sha, char *why, size_t why_size)
{
        char path[4096];
        struct sl_buf b;
        char chunk[65536];
        size_t got;
        cJSON *doc;
        FILE *f;
        int n;

        if (snprintf(path, sizeof(path), "%s/%.2s/%s.json", blob_dir, sha, sha) >=
            (int)sizeof(path))
                return -ENAMETOOLONG;
        f = fopen(path, "rb");
        if (!f) {
                n = -errno;
                snprintf(why, why_size, "blob %.12s: %s", sha, strerror(errno));
                return n;
        }
        sl_buf_init(&b, 64u << 20);
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                if (sl_buf_append(&b, chunk, got) < 0)
                        break;
        }
        fclose(f);
        doc = cJSON_ParseWithLength(b.data ? (const char *)b.data : "", b.len);
        sl_buf_fini(&b);
        n = doc ? backfill_count_players(doc) : -EBADMSG;
        if (n < 0)
                snprintf(why, why_size, "blob %.12s: not a box score", sha);
        cJSON_Delete(doc);
        return n;
}

/* The latest stored box score blob of every game of date. */
static const char boxscore_blobs_sql[] =
    "SELECT DISTINCT ON (source_key) source_key, blob_sha256 FROM ops.scraper_execution_log "
    "WHERE game_date = $1::date AND scraper IN ('boxscore_v2', 'boxscore_v3') "
    "AND status IN ('completed', 'unchanged') AND blob_sha256 IS NOT NULL "
    "ORDER BY source_key, started_at DESC";

static int check_players(struct sl_pg *pg, const struct backfill_validate_in *in,
                         struct backfill_check *c, char *errstr, size_t errstr_size)
{
        const char *params[1] = {in->date};
        PGresult *res = NULL;
        int64_t expected = 0;
        int rc = sl_pg_exec(pg, boxscore_blobs_sql, 1, params, &res, errstr, errstr_size);

        if (rc < 0)
                return rc;
        c->name = "player_rows";
        for (int i = 0; i < PQntuples(res); i++) {
                int n =
                    blob_players(in->blob_dir, PQgetvalue(res, i, 1), c->detail, sizeof(c->detail));
                if (n < 0) {
                        expected = -1;
                        break;
                }
                expected += n;
        }
        PQclear(res);
        rc = query_i64(pg,
                       "SELECT count(*) FROM raw.player_boxscores p JOIN raw.games g USING "
                       "(game_id) WHERE g.game_date = $1::date",
                       in->date, &c->actual, errstr, errstr_size);
        if (rc < 0)
                return rc;
        c->expected = expected;
        c->passed = expected >= 0 && c->actual == expected;
        if (expected >= 0)
                snprintf(c->detail, sizeof(c->detail),
                         "player lines in the stored box scores vs raw.player_boxscores");
        return 0;
}

static int store_check(struct sl_pg *pg, const struct backfill_validate_in *in,
                       const struct backfill_check *c, char *errstr, size_t errstr_size)
{
        static const char sql[] =
            "INSERT INTO ops.data_quality (sport, game_date, check_name, expected, actual, passed, "
            "detail, correlation_id, run_id) VALUES ($1, $2::date, $3, $4::bigint, $5::bigint, "
            "$6::boolean, $7, $8::uuid, $9::uuid)";
        char e[24], a[24];
        const char *params[9] = {in->sport, in->date,
                                 c->name,   c->expected >= 0 ? e : NULL,
                                 a,         c->passed ? "true" : "false",
                                 c->detail, in->correlation_id,
                                 in->run_id};

        snprintf(e, sizeof(e), "%lld", (long long)c->expected);
        snprintf(a, sizeof(a), "%lld", (long long)c->actual);
        return sl_pg_exec(pg, sql, 9, params, NULL, errstr, errstr_size);
}

int backfill_validate(struct sl_pg *pg, const struct backfill_validate_in *in,
                      struct backfill_check *checks, int *n, char *errstr, size_t errstr_size)
{
        struct backfill_check *c;
        int rc = 0, failed = 0;

        *n = 0;
        memset(checks, 0, sizeof(*checks) * BACKFILL_MAX_CHECKS);
        if (in->games >= 0) {
                c = &checks[(*n)++];
                c->name = "games";
                c->expected = in->games;
                rc = query_i64(pg, "SELECT count(*) FROM raw.games WHERE game_date = $1::date",
                               in->date, &c->actual, errstr, errstr_size);
                snprintf(c->detail, sizeof(c->detail), "scoreboard games vs raw.games rows");
                c->passed = c->actual == c->expected;
        }
        if (rc == 0 && in->games_final >= 0) {
                c = &checks[(*n)++];
                c->name = "boxscore_games";
                c->expected = in->games_final;
                rc = query_i64(pg,
                               "SELECT count(DISTINCT p.game_id) FROM raw.player_boxscores p "
                               "JOIN raw.games g USING (game_id) WHERE g.game_date = $1::date",
                               in->date, &c->actual, errstr, errstr_size);
                snprintf(c->detail, sizeof(c->detail),
                         "Final games on the scoreboard vs games with box scores in raw");
                c->passed = c->actual == c->expected;
        }
        if (rc == 0 && in->blob_dir && in->blob_dir[0])
                rc = check_players(pg, in, &checks[(*n)++], errstr, errstr_size);
        if (rc == 0) {
                c = &checks[(*n)++];
                c->name = "required_nulls";
                c->expected = 0;
                rc = query_i64(pg,
                               "SELECT (SELECT count(*) FROM raw.player_boxscores p JOIN raw.games "
                               "g USING (game_id) WHERE g.game_date = $1::date AND p.minutes IS "
                               "NOT NULL AND (p.pts IS NULL OR p.reb IS NULL OR p.ast IS NULL OR "
                               "p.fga IS NULL OR p.fta IS NULL)) + (SELECT count(*) FROM "
                               "raw.games WHERE game_date = $1::date AND (home_team_abbr IS NULL "
                               "OR away_team_abbr IS NULL))",
                               in->date, &c->actual, errstr, errstr_size);
                snprintf(c->detail, sizeof(c->detail),
                         "players who played without pts/reb/ast/fga/fta, games without team "
                         "abbreviations");
                c->passed = c->actual == 0;
        }
        for (int i = 0; rc == 0 && i < *n; i++) {
                failed += !checks[i].passed;
                rc = store_check(pg, in, &checks[i], errstr, errstr_size);
        }
        return rc < 0 ? rc : failed;
}
