/*
 * The pure parts of the scraper's fetcher (services/scraper/fetch.h): the
 * per-host rate limiter on an injected clock and random source, Retry-After
 * parsing, the retry classification and the truncated-body check. Plus one
 * fetch against a closed loopback port (connection refused: retried, then
 * given up, without sleeping long).
 */
#include <errno.h>
#include <string.h>

#include <cJSON.h>

#include <sl/log.h>

#include "fetch.h"
#include "sl_test.h"

static uint64_t fixed_jitter;

static uint64_t fake_random(uint64_t n)
{
        return fixed_jitter < n ? fixed_jitter : n - 1;
}

static void test_rate(void)
{
        struct scraper_rate r;

        scraper_rate_init(&r, 2000, 500);
        r.random_below = fake_random;
        fixed_jitter = 300;
        SL_CHECK(scraper_rate_wait_ms(&r, "a:1", 0) == 0); /* first request: go */
        scraper_rate_done(&r, "a:1", 1000);                /* ends at t=1000 */
        SL_CHECKF(scraper_rate_wait_ms(&r, "a:1", 1000) == 2300, "%lld",
                  (long long)scraper_rate_wait_ms(&r, "a:1", 1000));
        SL_CHECK(scraper_rate_wait_ms(&r, "a:1", 3299) == 1);
        SL_CHECK(scraper_rate_wait_ms(&r, "a:1", 3300) == 0);
        SL_CHECK(scraper_rate_wait_ms(&r, "b:1", 1000) == 0); /* other hosts are independent */
        /* a deferral (Retry-After) beyond the spacing wins; an earlier one does not shorten it */
        scraper_rate_defer(&r, "a:1", 10000);
        SL_CHECK(scraper_rate_wait_ms(&r, "a:1", 4000) == 6000);
        scraper_rate_defer(&r, "a:1", 5000);
        SL_CHECK(scraper_rate_wait_ms(&r, "a:1", 4000) == 6000);
        scraper_rate_done(&r, "a:1", 4000); /* 4000+2300 < 10000: deferral kept */
        SL_CHECK(scraper_rate_wait_ms(&r, "a:1", 4000) == 6000);
        /* jitter stays within [0, jitter_ms] */
        fixed_jitter = 100000;
        scraper_rate_done(&r, "c:1", 0);
        SL_CHECK(scraper_rate_wait_ms(&r, "c:1", 0) == 2500);
        fixed_jitter = 0;
        scraper_rate_done(&r, "d:1", 0);
        SL_CHECK(scraper_rate_wait_ms(&r, "d:1", 0) == 2000);
        /* real random jitter: always within bounds */
        r.random_below = NULL;
        for (int i = 0; i < 200; i++) {
                struct scraper_rate q;
                int64_t w;
                scraper_rate_init(&q, 100, 50);
                scraper_rate_done(&q, "h", 0);
                w = scraper_rate_wait_ms(&q, "h", 0);
                if (w < 100 || w > 150) {
                        SL_CHECKF(false, "jitter out of bounds: %lld", (long long)w);
                        break;
                }
        }
        /* no limit configured */
        scraper_rate_init(&r, 0, 0);
        scraper_rate_done(&r, "a:1", 5);
        SL_CHECK(scraper_rate_wait_ms(&r, "a:1", 5) == 0);
        /* a full table recycles the slot that expired first */
        scraper_rate_init(&r, 1000, 0);
        for (int i = 0; i < SCRAPER_RATE_MAX_HOSTS; i++) {
                char host[16];
                snprintf(host, sizeof(host), "h%d", i);
                scraper_rate_done(&r, host, 100 + i);
        }
        scraper_rate_done(&r, "new", 5000);
        SL_CHECK(r.n_hosts == SCRAPER_RATE_MAX_HOSTS);
        SL_CHECK(scraper_rate_wait_ms(&r, "h0", 200) == 0);   /* recycled */
        SL_CHECK(scraper_rate_wait_ms(&r, "h1", 200) == 901); /* kept */
        SL_CHECK(scraper_rate_wait_ms(&r, "new", 5000) == 1000);
}

static void test_retry_after(void)
{
        /* 2015-10-21T07:28:00Z in ms */
        const int64_t at = INT64_C(1445412480000);
        int64_t d = -1;

        SL_CHECK(scraper_retry_after_parse("120", 0, &d) == 0 && d == 120000);
        SL_CHECK(scraper_retry_after_parse(" 0 ", 0, &d) == 0 && d == 0);
        SL_CHECK(scraper_retry_after_parse("3\r\n", 0, &d) == 0 && d == 3000);
        SL_CHECK(scraper_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", at - 5000, &d) == 0 &&
                 d == 5000);
        SL_CHECK(scraper_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", at + 1, &d) == 0 &&
                 d == 0); /* in the past */
        SL_CHECK(scraper_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 - 37000,
                                           &d) == 0 &&
                 d == 37000);
        SL_CHECK(scraper_retry_after_parse("Thu, 29 Feb 2024 23:59:60 GMT", 0, &d) == 0);
        SL_CHECK(scraper_retry_after_parse("-1", 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse("1.5", 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse("", 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse(NULL, 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse("soon", 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse("Wed, 21 Oct 2015 07:28:00 UTC", 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse("Wed, 21 Foo 2015 07:28:00 GMT", 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse("Wed, 21 Oct 2015 25:28:00 GMT", 0, &d) == -EINVAL);
        SL_CHECK(scraper_retry_after_parse("99999999999999999999999", 0, &d) == -EINVAL);
}

static void test_classify(void)
{
        SL_CHECK(scraper_status_rc(200, true) == 0);
        SL_CHECK(scraper_status_rc(203, true) == 0);
        SL_CHECK(scraper_status_rc(200, false) == -EAGAIN); /* truncated: transient */
        SL_CHECK(scraper_status_rc(429, true) == -EAGAIN);
        SL_CHECK(scraper_status_rc(500, false) == -EAGAIN);
        SL_CHECK(scraper_status_rc(503, true) == -EAGAIN);
        SL_CHECK(scraper_status_rc(404, false) == -ENOENT);
        SL_CHECK(scraper_status_rc(400, false) == -EPROTO);
        SL_CHECK(scraper_status_rc(301, false) == -EPROTO);
        SL_CHECK(scraper_fetch_retriable(-EAGAIN));
        SL_CHECK(scraper_fetch_retriable(-ETIMEDOUT));
        SL_CHECK(scraper_fetch_retriable(-ECONNREFUSED));
        SL_CHECK(scraper_fetch_retriable(-ECONNRESET));
        SL_CHECK(scraper_fetch_retriable(-EPIPE)); /* Content-Length mismatch */
        SL_CHECK(!scraper_fetch_retriable(-E2BIG));
        SL_CHECK(!scraper_fetch_retriable(-ENOENT));
        SL_CHECK(!scraper_fetch_retriable(-EPROTO));
        SL_CHECK(!scraper_fetch_retriable(-ECANCELED));
}

static void test_json_complete(void)
{
        static const char *const good[] = {"{}", " {\"a\":[1,2]}\n", "[]", "{\"a\":\"}\"}"};
        static const char *const bad[] = {"",    "{",       "{\"a\":[1,2]", "{} {}",
                                          "{}x", "{\"a\":", "nul",          "   "};
        cJSON *root = NULL;

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                SL_CHECKF(scraper_json_complete(good[i], strlen(good[i]), NULL), "%s", good[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                SL_CHECKF(!scraper_json_complete(bad[i], strlen(bad[i]), NULL), "%s", bad[i]);
        SL_CHECK(scraper_json_complete("{\"now\":\"x\"}", 11, &root) && cJSON_IsObject(root));
        cJSON_Delete(root);
        SL_CHECK(!scraper_json_complete("{\"now\":", 7, &root) && root == NULL);
        /* embedded NUL: the document ends early, the rest is junk */
        SL_CHECK(!scraper_json_complete("{}\0{}", 5, NULL));
        SL_CHECK(!scraper_json_complete(NULL, 0, NULL));
}

/* Connection refused on every attempt: retried with the configured backoff, then given up. */
static void test_fetch_refused(void)
{
        struct scraper_fetch_opts o = {.connect_timeout_ms = 1000, .timeout_ms = 2000};
        struct scraper_response resp;
        struct scraper_fetcher *f;
        char errstr[128];
        int rc;

        o.retry.max_attempts = 3;
        o.retry.delays_ms[0] = 10;
        o.retry.n_delays = 1;
        o.retry.jitter_pct = -1;
        f = scraper_fetcher_new(&o, errstr, sizeof(errstr));
        SL_CHECK(f != NULL);
        scraper_response_init(&resp);
        /* port 1 on loopback: nothing listens there (privileged, never ours) */
        rc = scraper_fetch(f, "http://127.0.0.1:1/x", &resp);
        SL_CHECKF(rc == -ECONNREFUSED, "rc=%d error=%s", rc, resp.error);
        SL_CHECK(resp.attempts == 3);
        SL_CHECK(resp.json == NULL && resp.http_status == 0 && resp.error[0]);
        SL_CHECK(scraper_fetch(f, "not-a-url", &resp) == -EINVAL);
        scraper_response_fini(&resp);
        scraper_fetcher_free(f);
        scraper_fetcher_free(NULL);
}

int main(void)
{
        sl_log_init("test", SL_LOG_ERROR);
        test_rate();
        test_retry_after();
        test_classify();
        test_json_complete();
        test_fetch_refused();
        return SL_DONE();
}
