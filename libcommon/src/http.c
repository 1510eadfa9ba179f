#include <sl/http.h>

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include <sl/err.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/util.h>

#define DEFAULT_STALE_MS        5000
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_TIMEOUT_S       10
#define METRICS_CONTENT_TYPE    "text/plain; version=0.0.4; charset=utf-8"
#define JSON_CONTENT_TYPE       "application/json"

/* An extra GET path added with sl_http_handle(). Immutable once added. */
struct handler {
        char *path;         /* owned */
        char *content_type; /* owned */
        bool prefix;        /* path ends in '/': matches everything below */
        sl_http_handler_fn *fn;
        void *opaque; /* borrowed from the caller */
};

struct sl_http {
        struct MHD_Daemon *mhd;
        int port;                        /* bound TCP port */
        int64_t stale_ms;                /* /healthz threshold */
        int64_t (*now_ms)(void *opaque); /* clock for ticks and the stale check */
        void *clock_opaque;
        _Atomic int64_t last_tick_ms;    /* now_ms() at the last sl_http_tick() */
        atomic_bool ready;               /* set by the service */
        atomic_bool draining;            /* set once, never cleared */
        pthread_mutex_t lock;            /* guards reason, handlers, n_handlers, start_err */
        char reason[SL_HTTP_REASON_MAX]; /* why not ready */
        struct handler handlers[SL_HTTP_MAX_HANDLERS];
        int n_handlers;
        char start_err[256]; /* last libmicrohttpd message (explains a failed start) */
};

/* Default clock: monotonic, so wall-clock jumps never make /healthz flap. */
static int64_t mono_clock(void *opaque)
{
        (void)opaque;
        return sl_mono_ms();
}

/* libmicrohttpd's messages go to our log; the last one also explains a failed start. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        struct sl_http *http = cls;
        char msg[256];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        msg[strcspn(msg, "\r\n")] = '\0';
        pthread_mutex_lock(&http->lock);
        snprintf(http->start_err, sizeof(http->start_err), "%s", msg);
        pthread_mutex_unlock(&http->lock);
        sl_log_warn("http.mhd", "%s", msg);
}

/* Headers a handler added with sl_http_set_header() (on the HTTP thread's stack). */
struct resp_headers {
        int n;
        char name[SL_HTTP_MAX_RESP_HEADERS][SL_HTTP_HEADER_MAX];
        char value[SL_HTTP_MAX_RESP_HEADERS][SL_HTTP_HEADER_MAX];
};

/* Queues a response taking body's data, with a handler's extra headers (may be NULL). */
static enum MHD_Result reply_with(struct MHD_Connection *conn, unsigned status, const char *ctype,
                                  struct sl_buf *body, const struct resp_headers *extra);

/* Queues a response taking body's data; status 405 adds the Allow header. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             struct sl_buf *body)
{
        return reply_with(conn, status, ctype, body, NULL);
}

static enum MHD_Result reply_with(struct MHD_Connection *conn, unsigned status, const char *ctype,
                                  struct sl_buf *body, const struct resp_headers *extra)
{
        size_t len = body->len;
        char *data = sl_buf_steal(body);
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(data);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        for (int i = 0; extra && i < extra->n; i++)
                MHD_add_response_header(resp, extra->name[i], extra->value[i]);
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* Replies {"error":"<msg>"} with status. */
static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
        struct sl_buf body;
        enum MHD_Result ret;

        sl_buf_init(&body, 0);
        sl_buf_puts(&body, "{\"error\":");
        sl_buf_json_str(&body, msg);
        sl_buf_puts(&body, "}");
        ret = reply(conn, status, JSON_CONTENT_TYPE, &body);
        sl_buf_fini(&body);
        return ret;
}

/* 200 while the loop ticked within stale_ms, else 503; the age helps debugging. */
static enum MHD_Result serve_healthz(struct sl_http *http, struct MHD_Connection *conn)
{
        int64_t age_ms = http->now_ms(http->clock_opaque) - atomic_load(&http->last_tick_ms);
        bool ok = age_ms <= http->stale_ms;
        struct sl_buf body;
        enum MHD_Result ret;

        sl_buf_init(&body, 0);
        sl_buf_printf(&body,
                      "{\"status\":\"%s\",\"last_tick_age_ms\":%lld,\"stale_after_ms\":%lld}",
                      ok ? "ok" : "stale", (long long)age_ms, (long long)http->stale_ms);
        ret =
            reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, JSON_CONTENT_TYPE, &body);
        sl_buf_fini(&body);
        return ret;
}

/* 200 when ready and not draining; otherwise 503 with the reason (draining wins). */
static enum MHD_Result serve_readyz(struct sl_http *http, struct MHD_Connection *conn)
{
        char reason[SL_HTTP_REASON_MAX];
        bool ready = atomic_load(&http->ready) && !atomic_load(&http->draining);
        struct sl_buf body;
        enum MHD_Result ret;

        if (atomic_load(&http->draining)) {
                snprintf(reason, sizeof(reason), "draining");
        } else {
                pthread_mutex_lock(&http->lock);
                memcpy(reason, http->reason, sizeof(reason));
                pthread_mutex_unlock(&http->lock);
        }
        sl_buf_init(&body, 0);
        if (ready) {
                sl_buf_puts(&body, "{\"status\":\"ready\"}");
        } else {
                sl_buf_puts(&body, "{\"status\":\"not_ready\",\"reason\":");
                sl_buf_json_str(&body, reason);
                sl_buf_puts(&body, "}");
        }
        ret = reply(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, JSON_CONTENT_TYPE,
                    &body);
        sl_buf_fini(&body);
        return ret;
}

/* Renders the process-wide registry; a render over the cap is a 500, not a cut-off body. */
static enum MHD_Result serve_metrics(struct MHD_Connection *conn)
{
        struct sl_buf body;
        enum MHD_Result ret;

        sl_buf_init(&body, SL_HTTP_RESPONSE_MAX_BYTES);
        if (sl_metrics_render(&body) < 0) {
                sl_log_error("http.metrics.error", "metrics exceed %d bytes",
                             SL_HTTP_RESPONSE_MAX_BYTES);
                ret = reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics too large");
        } else {
                ret = reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, &body);
        }
        sl_buf_fini(&body);
        return ret;
}

/* Copies the handler for path into *out. Returns false if none matches. */
static bool find_handler(struct sl_http *http, const char *path, struct handler *out)
{
        bool found = false;

        pthread_mutex_lock(&http->lock);
        for (int i = 0; i < http->n_handlers && !found; i++) {
                const struct handler *h = &http->handlers[i];
                if (h->prefix ? strncmp(path, h->path, strlen(h->path)) == 0
                              : strcmp(path, h->path) == 0) {
                        *out = *h; /* strings stay valid: handlers are never removed */
                        found = true;
                }
        }
        pthread_mutex_unlock(&http->lock);
        return found;
}

/*
 * Runs an extra handler with a capped body. A failed handler's partial
 * output is discarded and replaced by a JSON error.
 */
static enum MHD_Result serve_handler(const struct handler *h, struct MHD_Connection *conn,
                                     const char *path, const char *method)
{
        struct resp_headers extra = {.n = 0};
        struct sl_http_req req = {
            .path = path, .method = method, .conn_ = conn, .headers_ = &extra};
        struct sl_buf body;
        enum MHD_Result ret;
        int status;

        sl_buf_init(&body, SL_HTTP_RESPONSE_MAX_BYTES);
        status = h->fn(&req, &body, h->opaque);
        if (status == -E2BIG) {
                sl_log_error("http.handler.error", "path=%s response exceeds %d bytes", path,
                             SL_HTTP_RESPONSE_MAX_BYTES);
                ret = reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "response too large");
        } else if (status < 100 || status > 599) {
                sl_log_error("http.handler.error", "path=%s rc=%d %s", path, status,
                             status < 0 ? sl_strerror(status) : "bad status");
                ret = reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
        } else {
                ret = reply_with(conn, (unsigned)status, h->content_type, &body, &extra);
        }
        sl_buf_fini(&body);
        return ret;
}

/* libmicrohttpd access handler: runs on the HTTP thread, once per request. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        struct sl_http *http = cls;
        struct handler h;

        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)con_cls;
        /* Answer on the first call, before any body is read: bodies are never accepted. */
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        if (strcmp(url, "/healthz") == 0)
                return serve_healthz(http, conn);
        if (strcmp(url, "/readyz") == 0)
                return serve_readyz(http, conn);
        if (strcmp(url, "/metrics") == 0)
                return serve_metrics(conn);
        if (find_handler(http, url, &h))
                return serve_handler(&h, conn, url, method);
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "not found");
}

/*
 * Splits "host:port", "[v6]:port" or ":port" into host and port; an empty
 * or NULL addr means "127.0.0.1:0", an empty host means 127.0.0.1.
 */
static int split_addr(const char *addr, char *host, size_t host_size, char *port, size_t port_size)
{
        const char *colon, *h = addr;
        size_t hlen;
        int64_t num;

        if (!addr || !*addr)
                addr = h = "127.0.0.1:0";
        colon = strrchr(addr, ':');
        if (!colon)
                return -EINVAL;
        hlen = (size_t)(colon - addr);
        if (addr[0] == '[') {
                /* "[::1]:9100": the host is between the brackets. */
                if (hlen < 2 || addr[hlen - 1] != ']')
                        return -EINVAL;
                h = addr + 1;
                hlen -= 2;
        }
        if (hlen == 0) {
                h = "127.0.0.1";
                hlen = strlen(h);
        }
        if (hlen >= host_size || sl_parse_i64(colon + 1, 0, 65535, &num) < 0)
                return -EINVAL;
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        snprintf(port, port_size, "%lld", (long long)num);
        return 0;
}

/* Resolves addr to a socket address. The result must be freed with freeaddrinfo(). */
static int resolve(const char *addr, struct addrinfo **ai, char *errstr, size_t errstr_size)
{
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        char host[256], port[8];
        int rc;

        if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0) {
                snprintf(errstr, errstr_size,
                         "http: bad address \"%s\" (want host:port, [v6]:port or :port)", addr);
                return -EINVAL;
        }
        rc = getaddrinfo(host, port, &hints, ai);
        if (rc != 0) {
                snprintf(errstr, errstr_size, "http: cannot resolve %s: %s", host,
                         gai_strerror(rc));
                return -EINVAL;
        }
        return 0;
}

/*
 * Starts libmicrohttpd on sa. Signals are blocked while the HTTP thread is
 * created, so it inherits a full mask and SIGTERM/SIGINT always reach the
 * service's main thread.
 */
static struct MHD_Daemon *start_mhd(struct sl_http *http, const struct sl_http_opts *opts,
                                    const struct addrinfo *ai)
{
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
        unsigned max_conn = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
        unsigned timeout_s = opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S;
        uint16_t port = 0;
        sigset_t all, old;
        struct MHD_Daemon *mhd;

        /* The port is also passed separately so libmicrohttpd's messages name it. */
        if (ai->ai_family == AF_INET6) {
                flags |= MHD_USE_IPv6;
                port = ntohs(((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_port);
        } else if (ai->ai_family == AF_INET) {
                port = ntohs(((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_port);
        }
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* restored right after the thread exists */
        mhd = MHD_start_daemon(
            flags, port, NULL, NULL, on_request, http, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, http,
            MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, max_conn,
            MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)SL_HTTP_REQUEST_MAX_BYTES, MHD_OPTION_END);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return mhd;
}

struct sl_http *sl_http_start_opts(const struct sl_http_opts *opts, char *errstr,
                                   size_t errstr_size)
{
        static const struct sl_http_opts defaults;
        struct addrinfo *ai = NULL;
        struct sl_http *http;
        const union MHD_DaemonInfo *info;
        char tmp[1];

        if (!errstr || errstr_size == 0) {
                errstr = tmp;
                errstr_size = sizeof(tmp);
        }
        errstr[0] = '\0';
        if (!opts)
                opts = &defaults;
        if (resolve(opts->addr, &ai, errstr, errstr_size) < 0)
                return NULL;
        http = sl_xcalloc(1, sizeof(*http));
        http->stale_ms = opts->stale_ms > 0 ? opts->stale_ms : DEFAULT_STALE_MS;
        http->now_ms = opts->now_ms ? opts->now_ms : mono_clock;
        http->clock_opaque = opts->clock_opaque;
        atomic_init(&http->last_tick_ms, http->now_ms(http->clock_opaque));
        atomic_init(&http->ready, false);
        atomic_init(&http->draining, false);
        pthread_mutex_init(&http->lock, NULL);
        snprintf(http->reason, sizeof(http->reason), "starting");
        /* "localhost" may give ::1 and 127.0.0.1: take the first that binds. */
        for (const struct addrinfo *a = ai; a && !http->mhd; a = a->ai_next)
                http->mhd = start_mhd(http, opts, a);
        freeaddrinfo(ai);
        if (!http->mhd) {
                snprintf(errstr, errstr_size, "http: cannot listen on %s: %s",
                         opts->addr ? opts->addr : "127.0.0.1:0",
                         http->start_err[0] ? http->start_err : "libmicrohttpd failed to start");
                sl_http_stop(http);
                return NULL;
        }
        info = MHD_get_daemon_info(http->mhd, MHD_DAEMON_INFO_BIND_PORT);
        http->port = info ? info->port : 0;
        sl_log_info("http.start", "addr=%s port=%d", opts->addr ? opts->addr : "127.0.0.1:0",
                    http->port);
        return http;
}

struct sl_http *sl_http_start(const char *addr, char *errstr, size_t errstr_size)
{
        struct sl_http_opts opts = {.addr = addr};

        return sl_http_start_opts(&opts, errstr, errstr_size);
}

/* Written before the HTTP thread serves anything and never changed: no lock needed. */
int sl_http_port(const struct sl_http *http)
{
        return http ? http->port : 0;
}

void sl_http_tick(struct sl_http *http)
{
        if (http)
                atomic_store(&http->last_tick_ms, http->now_ms(http->clock_opaque));
}

/* Stores readiness and its reason; reason NULL clears it. */
static void set_state(struct sl_http *http, bool ready, const char *reason)
{
        pthread_mutex_lock(&http->lock);
        snprintf(http->reason, sizeof(http->reason), "%s", reason ? reason : "");
        atomic_store(&http->ready, ready);
        pthread_mutex_unlock(&http->lock);
}

void sl_http_set_ready(struct sl_http *http, bool ready)
{
        if (http)
                set_state(http, ready, ready ? NULL : "not ready");
}

void sl_http_set_unready(struct sl_http *http, const char *reason)
{
        if (http)
                set_state(http, false, reason && *reason ? reason : "not ready");
}

void sl_http_set_draining(struct sl_http *http)
{
        if (http)
                atomic_store(&http->draining, true);
}

const char *sl_http_query(const struct sl_http_req *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, name);
}

const char *sl_http_header(const struct sl_http_req *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

/* A header name or value: printable ASCII, no CR/LF (no response splitting). */
static bool header_text_ok(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
                        return false;
        return true;
}

int sl_http_set_header(const struct sl_http_req *req, const char *name, const char *value)
{
        struct resp_headers *extra = req->headers_;

        if (!extra || !name || !value || !name[0] || strchr(name, ':') || !header_text_ok(name) ||
            !header_text_ok(value))
                return -EINVAL;
        if (strlen(name) >= SL_HTTP_HEADER_MAX || strlen(value) >= SL_HTTP_HEADER_MAX)
                return -ENAMETOOLONG;
        if (extra->n == SL_HTTP_MAX_RESP_HEADERS)
                return -ENOSPC;
        snprintf(extra->name[extra->n], SL_HTTP_HEADER_MAX, "%s", name);
        snprintf(extra->value[extra->n], SL_HTTP_HEADER_MAX, "%s", value);
        extra->n++;
        return 0;
}

/* The operational endpoints cannot be shadowed by a service handler. */
static bool builtin_path(const char *path)
{
        return !strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/metrics");
}

int sl_http_handle(struct sl_http *http, const char *path, const char *content_type,
                   sl_http_handler_fn *fn, void *opaque)
{
        struct handler *h;
        int rc = 0;

        if (!http || !path || path[0] != '/' || !fn)
                return -EINVAL;
        pthread_mutex_lock(&http->lock);
        for (int i = 0; i < http->n_handlers && rc == 0; i++) {
                if (strcmp(http->handlers[i].path, path) == 0)
                        rc = -EEXIST;
        }
        if (rc == 0 && builtin_path(path))
                rc = -EEXIST;
        if (rc == 0 && http->n_handlers == SL_HTTP_MAX_HANDLERS)
                rc = -ENOSPC;
        /* Entries are append-only and never freed before stop, so readers may copy them. */
        if (rc == 0) {
                h = &http->handlers[http->n_handlers++];
                h->path = sl_xstrdup(path);
                h->content_type = sl_xstrdup(content_type ? content_type : JSON_CONTENT_TYPE);
                h->prefix = path[strlen(path) - 1] == '/';
                h->fn = fn;
                h->opaque = opaque;
        }
        pthread_mutex_unlock(&http->lock);
        return rc;
}

void sl_http_stop(struct sl_http *http)
{
        if (!http)
                return;
        /* Joins the HTTP thread: no handler runs after this. */
        if (http->mhd)
                MHD_stop_daemon(http->mhd);
        for (int i = 0; i < http->n_handlers; i++) {
                free(http->handlers[i].path);
                free(http->handlers[i].content_type);
        }
        pthread_mutex_destroy(&http->lock);
        free(http);
}
