/*
 * sl_alert_resolve() (sl/alert.h) on a fake clock and transport: nothing is
 * sent for a key never raised; a raised key gets one "resolved" body (status,
 * severity info, RESOLVED text) and is forgotten, so raising it again is sent
 * at once instead of deduplicated; raised bodies say "status": "firing"; a
 * resolve counts against the rate limit and, when limited, keeps the key.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <sl/alert.h>
#include <sl/log.h>

#include "sl_test.h"

struct fake {
        int64_t now;
        int posts;
        char last[4096];
};

static int64_t fake_now(void *opaque)
{
        return ((struct fake *)opaque)->now;
}

static int fake_post(void *opaque, const char *url, const char *body, size_t len,
                     int64_t timeout_ms)
{
        struct fake *f = opaque;

        (void)url;
        (void)timeout_ms;
        f->posts++;
        snprintf(f->last, sizeof(f->last), "%.*s", (int)len, body);
        return 0;
}

static struct sl_alert *mk(struct fake *f, int max_per_minute)
{
        struct sl_alert_opts o = {.webhook_url = "http://127.0.0.1:9/hook",
                                  .service = "monitor",
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

/* The string field name of the last body, or "". */
static const char *field(struct fake *f, const char *name, char *out, size_t n)
{
        cJSON *root = cJSON_Parse(f->last), *it;

        out[0] = '\0';
        it = cJSON_GetObjectItemCaseSensitive(root, name);
        if (cJSON_IsString(it))
                snprintf(out, n, "%s", it->valuestring);
        cJSON_Delete(root);
        return out;
}

static void test_resolve(void)
{
        struct fake f = {0};
        struct sl_alert *a = mk(&f, 100);
        struct sl_alert_stats st;
        char v[512];

        SL_CHECK(a != NULL);
        SL_CHECK(sl_alert_resolve(a, "stuck:x", "t", "%s", "") == -ENOENT && f.posts == 0);
        SL_CHECK(sl_alert_raise(a, "stuck:x", SL_ALERT_WARNING, "pipeline stuck", "raw") == 0);
        SL_CHECK(strcmp(field(&f, "status", v, sizeof(v)), "firing") == 0);
        f.now = 1000;
        SL_CHECK(sl_alert_resolve(a, "stuck:x", "pipeline moving again", "after %d s", 1) == 0);
        SL_CHECK(f.posts == 2);
        SL_CHECK(strcmp(field(&f, "status", v, sizeof(v)), "resolved") == 0);
        SL_CHECK(strcmp(field(&f, "severity", v, sizeof(v)), "info") == 0);
        SL_CHECK(strcmp(field(&f, "key", v, sizeof(v)), "stuck:x") == 0);
        SL_CHECKF(strcmp(field(&f, "text", v, sizeof(v)),
                         "[statline monitor] RESOLVED pipeline moving again: after 1 s") == 0,
                  "text: %s", v);
        /* resolved once: a second resolve sends nothing */
        SL_CHECK(sl_alert_resolve(a, "stuck:x", "t", "%s", "") == -ENOENT && f.posts == 2);
        /* forgotten: raising it again within the dedup window is sent */
        f.now = 2000;
        SL_CHECK(sl_alert_raise(a, "stuck:x", SL_ALERT_WARNING, "pipeline stuck", "again") == 0);
        SL_CHECK(f.posts == 3 && strcmp(field(&f, "details", v, sizeof(v)), "again") == 0);
        sl_alert_get_stats(a, &st);
        SL_CHECK(st.sent == 2 && st.resolved == 1 && st.deduplicated == 0);
        sl_alert_free(a);
        SL_CHECK(sl_alert_resolve(NULL, "k", "t", "%s", "") == -ENOTCONN);
}

static void test_resolve_rate_limited(void)
{
        struct fake f = {0};
        struct sl_alert *a = mk(&f, 2);

        SL_CHECK(sl_alert_raise(a, "a", SL_ALERT_INFO, "t", "%s", "") == 0);
        SL_CHECK(sl_alert_raise(a, "b", SL_ALERT_INFO, "t", "%s", "") == 0);
        f.now = 59999;
        SL_CHECK(sl_alert_resolve(a, "a", "t", "%s", "") == -EDQUOT && f.posts == 2);
        f.now = 60000; /* the minute of the first send is over */
        SL_CHECK(sl_alert_resolve(a, "a", "t", "%s", "") == 0 && f.posts == 3);
        sl_alert_free(a);
}

/* A resolved key leaves a hole in the dedup table: the keys after it are still found. */
static void test_resolve_hole(void)
{
        struct fake f = {0};
        struct sl_alert *a = mk(&f, 100);

        SL_CHECK(sl_alert_raise(a, "k1", SL_ALERT_INFO, "t", "%s", "") == 0);
        SL_CHECK(sl_alert_raise(a, "k2", SL_ALERT_INFO, "t", "%s", "") == 0);
        SL_CHECK(sl_alert_raise(a, "k3", SL_ALERT_INFO, "t", "%s", "") == 0);
        SL_CHECK(sl_alert_resolve(a, "k1", "t", "%s", "") == 0);
        SL_CHECK(sl_alert_raise(a, "k2", SL_ALERT_INFO, "t", "%s", "") == -EALREADY);
        SL_CHECK(sl_alert_resolve(a, "k3", "t", "%s", "") == 0);
        SL_CHECK(sl_alert_resolve(a, "k2", "t", "%s", "") == 0);
        SL_CHECK(f.posts == 6);
        sl_alert_free(a);
}

int main(void)
{
        sl_log_init("test_alert_resolve", SL_LOG_ERROR);
        test_resolve();
        test_resolve_rate_limited();
        test_resolve_hole();
        return SL_DONE();
}
