/*
 * Conformance of the raw parsers with real NBA stats API payloads: every
 * file in ../shared/data/nba/ must parse, and the counts and totals must match
 * what the files hold (their README). The directory is found through
 * STATLINE_SHARED (the shared dir) or $STATLINE_SRC/../shared; if it is
 * missing the test fails, it never passes vacuously.
 */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

#include "parsers.h"
#include "sl_test.h"

#define N_KNOWN 8 /* files described in the README; each has checks below */

/* ---- helpers ---------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                buf = sl_xmalloc((size_t)n + 1);
                *len = fread(buf, 1, (size_t)n, f);
                if (*len != (size_t)n) {
                        free(buf);
                        buf = NULL;
                }
        }
        fclose(f);
        return buf;
}

/* Cell of row r in the column named col ("" stands for NULL, to keep checks short). */
static const char *cell(const struct raw_table *t, size_t r, const char *col)
{
        int c = raw_table_col_index(t, col);
        const char *v = c >= 0 ? raw_table_cell(t, r, (size_t)c) : NULL;

        return v ? v : "";
}

static int64_t num(const struct raw_table *t, size_t r, const char *col)
{
        int64_t v = 0;

        if (sl_parse_i64(cell(t, r, col), INT64_MIN, INT64_MAX, &v) < 0)
                return INT64_MIN;
        return v;
}

/* Sum of an integer column over the rows where key_col == key (key_col NULL: all rows). */
static int64_t sum_where(const struct raw_table *t, const char *col, const char *key_col,
                         const char *key)
{
        int64_t s = 0;

        for (size_t r = 0; r < raw_table_nrows(t); r++) {
                if (key_col && strcmp(cell(t, r, key_col), key))
                        continue;
                if (*cell(t, r, col))
                        s += num(t, r, col);
        }
        return s;
}

/* First row where col == value, or -1. */
static long find_row(const struct raw_table *t, const char *col, const char *value)
{
        for (size_t r = 0; r < raw_table_nrows(t); r++) {
                if (!strcmp(cell(t, r, col), value))
                        return (long)r;
        }
        return -1;
}

static size_t count_where(const struct raw_table *t, const char *col, const char *value)
{
        size_t n = 0;

        for (size_t r = 0; r < raw_table_nrows(t); r++)
                n += !strcmp(cell(t, r, col), value);
        return n;
}

static size_t rows(const struct raw_batch *b, const char *table)
{
        const struct raw_table *t = raw_batch_find(b, table);

        return t ? raw_table_nrows(t) : (size_t)-1;
}

/* ---- per-file checks -------------------------------------------------------------------- */

/* Team points of team in a box score equal the sum of its players' points. */
static void check_team_sum(const struct raw_batch *b, const char *team, int64_t pts)
{
        const struct raw_table *tb = raw_batch_find(b, "raw.team_boxscores");
        const struct raw_table *pb = raw_batch_find(b, "raw.player_boxscores");
        long r = find_row(tb, "team_id", team);

        SL_CHECKF(r >= 0 && num(tb, (size_t)r, "pts") == pts, "team %s pts %s", team,
                  r >= 0 ? cell(tb, (size_t)r, "pts") : "?");
        SL_CHECK(sum_where(pb, "pts", "team_id", team) == pts);
}

static void check_box_v2(const struct raw_batch *b)
{
        const struct raw_table *pb = raw_batch_find(b, "raw.player_boxscores");
        long wb;

        SL_CHECK(raw_batch_kind(b) == RAW_KIND_BOXSCORE_V2);
        SL_CHECKF(rows(b, "raw.player_boxscores") == 19, "%zu", rows(b, "raw.player_boxscores"));
        SL_CHECK(rows(b, "raw.team_boxscores") == 2);
        check_team_sum(b, "1610612760", 126); /* OKC */
        check_team_sum(b, "1610612764", 115); /* WAS */
        SL_CHECK(count_where(pb, "starter", "t") == 10);
        wb = find_row(pb, "player_id", "201566"); /* Westbrook: 35 pts in 41:07 */
        SL_CHECK(wb >= 0 && num(pb, (size_t)wb, "pts") == 35);
        SL_CHECKF(wb >= 0 && !strcmp(cell(pb, (size_t)wb, "minutes"), "41.12"), "%s",
                  wb >= 0 ? cell(pb, (size_t)wb, "minutes") : "?");
        SL_CHECK(!strcmp(cell(pb, 0, "minutes"), "36.7")); /* Markieff Morris 36:42 */
        SL_CHECK(!strcmp(cell(raw_batch_find(b, "raw.team_boxscores"), 0, "minutes"), "265"));
}

static void check_box_v3(const struct raw_batch *b)
{
        const struct raw_table *pb = raw_batch_find(b, "raw.player_boxscores");
        long dnp = find_row(pb, "player_id", "202066"); /* Garrett Temple, DNP */
        long bi = find_row(pb, "player_id", "1627742"); /* Brandon Ingram, 30:49 */

        SL_CHECK(raw_batch_kind(b) == RAW_KIND_BOXSCORE_V3);
        SL_CHECK(rows(b, "raw.team_boxscores") == 2);
        SL_CHECKF(rows(b, "raw.player_boxscores") == 29, "%zu", rows(b, "raw.player_boxscores"));
        check_team_sum(b, "1610612761", 128); /* TOR, home */
        check_team_sum(b, "1610612749", 100); /* MIL */
        SL_CHECK(count_where(pb, "starter", "t") == 10);
        SL_CHECK(dnp >= 0 && !*cell(pb, (size_t)dnp, "minutes") && !*cell(pb, (size_t)dnp, "pts"));
        SL_CHECK(bi >= 0 && !strcmp(cell(pb, (size_t)bi, "minutes"), "30.82"));
        SL_CHECK(bi >= 0 && !strcmp(cell(pb, (size_t)bi, "player_name"), "Brandon Ingram"));
        SL_CHECK(bi >= 0 && !strcmp(cell(pb, (size_t)bi, "plus_minus"), "17"));
        SL_CHECK(!strcmp(cell(pb, 0, "game_id"), "0022500165"));
}

static void check_pbp(const struct raw_batch *b)
{
        const struct raw_table *t = raw_batch_find(b, "raw.play_by_play");
        size_t n = t ? raw_table_nrows(t) : 0;
        int64_t max_period = 0;

        SL_CHECK(raw_batch_kind(b) == RAW_KIND_PBP_V2);
        SL_CHECKF(n == 540, "%zu events", n);
        for (size_t r = 0; r < n; r++)
                max_period = num(t, r, "period") > max_period ? num(t, r, "period") : max_period;
        SL_CHECK(max_period == 5); /* one overtime */
        SL_CHECK(n > 0 && num(t, n - 1, "score_home") == 126 && num(t, n - 1, "score_away") == 115);
        SL_CHECK(
            !strcmp(cell(t, 1, "description"), "Jump Ball Adams vs. Gortat: Tip to Mark Morris"));
        SL_CHECK(find_row(t, "player1_id", "1610612760") < 0); /* team rebounds: no player */
}

static void check_scoreboard_v2(const struct raw_batch *b)
{
        const struct raw_table *g = raw_batch_find(b, "raw.games");
        long r = g ? find_row(g, "game_id", "2021900490") : -1;

        SL_CHECK(raw_batch_kind(b) == RAW_KIND_SCOREBOARD_V2);
        SL_CHECKF(rows(b, "raw.games") == 7, "%zu games", rows(b, "raw.games"));
        SL_CHECK(rows(b, "raw.schedule") == 7);
        SL_CHECK(g && count_where(g, "league", "20") == 7); /* G League */
        SL_CHECK(g && count_where(g, "status", "final") == 7);
        SL_CHECK(g && count_where(g, "season", "2019-20") == 7);
        SL_CHECK(!strcmp(raw_batch_date(b), "2020-02-25"));
        SL_CHECK(r >= 0 && !strcmp(cell(g, (size_t)r, "home_team_abbr"), "GRD") &&
                 num(g, (size_t)r, "home_pts") == 116 && num(g, (size_t)r, "away_pts") == 83);
}

static void check_scoreboard_v3(const struct raw_batch *b)
{
        const struct raw_table *g = raw_batch_find(b, "raw.games");
        long r = g ? find_row(g, "game_id", "0022500171") : -1;

        SL_CHECK(raw_batch_kind(b) == RAW_KIND_SCOREBOARD_V3);
        SL_CHECKF(rows(b, "raw.games") == 11, "%zu games", rows(b, "raw.games"));
        SL_CHECK(rows(b, "raw.schedule") == 11);
        SL_CHECK(!strcmp(raw_batch_date(b), "2025-11-05"));
        SL_CHECK(g && count_where(g, "season", "2025-26") == 11);
        SL_CHECK(r >= 0 && !strcmp(cell(g, (size_t)r, "home_team_abbr"), "CLE") &&
                 num(g, (size_t)r, "home_pts") == 132 && num(g, (size_t)r, "away_pts") == 121);
}

/* A team season log: 2,460 rows, 1,230 games whose scores agree with the log rows. */
static void check_season(const struct raw_batch *b, enum raw_kind kind)
{
        const struct raw_table *log = raw_batch_find(b, "raw.league_game_log");
        const struct raw_table *g = raw_batch_find(b, "raw.games");
        size_t bad = 0;

        SL_CHECK(raw_batch_kind(b) == kind);
        SL_CHECKF(log && raw_table_nrows(log) == 2460, "%zu rows", rows(b, "raw.league_game_log"));
        SL_CHECKF(g && raw_table_nrows(g) == 1230, "%zu games", rows(b, "raw.games"));
        if (!log || !g)
                return;
        SL_CHECK(sum_where(log, "pts", NULL, NULL) == 273573);
        SL_CHECK(sum_where(g, "home_pts", NULL, NULL) + sum_where(g, "away_pts", NULL, NULL) ==
                 273573);
        SL_CHECK(count_where(log, "season", "2018-19") == 2460);
        SL_CHECK(count_where(log, "wl", "W") == 1230);
        SL_CHECK(find_row(g, "game_date", "2018-10-16") >= 0 &&
                 find_row(g, "game_date", "2019-04-10") >= 0);
        for (size_t r = 0; r < raw_table_nrows(g); r++) {
                const char *gid = cell(g, r, "game_id");
                bad += sum_where(log, "pts", "game_id", gid) !=
                       num(g, r, "home_pts") + num(g, r, "away_pts");
        }
        SL_CHECK(bad == 0);
}

/* Independent of the parser: LineScore quarter points add up to PTS in the raw JSON. */
static void check_line_score_json(const char *buf, size_t len)
{
        cJSON *root = cJSON_ParseWithLength(buf, len);
        const cJSON *sets = cJSON_GetObjectItem(root, "resultSets");
        int checked = 0;

        for (const cJSON *s = sets ? sets->child : NULL; s; s = s->next) {
                const cJSON *hdr = cJSON_GetObjectItem(s, "headers");
                if (strcmp(cJSON_GetObjectItem(s, "name")->valuestring, "LineScore"))
                        continue;
                for (const cJSON *row = cJSON_GetObjectItem(s, "rowSet")->child; row;
                     row = row->next) {
                        double sum = 0, pts = -1;
                        int i = 0;
                        for (const cJSON *h = hdr->child; h; h = h->next, i++) {
                                const cJSON *v = cJSON_GetArrayItem(row, i);
                                if (!strncmp(h->valuestring, "PTS_", 4) && cJSON_IsNumber(v))
                                        sum += v->valuedouble;
                                if (!strcmp(h->valuestring, "PTS"))
                                        pts = v->valuedouble;
                        }
                        SL_CHECKF(sum == pts, "quarters %g final %g", sum, pts);
                        checked++;
                }
        }
        SL_CHECK(checked == 2);
        cJSON_Delete(root);
}

static void check_summary(const struct raw_batch *b, const char *buf, size_t len)
{
        const struct raw_table *g = raw_batch_find(b, "raw.games");

        SL_CHECK(raw_batch_kind(b) == RAW_KIND_SUMMARY_V2);
        SL_CHECK(rows(b, "raw.games") == 1);
        SL_CHECK(g && !strcmp(cell(g, 0, "game_id"), "0021600270") &&
                 !strcmp(cell(g, 0, "game_date"), "2016-11-30") &&
                 !strcmp(cell(g, 0, "season"), "2016-17") && !strcmp(cell(g, 0, "league"), "00"));
        SL_CHECK(g && !strcmp(cell(g, 0, "home_team_id"), "1610612760") &&
                 !strcmp(cell(g, 0, "home_team_abbr"), "OKC") && num(g, 0, "home_pts") == 126);
        SL_CHECK(g && !strcmp(cell(g, 0, "away_team_abbr"), "WAS") && num(g, 0, "away_pts") == 115);
        SL_CHECK(g && !strcmp(cell(g, 0, "status"), "final"));
        check_line_score_json(buf, len);
}

/* ---- driver ----------------------------------------------------------------------------- */

/* Family name the scraper would pass for the kind (exercises the explicit-source path). */
static const char *family_of(enum raw_kind kind)
{
        switch (kind) {
        case RAW_KIND_BOXSCORE_V2:
        case RAW_KIND_BOXSCORE_V3:
                return "boxscore";
        case RAW_KIND_SCOREBOARD_V2:
        case RAW_KIND_SCOREBOARD_V3:
                return "scoreboard";
        case RAW_KIND_SUMMARY_V2:
                return "summary";
        case RAW_KIND_PBP_V2:
                return "playbyplay";
        default:
                return "gamelog";
        }
}

/* MB/s of repeated parses of buf (bounded: at least 3 runs or 0.3 s). */
static double parse_speed(const char *buf, size_t len)
{
        int64_t t0 = sl_mono_us(), dt;
        int runs = 0;

        do {
                struct raw_batch *b = NULL;
                char err[256];
                if (raw_parse(NULL, buf, len, NULL, &b, err, sizeof(err)) == 0)
                        raw_batch_free(b);
                runs++;
                dt = sl_mono_us() - t0;
        } while (runs < 3 || (dt < 300000 && runs < 50));
        return (double)len * runs / (dt > 0 ? (double)dt : 1.0); /* bytes/us = MB/s */
}

/* Parses one file and runs its checks; returns 1 if it is one of the known files. */
static int check_file(const char *dir, const char *name)
{
        char path[1024], err[512];
        struct raw_batch *b = NULL, *b2 = NULL;
        size_t len = 0;
        char *buf;
        int rc, known = 1;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        buf = read_file(path, &len);
        SL_CHECKF(buf != NULL, "read %s", path);
        if (!buf)
                return 0;
        rc = raw_parse(NULL, buf, len, NULL, &b, err, sizeof(err));
        SL_CHECKF(rc == 0, "%s: %s", name, err);
        if (rc == 0) {
                rc = raw_parse(family_of(raw_batch_kind(b)), buf, len, NULL, &b2, err, sizeof(err));
                SL_CHECKF(rc == 0, "%s as %s: %s", name, family_of(raw_batch_kind(b)), err);
                printf("# %s: %s, %zu tables\n", name, raw_kind_name(raw_batch_kind(b)),
                       raw_batch_ntables(b));
                if (strstr(name, "boxscoretraditionalv2_0021600270"))
                        check_box_v2(b);
                else if (strstr(name, "boxscoretraditionalv3_0022500165"))
                        check_box_v3(b);
                else if (strstr(name, "playbyplayv2_0021600270"))
                        check_pbp(b);
                else if (strstr(name, "scoreboardv2_gleague_2020-02-25"))
                        check_scoreboard_v2(b);
                else if (strstr(name, "scoreboardv3_2025-11-05"))
                        check_scoreboard_v3(b);
                else if (strstr(name, "leaguegamelog_T_2018-19"))
                        check_season(b, RAW_KIND_GAME_LOG);
                else if (strstr(name, "leaguegamefinder_T_2018-19"))
                        check_season(b, RAW_KIND_GAME_FINDER);
                else if (strstr(name, "boxscoresummaryv2_0021600270"))
                        check_summary(b, buf, len);
                else
                        known = 0;
                if (strstr(name, "leaguegame"))
                        printf("# parse speed %s: %.1f MB/s (%zu bytes)\n", name,
                               parse_speed(buf, len), len);
        }
        raw_batch_free(b);
        raw_batch_free(b2);
        free(buf);
        return rc == 0 ? known : 0;
}

/* $STATLINE_SHARED/data/nba, else $STATLINE_SRC/../shared/data/nba. */
static int data_dir(char *out, size_t n)
{
        const char *shared = getenv("STATLINE_SHARED");
        const char *src = getenv("STATLINE_SRC");
        int len;

        if (shared && *shared)
                len = snprintf(out, n, "%s/data/nba", shared);
        else if (src && *src)
                len = snprintf(out, n, "%s/../shared/data/nba", src);
        else
                return -ENOENT;
        return len > 0 && (size_t)len < n ? 0 : -ENAMETOOLONG;
}

int main(void)
{
        char dir[900];
        DIR *d = NULL;
        struct dirent *e;
        int known = 0, files = 0;

        SL_CHECKF(data_dir(dir, sizeof(dir)) == 0, "set STATLINE_SHARED or STATLINE_SRC");
        if (data_dir(dir, sizeof(dir)) == 0)
                d = opendir(dir);
        SL_CHECKF(d != NULL, "data directory %s is missing", dir);
        while (d && (e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
                        continue;
                files++;
                known += check_file(dir, e->d_name);
        }
        if (d)
                closedir(d);
        SL_CHECKF(known == N_KNOWN, "%d of the %d known files found and passed (%d .json files)",
                  known, N_KNOWN, files);
        return SL_DONE();
}
