/*
 * statline-scraper: config table and the service runtime (STYLE B9). The
 * work is in scraper.c; see README.md for what it consumes and produces.
 */
#include <stdlib.h>

#include <sl/cfg.h>
#include <sl/svc.h>

#include "scraper.h"

#ifndef SCRAPER_MIGRATIONS_DIR
#define SCRAPER_MIGRATIONS_DIR "db/migrations"
#endif

static struct scraper_cfg cfg;

static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg.svc),
    SL_CFG_STR("pg.dsn", &cfg.pg_dsn, NULL, SL_CFG_REQUIRED | SL_CFG_SECRET | SL_CFG_SHARED,
               "PostgreSQL connection string (execution log, migrations)"),
    SL_CFG_STR("pg.migrations", &cfg.pg_migrations, SCRAPER_MIGRATIONS_DIR, SL_CFG_SHARED,
               "directory of the SQL migrations applied at start"),
    SL_CFG_STR("source.base_url", &cfg.base_url, "http://127.0.0.1:8089", 0,
               "stats API base URL (the fixtures server), without credentials"),
    SL_CFG_STR("source.username", &cfg.username, "", 0,
               "HTTP basic auth user for the sources (empty: none)"),
    SL_CFG_STR("source.password", &cfg.password, "", SL_CFG_SECRET,
               "HTTP basic auth password for the sources"),
    SL_CFG_ENUM("source.scoreboard", &cfg.scoreboard, "v2", "v2|v3", 0,
                "scoreboard endpoint: scoreboardv2 or scoreboardv3"),
    SL_CFG_ENUM("source.boxscore", &cfg.boxscore, "v2", "v2|v3", 0,
                "box score endpoint: boxscoretraditionalv2 or v3"),
    SL_CFG_STR("source.injuries_url", &cfg.injuries_url, "", SL_CFG_SECRET,
               "injury report URL template ({date}); empty: <base_url>/injuries?date={date}"),
    SL_CFG_STR("source.props_url", &cfg.props_url, "", SL_CFG_SECRET,
               "prop lines URL template ({date}); empty: <base_url>/props?date={date}"),
    SL_CFG_STR("scrape.sources", &cfg.sources, "scoreboard,boxscore,injuries,props", 0,
               "what a run fetches: scoreboard, boxscore, injuries, props, schedule"),
    SL_CFG_ENUM("scrape.sport", &cfg.sport, "nba", "nba|nhl", 0,
                "league scraped: nba (scrape.sources) or nhl (scrape.nhl_sources from "
                "<base_url>/nhl/v1/..., events on <bus.prefix>.nhl.scraper.completed)"),
    SL_CFG_STR("scrape.nhl_sources", &cfg.nhl_sources, "schedule,boxscore,playbyplay", 0,
               "with scrape.sport=nhl, what a run fetches: schedule, boxscore, playbyplay"),
    SL_CFG_STR("scrape.date", &cfg.date, "", 0,
               "date to scrape (YYYY-MM-DD); empty: the league's current date"),
    SL_CFG_STR("scrape.now_path", &cfg.now_path, "/_now", 0,
               "path answering {\"now\":\"YYYY-MM-DD\"} (the league's date); empty: clock"),
    SL_CFG_INT("scrape.utc_offset_min", &cfg.utc_offset_min, -300, -720, 840, 0,
               "league clock for \"today\" without scrape.now_path, minutes from UTC"),
    SL_CFG_BOOL("scrape.once", &cfg.once, false, 0,
                "scrape one date and exit (0: all stored and published)"),
    SL_CFG_INT("scrape.interval_s", &cfg.interval_s, 300, 1, 86400, 0,
               "service mode: seconds between two scrapes"),
    SL_CFG_BOOL("scrape.timer", &cfg.timer, true, 0,
                "service mode: scrape on the clock every scrape.interval_s (false: triggers only)"),
    SL_CFG_BOOL("scrape.triggers", &cfg.triggers, true, 0,
                "service mode: also scrape on scrape.requested events from "
                "<bus.prefix>.nba.scrape.requested (statline-backfill, statline-scheduler)"),
    SL_CFG_INT("scrape.lookback_days", &cfg.lookback_days, 1, 0, 14, 0,
               "service mode without scrape.date: also re-scrape the days before (late Finals)"),
    SL_CFG_STR("blob.dir", &cfg.blob_dir, "var/blobs", SL_CFG_SHARED,
               "content-addressed blob store: <dir>/<sha[0:2]>/<sha>.json"),
    SL_CFG_INT("fetch.max_bytes", &cfg.max_bytes, 16 * 1024 * 1024, 1024, INT64_C(1) << 31, 0,
               "largest accepted response body (decoded), bytes"),
    SL_CFG_INT("fetch.connect_timeout_ms", &cfg.connect_timeout_ms, 5000, 10, 600000, 0,
               "TCP/TLS connect timeout"),
    SL_CFG_INT("fetch.timeout_ms", &cfg.timeout_ms, 30000, 10, 3600000, 0, "whole-request timeout"),
    SL_CFG_STR("fetch.user_agent", &cfg.user_agent, "statline-scraper/0.1", 0, "User-Agent header"),
    SL_CFG_INT("fetch.attempts", &cfg.fetch_attempts, 4, 1, 20, 0,
               "requests per document before giving up (timeouts, 5xx, 429, truncation)"),
    SL_CFG_STR("fetch.retry_delays_ms", &cfg.fetch_delays_ms, "1000,3000,10000", 0,
               "backoff before retry 1, 2, 3... (the last repeats), ms"),
    SL_CFG_INT("fetch.retry_after_max_ms", &cfg.retry_after_max_ms, 60000, 0, 3600000, 0,
               "longest honoured Retry-After"),
    SL_CFG_INT("rate.interval_ms", &cfg.rate_interval_ms, 2000, 0, 3600000, 0,
               "gap between the end of a request and the next one to the same host"),
    SL_CFG_INT("rate.jitter_ms", &cfg.rate_jitter_ms, 500, 0, 3600000, 0,
               "random extra gap, uniform in [0, jitter]"),
    SL_CFG_INT("publish.timeout_ms", &cfg.publish_timeout_ms, 10000, 100, 600000, 0,
               "wait for the broker to confirm an event"),
    SL_CFG_END,
};

int main(int argc, char **argv)
{
        struct scraper_ctx ctx = {.cfg = &cfg};
        struct sl_svc_def def = {
            .name = "scraper",
            .consumes = NULL, /* the first phase: driven by its clock */
            .usage =
                "Fetches scoreboards, box scores, injuries and props (with --set "
                "scrape.sport=nhl: the NHL schedule, box scores and play-by-play), stores them "
                "in the blob store and publishes scraper.completed. --set scrape.once=true "
                "--set scrape.date=YYYY-MM-DD scrapes one date and exits (1 if anything "
                "failed). In service mode it scrapes on its clock (scrape.timer) and on "
                "scrape.requested trigger events (scrape.triggers), each triggered run "
                "under the trigger's correlation id.",
            .opts = opts,
            .cfg = &cfg.svc,
            .ctx = &ctx,
            .init = scraper_svc_init,
            .tick = scraper_svc_tick,
            .tick_waits = true, /* it waits on its trigger bus (or sleeps) itself */
            .fini = scraper_svc_fini,
        };
        int rc = sl_svc_main(&def, argc, argv);

        if (rc == EXIT_SUCCESS && ctx.once_failed)
                rc = EXIT_FAILURE; /* the summary on stdout says what failed */
        return rc;
}
