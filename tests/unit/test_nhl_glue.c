/*
 * The NHL glue without I/O: the scraper's NHL sources (registry, URL
 * templates, source lists, the schedule's games of one date, triggers of
 * sport nhl) and the analytics NHL registry (routing by raw table, kept
 * apart from the NBA registry). The SQL and the metrics through the
 * services are exercised by tests/integration/nhl_day.sh.
 */
#include <errno.h>
#include <string.h>

#include <cJSON.h>

#include <sl/envelope.h>

#include "analytics.h"
#include "scraper.h"
#include "sl_test.h"

static void test_sources(void)
{
        const struct scraper_source *s = scraper_source_pick_sport("nhl", "schedule", NULL);
        char url[256];
        struct scraper_vars v = {.date = "2024-11-19", .game_id = "2024020250"};

        SL_CHECK(s && strcmp(s->name, "nhl_schedule") == 0 && strcmp(s->kind, "nhl_schedule") == 0);
        SL_CHECK(s->can_change && s->key == SCRAPER_KEY_DATE && strcmp(s->sport, "nhl") == 0);
        /* the NBA picks are unchanged by the NHL families of the same name */
        SL_CHECK(strcmp(scraper_source_pick("schedule", NULL)->kind, "league_game_log") == 0);
        SL_CHECK(scraper_source_pick("boxscore", "v2") == scraper_source_find("boxscore_v2"));
        SL_CHECK(scraper_source_pick("playbyplay", NULL) == NULL);
        SL_CHECK(scraper_source_pick_sport("nhl", "scoreboard", NULL) == NULL);
        SL_CHECK(scraper_source_pick_sport("mlb", "schedule", NULL) == NULL);
        for (size_t i = 0; i < scraper_source_count(); i++)
                SL_CHECK(strcmp(scraper_source_at(i)->sport, "nba") == 0);
        SL_CHECK(scraper_sport_source_count("nhl") == 3 && scraper_sport_source_count("x") == 0);
        for (size_t i = 0; i < scraper_sport_source_count("nhl"); i++) {
                s = scraper_sport_source_at("nhl", i);
                SL_CHECK(strcmp(s->sport, "nhl") == 0 && scraper_source_find(s->name) == s);
                SL_CHECK(s->can_change == (s->key == SCRAPER_KEY_DATE));
        }
        SL_CHECK(scraper_sport_source_at("nhl", 3) == NULL);
        s = scraper_source_pick_sport("nhl", "schedule", NULL);

        SL_CHECK(scraper_url_build("http://h:1/", s->path, &v, url, sizeof(url)) == 0);
        SL_CHECK(strcmp(url, "http://h:1/nhl/v1/schedule/2024-11-19") == 0);
        s = scraper_source_find("nhl_playbyplay");
        SL_CHECK(s && !s->can_change && s->key == SCRAPER_KEY_GAME);
        SL_CHECK(scraper_url_build("http://h:1", s->path, &v, url, sizeof(url)) == 0);
        SL_CHECK(strcmp(url, "http://h:1/nhl/v1/gamecenter/2024020250/play-by-play") == 0);
        s = scraper_source_find("nhl_boxscore");
        SL_CHECK(scraper_url_build("http://h:1", s->path, &v, url, sizeof(url)) == 0);
        SL_CHECK(strcmp(url, "http://h:1/nhl/v1/gamecenter/2024020250/boxscore") == 0);
        SL_CHECK(scraper_is_board(scraper_source_find("nhl_schedule")));
        SL_CHECK(scraper_is_board(scraper_source_find("scoreboard_v2")));
        SL_CHECK(!scraper_is_board(scraper_source_find("schedule")));
}

static void test_lists(void)
{
        const struct scraper_source *srcs[8];
        char err[256];
        int n = 0;

        SL_CHECK(scraper_parse_sources_sport("nhl", "playbyplay,schedule", NULL, NULL, "x", srcs,
                                             &n, err, sizeof(err)) == 0);
        SL_CHECK(n == 2 && srcs[0] == scraper_source_find("nhl_schedule") &&
                 srcs[1] == scraper_source_find("nhl_playbyplay"));
        SL_CHECK(scraper_parse_sources_sport("nhl", "schedule,boxscore,playbyplay", NULL, NULL, "x",
                                             srcs, &n, err, sizeof(err)) == 0 &&
                 n == 3);
        SL_CHECK(scraper_parse_sources_sport("nhl", "boxscore", NULL, NULL, "x", srcs, &n, err,
                                             sizeof(err)) == -EINVAL &&
                 strstr(err, "need schedule"));
        SL_CHECK(scraper_parse_sources_sport("nhl", "schedule,scoreboard", NULL, NULL, "x", srcs,
                                             &n, err, sizeof(err)) == -EINVAL &&
                 strstr(err, "scoreboard"));
        SL_CHECK(scraper_parse_sources_sport("mlb", "schedule", NULL, NULL, "x", srcs, &n, err,
                                             sizeof(err)) == -EINVAL);
        /* nba (and NULL) is the NBA list as before */
        SL_CHECK(scraper_parse_sources_sport(NULL, "scoreboard,boxscore", "v3", "v2", "x", srcs, &n,
                                             err, sizeof(err)) == 0 &&
                 n == 2 && srcs[0] == scraper_source_find("scoreboard_v3"));
        SL_CHECK(scraper_parse_sources_sport("nba", "playbyplay", "v2", "v2", "x", srcs, &n, err,
                                             sizeof(err)) == -EINVAL);
}

static void test_board(void)
{
        struct scraper_game g[8];
        cJSON *doc = cJSON_Parse(
            "{\"gameWeek\":[{\"date\":\"2024-11-18\",\"games\":[{\"id\":2024020240,"
            "\"gameState\":\"OFF\"}]},{\"date\":\"2024-11-19\",\"games\":["
            "{\"id\":2024020250,\"gameState\":\"OFF\"},{\"id\":2024020251,\"gameState\":"
            "\"FINAL\"},{\"id\":2024020252,\"gameState\":\"FUT\"}]},"
            "{\"date\":\"2024-11-20\",\"games\":[]}]}");
        cJSON *bad = cJSON_Parse("{\"gameWeek\":[{\"date\":\"2024-11-19\",\"games\":[{\"id\":7,"
                                 "\"gameState\":\"OFF\"}]}]}");

        SL_CHECK(scraper_board_games(doc, "nhl_schedule", "2024-11-19", g, 8) == 3);
        SL_CHECK(strcmp(g[0].id, "2024020250") == 0 && g[0].final && g[1].final && !g[2].final);
        SL_CHECK(scraper_board_games(doc, "nhl_schedule", "2024-11-20", g, 8) == 0);
        SL_CHECK(scraper_board_games(doc, "nhl_schedule", NULL, g, 8) == 4); /* the whole week */
        SL_CHECK(scraper_board_games(doc, "nhl_schedule", "2024-11-19", g, 1) == 3); /* count */
        SL_CHECK(scraper_board_games(bad, "nhl_schedule", "2024-11-19", g, 8) == -EBADMSG);
        SL_CHECK(scraper_board_games(doc, "scoreboard_v2", "2024-11-19", g, 8) == -EBADMSG);
        SL_CHECK(scraper_scoreboard_games(doc, "nhl_schedule", g, 8) == 4);
        cJSON_Delete(doc);
        cJSON_Delete(bad);
}

static void test_trigger(void)
{
        struct sl_envelope *env =
            sl_envelope_new("scrape.requested", "ops", "nhl", "2024-11-19", NULL);
        struct scraper_trigger t;
        char err[256];

        SL_CHECK(scraper_trigger_parse_sport(env, "nhl", &t, err, sizeof(err)) == 0);
        SL_CHECK(strcmp(t.date, "2024-11-19") == 0);
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == -EBADMSG); /* NBA scraper */
        SL_CHECK(scraper_trigger_topic(err, sizeof(err), "p", "nhl") == 0 &&
                 strcmp(err, "p.nhl.scrape.requested") == 0);
        sl_envelope_free(env);
}

static void test_analytics_registry(void)
{
        const struct analytics_processor *p = analytics_sport_processor_at("nhl", 0);
        const char *plays[] = {"raw.nhl_games", "raw.nhl_plays", "raw.nhl_game_rosters"};
        const char *box[] = {"raw.nhl_games", "raw.nhl_skater_boxscores"};
        const char *nba[] = {"raw.player_boxscores"};
        bool want[8];

        SL_CHECK(p && strcmp(p->name, "nhl_team_game_stats") == 0 && p->run && !p->sql);
        p = analytics_sport_processor_at("nhl", 1);
        SL_CHECK(p && strcmp(p->name, "nhl_team_aggregates") == 0 && p->run);
        SL_CHECK(analytics_sport_processor_at("nhl", 2) == NULL);
        SL_CHECK(analytics_sport_processor_at("mlb", 0) == NULL);
        SL_CHECK(analytics_sport_processor_at("nba", 0) == analytics_processor_at(0));
        SL_CHECK(analytics_processor_find("nhl_team_aggregates") == p);
        /* a play-by-play load runs both, game stats first; box scores and schedules alone nothing
         */
        SL_CHECK(analytics_route_sport("nhl", plays, 3, want, 2) == 2 && want[0] && want[1]);
        SL_CHECK(analytics_route_sport("nhl", box, 2, want, 2) == 0);
        SL_CHECK(analytics_route_sport("nhl", nba, 1, want, 2) == 0);
        /* NHL tables trigger no NBA processor */
        SL_CHECK(analytics_route(plays, 3, want, 5) == 0);
        SL_CHECK(analytics_route_sport("nba", nba, 1, want, 5) == 3);
        for (size_t i = 0; analytics_sport_processor_at("nhl", i); i++) {
                p = analytics_sport_processor_at("nhl", i);
                SL_CHECK(strncmp(p->target, "analytics.nhl_", 14) == 0);
                SL_CHECK(p->deps[0].table && p->deps[0].critical);
        }
}

int main(void)
{
        test_sources();
        test_lists();
        test_board();
        test_trigger();
        test_analytics_registry();
        return SL_DONE();
}
