/*
 * The NHL raw parsers (services/raw/parse_nhl.c): conformance with the real
 * api-web.nhle.com play-by-play in ../shared/data/nhl (counts checked against
 * the file's README and a separate count made with python3 from the JSON),
 * round trips of the simulated league's three endpoints (tools/fixtures
 * nhl_render.c) through the parsers, and refusals of corrupt payloads. The
 * real file is found through STATLINE_SHARED or $STATLINE_SRC/../shared; if
 * it is missing the test fails.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

#include "nhl_render.h"
#include "nhl_sim.h"
#include "parsers.h"
#include "sl_test.h"

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        struct sl_buf b;
        char chunk[8192];
        size_t k;

        if (!f)
                return NULL;
        sl_buf_init(&b, 64u << 20);
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (sl_buf_append(&b, chunk, k) < 0)
                        break;
        fclose(f);
        *len = b.len;
        return sl_buf_steal(&b);
}

static const char *cell(const struct raw_table *t, size_t r, const char *col)
{
        int c = raw_table_col_index(t, col);
        const char *v = c >= 0 ? raw_table_cell(t, r, (size_t)c) : NULL;
        return v ? v : "";
}

static size_t count_where(const struct raw_table *t, const char *col, const char *v,
                          const char *col2, const char *v2)
{
        size_t n = 0;
        for (size_t r = 0; t && r < raw_table_nrows(t); r++)
                n += !strcmp(cell(t, r, col), v) && (!col2 || !strcmp(cell(t, r, col2), v2));
        return n;
}

static int64_t sum_col(const struct raw_table *t, const char *col, const char *kcol, const char *k)
{
        int64_t s = 0, v;
        for (size_t r = 0; t && r < raw_table_nrows(t); r++)
                if ((!kcol || !strcmp(cell(t, r, kcol), k)) &&
                    sl_parse_i64(cell(t, r, col), INT64_MIN, INT64_MAX, &v) == 0)
                        s += v;
        return s;
}

static void test_real_pbp(void)
{
        const char *shared = getenv("STATLINE_SHARED"), *src = getenv("STATLINE_SRC");
        char path[1024], err[512];
        struct raw_batch *b = NULL;
        const struct raw_table *g, *p, *ro;
        size_t len = 0;
        char *buf;
        int rc;

        if (shared)
                snprintf(path, sizeof(path), "%s/data/nhl/gamecenter_2024021015_play-by-play.json",
                         shared);
        else
                snprintf(path, sizeof(path),
                         "%s/../shared/data/nhl/gamecenter_2024021015_play-by-play.json",
                         src ? src : ".");
        buf = slurp(path, &len);
        SL_CHECKF(buf != NULL, "real play-by-play not found at %s", path);
        if (!buf)
                return;
        rc = raw_parse("playbyplay", buf, len, NULL, &b, err, sizeof(err));
        SL_CHECKF(rc == 0, "parse: %s", err);
        if (rc == 0) {
                SL_CHECK(raw_batch_kind(b) == RAW_KIND_NHL_PBP);
                SL_CHECK(!strcmp(raw_kind_name(raw_batch_kind(b)), "nhl_playbyplay"));
                SL_CHECK(!strcmp(raw_batch_date(b), "2025-03-09"));
                g = raw_batch_find(b, "raw.nhl_games");
                p = raw_batch_find(b, "raw.nhl_plays");
                ro = raw_batch_find(b, "raw.nhl_game_rosters");
                SL_CHECK(g && raw_table_nrows(g) == 1);
                SL_CHECK(p && raw_table_nrows(p) == 295);
                SL_CHECK(ro && raw_table_nrows(ro) == 40);
                SL_CHECK(!strcmp(cell(g, 0, "game_id"), "2024021015"));
                SL_CHECK(!strcmp(cell(g, 0, "season"), "2024-25"));
                SL_CHECK(!strcmp(cell(g, 0, "away_team_abbr"), "PIT"));
                SL_CHECK(!strcmp(cell(g, 0, "away_score"), "3"));
                SL_CHECK(!strcmp(cell(g, 0, "home_team_abbr"), "MIN"));
                SL_CHECK(!strcmp(cell(g, 0, "home_score"), "1"));
                SL_CHECK(!strcmp(cell(g, 0, "game_state"), "OFF"));
                SL_CHECK(!strcmp(cell(g, 0, "last_period_type"), "REG"));
                SL_CHECK(!strcmp(cell(g, 0, "venue"), "Xcel Energy Center"));
                /* the README's type counts */
                SL_CHECK(count_where(p, "type_desc_key", "shot-on-goal", NULL, NULL) == 48);
                SL_CHECK(count_where(p, "type_desc_key", "blocked-shot", NULL, NULL) == 46);
                SL_CHECK(count_where(p, "type_desc_key", "missed-shot", NULL, NULL) == 24);
                SL_CHECK(count_where(p, "type_desc_key", "goal", NULL, NULL) == 4);
                SL_CHECK(count_where(p, "type_desc_key", "faceoff", NULL, NULL) == 44);
                SL_CHECK(count_where(p, "type_desc_key", "penalty", NULL, NULL) == 7);
                /* goals by team (python3 count from the JSON): PIT (5) 3, MIN (30) 1 */
                SL_CHECK(count_where(p, "type_desc_key", "goal", "event_owner_team_id", "5") == 3);
                SL_CHECK(count_where(p, "type_desc_key", "goal", "event_owner_team_id", "30") == 1);
                SL_CHECK(count_where(p, "type_desc_key", "shot-on-goal", "event_owner_team_id",
                                     "30") == 29);
                SL_CHECK(count_where(p, "situation_code", "1551", NULL, NULL) == 223);
                SL_CHECK(count_where(ro, "team_id", "5", NULL, NULL) == 20);
                /* the first shot: eventId 103, MIN's Boldy(8478136) wrist shot at (-47, 32) */
                {
                        int r = -1;
                        for (size_t i = 0; i < raw_table_nrows(p); i++)
                                if (!strcmp(cell(p, i, "event_id"), "103"))
                                        r = (int)i;
                        SL_CHECK(r >= 0);
                        if (r >= 0) {
                                SL_CHECK(!strcmp(cell(p, (size_t)r, "x_coord"), "-47"));
                                SL_CHECK(!strcmp(cell(p, (size_t)r, "y_coord"), "32"));
                                SL_CHECK(!strcmp(cell(p, (size_t)r, "shot_type"), "wrist"));
                                SL_CHECK(!strcmp(cell(p, (size_t)r, "player1_id"), "8478136"));
                                SL_CHECK(!strcmp(cell(p, (size_t)r, "goalie_id"), "8477465"));
                                SL_CHECK(
                                    !strcmp(cell(p, (size_t)r, "home_defending_side"), "right"));
                        }
                }
                /* the last goal scorer's assists land in player2/player3 */
                SL_CHECK(count_where(p, "player1_id", "8471215", "type_desc_key", "goal") >= 1);
        }
        raw_batch_free(b);
        b = NULL;

        /* corrupt copies: a goal moved to the other team breaks the score check */
        {
                char *bad = sl_xstrdup(buf), *at = strstr(bad, "\"typeDescKey\":\"goal\"");
                char *own = at ? strstr(at, "\"eventOwnerTeamId\":") : NULL;
                SL_CHECK(own != NULL);
                if (own) {
                        /* 5 (PIT) -> 7 (BUF), or 30 (MIN) -> 70: neither team of the game */
                        own[strlen("\"eventOwnerTeamId\":")] = '7';
                        rc = raw_parse(NULL, bad, strlen(bad), NULL, &b, err, sizeof(err));
                        SL_CHECKF(rc == -EBADMSG && b == NULL, "rc %d", rc);
                        SL_CHECKF(strstr(err, "neither team") != NULL, "%s", err);
                }
                free(bad);
        }
        {
                /* the away sog no longer matches the plays */
                char *bad = sl_xstrdup(buf), *at = strstr(bad, "\"sog\":22");
                SL_CHECK(at != NULL);
                if (at) {
                        at[strlen("\"sog\":2")] = '3';
                        rc = raw_parse(NULL, bad, strlen(bad), NULL, &b, err, sizeof(err));
                        SL_CHECKF(rc == -EBADMSG && strstr(err, "sog"), "rc %d %s", rc, err);
                }
                free(bad);
        }
        {
                /* a final score that disagrees with the goals */
                char *bad = sl_xstrdup(buf), *at = strstr(bad, "\"score\":3");
                SL_CHECK(at != NULL);
                if (at) {
                        at[strlen("\"score\":")] = '4';
                        rc = raw_parse(NULL, bad, strlen(bad), NULL, &b, err, sizeof(err));
                        SL_CHECKF(rc == -EBADMSG && strstr(err, "goals"), "rc %d %s", rc, err);
                }
                free(bad);
        }
        /* the NBA families refuse it by name */
        rc = raw_parse("scoreboard", buf, len, NULL, &b, err, sizeof(err));
        SL_CHECKF(rc == -EBADMSG && strstr(err, "nhl_playbyplay"), "%s", err);
        free(buf);
}

/* Parses the rendering of one endpoint; returns the batch or NULL (a failed check). */
static struct raw_batch *parse_render(const char *what, struct sl_buf *body, enum raw_kind want)
{
        struct raw_batch *b = NULL;
        char err[512];
        int rc = raw_parse(NULL, body->data, body->len, NULL, &b, err, sizeof(err));

        SL_CHECKF(rc == 0, "%s: %s", what, err);
        SL_CHECKF(rc != 0 || raw_batch_kind(b) == want, "%s: kind %s", what,
                  raw_kind_name(raw_batch_kind(b)));
        return rc == 0 ? b : NULL;
}

static void test_sim_round_trip(void)
{
        struct nhl_league *lg = nhl_league_new(7, 2024);
        struct sl_buf body;
        int64_t goals = 0, sog = 0, so_games = 0, ot_games = 0, games = 0;
        int first, n;

        SL_CHECK(lg != NULL);
        if (!lg)
                return;
        sl_buf_init(&body, 64u << 20);
        /* 60 games: play-by-play and box score agree with each other and the schedule */
        for (int gi = 0; gi < 60; gi++) {
                struct raw_batch *pb, *bx;
                const struct raw_table *pg, *pp, *bg, *sk, *go;
                const char *home, *away;
                sl_buf_reset(&body);
                SL_CHECK(nhl_render_pbp(lg, gi, nhl_last_day(lg) + 1, &body) == 0);
                pb = parse_render("pbp", &body, RAW_KIND_NHL_PBP);
                sl_buf_reset(&body);
                SL_CHECK(nhl_render_boxscore(lg, gi, nhl_last_day(lg) + 1, &body) == 0);
                bx = parse_render("boxscore", &body, RAW_KIND_NHL_BOXSCORE);
                if (!pb || !bx) {
                        raw_batch_free(pb);
                        raw_batch_free(bx);
                        break;
                }
                pg = raw_batch_find(pb, "raw.nhl_games");
                pp = raw_batch_find(pb, "raw.nhl_plays");
                bg = raw_batch_find(bx, "raw.nhl_games");
                sk = raw_batch_find(bx, "raw.nhl_skater_boxscores");
                go = raw_batch_find(bx, "raw.nhl_goalie_boxscores");
                home = cell(pg, 0, "home_team_id");
                away = cell(pg, 0, "away_team_id");
                SL_CHECK(!strcmp(cell(pg, 0, "home_score"), cell(bg, 0, "home_score")));
                SL_CHECK(!strcmp(cell(pg, 0, "away_score"), cell(bg, 0, "away_score")));
                SL_CHECK(raw_table_nrows(sk) == 36 && raw_table_nrows(go) == 4);
                /* skater goals of the box = goal plays outside the shootout */
                for (int s = 0; s < 2; s++) {
                        const char *tid = s ? away : home;
                        size_t gp = 0;
                        for (size_t r = 0; r < raw_table_nrows(pp); r++)
                                gp += !strcmp(cell(pp, r, "type_desc_key"), "goal") &&
                                      !strcmp(cell(pp, r, "event_owner_team_id"), tid) &&
                                      strcmp(cell(pp, r, "period_type"), "SO");
                        SL_CHECKF(sum_col(sk, "goals", "team_id", tid) == (int64_t)gp,
                                  "game %d team %s", gi, tid);
                        goals += (int64_t)gp;
                        sog += sum_col(sk, "sog", "team_id", tid);
                }
                so_games += !strcmp(cell(pg, 0, "last_period_type"), "SO");
                ot_games += !strcmp(cell(pg, 0, "last_period_type"), "OT");
                games++;
                raw_batch_free(pb);
                raw_batch_free(bx);
        }
        /* realistic rates: ~3 goals and ~30 shots on goal per team game, ~10% */
        SL_CHECKF(games == 60 && goals > 2.4 * 120 && goals < 3.8 * 120, "goals %lld",
                  (long long)goals);
        SL_CHECKF(sog > 26 * 120 && sog < 36 * 120, "sog %lld", (long long)sog);
        SL_CHECKF(so_games + ot_games > 2 && so_games + ot_games < 25, "ot %lld so %lld",
                  (long long)ot_games, (long long)so_games);

        /* the schedule week holds the games of those days, finals with scores */
        sl_buf_reset(&body);
        n = nhl_games_on(lg, nhl_first_day(lg), &first);
        SL_CHECK(n > 0 && first == 0);
        SL_CHECK(nhl_render_schedule(lg, nhl_first_day(lg), nhl_first_day(lg) + 3, &body) == 0);
        {
                struct raw_batch *b = parse_render("schedule", &body, RAW_KIND_NHL_SCHEDULE);
                const struct raw_table *t = b ? raw_batch_find(b, "raw.nhl_games") : NULL;
                size_t want = 0;
                for (int d = 0; d < 7; d++)
                        want += (size_t)nhl_games_on(lg, nhl_first_day(lg) + d, &first);
                SL_CHECKF(t && raw_table_nrows(t) == want, "%zu games, want %zu",
                          t ? raw_table_nrows(t) : 0, want);
                SL_CHECK(t && !strcmp(cell(t, 0, "game_id"), "2024020001"));
                SL_CHECK(t && !strcmp(cell(t, 0, "game_state"), "OFF") &&
                         *cell(t, 0, "home_score"));
                SL_CHECK(t && count_where(t, "game_state", "FUT", NULL, NULL) > 0);
                SL_CHECK(t && !strcmp(raw_batch_date(b), "")); /* a week: several dates */
                raw_batch_free(b);
        }
        /* a future game: no plays, no player lines, no score */
        sl_buf_reset(&body);
        SL_CHECK(nhl_render_boxscore(lg, NHL_GAMES - 1, nhl_first_day(lg), &body) == 0);
        {
                struct raw_batch *b = parse_render("future box", &body, RAW_KIND_NHL_BOXSCORE);
                SL_CHECK(b && raw_table_nrows(raw_batch_find(b, "raw.nhl_skater_boxscores")) == 0);
                SL_CHECK(b && !*cell(raw_batch_find(b, "raw.nhl_games"), 0, "home_score"));
                raw_batch_free(b);
        }
        /* the server's path handling */
        sl_buf_reset(&body);
        SL_CHECK(nhl_serve("/nhl/v1/gamecenter/2024020001/boxscore", 7, 2024, 30000, &body) == 200);
        sl_buf_reset(&body);
        SL_CHECK(nhl_serve("/nhl/v1/gamecenter/2024029999/boxscore", 7, 2024, 30000, &body) == 404);
        sl_buf_reset(&body);
        SL_CHECK(nhl_serve("/nhl/v1/schedule/2024-13-01", 7, 2024, 30000, &body) == 400);
        sl_buf_reset(&body);
        SL_CHECK(nhl_serve("/nhl/v1/gamecenter/x/play-by-play", 7, 2024, 30000, &body) == 400);
        sl_buf_fini(&body);
        nhl_league_free(lg);
}

static void test_bad_payloads(void)
{
        static const char *const bad[] = {
            "{\"gameWeek\": 3}",
            "{\"gameWeek\": [{\"date\": \"2024-10-08\", \"games\": [{\"id\": 2024020001}]}]}",
            "{\"id\": 2024020001, \"season\": 20242025, \"gameType\": 2, \"gameDate\": "
            "\"2024-10-08\", \"gameState\": \"OFF\", \"homeTeam\": {\"id\": 5}, \"awayTeam\": "
            "{\"id\": 5}, \"plays\": []}",
            "{\"id\": 2024020001, \"season\": 20242026, \"gameType\": 2, \"gameDate\": "
            "\"2024-10-08\", \"gameState\": \"FUT\", \"homeTeam\": {\"id\": 5}, \"awayTeam\": "
            "{\"id\": 6}, \"plays\": []}",
            "{\"id\": 2024020001, \"season\": 20242025, \"gameType\": 2, \"gameDate\": "
            "\"2024-10-08\", \"gameState\": \"OFF\", \"homeTeam\": {\"id\": 5, \"score\": 1}, "
            "\"awayTeam\": {\"id\": 6, \"score\": 0}, \"plays\": []}",
            "{\"id\": 2024020001, \"season\": 20242025, \"gameType\": 2, \"gameDate\": "
            "\"2024-10-08\", \"gameState\": \"FUT\", \"homeTeam\": {\"id\": 5}, \"awayTeam\": "
            "{\"id\": 6}, \"plays\": [{\"eventId\": 1, \"periodDescriptor\": {\"number\": 1}, "
            "\"typeDescKey\": \"goal\", \"situationCode\": \"15x1\", \"details\": "
            "{\"eventOwnerTeamId\": 5}}]}",
            "{\"id\": 2024020001, \"season\": 20242025, \"gameType\": 2, \"gameDate\": "
            "\"2024-10-08\", \"gameState\": \"OFF\", \"homeTeam\": {\"id\": 5, \"score\": 0}, "
            "\"awayTeam\": {\"id\": 6, \"score\": 0}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                struct raw_batch *b = NULL;
                char err[256] = "";
                int rc = raw_parse(NULL, bad[i], strlen(bad[i]), NULL, &b, err, sizeof(err));
                SL_CHECKF(rc == -EBADMSG && b == NULL && err[0], "bad[%zu]: rc %d err %s", i, rc,
                          err);
        }
}

int main(void)
{
        test_real_pbp();
        test_sim_round_trip();
        test_bad_payloads();
        return SL_DONE();
}
