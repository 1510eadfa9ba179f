/*
 * The scraper's pure decisions and payload readers (services/scraper/scraper.h):
 * the duplicate-fetch and unchanged decisions, the games of a v2/v3
 * scoreboard, the affected entities of every source, the league's "today",
 * and the sources configuration.
 */
#include <errno.h>
#include <string.h>

#include <cJSON.h>

#include <sl/envelope.h>

#include "scraper.h"
#include "sl_test.h"

static const char SB_V2[] =
    "{\"resource\":\"scoreboardV2\",\"resultSets\":[{\"name\":\"GameHeader\",\"headers\":"
    "[\"GAME_DATE_EST\",\"GAME_ID\",\"GAME_STATUS_ID\"],\"rowSet\":["
    "[\"2024-11-05T00:00:00\",\"0022400104\",3],[\"2024-11-05T00:00:00\",\"0022400105\",2],"
    "[\"2024-11-05T00:00:00\",\"0022400106\",1]]},"
    "{\"name\":\"LineScore\",\"headers\":[\"GAME_ID\",\"TEAM_ID\"],\"rowSet\":"
    "[[\"0022400104\",1610612737],[\"0022400107\",1610612738]]}]}";

static const char SB_V3[] =
    "{\"meta\":{},\"scoreboard\":{\"gameDate\":\"2025-11-05\",\"games\":["
    "{\"gameId\":\"0022500165\",\"gameStatus\":3},{\"gameId\":\"0022500166\",\"gameStatus\":1}]}}";

static void test_decisions(void)
{
        const struct scraper_source *box = scraper_source_find("boxscore_v2");
        const struct scraper_source *inj = scraper_source_find("injuries");
        const char *a = "6acc2a118b18ac5b3f4704d179ebcd92a6d20efe70b93061ddae385bc92bee98";
        const char *b = "7a34930738b33b17b50aa05f480beda445b06ca3a908bb60fc878dc84c8955f6";

        SL_CHECK(scraper_should_fetch(box, false)); /* never fetched: fetch */
        SL_CHECK(!scraper_should_fetch(box, true)); /* Final box score already fetched */
        SL_CHECK(scraper_should_fetch(inj, false));
        SL_CHECK(scraper_should_fetch(inj, true)); /* can change: always fetched */
        SL_CHECK(scraper_is_unchanged(a, a));
        SL_CHECK(!scraper_is_unchanged(a, b));
        SL_CHECK(!scraper_is_unchanged(a, ""));
        SL_CHECK(!scraper_is_unchanged(a, NULL));
}

static void test_games(void)
{
        struct scraper_game g[4];
        cJSON *v2 = cJSON_Parse(SB_V2), *v3 = cJSON_Parse(SB_V3), *bad;

        SL_CHECK(scraper_scoreboard_games(v2, "scoreboard_v2", g, 4) == 3);
        SL_CHECK(!strcmp(g[0].id, "0022400104") && g[0].final);
        SL_CHECK(!strcmp(g[1].id, "0022400105") && !g[1].final);
        SL_CHECK(!g[2].final);
        SL_CHECK(scraper_scoreboard_games(v2, "scoreboard_v2", g, 1) == 3); /* total, 1 written */
        SL_CHECK(scraper_scoreboard_games(v3, "scoreboard_v3", g, 4) == 2);
        SL_CHECK(!strcmp(g[0].id, "0022500165") && g[0].final && !g[1].final);
        /* wrong kind or shape */
        SL_CHECK(scraper_scoreboard_games(v3, "scoreboard_v2", g, 4) == -EBADMSG);
        SL_CHECK(scraper_scoreboard_games(v2, "scoreboard_v3", g, 4) == -EBADMSG);
        SL_CHECK(scraper_scoreboard_games(v2, "boxscore_v2", g, 4) == -EBADMSG);
        SL_CHECK(scraper_scoreboard_games(NULL, "scoreboard_v2", g, 4) == -EBADMSG);
        bad = cJSON_Parse("{\"scoreboard\":{\"games\":[{\"gameId\":\"123\",\"gameStatus\":3}]}}");
        SL_CHECK(scraper_scoreboard_games(bad, "scoreboard_v3", g, 4) == -EBADMSG);
        cJSON_Delete(bad);
        bad = cJSON_Parse("{\"resultSets\":[{\"name\":\"GameHeader\",\"headers\":[\"GAME_ID\"],"
                          "\"rowSet\":[]}]}");
        SL_CHECK(scraper_scoreboard_games(bad, "scoreboard_v2", g, 4) == -EBADMSG);
        cJSON_Delete(bad);
        bad = cJSON_Parse("{\"scoreboard\":{\"games\":[]}}");
        SL_CHECK(scraper_scoreboard_games(bad, "scoreboard_v3", g, 4) == 0);
        cJSON_Delete(bad);
        cJSON_Delete(v2);
        cJSON_Delete(v3);
}

/* "kind:id,kind:id" of env's entities. */
static const char *entities(const struct sl_envelope *env, char *out, size_t n)
{
        size_t len = 0;

        out[0] = '\0';
        for (size_t i = 0; i < env->n_entities && len < n; i++)
                len += (size_t)snprintf(out + len, n - len, "%s%s:%s", i ? "," : "",
                                        env->entities[i].kind, env->entities[i].id);
        return out;
}

static int add(const char *src, const char *json, const char *game, char *out, size_t n)
{
        struct sl_envelope *env =
            sl_envelope_new("scraper.completed", "scraper", "nba", "2024-11-05", NULL);
        cJSON *doc = json ? cJSON_Parse(json) : NULL;
        int rc = scraper_add_entities(env, scraper_source_find(src), doc, game);

        entities(env, out, n);
        cJSON_Delete(doc);
        sl_envelope_free(env);
        return rc;
}

static void test_entities(void)
{
        char out[512];
        cJSON *big;
        char *text;

        SL_CHECK(add("boxscore_v2", "{}", "0022400104", out, sizeof(out)) == 1);
        SL_CHECK(!strcmp(out, "game:0022400104"));
        /* v2 scoreboard: every GAME_ID column of every result set, distinct */
        SL_CHECK(add("scoreboard_v2", SB_V2, NULL, out, sizeof(out)) == 4);
        SL_CHECKF(!strcmp(out, "game:0022400104,game:0022400105,game:0022400106,game:0022400107"),
                  "%s", out);
        SL_CHECK(add("scoreboard_v3", SB_V3, NULL, out, sizeof(out)) == 2);
        SL_CHECK(!strcmp(out, "game:0022500165,game:0022500166"));
        SL_CHECK(add("injuries",
                     "{\"reportDate\":\"2024-11-05\",\"players\":[{\"playerId\":1650001},"
                     "{\"playerId\":1650002},{\"playerId\":1650001},{\"playerId\":\"x y\"},"
                     "{\"playerId\":1.5},{\"nope\":1}]}",
                     NULL, out, sizeof(out)) == 3);
        SL_CHECKF(!strcmp(out, "player:1650001,player:1650002,player:x y"), "%s", out);
        SL_CHECK(add("props",
                     "{\"date\":\"2024-11-05\",\"props\":[{\"playerId\":7,\"market\":\"points\"},"
                     "{\"playerId\":7,\"market\":\"assists\"},{\"playerId\":8}]}",
                     NULL, out, sizeof(out)) == 2);
        SL_CHECK(!strcmp(out, "player:7,player:8"));
        SL_CHECK(add("schedule",
                     "{\"resultSets\":[{\"name\":\"LeagueGameLog\",\"headers\":[\"TEAM_ID\","
                     "\"GAME_ID\"],\"rowSet\":[[1,\"0022400001\"],[2,\"0022400001\"]]}]}",
                     NULL, out, sizeof(out)) == 1);
        SL_CHECK(!strcmp(out, "game:0022400001"));
        SL_CHECK(add("injuries", NULL, NULL, out, sizeof(out)) == 0);
        /* more than the envelope allows: none (an empty list means the whole date) */
        big = cJSON_CreateObject();
        {
                cJSON *players = cJSON_AddArrayToObject(big, "players");
                for (int i = 0; i < SL_ENVELOPE_MAX_ENTITIES + 1; i++) {
                        cJSON *p = cJSON_CreateObject();
                        cJSON_AddNumberToObject(p, "playerId", i);
                        cJSON_AddItemToArray(players, p);
                }
        }
        text = cJSON_PrintUnformatted(big);
        SL_CHECK(add("injuries", text, NULL, out, sizeof(out)) == 0 && out[0] == '\0');
        cJSON_free(text);
        cJSON_Delete(big);
}

static void test_today(void)
{
        char d[11];
        /* 2024-11-06T03:30:00Z is still Nov 5 in US Eastern time (UTC-5) */
        const int64_t t = INT64_C(1730863800000);

        scraper_today(t, 0, d);
        SL_CHECK(!strcmp(d, "2024-11-06"));
        scraper_today(t, -300, d);
        SL_CHECK(!strcmp(d, "2024-11-05"));
        scraper_today(t, 600, d);
        SL_CHECK(!strcmp(d, "2024-11-06"));
        SL_CHECK(scraper_date_add("2024-11-05", -1, d) == 0 && !strcmp(d, "2024-11-04"));
        SL_CHECK(scraper_date_add("2024-03-01", -1, d) == 0 && !strcmp(d, "2024-02-29"));
        SL_CHECK(scraper_date_add("2025-01-01", -1, d) == 0 && !strcmp(d, "2024-12-31"));
        SL_CHECK(scraper_date_add("2024-12-31", 1, d) == 0 && !strcmp(d, "2025-01-01"));
        SL_CHECK(scraper_date_add("2024-11-05", 0, d) == 0 && !strcmp(d, "2024-11-05"));
        SL_CHECK(scraper_date_add("2024-11-05", -400, d) == 0 && !strcmp(d, "2023-10-02"));
        SL_CHECK(scraper_date_add("2024-11-31", 0, d) == -EINVAL);
        SL_CHECK(scraper_date_add(NULL, 0, d) == -EINVAL);
}

static void test_pick(void)
{
        struct scraper_cfg cfg = {.scoreboard = "v3", .boxscore = "v2"};
        struct scraper_ctx ctx = {.cfg = &cfg};
        char err[256];

        cfg.sources = "scoreboard,boxscore,injuries,props";
        SL_CHECK(scraper_pick_sources(&ctx, err, sizeof(err)) == 0 && ctx.n_srcs == 4);
        SL_CHECK(ctx.srcs[0] == scraper_source_find("scoreboard_v3"));
        SL_CHECK(ctx.srcs[1] == scraper_source_find("boxscore_v2"));
        SL_CHECK(ctx.srcs[3] == scraper_source_find("props"));
        /* run order is fixed whatever the list order: scoreboard before box scores */
        cfg.sources = "schedule, props ,boxscore,scoreboard";
        SL_CHECK(scraper_pick_sources(&ctx, err, sizeof(err)) == 0 && ctx.n_srcs == 4);
        SL_CHECK(ctx.srcs[0] == scraper_source_find("scoreboard_v3"));
        SL_CHECK(ctx.srcs[3] == scraper_source_find("schedule"));
        cfg.sources = "boxscore";
        SL_CHECK(scraper_pick_sources(&ctx, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "needs scoreboard") != NULL, "%s", err);
        cfg.sources = "scoreboard,weather";
        SL_CHECK(scraper_pick_sources(&ctx, err, sizeof(err)) == -EINVAL);
        SL_CHECK(strstr(err, "weather") != NULL);
        cfg.sources = "scoreboard,,props";
        SL_CHECK(scraper_pick_sources(&ctx, err, sizeof(err)) == -EINVAL);
}

int main(void)
{
        test_decisions();
        test_games();
        test_entities();
        test_today();
        test_pick();
        return SL_DONE();
}
