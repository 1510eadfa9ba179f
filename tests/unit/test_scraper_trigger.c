/*
 * The scraper's trigger (services/scraper/scraper.h): decoding
 * scrape.requested events, the trigger topic, and source lists.
 */
#include <errno.h>
#include <string.h>

#include <cJSON.h>

#include <sl/envelope.h>

#include "scraper.h"
#include "sl_test.h"

static struct sl_envelope *trigger(const char *date, const char *payload)
{
        struct sl_envelope *env =
            sl_envelope_new("scrape.requested", "backfill", "nba", date, NULL);

        if (payload)
                sl_envelope_set_payload(env, cJSON_Parse(payload));
        return env;
}

static void test_parse(void)
{
        struct scraper_trigger t;
        struct sl_envelope *env;
        char err[256];

        env = trigger("2024-11-05", "{\"sources\":\"scoreboard,boxscore\",\"requested_by\":\"x\"}");
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == 0);
        SL_CHECK(strcmp(t.date, "2024-11-05") == 0 &&
                 strcmp(t.sources, "scoreboard,boxscore") == 0 && strcmp(t.requested_by, "x") == 0);
        sl_envelope_free(env);

        /* the date from the payload when the envelope has none; sources as an array */
        env = trigger(NULL, "{\"game_date\":\"2024-11-06\",\"sources\":[\"injuries\",\"props\"]}");
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == 0);
        SL_CHECK(strcmp(t.date, "2024-11-06") == 0 && strcmp(t.sources, "injuries,props") == 0 &&
                 t.requested_by[0] == '\0');
        sl_envelope_free(env);

        env = trigger("2024-11-05", NULL); /* no payload members: the defaults */
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == 0 && t.sources[0] == '\0');
        sl_envelope_free(env);

        env = trigger(NULL, "{}");
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == -EBADMSG &&
                 strstr(err, "game_date"));
        sl_envelope_free(env);
        env = trigger(NULL, "{\"game_date\":\"2024-13-01\"}");
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == -EBADMSG);
        sl_envelope_free(env);
        env = trigger("2024-11-05", "{\"sources\":42}");
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == -EBADMSG &&
                 strstr(err, "sources"));
        sl_envelope_free(env);
        env = trigger("2024-11-05", "{\"sources\":[\"props\",1]}");
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == -EBADMSG);
        sl_envelope_free(env);

        env = sl_envelope_new("scraper.completed", "scraper", "nba", "2024-11-05", NULL);
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == -EBADMSG &&
                 strstr(err, "type"));
        sl_envelope_free(env);
        env = sl_envelope_new("scrape.requested", "ops", "nhl", "2024-11-05", NULL);
        SL_CHECK(scraper_trigger_parse(env, &t, err, sizeof(err)) == -EBADMSG &&
                 strstr(err, "sport"));
        sl_envelope_free(env);
}

static void test_topic_and_sources(void)
{
        const struct scraper_source *srcs[8];
        char topic[64], err[256];
        int n = 0;

        SL_CHECK(scraper_trigger_topic(topic, sizeof(topic), "itx", "nba") == 0 &&
                 strcmp(topic, "itx.nba.scrape.requested") == 0);
        SL_CHECK(scraper_trigger_topic(topic, sizeof(topic), NULL, "nba") == 0 &&
                 strcmp(topic, "statline.nba.scrape.requested") == 0);
        SL_CHECK(scraper_trigger_topic(topic, 10, "itx", "nba") == -ENAMETOOLONG);

        /* any order in, run order out; versions applied */
        SL_CHECK(scraper_parse_sources("props,boxscore,scoreboard", "v3", "v2", "x", srcs, &n, err,
                                       sizeof(err)) == 0);
        SL_CHECK(n == 3 && strcmp(srcs[0]->name, "scoreboard_v3") == 0 &&
                 strcmp(srcs[1]->name, "boxscore_v2") == 0 && strcmp(srcs[2]->name, "props") == 0);
        SL_CHECK(scraper_parse_sources("schedule", "v2", "v2", "x", srcs, &n, err, sizeof(err)) ==
                     0 &&
                 n == 1);
        SL_CHECK(scraper_parse_sources("boxscore", "v2", "v2", "payload.sources", srcs, &n, err,
                                       sizeof(err)) == -EINVAL &&
                 strstr(err, "payload.sources") && strstr(err, "needs scoreboard"));
        SL_CHECK(scraper_parse_sources("weather", "v2", "v2", "x", srcs, &n, err, sizeof(err)) ==
                 -EINVAL);
}

int main(void)
{
        test_parse();
        test_topic_and_sources();
        return SL_DONE();
}
