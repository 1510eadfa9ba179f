/*
 * sl/alert.h: body format, deduplication window, rate limit and transport
 * errors on a fake clock and a fake transport; then the real libcurl
 * transport against loopback sockets only: a closed port fails fast, and a
 * listener that never answers is cut off by timeout_ms (the bound that keeps
 * a handler from blocking). The end-to-end POST to a real receiver is
 * tests/integration/alert_webhook.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <sl/alert.h>
#include <sl/log.h>
#include <sl/util.h>

#include "sl_test.h"

struct fake {
        int64_t now;
        int posts;
        int fail_rc; /* returned by the transport when != 0 */
        char last[4096];
        char url[256];
};

static int64_t fake_now(void *opaque)
{
        return ((struct fake *)opaque)->now;
}

static int fake_post(void *opaque, const char *url, const char *body, size_t len,
                     int64_t timeout_ms)
{
        struct fake *f = opaque;

        (void)timeout_ms;
        f->posts++;
        snprintf(f->url, sizeof(f->url), "%s", url);
        snprintf(f->last, sizeof(f->last), "%.*s", (int)len, body);
        return f->fail_rc;
}

static struct sl_alert *mk(struct fake *f, int max_per_minute)
{
        struct sl_alert_opts o = {.webhook_url = "http://127.0.0.1:9/hook",
                                  .service = "raw",
                                  .instance = "h-1",
                                  .dedup_window_ms = 300000,
                                  .max_per_minute = max_per_minute,
                                  .post = fake_post,
                                  .post_opaque = f,
                                  .now_ms = fake_now,
                                  .clock_opaque = f};
        char errstr[128];

        return sl_alert_new(&o, errstr, sizeof(errstr));
}

/* The string field name of the last body, or "" (the body must be JSON). */
static const char *field(struct fake *f, const char *name, char *out, size_t n)
{
        cJSON *root = cJSON_Parse(f->last), *it;

        out[0] = '\0';
        it = cJSON_GetObjectItemCaseSensitive(root, name);
        if (cJSON_IsString(it))
                snprintf(out, n, "%s", it->valuestring);
        else if (cJSON_IsNumber(it))
                snprintf(out, n, "%g", it->valuedouble);
        cJSON_Delete(root);
        return out;
}

static void test_format_and_dedup(void)
{
        struct fake f = {0};
        struct sl_alert *a = mk(&f, 100);
        struct sl_alert_stats st;
        char v[512];

        SL_CHECK(a != NULL);
        SL_CHECK(sl_alert_raise(a, "cb.open:pg", SL_ALERT_CRITICAL, "circuit open: pg",
                                "failure rate %d%%", 60) == 0);
        SL_CHECK(f.posts == 1 && strcmp(f.url, "http://127.0.0.1:9/hook") == 0);
        SL_CHECKF(strcmp(field(&f, "text", v, sizeof(v)),
                         "[statline raw] CRITICAL circuit open: pg: failure rate 60%") == 0,
                  "text: %s", v);
        SL_CHECK(strcmp(field(&f, "key", v, sizeof(v)), "cb.open:pg") == 0);
        SL_CHECK(strcmp(field(&f, "severity", v, sizeof(v)), "critical") == 0);
        SL_CHECK(strcmp(field(&f, "service", v, sizeof(v)), "raw") == 0);
        SL_CHECK(strcmp(field(&f, "instance", v, sizeof(v)), "h-1") == 0);
        SL_CHECK(strcmp(field(&f, "details", v, sizeof(v)), "failure rate 60%") == 0);
        SL_CHECK(strcmp(field(&f, "suppressed", v, sizeof(v)), "0") == 0);
        SL_CHECK(strlen(field(&f, "ts", v, sizeof(v))) == 24 && v[23] == 'Z');

        /* the same key within the window: dropped; another key: sent */
        f.now = 1000;
        SL_CHECK(sl_alert_raise(a, "cb.open:pg", SL_ALERT_CRITICAL, "circuit open: pg", "x") ==
                 -EALREADY);
        f.now = 299999;
        SL_CHECK(sl_alert_raise(a, "cb.open:pg", SL_ALERT_CRITICAL, "circuit open: pg", "y") ==
                 -EALREADY);
        SL_CHECK(sl_alert_raise(a, "dlq.growth", SL_ALERT_WARNING, "dead letters", "%s", "") == 0);
        SL_CHECK(f.posts == 2 && strcmp(field(&f, "severity", v, sizeof(v)), "warning") == 0);
        SL_CHECK(strcmp(field(&f, "text", v, sizeof(v)), "[statline raw] WARNING dead letters") ==
                 0);
        /* after the window (from the last send at 0): sent, with the 2 suppressed counted */
        f.now = 300000;
        SL_CHECK(sl_alert_raise(a, "cb.open:pg", SL_ALERT_CRITICAL, "circuit open: pg", "z") == 0);
        SL_CHECK(f.posts == 3 && strcmp(field(&f, "suppressed", v, sizeof(v)), "2") == 0);
        SL_CHECK(strstr(field(&f, "text", v, sizeof(v)), "(+2 suppressed)") != NULL);
        sl_alert_get_stats(a, &st);
        SL_CHECK(st.sent == 3 && st.deduplicated == 2 && st.rate_limited == 0);
        sl_alert_free(a);
        sl_alert_free(NULL);
}

static void test_rate_limit_and_errors(void)
{
        struct fake f = {0};
        struct sl_alert *a = mk(&f, 3);
        struct sl_alert_stats st;
        char key[16];
        int sent = 0, limited = 0;

        for (int i = 0; i < 5; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                f.now = i * 1000;
                int rc = sl_alert_raise(a, key, SL_ALERT_INFO, "t", "%d", i);
                sent += rc == 0;
                limited += rc == -EDQUOT;
        }
        SL_CHECK(sent == 3 && limited == 2 && f.posts == 3);
        /* 60 s after the first send one slot is free again, the second one not yet */
        f.now = 59999;
        SL_CHECK(sl_alert_raise(a, "k10", SL_ALERT_INFO, "t", "%s", "") == -EDQUOT);
        f.now = 60000;
        SL_CHECK(sl_alert_raise(a, "k11", SL_ALERT_INFO, "t", "%s", "") == 0);
        SL_CHECK(sl_alert_raise(a, "k12", SL_ALERT_INFO, "t", "%s", "") == -EDQUOT);
        /* a failing transport: its error, counted */
        f.now = 200000;
        f.fail_rc = -ECONNREFUSED;
        SL_CHECK(sl_alert_raise(a, "k13", SL_ALERT_INFO, "t", "%s", "") == -ECONNREFUSED);
        sl_alert_get_stats(a, &st);
        SL_CHECK(st.sent == 4 && st.rate_limited == 4 && st.failed == 1);
        sl_alert_free(a);

        /* no webhook: only logged */
        struct sl_alert_opts o = {.service = "raw"};
        char errstr[128];
        a = sl_alert_new(&o, errstr, sizeof(errstr));
        SL_CHECK(a && sl_alert_raise(a, "x", SL_ALERT_INFO, "t", "%s", "") == -ENOTCONN);
        sl_alert_free(a);
        SL_CHECK(sl_alert_raise(NULL, "x", SL_ALERT_INFO, "t", "%s", "") == -ENOTCONN);
        /* bad options */
        o.webhook_url = "ftp://x/";
        SL_CHECK(sl_alert_new(&o, errstr, sizeof(errstr)) == NULL && strstr(errstr, "http"));
        o.webhook_url = "http://127.0.0.1/";
        o.max_per_minute = 100000;
        SL_CHECK(sl_alert_new(&o, errstr, sizeof(errstr)) == NULL);
}

/* A loopback TCP listener that never accepts; returns the fd, port in *port. */
static int silent_listener(int *port)
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                return -1;
        *port = ntohs(sa.sin_port);
        return fd;
}

static void test_curl_bounded(void)
{
        struct sl_alert_opts o = {.service = "raw", .timeout_ms = 300};
        char url[64], errstr[128];
        int port = 0, fd = silent_listener(&port);
        struct sl_alert *a;
        int64_t t0, ms;
        int rc;

        SL_CHECK(fd >= 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
        o.webhook_url = url;
        a = sl_alert_new(&o, errstr, sizeof(errstr));
        t0 = sl_mono_ms();
        rc = sl_alert_raise(a, "hang", SL_ALERT_INFO, "t", "%s", "");
        ms = sl_mono_ms() - t0;
        SL_CHECKF(rc == -ETIMEDOUT && ms >= 250 && ms < 2000, "rc=%d ms=%lld", rc, (long long)ms);
        sl_alert_free(a);
        close(fd);

        /* the port is closed now: refused at once */
        a = sl_alert_new(&o, errstr, sizeof(errstr));
        t0 = sl_mono_ms();
        rc = sl_alert_raise(a, "closed", SL_ALERT_INFO, "t", "%s", "");
        ms = sl_mono_ms() - t0;
        SL_CHECKF(rc < 0 && ms < 1000, "rc=%d ms=%lld", rc, (long long)ms);
        sl_alert_free(a);
}

int main(void)
{
        sl_log_init("test_alert", SL_LOG_ERROR);
        test_format_and_dedup();
        test_rate_limit_and_errors();
        test_curl_bounded();
        return SL_DONE();
}
