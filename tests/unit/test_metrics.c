/* Unit tests for sl/metrics.h: golden exposition text, escaping, shapes, threads. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sl/metrics.h>
#include <sl/util.h>

#include "sl_test.h"

/* Renders the registry into a string (free() it). */
static char *render(void)
{
        struct sl_buf b;

        sl_buf_init(&b, 0);
        SL_CHECK(sl_metrics_render(&b) == 0);
        return sl_buf_steal(&b);
}

static void check_golden(const char *want)
{
        char *got = render();

        SL_CHECKF(strcmp(got, want) == 0, "got:\n%s\nwant:\n%s", got, want);
        free(got);
}

static void test_counter_gauge(void)
{
        struct sl_metric *c, *g, *plain;

        sl_metrics_reset();
        c = sl_metrics_counter("sl_events_consumed_total", "Events consumed, by type.", "type");
        g = sl_metrics_gauge("sl_cb_state", "Breaker state.", "dep");
        plain = sl_metrics_counter("sl_idem_duplicates_total", "Duplicates.", NULL);
        SL_CHECK(c && g && plain);
        /* Nothing updated: labelled families show no series, plain ones show 0. */
        check_golden("# HELP sl_cb_state Breaker state.\n"
                     "# TYPE sl_cb_state gauge\n"
                     "# HELP sl_events_consumed_total Events consumed, by type.\n"
                     "# TYPE sl_events_consumed_total counter\n"
                     "# HELP sl_idem_duplicates_total Duplicates.\n"
                     "# TYPE sl_idem_duplicates_total counter\n"
                     "sl_idem_duplicates_total 0\n");

        sl_metric_inc(c, "scrape.completed");
        sl_metric_inc(c, "analytics.completed");
        sl_metric_add(c, 2, "analytics.completed");
        sl_metric_set(g, 1, "redis");
        sl_metric_set(g, 0, "pg");
        sl_metric_set(g, 2, "redis");
        sl_metric_inc(plain);
        sl_metric_add(g, -0.5, "pg");
        check_golden("# HELP sl_cb_state Breaker state.\n"
                     "# TYPE sl_cb_state gauge\n"
                     "sl_cb_state{dep=\"pg\"} -0.5\n"
                     "sl_cb_state{dep=\"redis\"} 2\n"
                     "# HELP sl_events_consumed_total Events consumed, by type.\n"
                     "# TYPE sl_events_consumed_total counter\n"
                     "sl_events_consumed_total{type=\"analytics.completed\"} 3\n"
                     "sl_events_consumed_total{type=\"scrape.completed\"} 1\n"
                     "# HELP sl_idem_duplicates_total Duplicates.\n"
                     "# TYPE sl_idem_duplicates_total counter\n"
                     "sl_idem_duplicates_total 1\n");
        SL_CHECK(sl_metric_get(c, "analytics.completed") == 3);
        SL_CHECK(sl_metric_get(c, "nope") == 0);
        SL_CHECK(sl_metric_get(plain) == 1);
}

static void test_values(void)
{
        struct sl_metric *g;

        sl_metrics_reset();
        g = sl_metrics_gauge("v", "V.", "k");
        sl_metric_set(g, 0.1, "a");
        sl_metric_set(g, 1e21, "b");
        sl_metric_set(g, 1.0 / 0.0, "c");
        sl_metric_set(g, -1.0 / 0.0, "d");
        sl_metric_set(g, 9007199254740993.0, "e"); /* 2^53 + 1 rounds to 2^53 */
        sl_metric_set(g, 1.0 / 3.0, "f");
        sl_metric_set(g, 0.0 / 0.0, "g"); /* NaN is dropped */
        check_golden("# HELP v V.\n"
                     "# TYPE v gauge\n"
                     "v{k=\"a\"} 0.1\n"
                     "v{k=\"b\"} 1e+21\n"
                     "v{k=\"c\"} +Inf\n"
                     "v{k=\"d\"} -Inf\n"
                     "v{k=\"e\"} 9007199254740992\n"
                     "v{k=\"f\"} 0.33333333333333331\n");
}

static void test_histogram(void)
{
        static const double bounds[] = {0.125, 0.5, 1};
        struct sl_metric *h, *h2;

        sl_metrics_reset();
        h = sl_metrics_histogram("sl_handler_duration_seconds", "Handler latency.", "type", bounds,
                                 3);
        SL_CHECK(h != NULL);
        sl_metric_observe(h, 0.0625, "a"); /* binary fractions: exact sum */
        sl_metric_observe(h, 0.125, "a");  /* le is inclusive */
        sl_metric_observe(h, 0.75, "a");
        sl_metric_observe(h, 3, "a");
        check_golden("# HELP sl_handler_duration_seconds Handler latency.\n"
                     "# TYPE sl_handler_duration_seconds histogram\n"
                     "sl_handler_duration_seconds_bucket{type=\"a\",le=\"0.125\"} 2\n"
                     "sl_handler_duration_seconds_bucket{type=\"a\",le=\"0.5\"} 2\n"
                     "sl_handler_duration_seconds_bucket{type=\"a\",le=\"1\"} 3\n"
                     "sl_handler_duration_seconds_bucket{type=\"a\",le=\"+Inf\"} 4\n"
                     "sl_handler_duration_seconds_sum{type=\"a\"} 3.9375\n"
                     "sl_handler_duration_seconds_count{type=\"a\"} 4\n");
        SL_CHECK(sl_metric_get(h, "a") == 4);

        /* Unlabelled histogram, default buckets. */
        sl_metrics_reset();
        h2 = sl_metrics_histogram("lat_seconds", "L.", NULL, NULL, 0);
        sl_metric_observe(h2, 0.003);
        check_golden("# HELP lat_seconds L.\n"
                     "# TYPE lat_seconds histogram\n"
                     "lat_seconds_bucket{le=\"0.001\"} 0\n"
                     "lat_seconds_bucket{le=\"0.0025\"} 0\n"
                     "lat_seconds_bucket{le=\"0.005\"} 1\n"
                     "lat_seconds_bucket{le=\"0.01\"} 1\n"
                     "lat_seconds_bucket{le=\"0.025\"} 1\n"
                     "lat_seconds_bucket{le=\"0.05\"} 1\n"
                     "lat_seconds_bucket{le=\"0.1\"} 1\n"
                     "lat_seconds_bucket{le=\"0.25\"} 1\n"
                     "lat_seconds_bucket{le=\"0.5\"} 1\n"
                     "lat_seconds_bucket{le=\"1\"} 1\n"
                     "lat_seconds_bucket{le=\"2.5\"} 1\n"
                     "lat_seconds_bucket{le=\"5\"} 1\n"
                     "lat_seconds_bucket{le=\"10\"} 1\n"
                     "lat_seconds_bucket{le=\"+Inf\"} 1\n"
                     "lat_seconds_sum 0.003\n"
                     "lat_seconds_count 1\n");
}

static void test_escaping(void)
{
        struct sl_metric *c;

        sl_metrics_reset();
        c = sl_metrics_counter("esc_total", "Back\\slash and\nnewline \"quoted\".", "a,b");
        sl_metric_inc(c, "say \"hi\"", "C:\\dir\nnext");
        sl_metric_inc(c, NULL, ""); /* NULL label value renders as "" */
        check_golden("# HELP esc_total Back\\\\slash and\\nnewline \"quoted\".\n"
                     "# TYPE esc_total counter\n"
                     "esc_total{a=\"\",b=\"\"} 1\n"
                     "esc_total{a=\"say \\\"hi\\\"\",b=\"C:\\\\dir\\nnext\"} 1\n");
}

static void test_label_sanitizing(void)
{
        char long_lv[300];
        struct sl_metric *c;
        char *text;

        sl_metrics_reset();
        c = sl_metrics_counter("u_total", "", "t");
        sl_metric_inc(c, "ok\xc3\xa9");      /* valid UTF-8 (e acute) kept */
        sl_metric_inc(c, "bad\xff\xc3");     /* invalid bytes become U+FFFD */
        sl_metric_inc(c, "bad\xff\xc3");     /* ...and find the same series again */
        sl_metric_inc(c, "sur\xed\xa0\x80"); /* encoded surrogate: invalid */
        memset(long_lv, 'x', sizeof(long_lv) - 1);
        long_lv[sizeof(long_lv) - 1] = '\0';
        sl_metric_inc(c, long_lv);
        SL_CHECK(sl_metric_get(c, "bad\xff\xc3") == 2);
        text = render();
        SL_CHECKF(strncmp(text, "# HELP u_total\n# TYPE u_total counter\n", 38) == 0, "%s", text);
        SL_CHECK(strstr(text, "u_total{t=\"bad\xef\xbf\xbd\xef\xbf\xbd\"} 2\n") != NULL);
        SL_CHECK(strstr(text, "u_total{t=\"ok\xc3\xa9\"} 1\n") != NULL);
        SL_CHECK(strstr(text, "u_total{t=\"sur\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 1\n") !=
                 NULL);
        long_lv[SL_METRICS_LABEL_MAX] = '\0';
        SL_CHECK(strstr(text, long_lv) != NULL);
        long_lv[SL_METRICS_LABEL_MAX] = 'x';
        long_lv[SL_METRICS_LABEL_MAX + 1] = '\0';
        SL_CHECK(strstr(text, long_lv) == NULL);
        free(text);
}

static void test_registration(void)
{
        struct sl_metric *a, *b;

        sl_metrics_reset();
        a = sl_metrics_counter("x_total", "X.", "type");
        b = sl_metrics_counter("x_total", "other help is fine", "type");
        SL_CHECK(a != NULL && a == b);
        SL_CHECK(sl_metrics_gauge("x_total", "X.", "type") == NULL);     /* type differs */
        SL_CHECK(sl_metrics_counter("x_total", "X.", "reason") == NULL); /* labels differ */
        SL_CHECK(sl_metrics_counter("9bad", "X.", NULL) == NULL);
        SL_CHECK(sl_metrics_counter("bad-name", "X.", NULL) == NULL);
        SL_CHECK(sl_metrics_counter("", "X.", NULL) == NULL);
        SL_CHECK(sl_metrics_counter("ok:name_total", "X.", NULL) != NULL);
        SL_CHECK(sl_metrics_counter("l1_total", "X.", "__reserved") == NULL);
        SL_CHECK(sl_metrics_counter("l2_total", "X.", "a,a") == NULL);
        SL_CHECK(sl_metrics_counter("l3_total", "X.", "a:b") == NULL);
        SL_CHECK(sl_metrics_counter("l4_total", "X.", "a,b,c,d,e") == NULL);
        SL_CHECK(sl_metrics_counter("l5_total", "X.", "a,b,c,d") != NULL);
        SL_CHECK(sl_metrics_histogram("h1", "H.", "le", NULL, 0) == NULL);
        {
                static const double unsorted[] = {1, 0.5};
                static const double one[] = {1};
                SL_CHECK(sl_metrics_histogram("h2", "H.", NULL, unsorted, 2) == NULL);
                SL_CHECK(sl_metrics_histogram("h3", "H.", NULL, one, 1) != NULL);
                SL_CHECK(sl_metrics_histogram("h3", "H.", NULL, NULL, 0) ==
                         NULL); /* buckets differ */
        }
}

static void test_bad_updates(void)
{
        struct sl_metric *c, *g, *h;
        char *text;

        sl_metrics_reset();
        c = sl_metrics_counter("c_total", "C.", "type");
        g = sl_metrics_gauge("g", "G.", NULL);
        h = sl_metrics_histogram("h_seconds", "H.", NULL, NULL, 0);
        sl_metric_inc(c);                             /* too few labels: dropped */
        sl_metric_inc(c, "a", "b");                   /* too many: dropped */
        sl_metric_add(c, -1, "a");                    /* counters never go down */
        sl_metric_set(c, 5, "a");                     /* set is for gauges */
        sl_metric_observe(g, 1.0);                    /* observe is for histograms */
        sl_metric_add(h, 1.0);                        /* add is not for histograms */
        sl_metric_inc((struct sl_metric *)NULL, "x"); /* NULL metric: no-op */
        SL_CHECK(sl_metric_get(c, "a") == 0);
        SL_CHECK(sl_metric_get(g) == 0);
        SL_CHECK(sl_metric_get(h) == 0);
        text = render();
        SL_CHECKF(strstr(text, "c_total{") == NULL, "%s", text);
        free(text);

        /* Series cap. */
        for (int i = 0; i < SL_METRICS_MAX_SERIES + 10; i++) {
                char lv[16];
                snprintf(lv, sizeof(lv), "v%d", i);
                sl_metric_inc(c, lv);
        }
        SL_CHECK(sl_metric_get(c, "v0") == 1);
        SL_CHECK(sl_metric_get(c, "v499") == 1);
        SL_CHECK(sl_metric_get(c, "v505") == 0);
}

static void test_std_and_cap(void)
{
        const struct sl_std_metrics *sm;
        struct sl_buf small;
        char *text;

        sl_metrics_reset();
        sm = sl_metrics_std();
        SL_CHECK(sm->events_consumed && sm->events_failed && sm->idem_duplicates && sm->cb_state &&
                 sm->handler_seconds);
        SL_CHECK(sl_metrics_std() == sm &&
                 sl_metrics_std()->events_consumed == sm->events_consumed);
        /* The bus may also register by name and get the same family. */
        SL_CHECK(sl_metrics_counter("sl_events_consumed_total", "x", "type") ==
                 sm->events_consumed);
        sl_metric_inc(sm->events_consumed, "raw.completed");
        sl_metric_inc(sm->events_failed, "poison");
        sl_metric_inc(sm->idem_duplicates);
        sl_metric_set(sm->cb_state, 1, "redis");
        sl_metric_observe(sm->handler_seconds, 0.012, "raw.completed");
        text = render();
        SL_CHECK(strstr(text, "sl_events_consumed_total{type=\"raw.completed\"} 1\n") != NULL);
        SL_CHECK(strstr(text, "sl_events_failed_total{reason=\"poison\"} 1\n") != NULL);
        SL_CHECK(strstr(text, "sl_idem_duplicates_total 1\n") != NULL);
        SL_CHECK(strstr(text, "sl_cb_state{dep=\"redis\"} 1\n") != NULL);
        SL_CHECK(strstr(text, "sl_handler_duration_seconds_bucket{type=\"raw.completed\","
                              "le=\"0.025\"} 1\n") != NULL);
        SL_CHECK(strstr(text, "# TYPE sl_handler_duration_seconds histogram\n") != NULL);
        free(text);

        /* A capped buffer gets -E2BIG and a prefix. */
        sl_buf_init(&small, 64);
        SL_CHECK(sl_metrics_render(&small) < 0);
        SL_CHECK(small.len <= 64);
        sl_buf_fini(&small);
}

struct worker {
        struct sl_metric *c, *h;
        int n;
};

static void *hammer(void *arg)
{
        struct worker *w = arg;
        char lv[16];

        for (int i = 0; i < w->n; i++) {
                snprintf(lv, sizeof(lv), "t%d", i % 7);
                sl_metric_inc(w->c, lv);
                sl_metric_observe(w->h, 0.001 * (i % 50), lv);
        }
        return NULL;
}

static void test_threads(void)
{
        enum { THREADS = 4, N = 20000 };
        pthread_t tid[THREADS];
        struct worker w;
        double total = 0;
        char lv[16];

        sl_metrics_reset();
        w.c = sl_metrics_counter("mt_total", "MT.", "t");
        w.h = sl_metrics_histogram("mt_seconds", "MT.", "t", NULL, 0);
        w.n = N;
        for (int i = 0; i < THREADS; i++)
                pthread_create(&tid[i], NULL, hammer, &w);
        for (int i = 0; i < 20; i++) {
                char *text = render(); /* renders race with updates */
                free(text);
        }
        for (int i = 0; i < THREADS; i++)
                pthread_join(tid[i], NULL);
        for (int i = 0; i < 7; i++) {
                snprintf(lv, sizeof(lv), "t%d", i);
                total += sl_metric_get(w.c, lv);
        }
        SL_CHECKF(total == THREADS * N, "total %.0f", total);
}

int main(void)
{
        test_counter_gauge();
        test_values();
        test_histogram();
        test_escaping();
        test_label_sanitizing();
        test_registration();
        test_bad_updates();
        test_std_and_cap();
        test_threads();
        sl_metrics_reset();
        return SL_DONE();
}
