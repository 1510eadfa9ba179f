/*
 * The scraper's sources registry (services/scraper/sources.h): every entry
 * builds a URL, the placeholders expand and encode, bad templates fail,
 * credentials never survive redaction, and the season of a date.
 */
#include <errno.h>
#include <string.h>

#include "sources.h"
#include "sl_test.h"

static void test_registry(void)
{
        struct scraper_vars v = {.date = "2024-11-05", .game_id = "0022400104"};
        char url[1024];

        SL_CHECK(scraper_source_count() == 8);
        SL_CHECK(scraper_source_at(scraper_source_count()) == NULL);
        for (size_t i = 0; i < scraper_source_count(); i++) {
                const struct scraper_source *s = scraper_source_at(i);
                SL_CHECKF(scraper_url_build("http://h:1", s->path, &v, url, sizeof(url)) == 0, "%s",
                          s->name);
                SL_CHECKF(strncmp(url, "http://h:1/", 11) == 0, "%s: %s", s->name, url);
                SL_CHECKF(scraper_source_find(s->name) == s, "%s", s->name);
                /* box scores are fetched once (Final), date documents can change */
                SL_CHECKF(s->can_change == (s->key == SCRAPER_KEY_DATE), "%s", s->name);
        }
        SL_CHECK(scraper_source_find("nope") == NULL);
        SL_CHECK(scraper_source_pick("boxscore", "v3") == scraper_source_find("boxscore_v3"));
        SL_CHECK(scraper_source_pick("scoreboard", "v2") == scraper_source_find("scoreboard_v2"));
        SL_CHECK(scraper_source_pick("injuries", NULL) == scraper_source_find("injuries"));
        SL_CHECK(scraper_source_pick("props", "v9") == scraper_source_find("props"));
        SL_CHECK(scraper_source_pick("boxscore", "v9") == NULL);
        SL_CHECK(scraper_source_pick("nope", "v2") == NULL);
        SL_CHECK(strcmp(scraper_source_find("schedule")->kind, "league_game_log") == 0);
        SL_CHECK(strcmp(scraper_source_find("boxscore_v2")->source,
                        "nba.stats.boxscoretraditionalv2") == 0);
}

static void test_build(void)
{
        struct scraper_vars v = {.date = "2024-11-05", .game_id = "0022400104"};
        struct scraper_vars nogame = {.date = "2024-11-05"};
        char url[256], tiny[24];

        SL_CHECK(scraper_url_build("http://h:1/", "/x?d={date}&u={date_us}&s={season}&g={game_id}",
                                   &v, url, sizeof(url)) == 0);
        SL_CHECKF(
            strcmp(url, "http://h:1/x?d=2024-11-05&u=11%2F05%2F2024&s=2024-25&g=0022400104") == 0,
            "%s", url);
        /* a template that is a whole URL ignores the base */
        SL_CHECK(scraper_url_build("http://h:1", "https://other/feed?d={date}", &v, url,
                                   sizeof(url)) == 0 &&
                 strcmp(url, "https://other/feed?d=2024-11-05") == 0);
        SL_CHECK(scraper_url_build(NULL, "/a", NULL, url, sizeof(url)) == 0 && !strcmp(url, "/a"));
        /* odd characters are percent-encoded */
        v.game_id = "a b&c/é";
        SL_CHECK(scraper_url_build("", "/g={game_id}", &v, url, sizeof(url)) == 0);
        SL_CHECKF(strcmp(url, "/g=a%20b%26c%2F%C3%A9") == 0, "%s", url);
        /* errors */
        SL_CHECK(scraper_url_build("", "/g={game_id}", &nogame, url, sizeof(url)) == -EINVAL);
        SL_CHECK(scraper_url_build("", "/g={nope}", &v, url, sizeof(url)) == -EINVAL);
        SL_CHECK(scraper_url_build("", "/g={date", &v, url, sizeof(url)) == -EINVAL);
        nogame.date = "2024-02-30";
        SL_CHECK(scraper_url_build("", "/d={date}", &nogame, url, sizeof(url)) == -EINVAL);
        SL_CHECK(scraper_url_build("", "/d={date_us}", &nogame, url, sizeof(url)) == -EINVAL);
        SL_CHECK(scraper_url_build("http://long-host:1", "/d={date}", &v, tiny, sizeof(tiny)) ==
                 -ENAMETOOLONG);
        SL_CHECK(scraper_url_build("", "/x", &v, url, 0) == -ENAMETOOLONG);
}

static void test_redact(void)
{
        static const char *const cases[][2] = {
            {"http://h:1/a?b=c", "http://h:1/a?b=c"},
            {"http://user:pw@h:1/a", "http://h:1/a"},
            {"https://u@h/a?x=1", "https://h/a?x=1"},
            {"http://u:p@ss@h/", "http://h/"},
            {"http://h/a?api_key=s3cr3t&d=1", "http://h/a?api_key=REDACTED&d=1"},
            {"http://h/a?d=1&TOKEN=abc#frag", "http://h/a?d=1&TOKEN=REDACTED#frag"},
            {"http://h/a?keyword=1&key=2", "http://h/a?keyword=1&key=REDACTED"},
            {"http://h/p@th?q=1", "http://h/p@th?q=1"},
            {"http://h?password=x", "http://h?password=REDACTED"},
        };
        char out[128], tiny[8];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                SL_CHECKF(scraper_url_redact(cases[i][0], out, sizeof(out)) == 0 &&
                              strcmp(out, cases[i][1]) == 0,
                          "%s -> %s", cases[i][0], out);
        }
        SL_CHECK(scraper_url_redact("http://user:pw@host/a", tiny, sizeof(tiny)) == -ENAMETOOLONG);
}

static void test_host_season(void)
{
        char host[32], season[8];

        SL_CHECK(scraper_url_host("http://u:p@127.0.0.1:8089/x?y", host, sizeof(host)) == 0 &&
                 strcmp(host, "127.0.0.1:8089") == 0);
        SL_CHECK(scraper_url_host("https://stats.nba.com", host, sizeof(host)) == 0 &&
                 strcmp(host, "stats.nba.com") == 0);
        SL_CHECK(scraper_url_host("/relative", host, sizeof(host)) == -EINVAL);
        SL_CHECK(scraper_url_host("http:///x", host, sizeof(host)) == -EINVAL);
        SL_CHECK(scraper_url_host("http://a-very-long-host-name-indeed.example/", host, 8) ==
                 -ENAMETOOLONG);
        SL_CHECK(scraper_season("2024-11-05", season) == 0 && !strcmp(season, "2024-25"));
        SL_CHECK(scraper_season("2025-04-13", season) == 0 && !strcmp(season, "2024-25"));
        SL_CHECK(scraper_season("2025-08-01", season) == 0 && !strcmp(season, "2025-26"));
        SL_CHECK(scraper_season("1999-12-31", season) == 0 && !strcmp(season, "1999-00"));
        SL_CHECK(scraper_season("2024-13-01", season) == -EINVAL);
        SL_CHECK(scraper_season(NULL, season) == -EINVAL);
}

int main(void)
{
        test_registry();
        test_build();
        test_redact();
        test_host_season();
        return SL_DONE();
}
