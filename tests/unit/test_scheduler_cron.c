/*
 * statline-scheduler's cron parser and schedule file (tools/scheduler/cron.h,
 * schedule.h). Expected fire times are worked out by hand from a calendar
 * (2024-11-01 was a Friday), not from the code.
 */
#include <errno.h>
#include <string.h>

#include "cron.h"
#include "schedule.h"
#include "sl_test.h"

/* "YYYY-MM-DDTHH:MM" -> minutes, through the parser under test's sibling. */
static int64_t M(const char *s)
{
        int64_t t = -1;

        sched_parse_minute(s, &t);
        return t;
}

/* The next fire after `after` as text. */
static const char *next(const char *expr, const char *after)
{
        static char out[17];
        struct sched_cron c;
        char err[256];
        int64_t t;

        if (sched_cron_parse(expr, &c, err, sizeof(err)) < 0)
                return "PARSE ERROR";
        t = sched_cron_next(&c, M(after));
        if (t < 0)
                return "never";
        sched_fmt_minute(t, out);
        return out;
}

static void test_minutes(void)
{
        char out[17];

        SL_CHECK(M("1970-01-01T00:00") == 0);
        SL_CHECK(M("1970-01-02T01:01") == 1440 + 61);
        SL_CHECK(M("2024-11-01 04:00") == M("2024-11-01T04:00"));
        SL_CHECK(M("2024-02-30T00:00") == -1); /* no such day */
        SL_CHECK(M("2024-11-01T24:00") == -1);
        SL_CHECK(M("2024-11-01") == -1);
        sched_fmt_minute(M("2024-02-29T23:59"), out);
        SL_CHECK(strcmp(out, "2024-02-29T23:59") == 0);
}

static void test_parse_errors(void)
{
        static const char *const bad[] = {"",
                                          "* * * *",
                                          "* * * * * *",
                                          "60 * * * *",
                                          "* 24 * * *",
                                          "* * 0 * *",
                                          "* * 32 * *",
                                          "* * * 13 *",
                                          "* * * * 8",
                                          "5-1 * * * *",
                                          "*/0 * * * *",
                                          "a * * * *",
                                          "1,,2 * * * *",
                                          "@often",
                                          "* * * foo *",
                                          "1- * * * *",
                                          "* * * * sat-sun"};
        struct sched_cron c;
        char err[256];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                SL_CHECKF(sched_cron_parse(bad[i], &c, err, sizeof(err)) == -EINVAL, "'%s'",
                          bad[i]);
        SL_CHECK(sched_cron_parse("61 * * * *", &c, err, sizeof(err)) == -EINVAL &&
                 strstr(err, "minute"));
}

static void test_next(void)
{
        /* every minute */
        SL_CHECK(strcmp(next("* * * * *", "2024-11-01T04:00"), "2024-11-01T04:01") == 0);
        /* nightly at 04:00: strictly after */
        SL_CHECK(strcmp(next("0 4 * * *", "2024-11-01T04:00"), "2024-11-02T04:00") == 0);
        SL_CHECK(strcmp(next("0 4 * * *", "2024-11-01T03:59"), "2024-11-01T04:00") == 0);
        /* steps and ranges: 9:00..17:00 every 15 min on the quarter */
        SL_CHECK(strcmp(next("*/15 9-17 * * *", "2024-11-01T17:45"), "2024-11-02T09:00") == 0);
        SL_CHECK(strcmp(next("*/15 9-17 * * *", "2024-11-01T10:01"), "2024-11-01T10:15") == 0);
        SL_CHECK(strcmp(next("10-20/5 * * * *", "2024-11-01T10:11"), "2024-11-01T10:15") == 0);
        SL_CHECK(strcmp(next("10-20/5 * * * *", "2024-11-01T10:20"), "2024-11-01T11:10") == 0);
        SL_CHECK(strcmp(next("5/20 * * * *", "2024-11-01T10:06"), "2024-11-01T10:25") == 0);
        /* lists */
        SL_CHECK(strcmp(next("0 6,18 * * *", "2024-11-01T06:00"), "2024-11-01T18:00") == 0);
        /* day of week: 2024-11-01 is a Friday; Monday is 2024-11-04 */
        SL_CHECK(strcmp(next("0 9 * * mon", "2024-11-01T00:00"), "2024-11-04T09:00") == 0);
        SL_CHECK(strcmp(next("0 9 * * 1", "2024-11-01T00:00"), "2024-11-04T09:00") == 0);
        SL_CHECK(strcmp(next("0 9 * * 7", "2024-11-01T00:00"), "2024-11-03T09:00") == 0); /* Sun */
        SL_CHECK(strcmp(next("0 9 * * SAT,sun", "2024-11-01T00:00"), "2024-11-02T09:00") == 0);
        SL_CHECK(strcmp(next("0 0 * * 1-5", "2024-11-01T00:00"), "2024-11-04T00:00") == 0);
        /* months by name, year wrap */
        SL_CHECK(strcmp(next("0 0 1 jan *", "2024-11-01T00:00"), "2025-01-01T00:00") == 0);
        /* both day fields restricted: either matches (the 15th, or a Monday) */
        SL_CHECK(strcmp(next("0 0 15 * 1", "2024-11-05T00:00"), "2024-11-11T00:00") == 0);
        SL_CHECK(strcmp(next("0 0 15 * 1", "2024-11-12T00:00"), "2024-11-15T00:00") == 0);
        /* day-of-month star with a weekday: only Mondays */
        SL_CHECK(strcmp(next("0 0 * * 1", "2024-11-12T00:00"), "2024-11-18T00:00") == 0);
        /* leap day */
        SL_CHECK(strcmp(next("0 12 29 2 *", "2024-03-01T00:00"), "2028-02-29T12:00") == 0);
        /* never */
        SL_CHECK(strcmp(next("0 0 30 2 *", "2024-01-01T00:00"), "never") == 0);
        /* macros */
        SL_CHECK(strcmp(next("@hourly", "2024-11-01T04:59"), "2024-11-01T05:00") == 0);
        SL_CHECK(strcmp(next("@daily", "2024-11-01T04:59"), "2024-11-02T00:00") == 0);
        SL_CHECK(strcmp(next("@weekly", "2024-11-01T04:59"), "2024-11-03T00:00") == 0);
        SL_CHECK(strcmp(next("@monthly", "2024-11-01T00:00"), "2024-12-01T00:00") == 0);
        SL_CHECK(strcmp(next("@yearly", "2024-11-01T00:00"), "2025-01-01T00:00") == 0);
        /* month end: the 31st skips 30-day months */
        SL_CHECK(strcmp(next("0 0 31 * *", "2024-11-01T00:00"), "2024-12-31T00:00") == 0);
}

static void test_match(void)
{
        struct sched_cron c;
        char err[256];

        SL_CHECK(sched_cron_parse("30 4 * * *", &c, err, sizeof(err)) == 0);
        SL_CHECK(sched_cron_match(&c, M("2024-11-01T04:30")));
        SL_CHECK(!sched_cron_match(&c, M("2024-11-01T04:31")));
        SL_CHECK(!sched_cron_match(&c, M("2024-11-01T05:30")));
}

static void test_schedule(void)
{
        static const char text[] =
            "# statline schedule\n"
            "0 4 * * *    nightly   scrape date=yesterday\n"
            "\n"
            "30 5 * * *   schedule  scrape date=today sources=schedule   # sync\n"
            "@hourly      props     scrape date=today+1 sources=injuries,props\r\n"
            "0 9 * * 1-5  morning   scrape date=today-2\n";
        struct sched_schedule s;
        char err[256], date[11];

        SL_CHECK(sched_parse(text, "t", &s, err, sizeof(err)) == 0);
        SL_CHECK(s.n == 4);
        SL_CHECK(strcmp(s.e[0].name, "nightly") == 0 && s.e[0].date_offset == -1 &&
                 s.e[0].sources[0] == '\0' && s.e[0].line == 2);
        SL_CHECK(strcmp(s.e[1].name, "schedule") == 0 && strcmp(s.e[1].sources, "schedule") == 0);
        SL_CHECK(strcmp(s.e[2].when, "@hourly") == 0 && s.e[2].date_offset == 1 &&
                 strcmp(s.e[2].sources, "injuries,props") == 0);
        SL_CHECK(s.e[3].date_offset == -2 && strcmp(s.e[3].when, "0 9 * * 1-5") == 0);
        sched_entry_date(&s.e[0], M("2024-11-01T04:00"), date);
        SL_CHECK(strcmp(date, "2024-10-31") == 0);
        sched_entry_date(&s.e[2], M("2024-12-31T23:00"), date);
        SL_CHECK(strcmp(date, "2025-01-01") == 0);
        sched_entry_date(&s.e[3], M("2024-03-01T09:00"), date);
        SL_CHECK(strcmp(date, "2024-02-28") == 0);

        SL_CHECK(sched_parse("0 4 * * * a scrape\n0 5 * * * a scrape\n", "f", &s, err,
                             sizeof(err)) == -EINVAL &&
                 strstr(err, "f:2:") && strstr(err, "already on line 1"));
        SL_CHECK(sched_parse("0 4 * * * a fetch\n", "f", &s, err, sizeof(err)) == -EINVAL &&
                 strstr(err, "unknown action"));
        SL_CHECK(sched_parse("0 4 * * * a scrape date=someday\n", "f", &s, err, sizeof(err)) ==
                 -EINVAL);
        SL_CHECK(sched_parse("0 4 * * * a scrape sources=Box\n", "f", &s, err, sizeof(err)) ==
                 -EINVAL);
        SL_CHECK(sched_parse("0 4 * * * Bad scrape\n", "f", &s, err, sizeof(err)) == -EINVAL);
        SL_CHECK(sched_parse("0 4 * * *\n", "f", &s, err, sizeof(err)) == -EINVAL);
        SL_CHECK(sched_parse("0 4 * * scrape x\n", "f", &s, err, sizeof(err)) == -EINVAL &&
                 strstr(err, "f:1:"));
        SL_CHECK(sched_parse("# only comments\n\n", "f", &s, err, sizeof(err)) == -EINVAL &&
                 strstr(err, "no entries"));
}

int main(void)
{
        test_minutes();
        test_parse_errors();
        test_next();
        test_match();
        test_schedule();
        return SL_DONE();
}
