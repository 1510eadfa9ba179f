/*
 * Unit tests for sl/http.h over loopback: a server on a free port (port 0),
 * queried with libcurl. The stale check uses an injected clock: no sleeps.
 */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <sl/http.h>
#include <sl/metrics.h>
#include <sl/util.h>

#include "sl_test.h"

static _Atomic int64_t fake_now_ms = 1000000;

static int64_t fake_clock(void *opaque)
{
        (void)opaque;
        return atomic_load(&fake_now_ms);
}

struct resp {
        long status;
        char body[65536];
        size_t len;
        char ctype[128];
        char allow[64];
        char etag[128];
        bool truncated;
};

static size_t on_body(char *p, size_t size, size_t n, void *opaque)
{
        struct resp *r = opaque;
        size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

        if (len > room) {
                r->truncated = true;
                len = room;
        }
        memcpy(r->body + r->len, p, len);
        r->len += len;
        r->body[r->len] = '\0';
        return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *opaque)
{
        struct resp *r = opaque;
        size_t len = size * n;

        if (len > 7 && strncasecmp(p, "Allow: ", 7) == 0)
                snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9), p + 7);
        if (len > 6 && strncasecmp(p, "ETag: ", 6) == 0)
                snprintf(r->etag, sizeof(r->etag), "%.*s", (int)(len - 8), p + 6);
        return len;
}

/*
 * Sends method path to the server and fills r. extra_header may be NULL.
 * Returns the curl result code.
 */
static CURLcode request(int port, const char *method, const char *path, const char *extra_header,
                        struct resp *r)
{
        CURL *curl = curl_easy_init();
        struct curl_slist *hdrs = NULL;
        char url[512];
        char *ct = NULL;
        CURLcode cc;

        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "POST") == 0)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "x=1");
        else if (strcmp(method, "GET") != 0)
                curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (extra_header) {
                hdrs = curl_slist_append(hdrs, extra_header);
                curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        }
        cc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(curl);
        return cc;
}

static long get_status(int port, const char *path, struct resp *r)
{
        CURLcode cc = request(port, "GET", path, NULL, r);

        return cc == CURLE_OK ? r->status : -1;
}

/* Extra handler: echoes the path and the "q" query parameter as JSON. */
static int echo_handler(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        const char *q = sl_http_query(req, "q");

        (void)opaque;
        sl_buf_puts(out, "{\"path\":");
        sl_buf_json_str(out, req->path);
        sl_buf_puts(out, ",\"q\":");
        if (q)
                sl_buf_json_str(out, q);
        else
                sl_buf_puts(out, "null");
        return sl_buf_puts(out, "}") == 0 ? 200 : -E2BIG;
}

/* Conditional GET: ETag "v1"; If-None-Match equal to it gives 304 (sl_http_header/set_header). */
static int etag_handler(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        const char *inm = sl_http_header(req, "if-none-match");

        (void)opaque;
        if (sl_http_set_header(req, "ETag", "\"v1\"") != 0 ||
            sl_http_set_header(req, "Bad\r\nName", "x") != -EINVAL ||
            sl_http_set_header(req, "X-Split", "a\r\nSet-Cookie: x") != -EINVAL)
                return -EIO;
        for (int i = 1; i < SL_HTTP_MAX_RESP_HEADERS; i++)
                if (sl_http_set_header(req, "X-Fill", "1") != 0)
                        return -EIO;
        if (sl_http_set_header(req, "X-Too-Many", "1") != -ENOSPC)
                return -EIO;
        if (inm && strcmp(inm, "\"v1\"") == 0)
                return 304;
        return sl_buf_puts(out, "{\"v\":1}") == 0 ? 200 : -E2BIG;
}

static int fail_handler(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        (void)req;
        sl_buf_puts(out, "partial output that must not be sent");
        return *(int *)opaque;
}

static int big_handler(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        char chunk[4096];

        (void)req;
        (void)opaque;
        memset(chunk, 'x', sizeof(chunk));
        for (;;) {
                int rc = sl_buf_append(out, chunk, sizeof(chunk));
                if (rc < 0)
                        return rc; /* -E2BIG once the response cap is hit */
        }
}

static void test_endpoints(struct sl_http *http, int port)
{
        struct resp r;
        struct sl_metric *c;

        /* Health: the start counts as a tick. */
        SL_CHECK(get_status(port, "/healthz", &r) == 200);
        SL_CHECKF(strncmp(r.body, "{\"status\":\"ok\",\"last_tick_age_ms\":0,", 35) == 0, "%s",
                  r.body);
        SL_CHECK(strcmp(r.ctype, "application/json") == 0);

        /* Readiness flips. */
        SL_CHECK(get_status(port, "/readyz", &r) == 503);
        SL_CHECKF(strcmp(r.body, "{\"status\":\"not_ready\",\"reason\":\"starting\"}") == 0, "%s",
                  r.body);
        sl_http_set_ready(http, true);
        SL_CHECK(get_status(port, "/readyz", &r) == 200);
        SL_CHECK(strcmp(r.body, "{\"status\":\"ready\"}") == 0);
        sl_http_set_unready(http, "circuit open: \"redis\"");
        SL_CHECK(get_status(port, "/readyz", &r) == 503);
        SL_CHECKF(strcmp(r.body, "{\"status\":\"not_ready\",\"reason\":\"circuit open: "
                                 "\\\"redis\\\"\"}") == 0,
                  "%s", r.body);
        sl_http_set_ready(http, false);
        SL_CHECK(get_status(port, "/readyz", &r) == 503);
        SL_CHECK(strstr(r.body, "\"reason\":\"not ready\"") != NULL);
        sl_http_set_ready(http, true);
        SL_CHECK(get_status(port, "/readyz", &r) == 200);

        /* Metrics. */
        sl_metrics_reset();
        c = sl_metrics_counter("sl_events_consumed_total", "Events consumed.", "type");
        sl_metric_inc(c, "raw.completed");
        SL_CHECK(get_status(port, "/metrics", &r) == 200);
        SL_CHECKF(strcmp(r.ctype, "text/plain; version=0.0.4; charset=utf-8") == 0, "%s", r.ctype);
        SL_CHECKF(strcmp(r.body, "# HELP sl_events_consumed_total Events consumed.\n"
                                 "# TYPE sl_events_consumed_total counter\n"
                                 "sl_events_consumed_total{type=\"raw.completed\"} 1\n") == 0,
                  "%s", r.body);
        /* Query strings are ignored on built-in paths. */
        SL_CHECK(get_status(port, "/metrics?x=1", &r) == 200);

        /* Unknown path, wrong methods, HEAD. */
        SL_CHECK(get_status(port, "/nope", &r) == 404);
        SL_CHECK(strcmp(r.body, "{\"error\":\"not found\"}") == 0);
        SL_CHECK(request(port, "POST", "/healthz", NULL, &r) == CURLE_OK && r.status == 405);
        SL_CHECKF(strcmp(r.allow, "GET, HEAD") == 0, "allow=[%s]", r.allow);
        SL_CHECK(request(port, "DELETE", "/metrics", NULL, &r) == CURLE_OK && r.status == 405);
        SL_CHECK(request(port, "HEAD", "/healthz", NULL, &r) == CURLE_OK && r.status == 200);
        SL_CHECK(r.len == 0);
}

static void test_stale(struct sl_http *http, int port)
{
        struct resp r;

        sl_http_tick(http);
        atomic_fetch_add(&fake_now_ms, 250);
        SL_CHECK(get_status(port, "/healthz", &r) == 200);
        SL_CHECK(strstr(r.body, "\"last_tick_age_ms\":250,\"stale_after_ms\":1000}") != NULL);
        atomic_fetch_add(&fake_now_ms, 751); /* 1001 ms since the tick: stale */
        SL_CHECK(get_status(port, "/healthz", &r) == 503);
        SL_CHECKF(strcmp(r.body, "{\"status\":\"stale\",\"last_tick_age_ms\":1001,"
                                 "\"stale_after_ms\":1000}") == 0,
                  "%s", r.body);
        sl_http_tick(http);
        SL_CHECK(get_status(port, "/healthz", &r) == 200);
}

static void test_handlers(struct sl_http *http, int port)
{
        static int fail_rc = -EIO, bad_status = 42, teapot = 418;
        struct resp r;
        char path[32];

        SL_CHECK(sl_http_handle(http, "/v1/echo", NULL, echo_handler, NULL) == 0);
        SL_CHECK(sl_http_handle(http, "/v1/players/", "application/json", echo_handler, NULL) == 0);
        SL_CHECK(sl_http_handle(http, "/v1/fail", NULL, fail_handler, &fail_rc) == 0);
        SL_CHECK(sl_http_handle(http, "/v1/bad", NULL, fail_handler, &bad_status) == 0);
        SL_CHECK(sl_http_handle(http, "/v1/teapot", "text/plain", fail_handler, &teapot) == 0);
        SL_CHECK(sl_http_handle(http, "/v1/big", NULL, big_handler, NULL) == 0);
        SL_CHECK(sl_http_handle(http, "/v1/etag", NULL, etag_handler, NULL) == 0);
        SL_CHECK(sl_http_handle(http, "/v1/echo", NULL, echo_handler, NULL) == -EEXIST);
        SL_CHECK(sl_http_handle(http, "/metrics", NULL, echo_handler, NULL) == -EEXIST);
        SL_CHECK(sl_http_handle(http, "relative", NULL, echo_handler, NULL) == -EINVAL);
        SL_CHECK(sl_http_handle(NULL, "/x", NULL, echo_handler, NULL) == -EINVAL);
        for (int i = 7; i < SL_HTTP_MAX_HANDLERS; i++) {
                snprintf(path, sizeof(path), "/fill/%d", i);
                SL_CHECK(sl_http_handle(http, path, NULL, echo_handler, NULL) == 0);
        }
        SL_CHECK(sl_http_handle(http, "/one-too-many", NULL, echo_handler, NULL) == -ENOSPC);

        SL_CHECK(get_status(port, "/v1/echo?q=a%20b%22c", &r) == 200);
        SL_CHECKF(strcmp(r.body, "{\"path\":\"/v1/echo\",\"q\":\"a b\\\"c\"}") == 0, "%s", r.body);
        SL_CHECK(strcmp(r.ctype, "application/json") == 0);
        SL_CHECK(get_status(port, "/v1/echo/more", &r) == 404); /* exact match only */
        SL_CHECK(get_status(port, "/v1/players/42", &r) == 200);
        SL_CHECK(strcmp(r.body, "{\"path\":\"/v1/players/42\",\"q\":null}") == 0);
        SL_CHECK(get_status(port, "/v1/fail", &r) == 500);
        SL_CHECK(strcmp(r.body, "{\"error\":\"internal error\"}") == 0);
        SL_CHECK(get_status(port, "/v1/bad", &r) == 500);
        SL_CHECK(get_status(port, "/v1/teapot", &r) == 418);
        SL_CHECK(strcmp(r.ctype, "text/plain") == 0);
        SL_CHECK(strcmp(r.body, "partial output that must not be sent") == 0);
        SL_CHECK(get_status(port, "/v1/big", &r) == 500);
        SL_CHECK(strcmp(r.body, "{\"error\":\"response too large\"}") == 0);
        SL_CHECK(get_status(port, "/v1/etag", &r) == 200);
        SL_CHECKF(strcmp(r.etag, "\"v1\"") == 0, "etag=[%s]", r.etag);
        SL_CHECK(strcmp(r.body, "{\"v\":1}") == 0);
        SL_CHECK(request(port, "GET", "/v1/etag", "If-None-Match: \"v1\"", &r) == CURLE_OK);
        SL_CHECKF(r.status == 304 && r.len == 0, "status=%ld len=%zu", r.status, r.len);
        SL_CHECKF(strcmp(r.etag, "\"v1\"") == 0, "etag=[%s]", r.etag);
        SL_CHECK(request(port, "GET", "/v1/etag", "If-None-Match: \"v0\"", &r) == CURLE_OK);
        SL_CHECK(r.status == 200);
}

static void test_caps(int port)
{
        struct resp r;
        char *huge = sl_xmalloc(SL_HTTP_REQUEST_MAX_BYTES * 2);
        CURLcode cc;

        /* A header bigger than the per-connection memory is refused, not served. */
        memcpy(huge, "X-Big: ", 7);
        memset(huge + 7, 'a', SL_HTTP_REQUEST_MAX_BYTES * 2 - 8);
        huge[SL_HTTP_REQUEST_MAX_BYTES * 2 - 1] = '\0';
        cc = request(port, "GET", "/healthz", huge, &r);
        SL_CHECKF(cc != CURLE_OK || r.status >= 400, "cc=%d status=%ld", (int)cc, r.status);
        free(huge);
        /* The server still works afterwards. */
        SL_CHECK(get_status(port, "/healthz", &r) == 200);
}

struct client {
        int port, n, ok;
};

static void *client_main(void *arg)
{
        static const char *const paths[] = {"/healthz", "/readyz", "/metrics", "/v1/echo?q=1"};
        struct client *c = arg;
        struct resp *r = sl_xmalloc(sizeof(*r));

        for (int i = 0; i < c->n; i++) {
                long st = get_status(c->port, paths[i % 4], r);
                c->ok += st == 200 || st == 503;
        }
        free(r);
        return NULL;
}

static void test_concurrent(struct sl_http *http, int port)
{
        enum { CLIENTS = 4, EACH = 40 };
        struct client clients[CLIENTS];
        pthread_t tid[CLIENTS];
        struct sl_metric *c = sl_metrics_counter("conc_total", "C.", "k");
        int ok = 0;

        for (int i = 0; i < CLIENTS; i++) {
                clients[i] = (struct client){.port = port, .n = EACH};
                pthread_create(&tid[i], NULL, client_main, &clients[i]);
        }
        /* Meanwhile the "service loop" ticks, flips readiness and updates metrics. */
        for (int i = 0; i < 2000; i++) {
                sl_http_tick(http);
                sl_http_set_ready(http, i % 2 == 0);
                sl_metric_inc(c, i % 3 ? "a" : "b");
        }
        for (int i = 0; i < CLIENTS; i++) {
                pthread_join(tid[i], NULL);
                ok += clients[i].ok;
        }
        SL_CHECKF(ok == CLIENTS * EACH, "ok=%d of %d", ok, CLIENTS * EACH);
}

static void test_start_errors(void)
{
        char err[256];
        struct sl_http *http, *again;
        char addr[64];
        struct resp r;

        SL_CHECK(sl_http_start("nonsense", err, sizeof(err)) == NULL);
        SL_CHECKF(strstr(err, "bad address") != NULL, "%s", err);
        SL_CHECK(sl_http_start("127.0.0.1:70000", err, sizeof(err)) == NULL);
        SL_CHECK(sl_http_start("[::1:80", err, sizeof(err)) == NULL);
        SL_CHECK(sl_http_start("127.0.0.1:abc", err, sizeof(err)) == NULL);

        /* Default address: loopback, free port. ":0" is the same. */
        http = sl_http_start(NULL, err, sizeof(err));
        SL_CHECKF(http != NULL && sl_http_port(http) > 0, "%s", err);
        SL_CHECK(get_status(sl_http_port(http), "/healthz", &r) == 200);
        /* Port in use. */
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", sl_http_port(http));
        again = sl_http_start(addr, err, sizeof(err));
        SL_CHECKF(again == NULL && strstr(err, "cannot listen on") != NULL, "%s", err);
        sl_http_stop(again);
        sl_http_stop(http);
        http = sl_http_start(":0", NULL, 0);
        SL_CHECK(http != NULL && sl_http_port(http) > 0);
        sl_http_stop(http);
        http = sl_http_start("localhost:0", err, sizeof(err));
        SL_CHECKF(http != NULL, "%s", err);
        sl_http_stop(http);
        sl_http_stop(NULL);
        SL_CHECK(sl_http_port(NULL) == 0);
        sl_http_tick(NULL);
        sl_http_set_ready(NULL, true);
        sl_http_set_unready(NULL, "x");
        sl_http_set_draining(NULL);
}

int main(void)
{
        struct sl_http_opts opts = {.addr = "127.0.0.1:0", .stale_ms = 1000, .now_ms = fake_clock};
        struct sl_http *http;
        char err[256];
        struct resp r;
        int port;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        http = sl_http_start_opts(&opts, err, sizeof(err));
        if (!http) {
                printf("Bail out! %s\n", err);
                return 1;
        }
        port = sl_http_port(http);
        SL_CHECK(port > 0);
        test_endpoints(http, port);
        test_stale(http, port);
        test_handlers(http, port);
        test_caps(port);
        test_concurrent(http, port);

        /* Draining wins over ready and is permanent. */
        sl_http_set_ready(http, true);
        sl_http_set_draining(http);
        SL_CHECK(get_status(port, "/readyz", &r) == 503);
        SL_CHECK(strcmp(r.body, "{\"status\":\"not_ready\",\"reason\":\"draining\"}") == 0);
        sl_http_set_ready(http, true);
        SL_CHECK(get_status(port, "/readyz", &r) == 503);
        sl_http_stop(http);
        SL_CHECK(get_status(port, "/healthz", &r) == -1); /* stopped: connection refused */

        test_start_errors();
        sl_metrics_reset();
        curl_global_cleanup();
        return SL_DONE();
}
