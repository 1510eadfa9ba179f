/*
 * statline-backfill's pure parts (tools/backfill/backfill.h, track.h): date
 * lists, the resume key, progress marks and ETA, the retry command, player
 * lines of v2/v3 box scores, and the run verdict from the execution logs.
 */
#include <errno.h>
#include <string.h>

#include <cJSON.h>

#include "backfill.h"
#include "sl_test.h"
#include "track.h"

static void test_dates(void)
{
        struct backfill_dates d;
        char err[256];

        SL_CHECK(backfill_dates_range("2024-02-27", "2024-03-02", &d, err, sizeof(err)) == 0);
        SL_CHECK(d.n == 5 && strcmp(d.d[0], "2024-02-27") == 0 &&
                 strcmp(d.d[2], "2024-02-29") == 0 && strcmp(d.d[4], "2024-03-02") == 0);
        backfill_dates_fini(&d);
        SL_CHECK(backfill_dates_range("2024-12-31", "2025-01-01", &d, err, sizeof(err)) == 0 &&
                 d.n == 2 && strcmp(d.d[1], "2025-01-01") == 0);
        backfill_dates_fini(&d);
        SL_CHECK(backfill_dates_range("2024-11-05", "2024-11-05", &d, err, sizeof(err)) == 0 &&
                 d.n == 1);
        backfill_dates_fini(&d);
        SL_CHECK(backfill_dates_range("2024-11-06", "2024-11-05", &d, err, sizeof(err)) ==
                     -EINVAL &&
                 strstr(err, "after"));
        SL_CHECK(backfill_dates_range("2023-02-29", "2023-03-01", &d, err, sizeof(err)) == -EINVAL);
        SL_CHECK(backfill_dates_range("2024-11-05", "tomorrow", &d, err, sizeof(err)) == -EINVAL &&
                 strstr(err, "tomorrow"));
        SL_CHECK(backfill_dates_range("2000-01-01", "2024-01-01", &d, err, sizeof(err)) == -EINVAL);

        SL_CHECK(backfill_dates_list("2024-11-07,2024-11-05,2024-11-07", &d, err, sizeof(err)) ==
                 0);
        SL_CHECK(d.n == 2 && strcmp(d.d[0], "2024-11-05") == 0 &&
                 strcmp(d.d[1], "2024-11-07") == 0);
        backfill_dates_fini(&d);
        SL_CHECK(backfill_dates_list("2024-11-05,,2024-11-06", &d, err, sizeof(err)) == -EINVAL);
        SL_CHECK(backfill_dates_list("", &d, err, sizeof(err)) == -EINVAL);
        SL_CHECK(backfill_dates_list("2024-11-31", &d, err, sizeof(err)) == -EINVAL);
        backfill_dates_fini(&d); /* finished lists may be finished again */
}

static void test_key(void)
{
        struct backfill_dates a, b, c;
        char ka[96], kb[96], kc[96], err[256];

        backfill_dates_range("2024-11-05", "2024-11-07", &a, err, sizeof(err));
        backfill_dates_list("2024-11-07,2024-11-06,2024-11-05", &b, err, sizeof(err));
        backfill_dates_list("2024-11-05,2024-11-07", &c, err, sizeof(err));
        backfill_run_key("nba", &a, ka, sizeof(ka));
        backfill_run_key("nba", &b, kb, sizeof(kb));
        backfill_run_key("nba", &c, kc, sizeof(kc));
        SL_CHECK(strcmp(ka, kb) == 0); /* the same dates, however given */
        SL_CHECK(strcmp(ka, kc) != 0); /* same first and last, one date fewer */
        SL_CHECK(strncmp(ka, "nba:2024-11-05..2024-11-07:3:", 29) == 0 && strlen(ka) == 29 + 16);
        backfill_dates_fini(&a);
        backfill_dates_fini(&b);
        backfill_dates_fini(&c);
}

static void test_progress(void)
{
        char s[16];

        /* 10 dates: 25% is crossed at 3 (2.5), 50% at 5, 75% at 8 (7.5), 100% at 10 */
        SL_CHECK(!backfill_progress_crossed(0, 1, 10, 25));
        SL_CHECK(!backfill_progress_crossed(1, 2, 10, 25));
        SL_CHECK(backfill_progress_crossed(2, 3, 10, 25));
        SL_CHECK(!backfill_progress_crossed(3, 4, 10, 25));
        SL_CHECK(backfill_progress_crossed(4, 5, 10, 50));
        SL_CHECK(!backfill_progress_crossed(5, 6, 10, 50)); /* already crossed */
        SL_CHECK(backfill_progress_crossed(7, 8, 10, 75));
        SL_CHECK(backfill_progress_crossed(9, 10, 10, 100));
        /* 3 dates: the last one crosses both 75% and 100% */
        SL_CHECK(backfill_progress_crossed(0, 1, 3, 25) && !backfill_progress_crossed(0, 1, 3, 50));
        SL_CHECK(backfill_progress_crossed(2, 3, 3, 75) && backfill_progress_crossed(2, 3, 3, 100));
        SL_CHECK(backfill_progress_crossed(0, 1, 1, 25) && backfill_progress_crossed(0, 1, 1, 100));
        SL_CHECK(!backfill_progress_crossed(0, 0, 0, 25));
        /* ETA: 3 dates took 90 s, 7 left: 210 s */
        SL_CHECK(backfill_eta_ms(90000, 3, 7) == 210000);
        SL_CHECK(backfill_eta_ms(90000, 0, 7) == -1);
        SL_CHECK(backfill_eta_ms(90000, 3, 0) == 0);
        backfill_fmt_duration(210000, s, sizeof(s));
        SL_CHECK(strcmp(s, "3m30s") == 0);
        backfill_fmt_duration(7380000, s, sizeof(s));
        SL_CHECK(strcmp(s, "2h03m") == 0);
        backfill_fmt_duration(12400, s, sizeof(s));
        SL_CHECK(strcmp(s, "12s") == 0);
}

static void test_retry_command(void)
{
        const char *dates[] = {"2024-11-05", "2024-11-09"};
        char out[128], small[40];

        SL_CHECK(backfill_retry_command("nba", dates, 2, "--workers 1", out, sizeof(out)) == 0);
        SL_CHECK(strcmp(out, "statline-backfill --sport nba --dates 2024-11-05,2024-11-09 "
                             "--workers 1") == 0);
        SL_CHECK(backfill_retry_command("nba", dates, 1, "", out, sizeof(out)) == 0 &&
                 strcmp(out, "statline-backfill --sport nba --dates 2024-11-05") == 0);
        SL_CHECK(backfill_retry_command("nba", dates, 2, NULL, small, sizeof(small)) ==
                 -ENAMETOOLONG);
}

static void test_count_players(void)
{
        static const char v2[] =
            "{\"resultSets\":[{\"name\":\"PlayerStats\",\"headers\":[\"PLAYER_ID\"],\"rowSet\":"
            "[[1],[2],[3]]},{\"name\":\"TeamStats\",\"headers\":[\"TEAM_ID\"],\"rowSet\":[[1],[2]]}"
            "]}";
        static const char v3[] =
            "{\"boxScoreTraditional\":{\"homeTeam\":{\"players\":[{},{}]},\"awayTeam\":"
            "{\"players\":[{},{},{},{}]}}}";
        static const char other[] = "{\"resultSets\":[{\"name\":\"GameHeader\",\"rowSet\":[]}]}";
        cJSON *doc;

        doc = cJSON_Parse(v2);
        SL_CHECK(backfill_count_players(doc) == 3);
        cJSON_Delete(doc);
        doc = cJSON_Parse(v3);
        SL_CHECK(backfill_count_players(doc) == 6);
        cJSON_Delete(doc);
        doc = cJSON_Parse(other);
        SL_CHECK(backfill_count_players(doc) == -EBADMSG);
        cJSON_Delete(doc);
}

static void test_verdict(void)
{
        struct track_status st;
        char note[512];

        memset(&st, 0, sizeof(st));
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_RUNNING &&
                 strstr(note, "not started"));
        snprintf(st.scrape, sizeof(st.scrape), "%s", "running");
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_RUNNING);
        snprintf(st.scrape, sizeof(st.scrape), "%s", "completed");
        st.stored = 9;
        st.pending = 2;
        snprintf(st.reached, sizeof(st.reached), "%s", "raw");
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_RUNNING &&
                 strstr(note, "2 events in flight, reached raw"));
        st.pending = 0;
        st.published = true;
        snprintf(st.reached, sizeof(st.reached), "%s", "publishing");
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_DONE &&
                 strcmp(note, "published") == 0);
        /* an unresolved failure beats having published something */
        st.unresolved = 1;
        snprintf(st.failures, sizeof(st.failures), "%s", "precompute/features: boom");
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_FAILED && strstr(note, "boom"));
        /* the pipeline stopped early with a reason */
        st.unresolved = 0;
        st.published = false;
        snprintf(st.reached, sizeof(st.reached), "%s", "precompute");
        snprintf(st.skips, sizeof(st.skips), "%s", "no history");
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_DONE &&
                 strcmp(note, "stopped after precompute: no history") == 0);
        /* nothing new */
        st.stored = 0;
        st.reached[0] = '\0';
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_DONE &&
                 strstr(note, "nothing new"));
        /* a failed scrape waits for its events first, then fails */
        snprintf(st.scrape, sizeof(st.scrape), "%s", "failed");
        snprintf(st.scrape_error, sizeof(st.scrape_error), "%s", "props 2024-11-05: HTTP 500");
        st.pending = 1;
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_RUNNING);
        st.pending = 0;
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_FAILED &&
                 strstr(note, "HTTP 500"));
        snprintf(st.scrape, sizeof(st.scrape), "%s", "aborted");
        SL_CHECK(track_verdict(&st, note, sizeof(note)) == TRACK_ABORTED);
}

int main(void)
{
        test_dates();
        test_key();
        test_progress();
        test_retry_command();
        test_count_players();
        test_verdict();
        return SL_DONE();
}
